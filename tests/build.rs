//! Builds the guest components the tests run, once per `cargo test`, and tells the tests
//! where they are (`$OUT_DIR/guests.rs`).
//!
//! The nested cargo uses its own target directory inside `OUT_DIR`, so it never waits on
//! the lock of the outer build. The `wasm32-wasip2` target must be installed
//! (`rustup target add wasm32-wasip2`; the README's commands do it).

use std::env;
use std::path::PathBuf;
use std::process::Command;

#[path = "build/polyglot.rs"]
mod polyglot;

/// Guest programs: (package, cargo target selector, name).
const GUESTS: &[(&str, &str, &str)] = &[
    ("aiofs-test-guests", "--bin", "scenarios"),
    ("aiofs-test-guests", "--bin", "hostile"),
    ("aiofs-test-guests", "--bin", "stdfs"),
    ("aiofs-test-guests", "--bin", "mixed"),
    ("aiofs-test-guests", "--bin", "p3fs"),
    ("aiofs", "--example", "wc"),
    ("aiofs", "--example", "tour"),
    ("aiofs", "--example", "selfcheck"),
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    for dir in ["guest", "tests/guests", "wit", "host/wit-wasi"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let target_dir = out.join("guest-target");
    let mut generated = String::new();
    for (package, kind, name) in GUESTS {
        let status = Command::new(env::var("CARGO").expect("CARGO"))
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "-p",
                package,
                kind,
                name,
            ])
            .env("CARGO_TARGET_DIR", &target_dir)
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .status()
            .expect("failed to spawn cargo for the guest build");
        assert!(
            status.success(),
            "building guest {name} failed; is the wasm32-wasip2 target installed? \
             (rustup target add wasm32-wasip2)"
        );
        let sub = if *kind == "--example" {
            "examples/"
        } else {
            ""
        };
        let wasm = target_dir.join(format!("wasm32-wasip2/release/{sub}{name}.wasm"));
        assert!(wasm.exists(), "missing {}", wasm.display());
        generated.push_str(&format!(
            "/// Path of the `{name}` guest component.\npub const {}: &str = {:?};\n",
            name.to_uppercase(),
            wasm.display().to_string()
        ));
    }
    generated.push_str(&preview1_stdfs(&root, &target_dir));
    generated.push_str(&polyglot::build(&root, &out));
    std::fs::write(out.join("guests.rs"), generated).expect("write guests.rs");
}

/// The plain `std::fs` guest again as a WASI preview1 core module (`wasm32-wasip1`), which
/// `aiofs run` adapts to a component on load. Needs `rustup target add wasm32-wasip1`.
fn preview1_stdfs(root: &std::path::Path, target_dir: &std::path::Path) -> String {
    let status = Command::new(env::var("CARGO").expect("CARGO"))
        .current_dir(root)
        .args(["build", "--release", "--target", "wasm32-wasip1"])
        .args(["-p", "aiofs-test-guests", "--bin", "stdfs"])
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .status()
        .expect("failed to spawn cargo for the guest build");
    assert!(
        status.success(),
        "building the preview1 stdfs guest failed; is the wasm32-wasip1 target installed? \
         (rustup target add wasm32-wasip1)"
    );
    let wasm = target_dir.join("wasm32-wasip1/release/stdfs.wasm");
    assert!(wasm.exists(), "missing {}", wasm.display());
    format!(
        "/// Path of the `stdfs` guest built as a WASI preview1 core module.\npub const STDFS_P1: &str = {:?};\n",
        wasm.display().to_string()
    )
}
