//! Shared by the CLI test binaries: running the built `aiofs` binary.

use std::process::{Command, Output};

/// Run the built `aiofs` binary with `args`: no cache writes into the developer's home,
/// no log noise.
pub fn aiofs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aiofs"))
        .args(args)
        .env(
            "AIOFS_CACHE_DIR",
            std::env::temp_dir().join("aiofs-cli-tests-unused"),
        )
        .env_remove("RUST_LOG")
        .output()
        .expect("spawn the aiofs binary")
}
