//! Recognising what a file holds before handing it to the compiler, so that a core module
//! or a stray file gets a one-line explanation instead of a parser error.

use std::fmt;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A WebAssembly component (binary header with layer 1).
    Component,
    /// A core WebAssembly module (binary header with layer 0).
    CoreModule,
    /// A component precompiled by wasmtime (`.cwasm`); aiofs wants the `.wasm` it came from.
    PrecompiledComponent,
    /// A core module precompiled by wasmtime.
    PrecompiledModule,
    /// The file is empty.
    Empty,
    /// Anything else (text, WAT, garbage, a truncated header).
    Unknown,
}

impl WasmKind {
    /// Classify `bytes` by their header only (nothing is validated beyond it).
    pub fn of(bytes: &[u8]) -> WasmKind {
        if bytes.is_empty() {
            return WasmKind::Empty;
        }
        if let Some(pre) = wasmtime::Engine::detect_precompiled(bytes) {
            return match pre {
                wasmtime::Precompiled::Component => WasmKind::PrecompiledComponent,
                wasmtime::Precompiled::Module => WasmKind::PrecompiledModule,
            };
        }
        // Binary header: magic `\0asm`, a 16-bit version, then a 16-bit layer
        // (0 = core module, 1 = component), all little-endian.
        match bytes {
            [0, b'a', b's', b'm', _, _, 0, 0, ..] => WasmKind::CoreModule,
            [0, b'a', b's', b'm', _, _, 1, 0, ..] => WasmKind::Component,
            _ => WasmKind::Unknown,
        }
    }
}

/// The file is not something [`crate::Runner::load`] can compile, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAComponent {
    /// How the file was named in the request (for the message).
    pub name: String,
    /// What the file holds instead.
    pub kind: WasmKind,
}

impl fmt::Display for NotAComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match self.kind {
            WasmKind::CoreModule => write!(
                f,
                "{name} is a core WebAssembly module, not a component \
                 (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)"
            ),
            WasmKind::PrecompiledComponent | WasmKind::PrecompiledModule => write!(
                f,
                "{name} is a precompiled wasmtime artifact; pass the .wasm component it was built from"
            ),
            WasmKind::Empty => write!(f, "{name} is empty, not a WebAssembly component"),
            WasmKind::Unknown | WasmKind::Component => write!(
                f,
                "{name} is not a WebAssembly component (no binary wasm component header)"
            ),
        }
    }
}

impl std::error::Error for NotAComponent {}

/// Succeed when `bytes` are something [`crate::Runner::load`] can run: a component, or a
/// core module (a WASI preview1 program, adapted by [`adapt_preview1`] when loaded).
///
/// # Errors
/// [`NotAComponent`] naming `name` and what the bytes look like instead.
pub fn ensure_runnable(bytes: &[u8], name: &str) -> Result<(), NotAComponent> {
    match WasmKind::of(bytes) {
        WasmKind::CoreModule => Ok(()),
        _ => ensure_component(bytes, name),
    }
}

/// Turn a WASI preview1 command (a core module importing `wasi_snapshot_preview1` and
/// exporting `_start`) into a component with wasmtime's preview1 adapter, so it runs on
/// WASI 0.2: its file calls then reach aiofs' `wasi:filesystem`.
///
/// # Errors
/// The module does not validate, or is not a preview1 command (say, it imports nothing
/// from `wasi_snapshot_preview1` or has no `_start`).
pub fn adapt_preview1(module: &[u8], name: &str) -> wasmtime::Result<Vec<u8>> {
    use wasi_preview1_component_adapter_provider as p1;
    check_preview1(module, name)?;
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder
        .validate(true)
        .module(module)
        .map_err(|e| wasmtime::format_err!("{name}: not a valid core module: {e:#}"))?
        .adapter(
            p1::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            p1::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .map_err(|e| wasmtime::format_err!("{name}: cannot load the preview1 adapter: {e:#}"))?;
    encoder
        .encode()
        .map_err(|e| wasmtime::format_err!("{name}: cannot adapt this preview1 module: {e:#}"))
}

/// Succeed when the core module `module` imports something from WASI preview1 (cheap:
/// only the import section is read).
///
/// # Errors
/// It does not, or it does not parse that far.
pub fn check_preview1(module: &[u8], name: &str) -> wasmtime::Result<()> {
    use wasi_preview1_component_adapter_provider as p1;
    let imports_p1 = wasmparser::Parser::new(0)
        .parse_all(module)
        .map_while(Result::ok)
        .any(|payload| match payload {
            wasmparser::Payload::ImportSection(reader) => reader
                .into_imports()
                .filter_map(Result::ok)
                .any(|imp| imp.module == p1::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME),
            _ => false,
        });
    if !imports_p1 {
        wasmtime::bail!(
            "{name} is a core WebAssembly module, not a component, and imports nothing from \
             WASI preview1 (build for wasm32-wasip2 or wasm32-wasip1)"
        );
    }
    Ok(())
}

/// Succeed only when `bytes` start like a binary WebAssembly component.
///
/// # Errors
/// [`NotAComponent`] naming `name` and what the bytes look like instead.
pub fn ensure_component(bytes: &[u8], name: &str) -> Result<(), NotAComponent> {
    match WasmKind::of(bytes) {
        WasmKind::Component => Ok(()),
        kind => Err(NotAComponent {
            name: name.to_string(),
            kind,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_headers() {
        assert_eq!(WasmKind::of(b""), WasmKind::Empty);
        assert_eq!(WasmKind::of(b"\0asm\x01\0\0\0"), WasmKind::CoreModule);
        assert_eq!(WasmKind::of(b"\0asm\x0d\0\x01\0"), WasmKind::Component);
        assert_eq!(WasmKind::of(b"\0asm"), WasmKind::Unknown);
        assert_eq!(WasmKind::of(b"(component)"), WasmKind::Unknown);
        assert_eq!(WasmKind::of(b"\x7fELF\x02\x01\x01\0"), WasmKind::Unknown);
        assert_eq!(WasmKind::of(b"\0asm\x01\0\x02\0"), WasmKind::Unknown);
    }

    #[test]
    fn messages_name_the_file_and_the_problem() {
        let core = ensure_component(b"\0asm\x01\0\0\0", "m.wasm").unwrap_err();
        assert!(
            core.to_string()
                .starts_with("m.wasm is a core WebAssembly module")
        );
        let junk = ensure_component(b"hello", "j.txt").unwrap_err();
        assert_eq!(junk.kind, WasmKind::Unknown);
        assert!(!junk.to_string().contains('\n'));
        assert!(ensure_component(b"\0asm\x0d\0\x01\0", "c.wasm").is_ok());
    }
}
