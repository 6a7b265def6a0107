//! The compiled-component cache: its key and what `Runner::load` does with it.
//!
//! The component used is the smallest valid one, a bare component header: it compiles,
//! serializes and deserializes like any other, without needing a guest toolchain.

use aiofs_cli::{CacheStats, Runner, RunnerOptions, cache_key};
use std::path::{Path, PathBuf};
use wasmtime::{Config, Engine};

/// An empty component: magic, version 0x0d, layer 1.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";
/// The same component with a custom section, so different bytes.
const EMPTY_COMPONENT_WITH_NAME: &[u8] = b"\0asm\x0d\0\x01\0\x00\x04\x03abc";

fn runner(cache: Option<&Path>) -> Runner {
    Runner::new(RunnerOptions {
        cache_dir: cache.map(Path::to_path_buf),
        ..RunnerOptions::default()
    })
    .expect("runner")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn cached_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn key_is_stable_hex_and_depends_on_bytes() {
    let engine = Engine::default();
    let a = cache_key(&engine, EMPTY_COMPONENT);
    assert_eq!(a.len(), 64);
    assert!(
        a.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(a, cache_key(&engine, EMPTY_COMPONENT));
    assert_eq!(a, cache_key(&Engine::default(), EMPTY_COMPONENT));
    assert_ne!(a, cache_key(&engine, EMPTY_COMPONENT_WITH_NAME));
}

#[test]
fn key_depends_on_engine_compatibility() {
    let bytes = EMPTY_COMPONENT;
    let default = cache_key(&Engine::default(), bytes);
    let mut config = Config::new();
    config.cranelift_opt_level(wasmtime::OptLevel::None);
    let unoptimised = Engine::new(&config).unwrap();
    assert_ne!(default, cache_key(&unoptimised, bytes));
    let mut config = Config::new();
    config.consume_fuel(true);
    let fuel = Engine::new(&config).unwrap();
    assert_ne!(default, cache_key(&fuel, bytes));
}

#[test]
fn runner_key_matches_the_file_it_writes() {
    let cache = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let path = write(src.path(), "c.wasm", EMPTY_COMPONENT);
    let r = runner(Some(cache.path()));
    r.load(&path).unwrap();
    let key = cache_key(r.engine(), EMPTY_COMPONENT);
    assert_eq!(cached_files(cache.path()), vec![format!("{key}.cwasm")]);
}

#[test]
fn second_load_is_a_hit_even_in_a_new_runner() {
    let cache = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let path = write(src.path(), "c.wasm", EMPTY_COMPONENT);

    let first = runner(Some(cache.path()));
    first.load(&path).unwrap();
    assert_eq!(first.cache_stats(), CacheStats { hits: 0, misses: 1 });
    first.load(&path).unwrap();
    assert_eq!(first.cache_stats(), CacheStats { hits: 1, misses: 1 });

    // A new process-alike: nothing in memory, the artifact on disk.
    let second = runner(Some(cache.path()));
    second.load(&path).unwrap();
    assert_eq!(second.cache_stats(), CacheStats { hits: 1, misses: 0 });
}

#[test]
fn different_bytes_are_a_miss() {
    let cache = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let a = write(src.path(), "a.wasm", EMPTY_COMPONENT);
    let b = write(src.path(), "b.wasm", EMPTY_COMPONENT_WITH_NAME);
    let r = runner(Some(cache.path()));
    r.load(&a).unwrap();
    r.load(&b).unwrap();
    assert_eq!(r.cache_stats(), CacheStats { hits: 0, misses: 2 });
    assert_eq!(cached_files(cache.path()).len(), 2);
}

#[test]
fn corrupt_artifact_is_recompiled_and_replaced() {
    let cache = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let path = write(src.path(), "c.wasm", EMPTY_COMPONENT);
    let r = runner(Some(cache.path()));
    let key = cache_key(r.engine(), EMPTY_COMPONENT);
    let artifact = write(cache.path(), &format!("{key}.cwasm"), b"not an artifact");

    r.load(&path).unwrap();
    assert_eq!(r.cache_stats(), CacheStats { hits: 0, misses: 1 });
    assert_ne!(std::fs::read(&artifact).unwrap(), b"not an artifact");
    r.load(&path).unwrap();
    assert_eq!(r.cache_stats(), CacheStats { hits: 1, misses: 1 });
}

#[test]
fn cache_dir_is_created_on_demand() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("nested").join("cache");
    let path = write(root.path(), "c.wasm", EMPTY_COMPONENT);
    runner(Some(&cache)).load(&path).unwrap();
    assert_eq!(cached_files(&cache).len(), 1);
}

#[test]
fn unwritable_cache_still_loads() {
    let root = tempfile::tempdir().unwrap();
    // A file where the cache directory should be: creating it fails, loading does not.
    let blocker = write(root.path(), "cache", b"");
    let path = write(root.path(), "c.wasm", EMPTY_COMPONENT);
    let r = runner(Some(&blocker));
    r.load(&path).unwrap();
    r.load(&path).unwrap();
    assert_eq!(r.cache_stats(), CacheStats { hits: 0, misses: 2 });
}

#[test]
fn without_a_cache_every_load_compiles() {
    let src = tempfile::tempdir().unwrap();
    let path = write(src.path(), "c.wasm", EMPTY_COMPONENT);
    let r = runner(None);
    r.load(&path).unwrap();
    r.load(&path).unwrap();
    assert_eq!(r.cache_stats(), CacheStats { hits: 0, misses: 2 });
}

#[test]
fn load_rejects_non_components_before_compiling() {
    let cache = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let core = write(src.path(), "core.wasm", b"\0asm\x01\0\0\0");
    let r = runner(Some(cache.path()));
    let err = r.load(&core).unwrap_err().to_string();
    assert!(err.contains("is a core WebAssembly module"), "{err}");
    let err = r
        .load(&src.path().join("missing.wasm"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot read"), "{err}");
    assert_eq!(r.cache_stats(), CacheStats::default());
    assert!(cached_files(cache.path()).is_empty());
}

/// The one artifact in `cache` (after a load).
fn artifact(cache: &Path) -> PathBuf {
    let names = cached_files(cache);
    assert_eq!(names.len(), 1, "{names:?}");
    cache.join(&names[0])
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_new_cache_directory_and_its_entries_are_private() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let path = write(root.path(), "c.wasm", EMPTY_COMPONENT);
    runner(Some(&cache)).load(&path).unwrap();
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(&artifact(&cache)), 0o600);
}

/// A directory others may write to: whatever is in it may have been planted there.
#[test]
fn a_cache_directory_others_can_write_is_not_used() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let path = write(root.path(), "c.wasm", EMPTY_COMPONENT);
    runner(Some(&cache)).load(&path).unwrap();
    for shared in [0o777, 0o770, 0o1777] {
        chmod(&cache, shared);
        let r = runner(Some(&cache));
        r.load(&path).unwrap();
        r.load(&path).unwrap();
        assert_eq!(
            r.cache_stats(),
            CacheStats { hits: 0, misses: 2 },
            "{shared:o}"
        );
    }
}

#[test]
fn an_entry_others_can_write_or_a_symlink_is_not_loaded() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let path = write(root.path(), "c.wasm", EMPTY_COMPONENT);
    runner(Some(&cache)).load(&path).unwrap();
    let entry = artifact(&cache);

    chmod(&entry, 0o666);
    let r = runner(Some(&cache));
    r.load(&path).unwrap();
    assert_eq!(r.cache_stats(), CacheStats { hits: 0, misses: 1 });
    assert_eq!(mode(&entry), 0o600, "replaced by a private one");

    // A symlink (to a good artifact) in place of the entry is not followed.
    let elsewhere = root.path().join("copy.cwasm");
    std::fs::copy(&entry, &elsewhere).unwrap();
    chmod(&elsewhere, 0o600);
    std::fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    let r = runner(Some(&cache));
    r.load(&path).unwrap();
    assert_eq!(r.cache_stats(), CacheStats { hits: 0, misses: 1 });
    assert!(!std::fs::symlink_metadata(&entry).unwrap().is_symlink());
}
/// Bytes that are not what was written (a torn write after a crash, a bad disk, an
/// artifact of another component renamed) are recompiled, never deserialized.
#[test]
fn an_entry_whose_bytes_changed_is_recompiled() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let path = write(root.path(), "c.wasm", EMPTY_COMPONENT);
    let other = write(root.path(), "o.wasm", EMPTY_COMPONENT_WITH_NAME);
    runner(Some(&cache)).load(&path).unwrap();
    let entry = artifact(&cache);
    let good = std::fs::read(&entry).unwrap();

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let mut appended = good.clone();
    appended.push(0);
    let truncated = good[..good.len() - 1].to_vec();
    let half = good[..good.len() / 2].to_vec();
    for (what, bytes) in [
        ("flipped", flipped),
        ("appended", appended),
        ("truncated", truncated),
        ("half", half),
        ("empty", Vec::new()),
    ] {
        std::fs::write(&entry, &bytes).unwrap();
        let r = runner(Some(&cache));
        r.load(&path).unwrap();
        assert_eq!(r.cache_stats(), CacheStats { hits: 0, misses: 1 }, "{what}");
        r.load(&path).unwrap();
        assert_eq!(r.cache_stats(), CacheStats { hits: 1, misses: 1 }, "{what}");
    }

    // Another component's artifact renamed to this one's key.
    let r = runner(Some(&cache));
    r.load(&other).unwrap();
    let other_entry = cache.join(format!(
        "{}.cwasm",
        cache_key(r.engine(), EMPTY_COMPONENT_WITH_NAME)
    ));
    std::fs::rename(&other_entry, &entry).unwrap();
    let r = runner(Some(&cache));
    r.load(&path).unwrap();
    assert_eq!(r.cache_stats(), CacheStats { hits: 0, misses: 1 });
}
