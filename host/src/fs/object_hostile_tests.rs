//! Object grants under a hostile guest, against a real S3 server (as `object_tests`, whose
//! environment these share): keys that must land where the guest named them, and host
//! memory that must be charged for what it holds.

use super::object_tests::{Env, s};
use super::*;
use crate::fs::at::{OpenRequest, Opened};

/// The directory `path` beneath `from`, opened as `open-at` does.
async fn open_dir(from: &Fs, path: &str) -> crate::fs::at::Directory {
    let req = OpenRequest {
        directory: true,
        ..OpenRequest::default()
    };
    match from.open_at(s(path), req).await.unwrap() {
        Opened::Dir(d) => d,
        Opened::File(_) => panic!("{path} is a directory"),
    }
}

/// `rename-at` from one directory descriptor to another of the same object grant puts the
/// object beneath the destination's directory, not beneath the source's (the destination
/// path is relative to the destination view).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_to_another_directory_lands_beneath_it() {
    let Some(env) = Env::new(GrantQuota::UNLIMITED) else {
        return;
    };
    env.put("data/a/f", b"moved").await;
    env.put("data/b/keep", b"k").await;
    let roots = env.fs.grant_roots();
    let data = roots[0].fs();
    let (a, b) = (open_dir(data, "a").await, open_dir(data, "b").await);
    a.fs().rename_to(s("f"), b.fs(), s("g")).await.unwrap();
    assert_eq!(env.get("data/a/g").await, None);
    assert_eq!(env.get("data/a/f").await, None);
    assert_eq!(env.get("data/b/g").await.as_deref(), Some(&b"moved"[..]));
    // And back up to the grant's root.
    b.fs().rename_to(s("g"), data, s("top")).await.unwrap();
    assert_eq!(env.get("data/b/top").await, None);
    assert_eq!(env.get("data/top").await.as_deref(), Some(&b"moved"[..]));
}

/// A listing of an object directory (kept by a directory stream for as long as the guest
/// keeps it) is charged at least for what it allocates: the list's slots, spare ones
/// included, and each name as the allocator takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_listing_is_charged_for_what_it_allocates() {
    let Some(env) = Env::new(GrantQuota::UNLIMITED) else {
        return;
    };
    // 33 one-letter-ish names: a list grown by doubling has 31 spare slots.
    for i in 0..33 {
        env.put(&format!("data/d/{i:x}"), b"").await;
    }
    let (entries, held) = env.fs.scandir_held(s("/data/d"), true).await.unwrap();
    assert_eq!(entries.len(), 33);
    let slots = (entries.capacity() * size_of::<DirEntry>()) as u64;
    let names: u64 = entries
        .iter()
        .map(|e| crate::fs::held::allocated(e.name.capacity() as u64))
        .sum();
    assert!(
        held.bytes() >= slots + names,
        "charged {} for {slots} of slots and {names} of names",
        held.bytes()
    );
}
