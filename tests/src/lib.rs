//! Harness for the end-to-end tests: builds a real fixture tree, grants parts of it to a
//! real guest component, runs the guest through the same [`Runner`] the `aiofs` command
//! uses, and lets the test inspect the disk afterwards.
//!
//! Components are compiled once per test process (and cached on disk across processes).

use aiofs_cli::{RunIo, RunOutcome, Runner, RunnerOptions};
use aiofs_host::{AioFsCtx, AioFsCtxBuilder, Limits, Perms, Pool};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::component::Component;

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

pub mod s3;

/// The runner shared by every test of a process.
pub fn runner() -> &'static Runner {
    static RUNNER: OnceLock<Runner> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let cache = PathBuf::from(concat!(env!("OUT_DIR"), "/component-cache"));
        Runner::new(RunnerOptions {
            cache_dir: Some(cache),
            ..RunnerOptions::default()
        })
        .expect("runner")
    })
}

/// A guest component, compiled once per process.
pub fn component(path: &str) -> Component {
    static LOADED: OnceLock<Mutex<HashMap<String, Component>>> = OnceLock::new();
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap();
    loaded
        .entry(path.to_string())
        .or_insert_with(|| runner().load(Path::new(path)).expect("load component"))
        .clone()
}

/// A fixture tree in a fresh temp dir:
///
/// ```text
/// root/
///   data/            granted read-write at /data
///     hello.txt      "hello\nworld\n" (mtime 1_000_000_000.5)
///     lines.txt      "one\r\ntwo\rthree\nfour"
///     utf8.txt       "hééllo"
///     bad-utf8.txt   b"f\xffo\n"
///     big.bin        4 KiB
///     sub/deep/f.txt
///     escape-link -> ../outside/canary.txt
///     escape-dir  -> ../outside
///     abs-link    -> /etc/passwd
///   ro/              granted read-only at /ro
///     ro.txt         "read only\n"
///     rsub/
///   outside/         never granted
///     canary.txt     "canary"
/// ```
pub struct Sandbox {
    /// The temp dir holding everything (removed on drop).
    pub root: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// Lay out the fixture.
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        let w = |p: &str, data: &[u8]| {
            let p = r.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        };
        w("data/hello.txt", b"hello\nworld\n");
        w("data/lines.txt", b"one\r\ntwo\rthree\nfour");
        w("data/utf8.txt", "hééllo".as_bytes());
        w("data/bad-utf8.txt", b"f\xffo\n");
        w("data/big.bin", &[0x5a; 4096]);
        w("data/sub/deep/f.txt", b"deep");
        w("ro/ro.txt", b"read only\n");
        std::fs::create_dir_all(r.join("ro/rsub")).unwrap();
        w("outside/canary.txt", b"canary");
        std::os::unix::fs::symlink("../outside/canary.txt", r.join("data/escape-link")).unwrap();
        std::os::unix::fs::symlink("../outside", r.join("data/escape-dir")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("data/abs-link")).unwrap();
        let hello = std::fs::File::options()
            .write(true)
            .open(r.join("data/hello.txt"))
            .unwrap();
        let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_000_000_000_500);
        hello
            .set_times(std::fs::FileTimes::new().set_modified(mtime))
            .unwrap();
        Sandbox { root }
    }

    /// Absolute host path of `rel` inside the sandbox.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// Read a host file of the sandbox.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Whether a host path exists (not following a final symlink).
    pub fn exists(&self, rel: &str) -> bool {
        std::fs::symlink_metadata(self.path(rel)).is_ok()
    }

    /// The standard grants (/data read-write, /ro read-only) with the given limits and pool.
    pub fn ctx_with(&self, limits: Limits, pool: Pool) -> AioFsCtx {
        self.builder().limits(limits).pool(pool).build()
    }

    /// The standard grants with default limits and a small private pool.
    pub fn ctx(&self) -> AioFsCtx {
        self.ctx_with(Limits::default(), Pool::new(4))
    }

    fn builder(&self) -> AioFsCtxBuilder {
        AioFsCtx::builder()
            .grant(self.path("data"), "/data", Perms::ReadWrite)
            .unwrap()
            .grant(self.path("ro"), "/ro", Perms::ReadOnly)
            .unwrap()
    }

    /// Everything under `rel`, as sorted relative paths (symlinks not followed).
    pub fn tree(&self, rel: &str) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if e.file_type().unwrap().is_dir() {
                    walk(base, &p, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path(rel), &self.path(rel), &mut out);
        out.sort();
        out
    }

    /// Assert that no entry under `rel` (as listed by [`Sandbox::tree`]) matches `what`.
    pub fn assert_none_in(&self, rel: &str, what: &str, matches: impl Fn(&str) -> bool) {
        let found: Vec<_> = self.tree(rel).into_iter().filter(|p| matches(p)).collect();
        assert!(found.is_empty(), "{what} left in {rel}: {found:?}");
    }

    /// Assert that nothing outside the grants and nothing in the read-only grant changed.
    pub fn assert_untouched(&self) {
        assert_eq!(self.read("outside/canary.txt"), b"canary");
        assert_eq!(self.tree("outside"), ["canary.txt"]);
        assert_eq!(self.read("ro/ro.txt"), b"read only\n");
        assert_eq!(self.tree("ro"), ["ro.txt", "rsub"]);
    }
}

/// What a guest run with `args` sees: argv `guest ARGS...`, no environment, output
/// captured.
pub fn guest_io(args: &[&str]) -> RunIo {
    RunIo {
        args: std::iter::once("guest")
            .chain(args.iter().copied())
            .map(String::from)
            .collect(),
        env: Vec::new(),
        capture_output: true,
    }
}

/// Run a guest with `args` (captured output) and return the outcome.
pub async fn run(guest: &str, ctx: AioFsCtx, args: &[&str]) -> RunOutcome {
    runner()
        .run(&component(guest), ctx, guest_io(args))
        .await
        .unwrap_or_else(|e| panic!("running {guest} {args:?} failed: {e:?}"))
}

/// Run a scenario of the `scenarios` guest and require success, showing its output if not.
pub async fn scenario(ctx: AioFsCtx, args: &[&str]) -> RunOutcome {
    let out = run(SCENARIOS, ctx, args).await;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert_eq!(
        out.exit_code,
        0,
        "scenario {args:?} failed\n--- stdout\n{}\n--- stderr\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// `limits` with every operation sent to the pool, none tried from the kernel's caches on
/// the caller's thread first: for tests that hold operations at a [`Gate`].
pub fn pooled(limits: Limits) -> Limits {
    Limits {
        max_inline_bytes: 0,
        ..limits
    }
}

/// A pool hook that holds every job until [`Gate::open`] is called, so a test can observe
/// how many operations are queued and running at once without relying on timing.
#[derive(Clone, Default)]
pub struct Gate {
    state: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl Gate {
    /// The hook to install with [`Pool::with_hook`].
    pub fn hook(&self) -> aiofs_host::pool::JobHook {
        let state = self.state.clone();
        Arc::new(move || {
            let (open, cv) = &*state;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
        })
    }

    /// [`Gate::hook`], except that the first `n` jobs run without waiting (say, the open
    /// of the file whose later operations a test holds).
    pub fn hook_after(&self, n: usize) -> aiofs_host::pool::JobHook {
        let passed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hold = self.hook();
        Arc::new(move || {
            if passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= n {
                hold();
            }
        })
    }

    /// Let every held and future job run.
    pub fn open(&self) {
        let (open, cv) = &*self.state;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
}

/// Wait until every job queued on `pool` so far, and anything those queued, has run
/// (e.g. the closes and removals a dropped store queued).
pub async fn drain(pool: &Pool) {
    wait_until("pool idle", || {
        let s = pool.stats();
        s.running == 0 && s.queued == 0
    })
    .await;
}

/// Wait (without blocking the runtime) until `cond` holds; panics after 60 s so a broken
/// build fails instead of hanging. This polls a condition; it does not time anything.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}
