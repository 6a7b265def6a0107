//! Hostile-guest tests of name operations (listings, renames, views, temporaries, their
//! records): what a guest can make the host hold or reach, measured through the store's
//! own accounting on real files.

use super::held::allocated;
use super::tests::{Env, s};
use super::*;

/// `listdir` charges its list for what it allocates while it builds it: each name as the
/// allocator takes it (a one-letter name takes 32 bytes) and the list's slots, which
/// double as it grows. It charged each name's length and a `String` header, so 17
/// one-letter names (a list of 32 slots) were charged 425 bytes for 1312 allocated.
#[tokio::test]
async fn a_listdir_is_charged_for_what_it_allocates() {
    let env = Env::new();
    for c in 'a'..='q' {
        env.put(&format!("data/d/{c}"), "");
    }
    let names = env.fs.listdir(s("/data/d")).await.unwrap();
    assert_eq!(names.len(), 17);
    let slots = allocated((names.capacity() * size_of::<String>()) as u64);
    let each: u64 = names.iter().map(|n| allocated(n.capacity() as u64)).sum();
    assert!(
        env.fs.peak_held_bytes() >= slots + each,
        "charged {} for {slots} bytes of slots and {each} of names",
        env.fs.peak_held_bytes()
    );
    assert_eq!(env.fs.held_bytes(), 0);
}

/// Counts the `WARN` events of the threads it is installed on.
struct Warnings(std::sync::atomic::AtomicU64);

impl super::trace_capture::Sink for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A dropped temporary directory that cannot be removed (the guest put a file in its
/// place) logs a warning, and a guest can drop one in a loop: those warnings take tokens
/// of the store's `max_audit_rate` bucket like refusal events, and past it are
/// suppressed and counted. Every drop logged one before (20 of 20 with a burst of 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_dir_removal_warnings_keep_to_the_audit_rate() {
    use std::sync::atomic::Ordering;
    let warnings: &'static Warnings = Box::leak(Box::new(Warnings(Default::default())));
    // The pool's one worker sends its events to `warnings` (its own thread, for good).
    let hook: crate::pool::JobHook = Arc::new(move || {
        std::mem::forget(super::trace_capture::capture(warnings));
    });
    // Pooled: the last `stat` must queue behind the removals, not run inline.
    let limits = super::tests::pooled(Limits {
        max_audit_rate: 0,
        max_audit_burst: 3,
        ..Limits::default()
    });
    let env = Env::with(limits, Pool::with_hook(1, Some(hook)));
    let fs = &env.fs;
    for _ in 0..20 {
        let td = fs
            .temporary_directory(TempOptions::default())
            .await
            .unwrap();
        let path = td.path().to_owned();
        fs.rmdir(path.clone()).await.unwrap();
        std::fs::write(env.host(&path[1..]), "").unwrap();
        drop(td);
    }
    // The store's removals run before its later jobs (one worker): they are all done.
    fs.stat(s("/data"), true).await.unwrap();
    assert_eq!(warnings.0.load(Ordering::Relaxed), 3);
    assert_eq!(fs.stats().audit_suppressed, 17);
}

/// An audit record keeps to its documented size (two paths of at most `max_path_len`,
/// plus a cut mark) also for an operation under a directory's view, whose paths are
/// shown under the view's mount path: a view mounted at about 3.5 KiB and a refused
/// relative path of 4000 bytes made a record path of 7505 bytes.
#[tokio::test]
async fn audit_paths_under_a_deep_view_keep_to_max_path_len() {
    let ro = tempfile::tempdir().unwrap();
    let deep: Vec<String> = (0..17).map(|i| format!("{i:0>200}")).collect();
    let deep = deep.join("/");
    std::fs::create_dir_all(ro.path().join(&deep)).unwrap();
    let (audit, rx) = Audit::channel(8);
    let ctx = crate::AioFsCtx::builder()
        .grant(ro.path(), "/ro", Perms::ReadOnly)
        .unwrap()
        .audit(audit)
        .build();
    let fs = ctx.fs();
    let max = fs.limits().max_path_len;
    let req = OpenRequest {
        read: true,
        directory: true,
        ..OpenRequest::default()
    };
    let Ok(Opened::Dir(view)) = fs.open_at(format!("/ro/{deep}"), req).await else {
        panic!("a directory view")
    };
    let long = "y".repeat(4000);
    assert_eq!(
        view.fs().mkdir(long.clone()).await,
        Err(ErrorCode::ReadOnly)
    );
    assert_eq!(
        view.fs().rename(long.clone(), long).await,
        Err(ErrorCode::ReadOnly)
    );
    let records = rx.drain();
    assert_eq!(records.len(), 2);
    for r in &records {
        let target = r.target.as_deref().unwrap_or_default();
        assert!(r.path.starts_with("/ro/0"), "{}", &r.path[..20]);
        // `…` is 3 bytes.
        assert!(
            r.path.len() <= max + 3 && target.len() <= max + 3,
            "{} and {} bytes",
            r.path.len(),
            target.len()
        );
    }
}
