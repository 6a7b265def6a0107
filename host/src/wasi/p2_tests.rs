//! Direct tests of the `wasi:filesystem@0.2` host methods (no guest): they call the trait
//! methods the linker would, on a real directory.

use super::*;
use crate::Limits;
use crate::fs::StreamSlot;
use std::sync::mpsc;
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable as _;
use wasmtime_wasi_io::streams::StreamError;

/// A store's worth of state: one read-write grant at `/data` over `dir`.
struct Host {
    ctx: crate::AioFsCtx,
    table: ResourceTable,
}

impl Host {
    fn new(dir: &std::path::Path, limits: Limits) -> Host {
        // One thread: pool jobs of the store run in order (see `settle`).
        Host::with_pool(dir, limits, crate::Pool::new(1))
    }

    fn with_pool(dir: &std::path::Path, limits: Limits, pool: crate::Pool) -> Host {
        let ctx = crate::AioFsCtx::builder()
            .grant(dir, "/data", Perms::ReadWrite)
            .unwrap()
            .limits(limits)
            .pool(pool)
            .build();
        Host {
            ctx,
            table: ResourceTable::new(),
        }
    }

    fn view(&mut self) -> AioFsCtxView<'_> {
        AioFsCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }

    /// The `/data` preopen.
    async fn root(&mut self) -> Resource<Descriptor> {
        let mut dirs = preopens::Host::get_directories(&mut self.view())
            .await
            .unwrap();
        assert_eq!(dirs.len(), 1);
        assert_eq!(dirs[0].1, "/data");
        dirs.remove(0).0
    }

    /// `open-at` of `path` beneath `dir` for reading.
    async fn open(
        &mut self,
        dir: &Resource<Descriptor>,
        path: &str,
    ) -> Result<Resource<Descriptor>, ErrorCode> {
        types::HostDescriptor::open_at(
            &mut self.view(),
            borrow(dir),
            types::PathFlags::empty(),
            path.into(),
            types::OpenFlags::empty(),
            types::DescriptorFlags::READ,
        )
        .await
        .unwrap()
    }

    fn open_files(&self) -> usize {
        self.ctx.fs().open_files()
    }

    /// Wait until every pool job queued so far (a dropped stream's read-ahead) has run
    /// and dropped its result: one more job of the store, on its one-thread pool, runs
    /// after them.
    async fn settle(&self) {
        self.ctx.fs().stat(".".into(), true).await.unwrap();
    }
}

/// A metadata hash as a comparable pair.
fn pair(h: types::MetadataHashValue) -> (u64, u64) {
    (h.lower, h.upper)
}

/// A borrow of `r`, as the guest passes it.
fn borrow<T: 'static>(r: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(r.rep())
}

/// WASI 0.2 streams hold open-handle slots as aiofs streams do: with four slots and one
/// file open, three `read-via-stream`s succeed and the fourth, a `read-directory` too,
/// fail with `quota`; a stream that is dropped gives its slot back (even with read-ahead
/// in flight), so another can be opened, and every slot is free once all are dropped.
#[tokio::test(flavor = "multi_thread")]
async fn p2_streams_hold_open_handle_slots() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("src.bin"), vec![7u8; 300 << 10]).unwrap();
    let mut host = Host::new(
        tmp.path(),
        Limits {
            max_open_files: 4,
            ..Limits::default()
        },
    );
    let root = host.root().await;
    assert_eq!(host.open_files(), 0, "a preopen holds no slot");
    let fd = host.open(&root, "src.bin").await.unwrap();
    assert_eq!(host.open_files(), 1);

    let mut streams = Vec::new();
    for offset in [0, 4096, 200 << 10] {
        let s = types::HostDescriptor::read_via_stream(&mut host.view(), borrow(&fd), offset)
            .await
            .unwrap()
            .expect("a stream within the limit");
        streams.push(s);
    }
    assert_eq!(host.open_files(), 4);
    let refused = types::HostDescriptor::read_via_stream(&mut host.view(), borrow(&fd), 0)
        .await
        .unwrap();
    assert!(matches!(refused, Err(ErrorCode::Quota)), "{refused:?}");
    let listing = types::HostDescriptor::read_directory(&mut host.view(), borrow(&root))
        .await
        .unwrap();
    assert!(
        matches!(listing, Err(ErrorCode::Quota)),
        "listing took a slot"
    );
    assert!(
        matches!(host.open(&root, "src.bin").await, Err(ErrorCode::Quota)),
        "a fourth descriptor"
    );

    // The streams read what they should while they hold their slots.
    let first = host.table.get_mut(&streams[0]).unwrap();
    first.ready().await;
    let chunk = first.read(4096).unwrap();
    assert_eq!(&chunk[..], &[7u8; 4096][..]);
    let last = host.table.get_mut(&streams[2]).unwrap();
    let mut total = 0;
    loop {
        last.ready().await;
        match last.read(64 << 10) {
            Ok(bytes) => total += bytes.len(),
            Err(StreamError::Closed) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(total, 100 << 10, "read from 200 KiB to the end");

    // Dropping one stream (its read-ahead possibly still queued) frees one slot.
    let dropped = streams.remove(1);
    host.table.delete(dropped).unwrap();
    assert_eq!(host.open_files(), 3);
    let again = types::HostDescriptor::read_via_stream(&mut host.view(), borrow(&fd), 0)
        .await
        .unwrap()
        .expect("the freed slot");
    streams.push(again);
    assert_eq!(host.open_files(), 4);

    for s in streams {
        host.table.delete(s).unwrap();
    }
    assert_eq!(host.open_files(), 1, "only the descriptor is left");
    // With slots free again, a listing holds one while it lives.
    let listing = types::HostDescriptor::read_directory(&mut host.view(), borrow(&root))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(host.open_files(), 2);
    host.table.delete(listing).unwrap();
    types::HostDescriptor::drop(&mut host.view(), fd)
        .await
        .unwrap();
    assert_eq!(host.open_files(), 0);
    // The preopen keeps the identities its listing saw (charged) until it is dropped.
    types::HostDescriptor::drop(&mut host.view(), root)
        .await
        .unwrap();
    host.settle().await;
    assert_eq!(
        host.ctx.fs().held_bytes(),
        0,
        "read-ahead charges given back"
    );
}

/// Through a symlink: `stat-at` and `metadata-hash-at` with `symlink-follow` answer for the
/// target (the same hash as the target's own descriptor), without it for the link itself,
/// also after a listing (whose remembered identities serve only the no-follow case).
///
/// (Programs on wasi-libc for WASI 0.2/0.3 still see the link's inode from `stat`:
/// wasi-libc's `fstatat` asks `metadata-hash-at` never to follow; wasmtime-wasi answers
/// that call the same way. Through preview1 the adapter passes the flag on.)
#[tokio::test(flavor = "multi_thread")]
async fn stat_and_hash_through_a_symlink() {
    use types::HostDescriptor as D;
    use types::PathFlags as P;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("target.txt"), b"target").unwrap();
    std::os::unix::fs::symlink("target.txt", tmp.path().join("link")).unwrap();
    let mut host = Host::new(tmp.path(), Limits::default());
    let root = host.root().await;
    let file = host.open(&root, "target.txt").await.unwrap();
    let own = pair(
        D::metadata_hash(&mut host.view(), borrow(&file))
            .await
            .unwrap()
            .unwrap(),
    );

    for listed in [false, true] {
        if listed {
            let l = D::read_directory(&mut host.view(), borrow(&root))
                .await
                .unwrap()
                .unwrap();
            host.table.delete(l).unwrap();
        }
        let hash = async |host: &mut Host, flags, path: &str| {
            pair(
                D::metadata_hash_at(&mut host.view(), borrow(&root), flags, path.into())
                    .await
                    .unwrap()
                    .unwrap(),
            )
        };
        // Follow first: a no-follow answer taken from the listing must not stand in.
        let followed = hash(&mut host, P::SYMLINK_FOLLOW, "link").await;
        let link = hash(&mut host, P::empty(), "link").await;
        let target = hash(&mut host, P::SYMLINK_FOLLOW, "target.txt").await;
        assert_eq!(followed, own, "listed={listed}");
        assert_eq!(target, own);
        assert_ne!(link, own, "listed={listed}");
        let link_ino = std::fs::symlink_metadata(tmp.path().join("link")).unwrap();
        assert_eq!(
            link,
            pair(hash_identity(
                std::os::unix::fs::MetadataExt::dev(&link_ino),
                std::os::unix::fs::MetadataExt::ino(&link_ino)
            ))
        );

        let stat = async |host: &mut Host, flags| {
            D::stat_at(&mut host.view(), borrow(&root), flags, "link".into())
                .await
                .unwrap()
                .unwrap()
        };
        let via = stat(&mut host, P::SYMLINK_FOLLOW).await;
        assert_eq!(via.type_, types::DescriptorType::RegularFile);
        assert_eq!(via.size, 6);
        let of_link = stat(&mut host, P::empty()).await;
        assert_eq!(of_link.type_, types::DescriptorType::SymbolicLink);
        assert_eq!(of_link.size, 10, "the link's own size: its target's name");
    }
}

/// wasi-libc's `stat` and `fstat` are two calls each (`metadata-hash(-at)`, then
/// `stat(-at)`); the second takes the first's answer instead of a second pool trip, but
/// never once anything ran in between, and never across a symlink it must follow.
#[tokio::test(flavor = "multi_thread")]
async fn a_stat_pair_costs_one_pool_trip_and_never_goes_stale() {
    use types::HostDescriptor as D;
    use types::PathFlags as P;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("f.txt"), b"1234").unwrap();
    std::os::unix::fs::symlink("f.txt", tmp.path().join("link")).unwrap();
    // Every stat on the pool (none tried from the caches first), to count its trips.
    let pooled = Limits {
        max_inline_bytes: 0,
        ..Limits::default()
    };
    let mut host = Host::new(tmp.path(), pooled);
    let root = host.root().await;
    // Jobs taken by the pool (counted when submitted).
    let jobs = |host: &Host| {
        let s = host.ctx.fs().pool().stats();
        s.completed + s.cancelled + s.running as u64 + s.queued as u64
    };
    let hash_at = async |host: &mut Host, flags, path: &str| {
        D::metadata_hash_at(&mut host.view(), borrow(&root), flags, path.into())
            .await
            .unwrap()
            .unwrap()
    };
    let stat_at = async |host: &mut Host, flags, path: &str| {
        D::stat_at(&mut host.view(), borrow(&root), flags, path.into())
            .await
            .unwrap()
            .unwrap()
    };

    // `stat("f.txt")`: one trip for both calls; the same again for `lstat`.
    let before = jobs(&host);
    hash_at(&mut host, P::empty(), "f.txt").await;
    assert_eq!(stat_at(&mut host, P::SYMLINK_FOLLOW, "f.txt").await.size, 4);
    hash_at(&mut host, P::empty(), "f.txt").await;
    assert_eq!(stat_at(&mut host, P::empty(), "f.txt").await.size, 4);
    assert_eq!(jobs(&host), before + 2);

    // A write between the two calls: the second sees it.
    let writer = types::HostDescriptor::open_at(
        &mut host.view(),
        borrow(&root),
        P::empty(),
        "f.txt".into(),
        types::OpenFlags::empty(),
        types::DescriptorFlags::WRITE,
    )
    .await
    .unwrap()
    .unwrap();
    hash_at(&mut host, P::empty(), "f.txt").await;
    D::write(&mut host.view(), borrow(&writer), b"56789".to_vec(), 4)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stat_at(&mut host, P::SYMLINK_FOLLOW, "f.txt").await.size, 9);
    // Another path for the same file stats again.
    hash_at(&mut host, P::empty(), "f.txt").await;
    let before = jobs(&host);
    stat_at(&mut host, P::SYMLINK_FOLLOW, "./f.txt").await;
    assert_eq!(jobs(&host), before + 1);

    // Through a symlink the unfollowed answer (the link) never stands in for the target.
    hash_at(&mut host, P::empty(), "link").await;
    let via = stat_at(&mut host, P::SYMLINK_FOLLOW, "link").await;
    assert_eq!(via.type_, types::DescriptorType::RegularFile);
    assert_eq!(via.size, 9);

    // `fstat`: the same on a descriptor, and a truncation in between is seen.
    let before = jobs(&host);
    D::metadata_hash(&mut host.view(), borrow(&writer))
        .await
        .unwrap()
        .unwrap();
    let st = D::stat(&mut host.view(), borrow(&writer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((st.size, jobs(&host)), (9, before + 1));
    D::metadata_hash(&mut host.view(), borrow(&writer))
        .await
        .unwrap()
        .unwrap();
    D::set_size(&mut host.view(), borrow(&writer), 2)
        .await
        .unwrap()
        .unwrap();
    let st = D::stat(&mut host.view(), borrow(&writer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.size, 2);
}

/// Read all of stream `s` (until it closes or fails): the bytes and how it ended.
async fn drain(host: &mut Host, s: &Resource<DynInputStream>) -> (Vec<u8>, StreamError) {
    let mut out = Vec::new();
    let stream = host.table.get_mut(s).unwrap();
    loop {
        stream.ready().await;
        match stream.read(1 << 20) {
            Ok(b) => out.extend_from_slice(&b),
            Err(e) => return (out, e),
        }
    }
}

/// A read stream whose chunk came back short has reached the end of the file: the next
/// read says so without another trip to the pool, unless anything ran on the pool in
/// between (then it reads again and sees what was appended), or a read quota cut the
/// chunk short (then the quota error comes, not the end).
#[tokio::test(flavor = "multi_thread")]
async fn a_short_chunk_ends_the_stream_without_another_trip() {
    use types::HostDescriptor as D;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("f.txt"), vec![1u8; 4096]).unwrap();
    // Every read on the pool (none tried from the caches first), to count its trips.
    let pooled = Limits {
        max_inline_bytes: 0,
        ..Limits::default()
    };
    let mut host = Host::new(tmp.path(), pooled);
    let root = host.root().await;
    let fd = host.open(&root, "f.txt").await.unwrap();
    let jobs = |host: &Host| {
        let s = host.ctx.fs().pool().stats();
        s.completed + s.cancelled + s.running as u64 + s.queued as u64
    };

    let s = D::read_via_stream(&mut host.view(), borrow(&fd), 0)
        .await
        .unwrap()
        .unwrap();
    let before = jobs(&host);
    let (data, end) = drain(&mut host, &s).await;
    assert_eq!(data.len(), 4096);
    assert!(matches!(end, StreamError::Closed), "{end:?}");
    assert_eq!(
        jobs(&host),
        before + 1,
        "one trip: the end came with the data"
    );
    host.table.delete(s).unwrap();

    // Appended after the short chunk: the stream reads on and sees it.
    let s = D::read_via_stream(&mut host.view(), borrow(&fd), 0)
        .await
        .unwrap()
        .unwrap();
    let stream = host.table.get_mut(&s).unwrap();
    stream.ready().await;
    assert_eq!(stream.read(1 << 20).unwrap().len(), 4096);
    let writer = D::open_at(
        &mut host.view(),
        borrow(&root),
        types::PathFlags::empty(),
        "f.txt".into(),
        types::OpenFlags::empty(),
        types::DescriptorFlags::WRITE,
    )
    .await
    .unwrap()
    .unwrap();
    D::write(&mut host.view(), borrow(&writer), b"more".to_vec(), 4096)
        .await
        .unwrap()
        .unwrap();
    let (rest, end) = drain(&mut host, &s).await;
    assert_eq!(rest, b"more");
    assert!(matches!(end, StreamError::Closed), "{end:?}");
    host.table.delete(s).unwrap();

    // A read quota of 5000 bytes (4096 + 4 already read): a chunk cut short by it is not
    // the end; the next read fails with quota.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("big.bin"), vec![2u8; 10_000]).unwrap();
    let ctx = crate::AioFsCtx::builder()
        .grant_with_quota(
            tmp.path(),
            "/data",
            Perms::ReadWrite,
            crate::GrantQuota {
                max_bytes_read: Some(5000),
                ..crate::GrantQuota::UNLIMITED
            },
        )
        .unwrap()
        .pool(crate::Pool::new(1))
        .build();
    let mut host = Host {
        ctx,
        table: ResourceTable::new(),
    };
    let root = host.root().await;
    let fd = host.open(&root, "big.bin").await.unwrap();
    let s = D::read_via_stream(&mut host.view(), borrow(&fd), 0)
        .await
        .unwrap()
        .unwrap();
    let (data, end) = drain(&mut host, &s).await;
    assert_eq!(data.len(), 5000);
    let StreamError::LastOperationFailed(e) = end else {
        panic!("{end:?}")
    };
    assert_eq!(
        e.downcast_ref::<crate::error::ErrorCode>(),
        Some(&crate::error::ErrorCode::Quota)
    );
}

/// While another job is in flight on the pool (here one that holds a worker until it is
/// released; a write could land after the stat), neither shortcut is taken: a stat pair
/// costs two trips and a short chunk is followed by a real read.
#[tokio::test(flavor = "multi_thread")]
async fn no_shortcut_while_another_job_is_in_flight() {
    use types::HostDescriptor as D;
    use types::PathFlags as P;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("f.txt"), b"1234").unwrap();
    let ctx = crate::AioFsCtx::builder()
        .grant(tmp.path(), "/data", Perms::ReadWrite)
        .unwrap()
        .pool(crate::Pool::new(2))
        .limits(Limits {
            max_inline_bytes: 0,
            ..Limits::default()
        })
        .build();
    let mut host = Host {
        ctx,
        table: ResourceTable::new(),
    };
    let root = host.root().await;
    let fd = host.open(&root, "f.txt").await.unwrap();
    let pool = host.ctx.fs().pool().clone();
    let jobs = |pool: &crate::Pool| {
        let s = pool.stats();
        s.completed + s.cancelled + s.running as u64 + s.queued as u64
    };
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let blocker = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.run(move || {
                started_tx.send(()).unwrap();
                held.recv().unwrap();
            })
            .await
        }
    });
    started.await.unwrap();

    let before = jobs(&pool);
    D::metadata_hash_at(&mut host.view(), borrow(&root), P::empty(), "f.txt".into())
        .await
        .unwrap()
        .unwrap();
    D::stat_at(
        &mut host.view(),
        borrow(&root),
        P::SYMLINK_FOLLOW,
        "f.txt".into(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(jobs(&pool), before + 2, "a stat pair next to a running job");

    let s = D::read_via_stream(&mut host.view(), borrow(&fd), 0)
        .await
        .unwrap()
        .unwrap();
    let before = jobs(&pool);
    let (data, end) = drain(&mut host, &s).await;
    assert_eq!((data.len(), jobs(&pool)), (4, before + 2), "{end:?}");
    assert!(matches!(end, StreamError::Closed));

    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
}

/// Write streams hold a slot too: with two slots, one descriptor open for writing and
/// one `write-via-stream`, an `append-via-stream` is refused with `quota` until the
/// first stream is dropped.
#[tokio::test(flavor = "multi_thread")]
async fn p2_write_streams_hold_open_handle_slots() {
    use types::HostDescriptor as D;
    let tmp = tempfile::tempdir().unwrap();
    let mut host = Host::new(
        tmp.path(),
        Limits {
            max_open_files: 2,
            ..Limits::default()
        },
    );
    let root = host.root().await;
    let fd = D::open_at(
        &mut host.view(),
        borrow(&root),
        types::PathFlags::empty(),
        "out.txt".into(),
        types::OpenFlags::CREATE,
        types::DescriptorFlags::WRITE,
    )
    .await
    .unwrap()
    .unwrap();
    let w = D::write_via_stream(&mut host.view(), borrow(&fd), 0)
        .await
        .unwrap()
        .expect("the second slot");
    let refused = D::append_via_stream(&mut host.view(), borrow(&fd))
        .await
        .unwrap();
    assert!(matches!(refused, Err(ErrorCode::Quota)), "{refused:?}");
    assert_eq!(host.open_files(), 2);
    host.table.delete(w).unwrap();
    let a = D::append_via_stream(&mut host.view(), borrow(&fd))
        .await
        .unwrap()
        .expect("the freed slot");
    host.table.delete(a).unwrap();
    D::drop(&mut host.view(), fd).await.unwrap();
    assert_eq!(host.open_files(), 0);
}

/// The first set of preopens is free; every later `get-directories` hands out directories
/// that each hold an open-file slot until dropped, so calling it in a loop cannot fill the
/// host with descriptors nothing counts (past `max_open_files` it traps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_preopens_count_as_open_descriptors() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("f"), "x").unwrap();
    let limits = Limits {
        max_open_files: 4,
        ..Limits::default()
    };
    let mut host = Host::new(tmp.path(), limits);
    let first = host.root().await;
    assert_eq!(host.open_files(), 0);
    let mut later = Vec::new();
    for n in 1..=4 {
        later.push(host.root().await);
        assert_eq!(host.open_files(), n);
    }
    let err = preopens::Host::get_directories(&mut host.view())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_open_files"), "{err}");
    assert_eq!(host.open_files(), 4);
    for fd in later {
        types::HostDescriptor::drop(&mut host.view(), fd)
            .await
            .unwrap();
    }
    assert_eq!(host.open_files(), 0);
    let f = host.open(&first, "f").await.unwrap();
    assert_eq!(host.open_files(), 1);
    types::HostDescriptor::drop(&mut host.view(), f)
        .await
        .unwrap();
}

/// `write` of wasi-libc on WASI 0.2 (`__wasilibc_write`, blocking): `check-write`; when it
/// permits bytes, `write` that many at most, then `blocking-flush` (flush, then wait until
/// the stream is writable, as wasmtime's host method does); when it permits none, block on
/// the stream's pollable and ask again. Looped until all of `data` is written.
async fn write_like_wasi_libc(
    out: &mut DynOutputStream,
    mut data: &[u8],
) -> Result<(), StreamError> {
    while !data.is_empty() {
        let n = out.check_write()?;
        if n == 0 {
            out.ready().await;
            continue;
        }
        let n = n.min(data.len());
        out.write(Bytes::copy_from_slice(&data[..n]))?;
        out.flush()?;
        out.write_ready().await?;
        data = &data[n..];
    }
    Ok(())
}

/// An output stream waits for memory instead of failing: with `max_inflight_bytes` at
/// 2 MiB and all but 1 KiB of it held (as by read streams buffering ahead), a 1 MiB write
/// made as wasi-libc makes it finds `check-write` at 0 and waits on the pollable, nothing
/// written or charged meanwhile; once all but 1.5 MiB is given back it goes on in chunks
/// that fit beside the held bytes (never past the budget) and the file holds every byte.
/// `blocking-write-and-flush` waits the same way (wasmtime's cap on attempts that find
/// the stream still not writable never trips), and every charge is given back at the end.
#[tokio::test(flavor = "multi_thread")]
async fn p2_output_streams_wait_for_memory() {
    use types::HostDescriptor as D;
    const MAX: u64 = 2 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("out.bin");
    let mut host = Host::new(
        tmp.path(),
        Limits {
            max_inflight_bytes: MAX,
            ..Limits::default()
        },
    );
    let fs = host.ctx.fs().clone();
    let root = host.root().await;
    let fd = D::open_at(
        &mut host.view(),
        borrow(&root),
        types::PathFlags::empty(),
        "out.bin".into(),
        types::OpenFlags::CREATE,
        types::DescriptorFlags::WRITE,
    )
    .await
    .unwrap()
    .unwrap();
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut held = fs.mem().charge(MAX - 1024).unwrap();

    let s = D::write_via_stream(&mut host.view(), borrow(&fd), 0)
        .await
        .unwrap()
        .unwrap();
    {
        let out = host.table.get_mut(&s).unwrap();
        let mut write = std::pin::pin!(write_like_wasi_libc(out, &data));
        assert!(
            futures::poll!(write.as_mut()).is_pending(),
            "waits for room (fails with quota if it does not)"
        );
        assert!(futures::poll!(write.as_mut()).is_pending(), "still no room");
        assert_eq!(fs.held_bytes(), MAX - 1024, "nothing charged while waiting");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        held.resize(1536 << 10).unwrap();
        write.await.unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert!(fs.mem().peak() <= MAX);
    host.table.delete(s).unwrap();
    assert_eq!(fs.held_bytes(), 1536 << 10, "the stream's room given back");

    // `blocking-write-and-flush` (at most 4096 bytes) waits as well.
    held.resize(MAX - 1024).unwrap();
    let a = D::append_via_stream(&mut host.view(), borrow(&fd))
        .await
        .unwrap()
        .unwrap();
    {
        let out = host.table.get_mut(&a).unwrap();
        let tail = Bytes::from_static(&[9u8; 4096]);
        let mut write = std::pin::pin!(out.blocking_write_and_flush(tail));
        assert!(
            futures::poll!(write.as_mut()).is_pending(),
            "waits for room"
        );
        drop(held);
        write.await.unwrap();
    }
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk.len(), (1 << 20) + 4096);
    assert!(on_disk[1 << 20..].iter().all(|&b| b == 9));
    host.table.delete(a).unwrap();
    D::drop(&mut host.view(), fd).await.unwrap();
    assert_eq!(fs.held_bytes(), 0, "every charge given back");
}

/// A read stream whose store's memory budget has no room waits (its pollable not ready,
/// nothing read or charged) instead of failing with `quota`; with a little room it reads
/// in chunks that fit (never past the budget), and a chunk shrunk to fit is not taken for
/// the end of the file: every byte arrives.
#[tokio::test(flavor = "multi_thread")]
async fn p2_input_streams_wait_for_memory() {
    use types::HostDescriptor as D;
    const MAX: u64 = 2 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3u32 << 19).map(|i| (i % 251) as u8).collect();
    std::fs::write(tmp.path().join("in.bin"), &data).unwrap();
    let mut host = Host::new(
        tmp.path(),
        Limits {
            max_inflight_bytes: MAX,
            ..Limits::default()
        },
    );
    let fs = host.ctx.fs().clone();
    let root = host.root().await;
    let fd = host.open(&root, "in.bin").await.unwrap();
    let mut held = fs.mem().charge(MAX - 1024).unwrap();
    let s = D::read_via_stream(&mut host.view(), borrow(&fd), 0)
        .await
        .unwrap()
        .unwrap();
    {
        let stream = host.table.get_mut(&s).unwrap();
        assert!(stream.read(1 << 20).unwrap().is_empty(), "nothing yet");
        let mut ready = std::pin::pin!(stream.ready());
        assert!(
            futures::poll!(ready.as_mut()).is_pending(),
            "waits for room (fails with quota if it does not)"
        );
        assert!(futures::poll!(ready.as_mut()).is_pending(), "still no room");
        assert_eq!(fs.held_bytes(), MAX - 1024, "nothing charged while waiting");
        // Room for 40 KiB: chunks shrink below the 64 KiB asked for, and go on.
        held.resize(MAX - (40 << 10)).unwrap();
        ready.await;
    }
    let (got, end) = drain(&mut host, &s).await;
    assert!(matches!(end, StreamError::Closed), "{end:?}");
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the bytes differ");
    assert!(fs.mem().peak() <= MAX);
    host.table.delete(s).unwrap();
    assert_eq!(
        fs.held_bytes(),
        MAX - (40 << 10),
        "the stream's charges given back"
    );
    drop(held);
    D::drop(&mut host.view(), fd).await.unwrap();
}

/// A one-thread pool whose worker stops before each job until the test lets it through.
struct Gate {
    started: mpsc::Receiver<()>,
    release: mpsc::SyncSender<()>,
}

fn gated_pool() -> (crate::Pool, Gate) {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::sync_channel::<()>(0);
    let release_rx = std::sync::Mutex::new(release_rx);
    let hook: crate::pool::JobHook = Arc::new(move || {
        started_tx.send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
    });
    (
        crate::Pool::with_hook(1, Some(hook)),
        Gate { started, release },
    )
}

impl Gate {
    /// Run `fut`, letting any pool job it makes through the gate.
    async fn through<T>(&self, fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        loop {
            if let std::task::Poll::Ready(out) = futures::poll!(fut.as_mut()) {
                return out;
            }
            if self.started.try_recv().is_ok() {
                self.release.send(()).unwrap();
            }
            tokio::task::yield_now().await;
        }
    }

    /// Wait until a pool job has reached the gate, and keep it there.
    async fn stopped(self) -> Gate {
        let Gate { started, release } = self;
        let started = tokio::task::spawn_blocking(move || {
            started.recv().unwrap();
            started
        })
        .await
        .unwrap();
        Gate { started, release }
    }
}

/// A stream opened at `max_open_files` waits while a slot is held only by a dropped
/// descriptor whose close is under way on the pool (an unlinked file: its last close frees
/// blocks), and takes the slot when the close ends; while a live descriptor holds every
/// slot, `quota` at once. As an open does (`an_open_at_the_limit_waits_for_closes_under_way`
/// in `fs/cached_tests.rs`); the waiting stream holds a pending-operation slot. The slot of
/// a 0.3 or `aiofs:fs` stream or a 0.3 listing ([`StreamSlot`]) is taken at once when
/// free and otherwise waited for in the same way when the stream is first polled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_at_the_limit_waits_for_closes_under_way() {
    use types::HostDescriptor as D;
    let (pool, gate) = gated_pool();
    let tmp = tempfile::tempdir().unwrap();
    for (name, body) in [("gone", "x"), ("gone2", "x"), ("next", "y")] {
        std::fs::write(tmp.path().join(name), body).unwrap();
    }
    let limits = Limits {
        max_open_files: 2,
        ..Limits::default()
    };
    let mut host = Host::with_pool(tmp.path(), limits, pool);
    let fs = host.ctx.fs().clone();
    let root = host.root().await;
    let next = gate.through(host.open(&root, "next")).await.unwrap();
    let gone = gate.through(host.open(&root, "gone")).await.unwrap();
    assert_eq!(fs.open_files(), 2);
    let refused = gate
        .through(D::read_via_stream(&mut host.view(), borrow(&next), 0))
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(ErrorCode::Quota)),
        "a live descriptor holds it"
    );
    assert!(matches!(StreamSlot::take(&fs), Err(DomainError::Quota)));
    assert_eq!(fs.pending_ops(), 0);

    std::fs::remove_file(tmp.path().join("gone")).unwrap();
    gate.through(D::drop(&mut host.view(), gone)).await.unwrap();
    let gate = gate.stopped().await;
    assert_eq!(fs.open_files(), 2, "held until the pool has closed it");
    let s = {
        let mut view = host.view();
        let mut stream = std::pin::pin!(D::read_via_stream(&mut view, borrow(&next), 0));
        assert!(
            futures::poll!(stream.as_mut()).is_pending(),
            "waits for the close under way (quota if it does not)"
        );
        assert_eq!(fs.pending_ops(), 1, "the waiting stream");
        gate.release.send(()).unwrap();
        gate.through(stream)
            .await
            .unwrap()
            .expect("the slot the close gave back")
    };
    assert_eq!((fs.open_files(), fs.pending_ops()), (2, 0));
    let read = gate
        .through(async {
            let stream = host.table.get_mut(&s).unwrap();
            stream.ready().await;
            stream.read(16)
        })
        .await
        .unwrap();
    assert_eq!(&read[..], b"y");

    // The same for the slot of a 0.3 stream.
    host.table.delete(s).unwrap();
    gate.through(host.settle()).await;
    let gone2 = gate.through(host.open(&root, "gone2")).await.unwrap();
    std::fs::remove_file(tmp.path().join("gone2")).unwrap();
    gate.through(D::drop(&mut host.view(), gone2))
        .await
        .unwrap();
    let gate = gate.stopped().await;
    // Every stream of a file (0.3's and `aiofs:fs`') takes its slot through the file.
    let file = match host.table.get(&next).unwrap() {
        Descriptor::File(file, ..) => file.clone(),
        Descriptor::Dir(..) => unreachable!("a file"),
    };
    let mut slot = file.stream_slot(false).expect("waits instead of quota");
    assert!(!slot.is_held());
    assert!(futures::poll!(std::future::poll_fn(|cx| slot.poll(cx))).is_pending());
    assert_eq!((fs.open_files(), fs.pending_ops()), (2, 1));
    gate.release.send(()).unwrap();
    std::future::poll_fn(|cx| slot.poll(cx)).await.unwrap();
    assert!(slot.is_held());
    assert_eq!((fs.open_files(), fs.pending_ops()), (2, 0));
    drop(slot);
    assert_eq!(fs.open_files(), 1);
}
