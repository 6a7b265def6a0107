//! `aiofs-jsgen`: build a JavaScript aiofs guest component from one `.js` file.
//!
//! ```text
//! cargo run -p aiofs-jsgen -- app.js -o app.wasm
//! cargo run -p aiofs-cli -- run --dir ./data::/data app.wasm
//! ```
//!
//! See the library docs for what the guest can use.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

/// Build a JavaScript aiofs guest component.
#[derive(Parser)]
#[command(name = "aiofs-jsgen", version)]
struct Args {
    /// The entry module (an ES module).
    input: PathBuf,
    /// Where to write the component.
    #[arg(short, long)]
    output: PathBuf,
    /// WIT directory (default: `guest/js/wit`: aiofs plus WASI's arguments and stdio).
    #[arg(long)]
    wit: Option<PathBuf>,
    /// The world to build for.
    #[arg(long, default_value = "command")]
    world: String,
    /// Do not install Node's globals (`console`, `process`, `setTimeout`, ...) by importing
    /// `node:process` first (the default unless `--wit` is given: it needs the default
    /// world's WASI imports).
    #[arg(long)]
    no_node_globals: bool,
    /// Directory that relative imports may reach (default: the current directory, or the
    /// entry's directory when the entry is elsewhere).
    #[arg(long)]
    module_root: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let node_globals = !args.no_node_globals && args.wit.is_none();
    let wit = args.wit.unwrap_or_else(aiofs_jsgen::default_wit);
    let component = aiofs_jsgen::build(&aiofs_jsgen::Options {
        input: &args.input,
        wit: &wit,
        world: &args.world,
        module_root: args.module_root.as_deref(),
        node_globals,
    })
    .await?;
    std::fs::write(&args.output, component)
        .with_context(|| format!("cannot write {}", args.output.display()))
}
