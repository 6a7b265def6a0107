//! Builds the polyglot guests (guest/python, guest/c, guest/go, and the plain C program
//! tests/guests/c/stdio.c) for the end-to-end tests.
//! (guest/js needs no outside toolchain: tests/js_guests.rs builds it at test time with
//! aiofs-jsgen, a crate of this workspace.)
//!
//! Each language's component goes to `target/polyglot/<lang>/`, next to a stamp with a
//! hash of everything it was built from (its sources, the WIT, the toolchain's version,
//! this file), so the clippy and test builds (two build-script runs) and later runs reuse
//! it.
//!
//! Toolchains are installed by `scripts/polyglot-toolchains.sh` (which `scripts/test.sh`
//! runs): componentize-py and Go in `target/polyglot/venv`, clang-19 and wasi-libc from
//! Debian (`AIOFS_CLANG` overrides the
//! compiler). A missing toolchain fails the build with a message saying how to install it;
//! `AIOFS_POLYGLOT=skip` builds without polyglot guests (their tests then say they were
//! skipped), for machines where the toolchains cannot be installed. CI never sets it.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fmt::Write as _;
use std::hash::Hasher as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds one guest into the given work directory (`scenarios.wasm` there).
type Builder = fn(&Ctx, &Path) -> Result<(), String>;
/// (name = work directory under target/polyglot, sources = directory under guest/,
/// constant name, builder).
const LANGUAGES: &[(&str, &str, &str, Builder)] = &[
    ("python", "python", "PYTHON_SCENARIOS", build_python),
    (
        "python-checks",
        "python",
        "PYTHON_AIOFILES_CHECKS",
        build_python_checks,
    ),
    (
        "python-example",
        "python",
        "PYTHON_AIOFILES_EXAMPLE",
        build_python_example,
    ),
    (
        "python-suite",
        "python",
        "PYTHON_AIOFILES_SUITE",
        build_python_suite,
    ),
    ("c", "c", "C_SCENARIOS", build_c),
    ("c-stdio", "c", "C_STDIO", build_c_stdio),
    ("go", "go", "GO_SCENARIOS", build_go),
];

/// Where things are.
struct Ctx {
    root: PathBuf,
    /// `target/polyglot`.
    dir: PathBuf,
}

impl Ctx {
    fn wit(&self) -> PathBuf {
        self.root.join("wit")
    }

    /// A tool from `target/polyglot/venv/bin`, else `name` on `PATH`.
    fn tool(&self, name: &str) -> PathBuf {
        let venv = self.dir.join("venv/bin").join(name);
        if venv.exists() {
            venv
        } else {
            PathBuf::from(name)
        }
    }
}

/// Build every polyglot guest and return the Rust constants naming their components
/// (empty strings when skipped).
pub fn build(root: &Path, out_dir: &Path) -> String {
    for var in ["AIOFS_POLYGLOT", "AIOFS_CLANG", "PATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out.
    let target = out_dir
        .ancestors()
        .nth(4)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.to_path_buf());
    let ctx = Ctx {
        root: root.to_path_buf(),
        dir: target.join("polyglot"),
    };
    let skip = env::var("AIOFS_POLYGLOT").is_ok_and(|v| v == "skip");
    let mut consts = String::new();
    let built: Vec<(&str, Result<PathBuf, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = LANGUAGES
            .iter()
            .filter(|_| !skip)
            .map(|(name, lang, konst, builder)| {
                let ctx = &ctx;
                (
                    *konst,
                    s.spawn(move || build_one(ctx, name, lang, *builder)),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(k, h)| (k, h.join().expect("guest build thread panicked")))
            .collect()
    });
    let mut errors = Vec::new();
    for (konst, result) in built {
        match result {
            Ok(path) => writeln!(
                consts,
                "/// Path of a polyglot scenario guest component.\npub const {konst}: &str = {:?};",
                path.display().to_string()
            )
            .unwrap(),
            Err(e) => errors.push(e),
        }
    }
    assert!(
        errors.is_empty(),
        "building the polyglot guests failed:\n{}\n\nInstall the toolchains with \
         `bash scripts/polyglot-toolchains.sh` (scripts/test.sh does), or set \
         AIOFS_POLYGLOT=skip to build without them (their tests are then skipped).",
        errors.join("\n")
    );
    if skip {
        for (_, _, konst, _) in LANGUAGES {
            writeln!(
                consts,
                "/// Skipped (AIOFS_POLYGLOT=skip).\npub const {konst}: &str = \"\";"
            )
            .unwrap();
        }
    }
    consts
}

/// Build one guest (sources in guest/`lang`, work in target/polyglot/`name`) unless its
/// stamp says the component is up to date.
fn build_one(ctx: &Ctx, name: &str, lang: &str, builder: Builder) -> Result<PathBuf, String> {
    let src = ctx.root.join("guest").join(lang);
    let work = ctx.dir.join(name);
    let wasm = work.join("scenarios.wasm");
    let mut hasher = DefaultHasher::new();
    hash_tree(&src, &mut hasher);
    // Plain test programs of the language (tests/guests/c: no aiofs bindings).
    hash_tree(&ctx.root.join("tests/guests").join(lang), &mut hasher);
    hash_tree(&ctx.wit(), &mut hasher);
    hasher.write(toolchain_version(ctx, lang).as_bytes());
    // A change to these build steps rebuilds too.
    hasher.write(include_str!("polyglot.rs").as_bytes());
    let stamp_text = format!("{:016x}\n", hasher.finish());
    let stamp = work.join("stamp");
    if wasm.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&*stamp_text) {
        return Ok(wasm);
    }
    std::fs::create_dir_all(&work).map_err(|e| format!("{lang}: {e}"))?;
    let _ = std::fs::remove_file(&stamp);
    let started = std::time::Instant::now();
    builder(ctx, &work).map_err(|e| format!("{name} guest: {e}"))?;
    let bytes = std::fs::read(&wasm).map_err(|e| format!("{lang}: {e}"))?;
    aiofs_witgen::ensure_component(&bytes, &wasm.display().to_string())
        .map_err(|e| format!("{lang}: {e}"))?;
    std::fs::write(&stamp, stamp_text).map_err(|e| format!("{lang}: {e}"))?;
    // Not a cargo:warning: cargo would replay it on every later build.
    let note = format!(
        "built the {name} guest in {:.1} s ({} KiB)\n",
        started.elapsed().as_secs_f64(),
        bytes.len() / 1024
    );
    std::fs::write(work.join("built.txt"), note).map_err(|e| format!("{lang}: {e}"))?;
    Ok(wasm)
}

/// Hash every file under `dir` (paths and contents, in sorted order).
fn hash_tree(dir: &Path, hasher: &mut DefaultHasher) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(_) => return,
    };
    entries.sort();
    for path in entries {
        // Python byte code that componentize-py leaves next to the sources.
        if path.file_name().is_some_and(|n| n == "__pycache__") {
            continue;
        }
        hasher.write(path.as_os_str().as_encoded_bytes());
        if path.is_dir() {
            hash_tree(&path, hasher);
        } else if let Ok(bytes) = std::fs::read(&path) {
            hasher.write(&bytes);
        }
    }
}

/// The toolchain's own version string, part of the stamp ("" if it is missing: the build
/// then fails with a clear message anyway).
fn toolchain_version(ctx: &Ctx, lang: &str) -> String {
    let (tool, arg) = match lang {
        "python" => (ctx.tool("componentize-py"), "--version"),
        "c" => (PathBuf::from(clang()), "--version"),
        "go" => (ctx.tool("go"), "version"),
        _ => return String::new(),
    };
    let mut version = Command::new(tool)
        .arg(arg)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if lang == "python" {
        // The aiofiles sdist and pytest that the suite guest bundles.
        version +=
            &std::fs::read_to_string(ctx.dir.join("aiofiles-suite/.installed")).unwrap_or_default();
    }
    version
}

fn clang() -> String {
    env::var("AIOFS_CLANG").unwrap_or_else(|_| "clang-19".into())
}

/// Run a command, turning a spawn failure or a non-zero exit into a message.
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what} ({:?}): {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// componentize-py: the app module `scenarios` against the `command` world.
fn build_python(ctx: &Ctx, work: &Path) -> Result<(), String> {
    run(
        Command::new(ctx.tool("componentize-py"))
            .arg("-d")
            .arg(ctx.wit())
            .args(["-w", "command", "componentize", "scenarios", "-p"])
            .arg(ctx.root.join("guest/python"))
            .arg("-o")
            .arg(work.join("scenarios.wasm")),
        "componentize-py",
    )
}

/// An app module using the aiofiles package (guest/python/aiofiles), built with the
/// package's own build command, guest/python/build.sh.
fn build_python_app(ctx: &Ctx, app: &Path, work: &Path, extra: &[&Path]) -> Result<(), String> {
    run(
        Command::new("bash")
            .arg(ctx.root.join("guest/python/build.sh"))
            .arg(app)
            .arg(work.join("scenarios.wasm"))
            .args(extra)
            .env("COMPONENTIZE_PY", ctx.tool("componentize-py")),
        "guest/python/build.sh",
    )
}

/// The aiofiles package's checks (guest/python/aiofiles_checks.py).
fn build_python_checks(ctx: &Ctx, work: &Path) -> Result<(), String> {
    let app = ctx.root.join("guest/python/aiofiles_checks.py");
    build_python_app(ctx, &app, work, &[])
}

/// The aiofiles example guest (guest/python/examples/inventory.py).
fn build_python_example(ctx: &Ctx, work: &Path) -> Result<(), String> {
    let app = ctx.root.join("guest/python/examples/inventory.py");
    build_python_app(ctx, &app, work, &[])
}

/// aiofiles' own test suite: the `tests/` of the aiofiles 25.1.0 sdist (fetched from PyPI
/// by scripts/polyglot-toolchains.sh, never kept in the repo), unmodified, next to the
/// in-guest runner guest/python/suite/aiofiles_suite.py in `work/src`, with pytest from
/// `aiofiles-suite/pylib`. The test grants a fresh copy of `work/src` to the guest.
fn build_python_suite(ctx: &Ctx, work: &Path) -> Result<(), String> {
    let fetched = ctx.dir.join("aiofiles-suite");
    let sdist = fetched.join("aiofiles-25.1.0.tar.gz");
    if !sdist.exists() {
        return Err(format!(
            "{} is missing; run `bash scripts/polyglot-toolchains.sh`",
            sdist.display()
        ));
    }
    let src = work.join("src");
    let unpack = work.join("unpack");
    for dir in [&src, &unpack] {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&sdist)
            .arg("-C")
            .arg(&unpack),
        "tar",
    )?;
    std::fs::rename(unpack.join("aiofiles-25.1.0/tests"), src.join("tests"))
        .map_err(|e| format!("tests/ of the sdist: {e}"))?;
    let _ = std::fs::remove_dir_all(&unpack);
    std::fs::copy(
        ctx.root.join("guest/python/suite/aiofiles_suite.py"),
        src.join("aiofiles_suite.py"),
    )
    .map_err(|e| e.to_string())?;
    let pylib = fetched.join("pylib");
    build_python_app(ctx, &src.join("aiofiles_suite.py"), work, &[&pylib])
}

/// wit-bindgen C bindings, clang-19 for wasm32-wasi (a reactor), then a component with
/// the preview1 adapter (libc's stdio and argv go through it).
fn build_c(ctx: &Ctx, work: &Path) -> Result<(), String> {
    let bindings = work.join("bindings");
    let opts = aiofs_witgen::COpts {
        rename_world: Some("aiofs".into()),
        ..Default::default()
    };
    aiofs_witgen::bindgen(
        &ctx.wit(),
        "command",
        &aiofs_witgen::Language::C(opts),
        &bindings,
    )
    .map_err(|e| format!("wit-bindgen c: {e:#}"))?;
    let core = work.join("core.wasm");
    run(
        Command::new(clang())
            .args([
                "--target=wasm32-wasi",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-mexec-model=reactor",
                "-fuse-ld=lld",
            ])
            .arg("-I")
            .arg(&bindings)
            .arg(ctx.root.join("guest/c/scenarios.c"))
            .arg(bindings.join("aiofs.c"))
            .arg(bindings.join("aiofs_component_type.o"))
            .arg("-o")
            .arg(&core),
        "clang",
    )?;
    let module = std::fs::read(&core).map_err(|e| e.to_string())?;
    let component = aiofs_witgen::componentize(&module, None, aiofs_witgen::Adapter::Reactor)
        .map_err(|e| format!("componentize: {e:#}"))?;
    std::fs::write(work.join("scenarios.wasm"), component).map_err(|e| e.to_string())
}

/// A plain C program (tests/guests/c/stdio.c: stdio, dirent, stat; no aiofs header)
/// compiled by clang-19 for wasm32-wasi as a command, then a component with the preview1
/// command adapter, so its file calls reach `wasi:filesystem` through the adapter.
fn build_c_stdio(ctx: &Ctx, work: &Path) -> Result<(), String> {
    let core = work.join("core.wasm");
    run(
        Command::new(clang())
            .args([
                "--target=wasm32-wasi",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-fuse-ld=lld",
            ])
            .arg(ctx.root.join("tests/guests/c/stdio.c"))
            .arg("-o")
            .arg(&core),
        "clang",
    )?;
    let module = std::fs::read(&core).map_err(|e| e.to_string())?;
    let component = aiofs_witgen::componentize(&module, None, aiofs_witgen::Adapter::Command)
        .map_err(|e| format!("componentize: {e:#}"))?;
    std::fs::write(work.join("scenarios.wasm"), component).map_err(|e| e.to_string())
}

/// wit-bindgen Go bindings with every import and export lowered/lifted synchronously (the
/// async runtime needs a patched Go), the guest's own package copied beside them, then
/// `go build` for wasip1 as a reactor (`-buildmode=c-shared`) and a component with the
/// WIT embedded and the preview1 adapter (the Go runtime uses WASI preview1).
fn build_go(ctx: &Ctx, work: &Path) -> Result<(), String> {
    let src = work.join("src");
    let _ = std::fs::remove_dir_all(&src);
    let opts = aiofs_witgen::GoOpts {
        async_: aiofs_witgen::AsyncFilterSet::all(false),
        format: aiofs_witgen::GoFormat::False,
        ..Default::default()
    };
    aiofs_witgen::bindgen(
        &ctx.wit(),
        "command",
        &aiofs_witgen::Language::Go(opts),
        &src,
    )
    .map_err(|e| format!("wit-bindgen go: {e:#}"))?;
    copy_tree(&ctx.root.join("guest/go"), &src).map_err(|e| format!("copy sources: {e}"))?;
    // The generated code imports go.bytecodealliance.org/pkg; use the copy that ships in
    // the wit-bindgen-go crate instead of the network.
    let cargo = PathBuf::from(env::var_os("CARGO").ok_or("CARGO not set")?);
    let host = env::var("HOST").ok();
    let pkg = aiofs_witgen::go_pkg_dir(&cargo, &ctx.root.join("Cargo.toml"), host.as_deref())
        .map_err(|e| format!("{e:#}"))?;
    let mut go_mod = std::fs::read_to_string(src.join("go.mod")).map_err(|e| e.to_string())?;
    writeln!(
        go_mod,
        "\nreplace go.bytecodealliance.org/pkg => {}",
        pkg.display()
    )
    .unwrap();
    std::fs::write(src.join("go.mod"), go_mod).map_err(|e| e.to_string())?;
    let core = work.join("core.wasm");
    run(
        Command::new(ctx.tool("go"))
            .current_dir(&src)
            .args([
                "build",
                "-buildmode=c-shared",
                "-ldflags=-checklinkname=0",
                "-o",
            ])
            .arg(&core)
            .arg(".")
            .env("GOOS", "wasip1")
            .env("GOARCH", "wasm")
            .env("GOCACHE", ctx.dir.join("go-cache"))
            .env("GOPATH", ctx.dir.join("go-path"))
            .env("GOENV", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local"),
        "go build",
    )?;
    let module = std::fs::read(&core).map_err(|e| e.to_string())?;
    let component = aiofs_witgen::componentize(
        &module,
        Some((&ctx.wit(), "command")),
        aiofs_witgen::Adapter::Reactor,
    )
    .map_err(|e| format!("componentize: {e:#}"))?;
    std::fs::write(work.join("scenarios.wasm"), component).map_err(|e| e.to_string())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}
