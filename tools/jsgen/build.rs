//! Brings in componentize-qjs 0.4.5 from crates.io and adapts it to this workspace.
//!
//! The crate on crates.io is built on wasmtime 47, whose build-time initialisation (Wizer)
//! cannot link a component that imports `async func`s. It is not a dependency of this
//! crate (that would compile wasmtime 47 too). Instead, cargo fetches its source (`cargo
//! metadata` on a throwaway manifest in `OUT_DIR`, into cargo's own registry cache), and
//! this script copies three of its modules into `OUT_DIR` with the small, checked edits
//! listed in [`LIB_EDITS`]; `src/qjs.rs` includes them. The edits:
//! * build against the workspace's wasmtime 48 (module paths; the runtime `.wasm` files
//!   shipped in the crate are embedded as the crate's own build script would);
//! * link the real aiofs host (and WASI) into the initialisation instead of trap stubs
//!   (wasmtime 48's trap stubs mis-handle WASI resource types);
//! * use `src/wizer.rs` instead of wasmtime-wizer's `wasmtime` feature, and
//!   `src/resolver.rs` (relative imports, plus the bundled `node:fs/promises`) instead of
//!   oxc_resolver, so that no dependency changes the features of the workspace's wasmtime
//!   build.
//!
//! Every edit must match exactly once, so a different upstream source fails the build
//! here instead of compiling something unexpected. `AIOFS_COMPONENTIZE_QJS_SRC` may point
//! at an unpacked `componentize-qjs-0.4.5` instead (offline builds).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate and version this tool adapts.
const CRATE: &str = "componentize-qjs";
const VERSION: &str = "0.4.5";

/// (find, replace) in `src/lib.rs`. `{OUT}` and `{SRC}` are replaced by the output and the
/// upstream source directory.
const LIB_EDITS: &[(&str, &str)] = &[
    // Modules: ours are next to the included files in OUT_DIR, or in this crate.
    (
        "pub mod codegen;",
        "#[path = \"{OUT}/codegen.rs\"]\npub mod codegen;",
    ),
    ("mod resolver;", "use crate::resolver;"),
    (
        "pub mod stubwasi;",
        "#[path = \"{OUT}/stubwasi.rs\"]\npub mod stubwasi;",
    ),
    (
        "include!(concat!(env!(\"OUT_DIR\"), \"/output.rs\"));",
        "include!(\"{OUT}/output.rs\");",
    ),
    ("path: \"wit/init.wit\",", "path: \"{SRC}/wit/init.wit\","),
    (
        "use wasmtime_wizer::{WasmtimeWizerComponent, Wizer};",
        "use crate::wizer::WasmtimeWizerComponent;\nuse wasmtime_wizer::Wizer;",
    ),
    // The store also carries an aiofs context (no grants: the initialisation sees no
    // files, but the guest's aiofs imports link).
    (
        "struct Ctx {\n    wasi: WasiCtx,\n    table: ResourceTable,\n}",
        "struct Ctx {\n    wasi: WasiCtx,\n    table: ResourceTable,\n    aiofs: aiofs_host::AioFsCtx,\n}\n\n\
         impl aiofs_host::AioFsView for Ctx {\n    fn aiofs(&mut self) -> aiofs_host::AioFsCtxView<'_> {\n        \
         aiofs_host::AioFsCtxView {\n            ctx: &mut self.aiofs,\n            table: &mut self.table,\n        }\n    }\n}",
    ),
    (
        "Store::new(&engine, Ctx { wasi, table })",
        "Store::new(\n        &engine,\n        Ctx {\n            wasi,\n            table,\n            aiofs: aiofs_host::AioFsCtx::builder().build(),\n        },\n    )",
    ),
    // wasmtime-wizer 48 borrows the instrumentation context.
    (
        ".snapshot_component(\n            cx,",
        ".snapshot_component(\n            &cx,",
    ),
    // The real WASI and aiofs instead of trap stubs (wasmtime 48's stubs break WASI
    // resource types, even for imports that are defined): a world that imports anything
    // else does not link at build time.
    (
        "    linker.define_unknown_imports_as_traps(&comp)?;\n    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;\n    wasmtime_wasi::p3::add_to_linker(&mut linker)?;\n",
        "    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;\n    wasmtime_wasi::p3::add_to_linker(&mut linker)?;\n    aiofs_host::add_to_linker(&mut linker)?;\n",
    ),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=AIOFS_COMPONENTIZE_QJS_SRC");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let src = match env::var_os("AIOFS_COMPONENTIZE_QJS_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => fetch(&out),
    };
    let qjs = out.join("qjs");
    std::fs::create_dir_all(&qjs).expect("create OUT_DIR/qjs");
    let subst = |s: &str| {
        s.replace("{OUT}", &qjs.display().to_string())
            .replace("{SRC}", &src.display().to_string())
    };

    let mut lib = read(&src.join("src/lib.rs"));
    for (find, replace) in LIB_EDITS {
        let n = lib.matches(find).count();
        assert!(
            n == 1,
            "{CRATE} {VERSION} src/lib.rs: expected one `{find}`, found {n}; \
             is {} the crates.io source?",
            src.display()
        );
        lib = lib.replace(find, &subst(replace));
    }
    // An included file cannot carry inner doc comments.
    lib = lib
        .lines()
        .filter(|l| !l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(qjs.join("lib.rs"), lib).expect("write lib.rs");
    for module in ["codegen.rs", "stubwasi.rs"] {
        let text = read(&src.join("src").join(module));
        let text: Vec<_> = text.lines().filter(|l| !l.starts_with("//!")).collect();
        std::fs::write(qjs.join(module), text.join("\n")).expect("write module");
    }
    // The runtimes shipped in the crate, as its build script embeds them.
    let mut consts = String::new();
    for (name, file) in [
        ("DEFAULT_SYNC_RUNTIME_WASM", "runtime-sync.wasm"),
        ("OPT_SIZE_SYNC_RUNTIME_WASM", "runtime-opt-size-sync.wasm"),
        ("DEFAULT_RUNTIME_WASM", "runtime.wasm"),
        ("OPT_SIZE_RUNTIME_WASM", "runtime-opt-size.wasm"),
    ] {
        let path = src.join("prebuilt").join(file);
        assert!(path.exists(), "missing {}", path.display());
        consts.push_str(&format!(
            "const {name}: &[u8] = include_bytes!({path:?});\n"
        ));
    }
    std::fs::write(qjs.join("output.rs"), consts).expect("write output.rs");
    println!("cargo:rustc-env=AIOFS_QJS_SRC={}", src.display());
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Have cargo download the crate (into its registry cache, checksum-verified) and return
/// the unpacked source directory.
fn fetch(out: &Path) -> PathBuf {
    let dir = out.join("fetch");
    std::fs::create_dir_all(dir.join("src")).expect("create fetch dir");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fetch-{CRATE}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dependencies]\n{CRATE} = \"={VERSION}\"\n\n[workspace]\n"
        ),
    )
    .expect("write fetch manifest");
    std::fs::write(dir.join("src/lib.rs"), "").expect("write fetch lib");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let host = env::var("HOST").expect("HOST");
    // Offline first (no index update when the crate is already in cargo's cache, and
    // offline builds work), then with the network.
    let metadata = |offline: bool| {
        let mut cmd = Command::new(&cargo);
        cmd.args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", dir.join("target"));
        if offline {
            cmd.arg("--offline");
        }
        cmd.output().expect("run cargo metadata")
    };
    let mut output = metadata(true);
    if !output.status.success() {
        output = metadata(false);
    }
    assert!(
        output.status.success(),
        "cargo could not fetch {CRATE} {VERSION} from crates.io:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata output");
    let manifest = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == CRATE && p["version"] == VERSION)
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("cargo metadata does not list {CRATE} {VERSION}"));
    Path::new(manifest)
        .parent()
        .expect("manifest has a directory")
        .to_path_buf()
}
