//! Tests that removals and cached attempts on the caller's thread exclude each other (the
//! `links` module), through the store's operations: no operation that can drop a file's
//! last link runs while an attempt is under way, and no attempt starts while one runs.

use super::cached_tests::trips;
use super::tests::{Env, s};
use super::*;
use crate::fs::batch::BatchOp;
use std::future::Future;

/// Run `op` (which removes something) while an attempt of `fs`'s pool is under way: it must
/// wait for the attempt, and finish once the attempt ends.
async fn waits_for_attempt(fs: &Fs, what: &str, op: impl Future<Output = ()> + Send + 'static) {
    let links = fs.pool().links();
    let attempt = links.attempt().expect("no removal under way");
    let task = tokio::spawn(op);
    while !links.removal_under_way() && !task.is_finished() {
        tokio::task::yield_now().await;
    }
    assert!(!task.is_finished(), "{what}: ran during an attempt");
    drop(attempt);
    task.await.unwrap();
    assert!(!links.removal_under_way());
}

/// Every operation that can drop a file's last link waits for the attempts under way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removals_wait_for_cached_attempts() {
    let env = Env::new();
    for name in ["a", "b", "c", "d", "e", "target", "target2", "tree/f"] {
        env.put(&format!("data/{name}"), name);
    }
    let fs = env.fs.clone();
    let f = fs.clone();
    waits_for_attempt(&fs, "remove", async move {
        f.remove_file(s("/data/a")).await.unwrap();
    })
    .await;
    let f = fs.clone();
    waits_for_attempt(&fs, "rename over a file", async move {
        f.rename(s("/data/b"), s("/data/target")).await.unwrap();
    })
    .await;
    let f = fs.clone();
    waits_for_attempt(&fs, "renames over a file", async move {
        f.renames(s("/data/c"), s("/data/target2")).await.unwrap();
    })
    .await;
    let f = fs.clone();
    waits_for_attempt(&fs, "rename_to", async move {
        f.rename_to(s("/data/d"), &f, s("/data/target"))
            .await
            .unwrap();
    })
    .await;
    let f = fs.clone();
    waits_for_attempt(&fs, "remove_tree", async move {
        f.remove_tree(s("/data/tree")).await.unwrap();
    })
    .await;
    let f = fs.clone();
    waits_for_attempt(&fs, "atomic write_file", async move {
        f.write_file(s("/data/target"), b"new".to_vec(), true)
            .await
            .unwrap();
    })
    .await;
    let f = fs.clone();
    waits_for_attempt(&fs, "batch remove", async move {
        let out = f.batch(vec![BatchOp::Remove(s("/data/e"))]).await.unwrap();
        assert!(out[0].is_ok());
    })
    .await;
    let f = fs.clone();
    waits_for_attempt(&fs, "temporary_file", async move {
        let t = f
            .temporary_file(s("w+b"), TempOptions::default())
            .await
            .unwrap();
        t.close().await.unwrap();
    })
    .await;
    let named = fs
        .named_temporary_file(s("w+b"), TempOptions::default(), true)
        .await
        .unwrap();
    waits_for_attempt(&fs, "named temporary file closed", async move {
        named.close().await.unwrap();
    })
    .await;
    let dir = fs
        .temporary_directory(TempOptions::default())
        .await
        .unwrap();
    let inside = format!("{}/f", dir.path());
    fs.write_file(inside, b"x".to_vec(), false).await.unwrap();
    waits_for_attempt(&fs, "temporary directory cleanup", async move {
        dir.cleanup().await.unwrap();
    })
    .await;

    let mut left: Vec<_> = stdfs_names(&env.host("data"));
    left.sort();
    assert_eq!(left, ["target", "target2"]);
    assert_eq!(env.get("data/target").unwrap(), "new");
    assert_eq!(env.get("data/target2").unwrap(), "c");
}

fn stdfs_names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// While a removal is under way, operations that would run on the caller's thread run on
/// the pool instead (a file they open by name could lose its last link before they close
/// it); once it ends they run here again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_under_way_sends_cached_operations_to_the_pool() {
    let env = Env::new();
    env.put("data/f", "content");
    let fs = &env.fs;
    let open = fs.open(s("/data/f"), "rb").await.unwrap();
    let before = trips(fs);
    assert!(fs.exists(s("/data/f")).await.unwrap());
    assert_eq!(trips(fs), before, "cached");

    let (release, wait) = std::sync::mpsc::channel::<()>();
    let pool = fs.pool().clone();
    let remover = std::thread::spawn(move || pool.links().removing(|| wait.recv()));
    while !fs.pool().links().removal_under_way() {
        tokio::task::yield_now().await;
    }
    let before = trips(fs);
    assert_eq!(fs.stat(s("/data/f"), true).await.unwrap().size, 7);
    assert_eq!(
        fs.read_file(s("/data/f"), u64::MAX).await.unwrap(),
        b"content"
    );
    assert_eq!(open.read(3).await.unwrap(), b"con");
    open.close().await.unwrap();
    assert_eq!(trips(fs), before + 4, "each on the pool");

    release.send(()).unwrap();
    remover.join().unwrap().unwrap();
    let before = trips(fs);
    assert_eq!(fs.stat(s("/data/f"), true).await.unwrap().size, 7);
    assert_eq!(trips(fs), before, "cached again");
}
