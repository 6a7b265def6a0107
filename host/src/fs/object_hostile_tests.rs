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

/// A signed request to the shared server (curl signs it: OpenDAL has no call for the
/// multipart listings), `url_tail` after the bucket; the response's body.
fn s3_get(url_tail: &str) -> String {
    let var = |n: &str| std::env::var(n).unwrap();
    let region = std::env::var("AIOFS_S3_REGION")
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".into());
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--aws-sigv4"])
        .arg(format!("aws:amz:{region}:s3"))
        .arg("--user")
        .arg(format!(
            "{}:{}",
            var("AIOFS_S3_ACCESS_KEY_ID"),
            var("AIOFS_S3_SECRET_ACCESS_KEY")
        ))
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .arg(format!(
            "{}/{}{url_tail}",
            var("AIOFS_S3_ENDPOINT"),
            var("AIOFS_S3_BUCKET")
        ))
        .output()
        .expect("curl (to list multipart uploads)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The ids of the multipart uploads in progress for `key` (bucket-relative), as the
/// server lists them (SeaweedFS hides uploads from object listings).
fn uploads_of(key: &str) -> Vec<String> {
    let body = s3_get("?uploads=");
    body.split("<Upload>")
        .skip(1)
        .filter(|u| u.contains(&format!("<Key>{key}</Key>")))
        .filter_map(|u| {
            let id = u.split_once("<UploadId>")?.1.split_once("</UploadId>")?.0;
            Some(id.to_owned())
        })
        .collect()
}

/// The parts the server holds of upload `id` of `key`.
fn parts_of(key: &str, id: &str) -> usize {
    s3_get(&format!("/{key}?uploadId={id}"))
        .matches("<Part>")
        .count()
}

/// A `write-file` dropped by the guest while its multipart upload is under way aborts the
/// upload: its parts do not stay in the bucket (storage no budget counts), and the host
/// memory the upload still holds stays charged until the abort is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_write_file_leaves_no_upload_behind() {
    let Some(env) = Env::new(GrantQuota::UNLIMITED) else {
        return;
    };
    let key = format!("{}/data/big", env.base);
    // The write may finish before it is seen under way: then another one is dropped.
    let mut seen = false;
    for _ in 0..10 {
        let fs = env.fs.clone();
        let data = vec![7u8; 64 << 20];
        let write = tokio::spawn(async move { fs.write_file(s("/data/big"), data, true).await });
        // Until the server holds a part of the upload (its state, not the clock): the
        // writer has the upload's id by then.
        while !write.is_finished() && !seen {
            let key = key.clone();
            seen = tokio::task::spawn_blocking(move || {
                uploads_of(&key).iter().any(|id| parts_of(&key, id) > 0)
            })
            .await
            .unwrap();
        }
        write.abort();
        let _ = write.await;
        if seen {
            break;
        }
    }
    assert!(seen, "no write was seen under way");
    // Whatever the dropped write still holds is charged until it is gone.
    while env.fs.mem().used() > 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(uploads_of(&key), Vec::<String>::new());
}

/// An open upload holds no more host memory than it is charged: whatever the guest wrote
/// and the server does not hold yet (parts sent) is in the host, and must be within the
/// upload's charge to the memory budget (`UPLOAD_HELD` at most). OpenDAL's own chunking
/// used to keep one more whole part beside the one it keeps for the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_upload_holds_no_more_than_its_charge() {
    let Some(env) = Env::new(GrantQuota::UNLIMITED) else {
        return;
    };
    let key = format!("{}/data/up", env.base);
    let chunk = crate::fs::object::UPLOAD_CHUNK;
    let f = env.fs.open(s("/data/up"), "wb").await.unwrap();
    // Three whole parts and half of a fourth.
    for _ in 0..3 {
        f.write(vec![1u8; chunk]).await.unwrap();
    }
    f.write(vec![2u8; chunk / 2]).await.unwrap();
    let written = (3 * chunk + chunk / 2) as u64;
    let ids = uploads_of(&key);
    assert_eq!(ids.len(), 1);
    let sent = (parts_of(&key, &ids[0]) * chunk) as u64;
    let held = env.fs.held_bytes();
    assert!(
        written - sent <= held,
        "{} bytes in the host, charged {held}",
        written - sent
    );
    f.close().await.unwrap();
    assert_eq!(
        env.get("data/up").await.map(|b| b.len() as u64),
        Some(written)
    );
    assert_eq!(uploads_of(&key), Vec::<String>::new());
}

/// The response of each ranged request (up to 8 MiB) is charged while it is held beside
/// the caller's buffer: reading a 12 MiB object whole holds the 12 MiB result and one
/// 8 MiB response at once, and the budget's peak shows both (it showed only the result,
/// so every running read held up to 8 MiB uncharged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_read_charges_the_response_it_holds() {
    let Some(env) = Env::new(GrantQuota::UNLIMITED) else {
        return;
    };
    let body: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    env.put("data/twelve", &body).await;
    let fs = &env.fs;
    let f = fs.open(s("/data/twelve"), "rb").await.unwrap();
    let all = f.read(u64::MAX).await.unwrap();
    assert!(all == body, "{} bytes", all.len());
    assert!(
        fs.peak_held_bytes() >= (12 << 20) + (8 << 20),
        "peak {} for a 12 MiB result and an 8 MiB response",
        fs.peak_held_bytes()
    );
    drop(all);
    f.close().await.unwrap();
    assert_eq!(fs.held_bytes(), 0);
}
