//! `aiofs-witgen`: bindings and components for non-Rust aiofs guests.
//!
//! ```text
//! aiofs-witgen c    --wit wit --world command --out build/   [wit-bindgen c options]
//! aiofs-witgen go   --wit wit --world command --out build/   [wit-bindgen go options]
//! aiofs-witgen component module.wasm -o guest.wasm [--embed-wit wit --world W] [--adapter command]
//! aiofs-witgen go-pkg      # where go.bytecodealliance.org/pkg is (for a go.mod replace)
//! ```

use aiofs_witgen::{Adapter, COpts, GoOpts, Language};
use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Bindings and components for non-Rust aiofs guests")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// Where the WIT comes from and where generated files go.
#[derive(clap::Args)]
struct Target {
    /// WIT directory (with `deps/`) or file.
    #[arg(long, default_value = "wit")]
    wit: PathBuf,
    /// World to generate bindings for.
    #[arg(long)]
    world: String,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate C bindings (`wit-bindgen c`).
    C {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        opts: COpts,
    },
    /// Generate Go bindings (`wit-bindgen go`).
    Go {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        opts: GoOpts,
    },
    /// Print the directory of the Go support package `go.bytecodealliance.org/pkg` that
    /// ships inside the wit-bindgen-go crate (for a `replace` directive in go.mod).
    GoPkg {
        /// The workspace whose dependency graph holds wit-bindgen-go.
        #[arg(long, default_value = "Cargo.toml")]
        manifest_path: PathBuf,
    },
    /// Turn a core wasm module into a component.
    Component {
        /// The core module.
        module: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
        /// Embed this WIT (directory or file) first; needs `--world`.
        #[arg(long, requires = "world")]
        embed_wit: Option<PathBuf>,
        /// The world to embed.
        #[arg(long)]
        world: Option<String>,
        /// Which preview1 adapter to link if the module uses WASI preview1.
        #[arg(long, value_enum, default_value_t = AdapterArg::Reactor)]
        adapter: AdapterArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum AdapterArg {
    Reactor,
    Command,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::C { target, opts } => gen_bindings(&target, &Language::C(opts)),
        Cmd::Go { target, opts } => gen_bindings(&target, &Language::Go(opts)),
        Cmd::GoPkg { manifest_path } => {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let dir =
                aiofs_witgen::go_pkg_dir(cargo.as_ref(), &manifest_path, host_triple().as_deref())?;
            println!("{}", dir.display());
            Ok(())
        }
        Cmd::Component {
            module,
            output,
            embed_wit,
            world,
            adapter,
        } => {
            let bytes = std::fs::read(&module)
                .with_context(|| format!("cannot read {}", module.display()))?;
            let adapter = match adapter {
                AdapterArg::Reactor => Adapter::Reactor,
                AdapterArg::Command => Adapter::Command,
            };
            let embed = embed_wit.as_deref().zip(world.as_deref());
            let component = aiofs_witgen::componentize(&bytes, embed, adapter)?;
            std::fs::write(&output, component)
                .with_context(|| format!("cannot write {}", output.display()))
        }
    }
}

fn gen_bindings(target: &Target, lang: &Language) -> Result<()> {
    for name in aiofs_witgen::bindgen(&target.wit, &target.world, lang, &target.out)? {
        println!("{}", target.out.join(name).display());
    }
    Ok(())
}

/// The host's target triple, from `rustc -vV` (`None` if that fails).
fn host_triple() -> Option<String> {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .ok()?;
    String::from_utf8(out.stdout)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
}
