//! The only `bindgen!` of the crate: generated types and traits for `aiofs:fs`.
#![allow(missing_docs, unsafe_code, reason = "generated code")]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "aiofs:fs/imports",
    imports: {
        "aiofs:fs/types.[method]file.read-via-stream": store | trappable,
        "aiofs:fs/types.[method]file.write-via-stream": store | trappable,
        default: trappable,
    },
    with: {
        "aiofs:fs/types.file": crate::fs::File,
        "aiofs:fs/tempfile.temp-dir": crate::host::TempDirResource,
    },
});

pub use self::aiofs::fs::*;
