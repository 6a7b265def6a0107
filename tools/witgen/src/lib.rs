//! Build helpers for aiofs guests written in languages other than Rust.
//!
//! Two jobs, both done with the Bytecode Alliance crates as libraries so that nothing has
//! to be installed with `cargo install`:
//!
//! - **Bindings**: [`bindgen`] runs the C or Go generator of `wit-bindgen` over a WIT
//!   directory and writes the generated files.
//! - **Components**: [`componentize`] turns a core wasm module into a component: it
//!   optionally embeds the WIT world first (for toolchains that cannot link the
//!   `component-type` object the C generator emits, like Go), and links the WASI
//!   preview1 adapter when the module imports `wasi_snapshot_preview1` (any libc I/O).
//!
//! The `aiofs-witgen` binary is a thin command-line front end over the same functions.

#![deny(missing_docs)]

use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use wit_bindgen_core::{Files, WorldGenerator};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{Resolve, WorldId};

pub use wit_bindgen_c::Opts as COpts;
pub use wit_bindgen_core::AsyncFilterSet;
pub use wit_bindgen_go::{Format as GoFormat, Opts as GoOpts};

/// Which preview1 adapter [`componentize`] links when the module needs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// For modules with `_initialize` and exports (a "reactor", e.g. `-mexec-model=reactor`
    /// in C, `-buildmode=c-shared` in Go): the usual choice for a guest that exports
    /// `wasi:cli/run` itself.
    Reactor,
    /// For modules whose entry point is `_start` (a "command"); the adapter then exports
    /// `wasi:cli/run@0.2.0` and calls `_start`.
    Command,
}

/// Load `wit_dir` (a directory with a `deps/` folder, or a single file) and find `world`.
///
/// # Errors
/// The WIT does not parse or resolve, or has no such world.
pub fn load_world(wit_dir: &Path, world: &str) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_path(wit_dir)
        .with_context(|| format!("cannot load WIT from {}", wit_dir.display()))?;
    let id = resolve
        .select_world(&[pkg], Some(world))
        .with_context(|| format!("no world {world:?} in {}", wit_dir.display()))?;
    Ok((resolve, id))
}

/// The bindings generator to run.
#[derive(Debug, Clone)]
pub enum Language {
    /// `wit-bindgen c`: a header, a C file and a `*_component_type.o` to link.
    C(COpts),
    /// `wit-bindgen go`: Go packages (they import `go.bytecodealliance.org/pkg`).
    Go(GoOpts),
}

/// Generate bindings for `world` of `wit_dir` into `out_dir` (created if missing) and
/// return the paths written, relative to `out_dir`.
///
/// # Errors
/// The WIT cannot be loaded, the generator fails, or a file cannot be written.
pub fn bindgen(
    wit_dir: &Path,
    world: &str,
    lang: &Language,
    out_dir: &Path,
) -> Result<Vec<String>> {
    let (mut resolve, id) = load_world(wit_dir, world)?;
    let mut generator: Box<dyn WorldGenerator> = match lang {
        Language::C(opts) => opts.build(),
        Language::Go(opts) => opts.build(),
    };
    let mut files = Files::default();
    generator
        .generate(&mut resolve, id, &mut files)
        .context("bindings generator failed")?;
    let mut written = Vec::new();
    for (name, contents) in files.iter() {
        let path = out_dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        // Leave an unchanged file alone so that build tools keyed on mtimes stay quiet.
        if std::fs::read(&path).ok().as_deref() != Some(contents) {
            std::fs::write(&path, contents)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        written.push(name.to_string());
    }
    Ok(written)
}

/// Turn the core module `module` into a component.
///
/// With `embed`, the given world (`(wit_dir, world)`) is embedded first as the
/// `component-type` section (UTF-8 strings); without it the module must already carry
/// one (the C generator's `*_component_type.o` does that when linked). The preview1
/// `adapter` is linked only if the module imports `wasi_snapshot_preview1`.
///
/// # Errors
/// The world cannot be loaded, the module does not validate, or its imports and exports
/// do not match the world.
pub fn componentize(
    module: &[u8],
    embed: Option<(&Path, &str)>,
    adapter: Adapter,
) -> Result<Vec<u8>> {
    let mut module = module.to_vec();
    if let Some((wit_dir, world)) = embed {
        let (resolve, id) = load_world(wit_dir, world)?;
        wit_component::embed_component_metadata(&mut module, &resolve, id, StringEncoding::UTF8)
            .context("cannot embed the WIT world")?;
    }
    let mut encoder = ComponentEncoder::default();
    encoder
        .validate(true)
        .module(&module)
        .context("not a core module with component metadata")?;
    if imports_preview1(&module)? {
        use wasi_preview1_component_adapter_provider as p;
        let bytes = match adapter {
            Adapter::Reactor => p::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            Adapter::Command => p::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        };
        encoder.adapter(p::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, bytes)?;
    }
    encoder.encode().context("cannot build the component")
}

/// Whether a core module imports anything from `wasi_snapshot_preview1`.
fn imports_preview1(module: &[u8]) -> Result<bool> {
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ImportSection(reader) = payload? {
            for import in reader.into_imports() {
                if import?.module == "wasi_snapshot_preview1" {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// Where the Go support package that `wit-bindgen go` output imports
/// (`go.bytecodealliance.org/pkg`) is on this machine: the copy shipped inside the
/// `wit-bindgen-go` crate (its `src/pkg`), found with `cargo metadata` for the workspace
/// of `manifest`. Point a `replace` directive at it and `go build` needs no network.
///
/// `cargo` is the cargo to run; `platform` (a target triple) limits the dependency graph
/// so that crates for other platforms need not be downloaded.
///
/// # Errors
/// `cargo metadata` fails, or the crate or its `src/pkg/go.mod` is not found.
pub fn go_pkg_dir(cargo: &Path, manifest: &Path, platform: Option<&str>) -> Result<PathBuf> {
    // Offline first (everything a build needs is downloaded by then); if some crate of
    // the graph was never fetched, let cargo fetch it.
    let metadata = |offline: bool| -> Result<std::process::Output> {
        let mut cmd = Command::new(cargo);
        cmd.args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(manifest);
        if offline {
            cmd.arg("--offline");
        }
        if let Some(platform) = platform {
            cmd.args(["--filter-platform", platform]);
        }
        cmd.output().context("cannot run cargo metadata")
    };
    let mut out = metadata(true)?;
    if !out.status.success() {
        out = metadata(false)?;
    }
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed bad JSON")?;
    let packages = meta["packages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let manifest_path = packages
        .iter()
        .find(|p| p["name"] == "wit-bindgen-go")
        .and_then(|p| p["manifest_path"].as_str())
        .context("wit-bindgen-go is not in the dependency graph")?;
    let dir = Path::new(manifest_path)
        .parent()
        .context("odd manifest path")?
        .join("src/pkg");
    if !dir.join("go.mod").exists() {
        bail!("{} has no go.mod", dir.display());
    }
    Ok(dir)
}

/// Check that `bytes` is a component (not a core module); used by build scripts to fail
/// with a clear message rather than at run time.
///
/// # Errors
/// The bytes are not a wasm component.
pub fn ensure_component(bytes: &[u8], what: &str) -> Result<()> {
    if !wasmparser::Parser::is_component(bytes) {
        bail!("{what} is not a WebAssembly component");
    }
    Ok(())
}
