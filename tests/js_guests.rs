//! The JavaScript guests (guest/js), built at test time with aiofs-jsgen.
//!
//! Unlike the other languages (tests/build/polyglot.rs), JavaScript needs no outside
//! toolchain: aiofs-jsgen is a crate of this workspace, a dev-dependency of the tests, so
//! it is compiled by the same `cargo test` with the same wasmtime. Each component is built
//! once per test process and cached in `target/polyglot/js/` next to a stamp hashing
//! everything it is built from (guest/js, wit/, tools/jsgen), like the other languages.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Path of the component built from `guest/js/<entry>`.
pub fn js_guest(entry: &str) -> String {
    static BUILT: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(path) = built.get(entry) {
        return path.clone();
    }
    let path = build_cached(entry);
    built.insert(entry.to_string(), path.clone());
    path
}

fn build_cached(entry: &str) -> String {
    let root = root();
    // The test executable is target/<profile>/deps/polyglot-<hash>.
    let exe = std::env::current_exe().expect("current exe");
    let target = exe.ancestors().nth(3).expect("target dir");
    let work = target.join("polyglot/js");
    std::fs::create_dir_all(&work).expect("create target/polyglot/js");
    let name = entry.trim_end_matches(".js").replace('/', "-");
    let wasm = work.join(format!("{name}.wasm"));
    let stamp = work.join(format!("{name}.stamp"));
    let mut hasher = DefaultHasher::new();
    hasher.write(entry.as_bytes());
    for dir in ["guest/js", "wit", "tools/jsgen"] {
        hash_tree(&root.join(dir), &mut hasher);
    }
    let stamp_text = format!("{:016x}\n", hasher.finish());
    if wasm.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&*stamp_text) {
        return wasm.display().to_string();
    }
    let _ = std::fs::remove_file(&stamp);
    let started = std::time::Instant::now();
    let input = root.join("guest/js").join(entry);
    let module_root = root.join("guest/js");
    let wit = aiofs_jsgen::default_wit();
    // Its own thread and runtime: the caller may be inside a test's runtime.
    let bytes = std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(aiofs_jsgen::build(&aiofs_jsgen::Options {
                    input: &input,
                    wit: &wit,
                    world: "command",
                    module_root: Some(&module_root),
                    node_globals: true,
                }))
        })
        .join()
        .expect("build thread")
    })
    .unwrap_or_else(|e| panic!("building guest/js/{entry} failed: {e:?}"));
    std::fs::write(&wasm, &bytes).expect("write component");
    std::fs::write(&stamp, stamp_text).expect("write stamp");
    let note = format!(
        "built guest/js/{entry} in {:.1} s ({} KiB)\n",
        started.elapsed().as_secs_f64(),
        bytes.len() / 1024
    );
    std::fs::write(work.join(format!("{name}.built.txt")), note).expect("write note");
    wasm.display().to_string()
}

/// Hash every file under `dir` (paths and contents, sorted; symlinks followed).
fn hash_tree(dir: &Path, hasher: &mut DefaultHasher) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(_) => return,
    };
    entries.sort();
    for path in entries {
        hasher.write(path.as_os_str().as_encoded_bytes());
        if path.is_dir() {
            hash_tree(&path, hasher);
        } else if let Ok(bytes) = std::fs::read(&path) {
            hasher.write(&bytes);
        }
    }
}
