//! Finds the JavaScript modules a guest imports, at build time.
//!
//! The guest sees its modules under guest paths: the module root (by default the current
//! directory, or the entry file's directory when the entry is elsewhere) is `/`. A
//! relative (`./x.js`, `../lib/y`) or root-absolute (`/z.js`) specifier resolves
//! against the importing module, trying the name as given, then with `.js` and `.mjs`,
//! then `/index.js`; nothing outside the module root is loaded. `node:fs/promises` (also
//! `fs/promises`) is the bundled `guest/js/fs.js`, `node:process` (or `process`)
//! `guest/js/process.js`, `node:timers/promises` `guest/js/timers.js`. Bare package
//! names (`lodash`) are not resolved: there is no `node_modules` lookup.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};

/// The modules shipped with this tool (guest/js), by guest path.
const BUNDLED: &[(&str, &str)] = &[
    ("/@aiofs/fs.js", include_str!("../../../guest/js/fs.js")),
    (
        "/@aiofs/process.js",
        include_str!("../../../guest/js/process.js"),
    ),
    ("/@aiofs/text.js", include_str!("../../../guest/js/text.js")),
    (
        "/@aiofs/timers.js",
        include_str!("../../../guest/js/timers.js"),
    ),
];

/// The source of the bundled `node:fs/promises`.
pub(crate) const FS_SOURCE: &str = BUNDLED[0].1;

/// Bare specifiers that name a bundled module.
fn bundled(specifier: &str) -> Option<&'static str> {
    match specifier {
        "node:fs/promises" | "fs/promises" => Some("/@aiofs/fs.js"),
        "node:process" | "process" => Some("/@aiofs/process.js"),
        "node:timers/promises" | "timers/promises" => Some("/@aiofs/timers.js"),
        _ => None,
    }
}

/// Resolves and loads modules beneath one module root.
#[derive(Clone)]
pub(crate) struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    /// Canonical host directory that is `/` for the guest.
    root: PathBuf,
    /// Guest path of the entry module.
    entry_path: String,
}

impl Resolver {
    /// A resolver for the entry file `entry`, under `module_root` if given.
    pub(crate) fn new(entry: &Path, module_root: Option<&Path>) -> Result<Self> {
        let entry = entry
            .canonicalize()
            .with_context(|| format!("cannot find the JS entry {}", entry.display()))?;
        let root = match module_root {
            Some(root) => root
                .canonicalize()
                .with_context(|| format!("cannot find the module root {}", root.display()))?,
            None => {
                let cwd = std::env::current_dir()?.canonicalize()?;
                if entry.starts_with(&cwd) {
                    cwd
                } else {
                    entry
                        .parent()
                        .context("entry has no directory")?
                        .to_path_buf()
                }
            }
        };
        let entry_path = guest_path(&root, &entry)?;
        Ok(Self {
            inner: Arc::new(Inner { root, entry_path }),
        })
    }

    /// The guest path of module `specifier` imported by the module at guest path
    /// `referrer`.
    pub(crate) fn resolve(&self, referrer: &str, specifier: &str) -> Result<String> {
        if let Some(path) = bundled(specifier) {
            return Ok(path.into());
        }
        let base = if specifier.starts_with('/') {
            ""
        } else if specifier.starts_with("./") || specifier.starts_with("../") {
            referrer.rsplit_once('/').map_or("", |(dir, _)| dir)
        } else {
            bail!(
                "cannot import {specifier:?} from {referrer}: only relative paths (./x.js), \
                 WIT interfaces, node:fs/promises, node:process and node:timers/promises can be imported (no node_modules lookup)"
            );
        };
        let joined = normalize(&format!("{base}/{specifier}")).with_context(|| {
            format!("import {specifier:?} from {referrer} leaves the module root")
        })?;
        if let Some((path, _)) = BUNDLED.iter().find(|(p, _)| *p == joined) {
            return Ok((*path).into());
        }
        for candidate in [
            joined.clone(),
            format!("{joined}.js"),
            format!("{joined}.mjs"),
            format!("{joined}/index.js"),
        ] {
            let host = self.inner.root.join(candidate.trim_start_matches('/'));
            if host.is_file() {
                let host = host.canonicalize()?;
                return guest_path(&self.inner.root, &host);
            }
        }
        bail!("cannot find module {specifier:?} imported from {referrer}")
    }

    /// The source of the module at guest path `path`.
    pub(crate) fn load(&self, path: &str) -> Result<String> {
        if let Some((_, source)) = BUNDLED.iter().find(|(p, _)| *p == path) {
            return Ok((*source).into());
        }
        let rel = normalize(path).context("module path leaves the module root")?;
        let host = self
            .inner
            .root
            .join(rel.trim_start_matches('/'))
            .canonicalize()?;
        if !host.starts_with(&self.inner.root) {
            bail!("module {path} is outside the module root");
        }
        std::fs::read_to_string(&host).with_context(|| format!("cannot read {}", host.display()))
    }

    /// The guest path of the entry module.
    pub(crate) fn entry_path(&self) -> &str {
        &self.inner.entry_path
    }
}

/// `/`-separated guest path with `.` and `..` folded; `None` if it climbs above `/`.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// The guest path of `host` (canonical), which must be beneath `root`.
fn guest_path(root: &Path, host: &Path) -> Result<String> {
    let rel = host.strip_prefix(root).map_err(|_| {
        anyhow!(
            "{} is not beneath the module root {}",
            host.display(),
            root.display()
        )
    })?;
    let mut out = String::new();
    for c in rel.components() {
        let Component::Normal(p) = c else {
            bail!("unexpected path component in {}", rel.display());
        };
        out.push('/');
        out.push_str(p.to_str().context("module paths must be UTF-8")?);
    }
    if out.is_empty() {
        bail!("the module root itself is not a module");
    }
    Ok(out)
}
