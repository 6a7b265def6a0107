//! The on-disk cache of compiled components.
//!
//! One file per component, `<key>.cwasm` (the serialized component, then a SHA-256 of
//! the key and those bytes, checked before anything is deserialized), where the key is a SHA-256 over the wasm bytes
//! and the engine's [`precompile_compatibility_hash`](wasmtime::Engine::precompile_compatibility_hash)
//! (wasmtime version, compiler settings, target CPU features). A different wasmtime build
//! or configuration therefore never even looks at another's artifacts. Files are written
//! to a temporary name in the same directory and renamed into place, so a reader sees
//! either nothing or a whole artifact, and concurrent writers of one key are harmless.
//! Nothing is ever evicted; deleting the directory is always safe.
//!
//! An entry is loaded as native code, so only this user's entries are: the directory is
//! created `0700`, files `0600`, and a directory or file another user owns or may write
//! to, or a symlink in place of a file, is not used.

use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fmt;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Versions the key derivation itself; bump it when the derivation changes.
const KEY_DOMAIN: &[u8] = b"aiofs-cli compiled-component cache v2\0";

/// Domain of the digest that ends every entry (see [`entry_digest`]).
const ENTRY_DOMAIN: &[u8] = b"aiofs-cli compiled-component cache entry v2\0";

/// Bytes of the digest that ends every entry.
const DIGEST_LEN: usize = 32;

/// The digest stored after the artifact of the entry named `key`: it commits to the name
/// and every byte, so a torn or damaged file, or another entry renamed, is never loaded.
fn entry_digest(key: &str, artifact: &[u8]) -> [u8; DIGEST_LEN] {
    let mut sha = Sha256::new();
    sha.update(ENTRY_DOMAIN);
    sha.update((key.len() as u64).to_le_bytes());
    sha.update(key.as_bytes());
    sha.update((artifact.len() as u64).to_le_bytes());
    sha.update(artifact);
    sha.finalize().into()
}

/// Feeds everything a [`Hash`] impl writes into SHA-256, so the result is stable across
/// processes (unlike `DefaultHasher`, whose algorithm is unspecified).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        // Never consulted: the digest is taken from the inner state.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The cache key of `wasm` compiled by `engine`: 64 lowercase hex digits.
///
/// Equal for equal bytes and compatible engines; different when either differs.
pub fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    hasher.0.update(KEY_DOMAIN);
    hasher.0.update((wasm.len() as u64).to_le_bytes());
    hasher.0.update(wasm);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    let mut key = String::with_capacity(64);
    for byte in digest {
        write!(key, "{byte:02x}").expect("writing to a String cannot fail");
    }
    key
}

/// Where the `aiofs` command keeps compiled components by default: `$AIOFS_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/aiofs`, else `$HOME/.cache/aiofs`; `None` when none is set.
///
/// `var` looks a variable up (pass `|k| std::env::var_os(k)`); empty values count as
/// unset, and a relative `XDG_CACHE_HOME` is ignored as the XDG spec asks.
pub fn default_cache_dir(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("AIOFS_CACHE_DIR") {
        return Some(dir);
    }
    if let Some(xdg) = set("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Some(xdg.join("aiofs"));
    }
    set("HOME").map(|home| home.join(".cache").join("aiofs"))
}

/// A read-write grant reaches the compiled-component cache: the guest could write an
/// artifact there (directly, or by replacing a directory or symlink on the cache's path)
/// that a later run would load as native code. See [`check_cache_dir_not_granted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDirGranted {
    /// The cache directory, as configured.
    pub cache_dir: PathBuf,
    /// The host directory of the read-write grant that reaches it, as given.
    pub grant: PathBuf,
}

impl fmt::Display for CacheDirGranted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the read-write grant {} contains the compiled-component cache {} (or a \
             directory on its path), where the guest could plant code a later run would \
             execute; set AIOFS_CACHE_DIR to a directory outside every read-write grant",
            self.grant.display(),
            self.cache_dir.display()
        )
    }
}

impl std::error::Error for CacheDirGranted {}

/// Succeed when no directory in `writable` (the host directories of read-write grants)
/// can change what `cache_dir` holds: neither the cache directory nor any directory on
/// its path from `/` (each resolved through symlinks, as far as it exists) may be one of
/// them or lie beneath one. A directory on the path inside a grant would let the guest
/// rename it or replace a symlink in it, pointing the cache somewhere it wrote.
///
/// This holds whether or not the cache is used by this run: an artifact planted now
/// would be loaded by the next run that uses the cache. Bind mounts are not seen through.
///
/// # Errors
/// [`CacheDirGranted`] naming the first grant that reaches the cache.
pub fn check_cache_dir_not_granted<'a>(
    cache_dir: &Path,
    writable: impl IntoIterator<Item = &'a Path>,
) -> Result<(), CacheDirGranted> {
    let real = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let cache_abs = std::path::absolute(cache_dir).unwrap_or_else(|_| cache_dir.to_path_buf());
    // Every directory on the way, resolved, as far as it exists (what does not exist yet
    // can only be created in one that does, which is checked).
    let on_path: Vec<PathBuf> = cache_abs
        .ancestors()
        .filter_map(|a| std::fs::canonicalize(a).ok())
        .collect();
    for grant in writable {
        let granted = real(grant);
        if on_path.iter().any(|dir| dir.starts_with(&granted)) {
            return Err(CacheDirGranted {
                cache_dir: cache_dir.to_path_buf(),
                grant: grant.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// A directory of compiled components.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
}

/// Permission bits that let others than the owner write.
const OTHERS_WRITE: u32 = 0o022;

/// Whether `meta` is of a file or directory this user owns and nobody else may write to.
fn private(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & OTHERS_WRITE == 0
}

impl DiskCache {
    pub(crate) fn new(dir: PathBuf) -> DiskCache {
        DiskCache { dir }
    }

    /// The cache directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// Whether the directory may hold entries only this user wrote: it is a directory
    /// owned by this user that nobody else may write to. (What such a directory holds was
    /// written by this user; see [`check_cache_dir_not_granted`] for guests.)
    fn dir_is_private(&self) -> std::io::Result<()> {
        let meta = std::fs::metadata(&self.dir)?;
        if !meta.is_dir() {
            return Err(std::io::Error::other("not a directory"));
        }
        if !private(&meta) {
            return Err(std::io::Error::other(
                "the cache directory is not private (another user owns it, or its group \
                 or others may write to it); it is not used",
            ));
        }
        Ok(())
    }

    /// The entry's bytes, read only from a regular file (no symlink is followed) that this
    /// user owns and nobody else may write to. `Ok(None)`: there is none.
    fn read_entry(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        use rustix::fs::{Mode, OFlags};
        use std::io::Read as _;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => {
                return Err(std::io::Error::other("a symlink, not followed"));
            }
            Err(e) => return Err(e.into()),
        };
        let mut file = std::fs::File::from(fd);
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        if !private(&meta) {
            return Err(std::io::Error::other(
                "another user owns it, or its group or others may write to it",
            ));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// The cached component for `key`, if there is a usable one. An unreadable or
    /// incompatible artifact, or one that others could have written, is reported and
    /// treated as absent (it gets replaced).
    pub(crate) fn get(&self, engine: &Engine, key: &str) -> Option<Component> {
        match self.dir_is_private() {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), "not using the component cache: {e}");
                return None;
            }
        }
        let path = self.path_of(key);
        let mut bytes = match self.read_entry(&path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring cache entry: {e}");
                return None;
            }
        };
        let Some(artifact_len) = bytes.len().checked_sub(DIGEST_LEN) else {
            tracing::warn!(path = %path.display(), "ignoring truncated cache entry");
            return None;
        };
        if bytes[artifact_len..] != entry_digest(key, &bytes[..artifact_len]) {
            tracing::warn!(path = %path.display(), "ignoring damaged cache entry (digest mismatch)");
            return None;
        }
        bytes.truncate(artifact_len);
        // SAFETY: `Component::deserialize` trusts its input to be an artifact produced by
        // `Component::serialize`. Files in the cache directory are only ever created by
        // `put` below (a whole serialized component, renamed into place) under a name that
        // commits to the wasm bytes and the engine configuration, and these bytes are the
        // ones `put` wrote under this name (the digest above). Only a regular file of
        // this user, in a directory of this user, neither writable by anyone else, is
        // read (so no other user planted it), and `aiofs run` refuses read-write grants
        // that reach the directory (so no guest did). wasmtime still checks the header,
        // version and engine compatibility and rejects mismatches with an error. The bytes
        // are copied into fresh memory, so later changes to the file cannot affect the
        // loaded code.
        #[allow(
            unsafe_code,
            reason = "loading our own serialized artifacts; see SAFETY"
        )]
        let loaded = unsafe { Component::deserialize(engine, &bytes) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e}");
                None
            }
        }
    }

    /// Store `component` under `key`. Failure only costs a recompile next time, so it
    /// is reported, not returned.
    pub(crate) fn put(&self, key: &str, component: &Component) {
        if let Err(e) = self.try_put(key, component) {
            tracing::warn!(dir = %self.dir.display(), "could not write to the component cache: {e}");
        }
    }

    fn try_put(&self, key: &str, component: &Component) -> wasmtime::Result<()> {
        use std::os::unix::fs::DirBuilderExt as _;
        let bytes = component.serialize()?;
        // Private from the start: directories created here are the owner's alone.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        // Never add to a directory whose entries would not be read back.
        self.dir_is_private()?;
        // A temporary file is created 0600.
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .suffix(".cwasm")
            .tempfile_in(&self.dir)?;
        tmp.write_all(&bytes)?;
        tmp.write_all(&entry_digest(key, &bytes))?;
        tmp.persist(self.path_of(key)).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn cache_dir_precedence() {
        let all = [
            ("AIOFS_CACHE_DIR", "/a"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(default_cache_dir(env(&all)), Some(PathBuf::from("/a")));
        assert_eq!(
            default_cache_dir(env(&all[1..])),
            Some(PathBuf::from("/x/aiofs"))
        );
        assert_eq!(
            default_cache_dir(env(&all[2..])),
            Some(PathBuf::from("/h/.cache/aiofs"))
        );
        assert_eq!(default_cache_dir(env(&[])), None);
    }

    #[test]
    fn empty_and_relative_values_are_ignored() {
        let vars = [
            ("AIOFS_CACHE_DIR", ""),
            ("XDG_CACHE_HOME", "rel/cache"),
            ("HOME", "/h"),
        ];
        assert_eq!(
            default_cache_dir(env(&vars)),
            Some(PathBuf::from("/h/.cache/aiofs"))
        );
    }
}
