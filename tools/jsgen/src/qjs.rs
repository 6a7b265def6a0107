//! componentize-qjs 0.4.5 from crates.io, with the edits of `build.rs` applied (its
//! `src/lib.rs`, which declares the `codegen` and `stubwasi` modules copied beside it).
#![allow(
    unexpected_cfgs,
    missing_docs,
    dead_code,
    unused_imports,
    clippy::all,
    clippy::pedantic
)]

include!(concat!(env!("OUT_DIR"), "/qjs/lib.rs"));
