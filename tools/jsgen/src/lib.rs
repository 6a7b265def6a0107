//! Builds JavaScript aiofs guests: one ES module in, one component out.
//!
//! The guest runs on the QuickJS runtime of componentize-qjs (0.4.5 from crates.io,
//! adapted to wasmtime 48 by `build.rs`). It exports what the world exports (for the
//! `command` world: `export const run = { async run() { ... } }`) and imports WIT
//! interfaces as modules (`import files from "aiofs:fs/files@0.1.0"`): every aiofs import
//! returns a Promise, and a failure rejects with an `Error` whose `payload` is the
//! error-code name (`"no-entry"`). `import fs from "node:fs/promises"` gives the bundled
//! `guest/js/fs.js`, shaped like Node's module, and `import process from "node:process"`
//! `guest/js/process.js` (`argv`, `env`, stdout/stderr, and a global `console`); both need
//! the default world ([`default_wit`]). The module is evaluated at build time
//! (Wizer): top-level code runs then, with no files granted, so work on files belongs in
//! the exports.
#![deny(missing_docs)]

mod qjs;
mod resolver;
mod wizer;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What to build.
pub struct Options<'a> {
    /// The entry module.
    pub input: &'a Path,
    /// The WIT directory (see [`default_wit`]).
    pub wit: &'a Path,
    /// The world to build for (`command` for a program with `run`).
    pub world: &'a str,
    /// The directory relative imports may reach; `None`: the current directory, or the
    /// entry's directory when the entry is elsewhere.
    pub module_root: Option<&'a Path>,
    /// Import `node:process` ahead of the entry module, which installs Node's globals the
    /// runtime lacks (`console`, `process`, `TextDecoder`, `setTimeout`, ...). Needs the
    /// default world's WASI imports.
    pub node_globals: bool,
}

/// The WIT of the default JavaScript world (`guest/js/wit`, world `command`): aiofs'
/// command world plus WASI's arguments, stdout and stderr.
pub fn default_wit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest/js/wit")
}

/// The source of the bundled `node:fs/promises` module (`guest/js/fs.js`).
pub const NODE_FS: &str = resolver::FS_SOURCE;

/// Build the component for `opts.input`.
///
/// # Errors
/// The entry or an import cannot be read or resolved, the WIT does not parse, or the
/// module throws while it is evaluated at build time (the message includes what it
/// printed).
pub async fn build(opts: &Options<'_>) -> Result<Vec<u8>> {
    let mut source = std::fs::read_to_string(opts.input)
        .with_context(|| format!("cannot read {}", opts.input.display()))?;
    if opts.node_globals {
        // On the entry's first line, so that line numbers in stack traces stay right.
        source.insert_str(0, "import \"node:process\"; ");
    }
    let qopts = qjs::ComponentizeOpts {
        wit_path: opts.wit,
        js_source: &source,
        js_path: Some(opts.input),
        module_root: opts.module_root,
        world_name: Some(opts.world),
        stub_wasi: false,
        disable_gc: false,
        runtime: qjs::Runtime::Default,
    };
    qjs::componentize(&qopts)
        .await
        .with_context(|| format!("cannot build {}", opts.input.display()))
}
