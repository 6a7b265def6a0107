//! Hostile use of the `wasi:filesystem` host methods (no guest): what a guest can make
//! the host hold, checked against what it is charged.

use super::*;
use crate::Limits;
use wasmtime_wasi_io::poll::Pollable as _;

struct Host {
    ctx: crate::AioFsCtx,
    table: ResourceTable,
}

impl Host {
    fn new(rw: &std::path::Path, ro: &std::path::Path, limits: Limits) -> Host {
        let ctx = crate::AioFsCtx::builder()
            .grant(rw, "/data", Perms::ReadWrite)
            .unwrap()
            .grant(ro, "/ro", Perms::ReadOnly)
            .unwrap()
            .limits(limits)
            .pool(crate::Pool::new(1))
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
    async fn roots(&mut self) -> (Resource<Descriptor>, Resource<Descriptor>) {
        let mut d = preopens::Host::get_directories(&mut self.view())
            .await
            .unwrap();
        let ro = d.remove(1).0;
        let rw = d.remove(0).0;
        (rw, ro)
    }
}

fn b<T: 'static>(r: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(r.rep())
}

use types::HostDescriptor as H;
use types::{DescriptorFlags as D, OpenFlags as O, PathFlags as P};

/// The file behind a descriptor.
fn file_of(host: &Host, fd: &Resource<Descriptor>) -> File {
    match host.table.get(fd).unwrap() {
        Descriptor::File(f, ..) => f.clone(),
        Descriptor::Dir(..) => panic!("a file"),
    }
}

/// A stream chunk that comes back short (the end of the file) holds no more memory than
/// it is charged for. Every 0.2 and 0.3 read stream charges its chunk (64 KiB, up to
/// 1 MiB as the reader asks for more) before reading and keeps the bytes, charged at
/// their length, until the guest takes them; the read filled a buffer of the whole chunk
/// and cut it to the bytes read, keeping the allocation. So a stream over a one-byte
/// file, asked for 1 MiB and then left alone, held 1 MiB charged as 1 byte: 255 such
/// streams (the default `max_open_files`, one slot for the file) held 255 MiB with the
/// default `max_inflight_bytes` at 128 MiB.
#[tokio::test(flavor = "multi_thread")]
async fn a_short_stream_chunk_holds_no_more_than_its_charge() {
    let rw = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    std::fs::write(rw.path().join("tiny"), "x").unwrap();
    let mut host = Host::new(rw.path(), ro.path(), Limits::default());
    let (root, _ro) = host.roots().await;
    let fd = H::open_at(
        &mut host.view(),
        b(&root),
        P::empty(),
        "tiny".into(),
        O::empty(),
        D::READ,
    )
    .await
    .unwrap()
    .unwrap();
    let file = file_of(&host, &fd);
    let fs = file.fs().clone();
    for chunk in [64 << 10, 1 << 20] {
        // As both stream surfaces read a chunk: charged first, then read.
        let charge = fs.mem().charge(chunk).unwrap();
        let (data, held) = file.read_at_held(0, charge).await.unwrap();
        assert_eq!(data, b"x");
        assert!(
            data.capacity() as u64 <= held.bytes(),
            "a {chunk}-byte chunk holds {} bytes, charged {}",
            data.capacity(),
            held.bytes()
        );
    }
    // The same through a 0.2 stream: the bytes it keeps are charged as they are held.
    let s = H::read_via_stream(&mut host.view(), b(&fd), 0)
        .await
        .unwrap()
        .unwrap();
    let stream = host.table.get_mut(&s).unwrap();
    // The first chunk (queued when the stream was made) may have arrived already.
    let first = stream.read(1 << 20).unwrap();
    if first.is_empty() {
        stream.ready().await;
        assert_eq!(fs.held_bytes(), 1, "the byte read is charged while held");
        assert_eq!(&stream.read(1).unwrap()[..], b"x");
    } else {
        assert_eq!(&first[..], b"x");
    }
}

/// A listing that a directory stream keeps (0.2 `read-directory`, 0.3's stream) is charged
/// for what it allocates: each entry's slot in the list as the list grows (the list
/// doubles, so up to half of its slots are spare) and each name as the allocator takes it
/// (a one-byte name takes 32 bytes). The charge was each entry's slot and each name's
/// length: 17 one-letter names charged 17 slots and 17 bytes for 32 slots and 544 bytes
/// of names, and a 0.2 stream keeps that until the guest drops it.
#[tokio::test(flavor = "multi_thread")]
async fn a_kept_listing_is_charged_for_what_it_allocates() {
    let rw = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    for c in 'a'..='q' {
        std::fs::write(rw.path().join(c.to_string()), "").unwrap();
    }
    let mut host = Host::new(rw.path(), ro.path(), Limits::default());
    let (root, _ro) = host.roots().await;
    let dir = match host.table.get(&root).unwrap() {
        Descriptor::Dir(d, _) => d.clone(),
        Descriptor::File(..) => panic!("a directory"),
    };
    // What `read-directory` keeps: the listing and its charge.
    let (entries, held) = dir.fs().scandir_held(".".into(), false).await.unwrap();
    assert_eq!(entries.len(), 17);
    let names: u64 = entries
        .iter()
        .map(|e| crate::fs::held::allocated(e.name.capacity() as u64))
        .sum();
    let slots = (entries.capacity() * size_of::<fs::DirEntry>()) as u64;
    assert!(
        held.bytes() >= slots + names,
        "charged {} for {slots} bytes of slots and {names} of names",
        held.bytes()
    );
    assert_eq!(dir.fs().held_bytes(), held.bytes());
    drop((entries, held));
    assert_eq!(dir.fs().held_bytes(), 0);
}

/// The identities a directory keeps from its last listing (for `metadata-hash-at`) are
/// charged for what the map allocates: its buckets (up to about 2.3 per name, 33 bytes
/// each) and each name as the allocator takes it. The charge was 64 bytes and the name's
/// length per identity: 113 short names (a table of 256 buckets) charged 7461 bytes
/// for 8448 of buckets and 3616 of names, kept for as long as the guest keeps the
/// directory open.
#[tokio::test(flavor = "multi_thread")]
async fn kept_identities_are_charged_for_what_they_allocate() {
    let rw = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    for n in 0..113 {
        std::fs::write(rw.path().join(n.to_string()), "").unwrap();
    }
    let mut host = Host::new(rw.path(), ro.path(), Limits::default());
    let (root, _ro) = host.roots().await;
    let s = H::read_directory(&mut host.view(), b(&root))
        .await
        .unwrap()
        .unwrap();
    let Descriptor::Dir(dir, state) = host.table.get(&root).unwrap().clone() else {
        panic!("a directory")
    };
    let listing = host.table.get(&s).unwrap()._held.bytes();
    let guard = state.lock();
    let ((_, ids), held) = guard.as_ref().expect("remembered");
    assert_eq!(ids.len(), 113);
    // A table of `capacity` usable slots has 8/7 as many buckets (a power of two).
    let buckets = (ids.capacity() * 8 / 7).next_power_of_two() as u64;
    let table = buckets * (size_of::<(String, u64)>() as u64 + 1);
    let names: u64 = ids
        .keys()
        .map(|k| crate::fs::held::allocated(k.capacity() as u64))
        .sum();
    assert!(
        held.bytes() >= table + names,
        "charged {} for {table} bytes of buckets and {names} of names",
        held.bytes()
    );
    assert_eq!(dir.fs().held_bytes(), listing + held.bytes());
}

/// Streams work under a memory budget smaller than their smallest chunk (4 KiB): an
/// embedder's `max_inflight_bytes` of 1000 bytes gives chunks of at most 1000 bytes. The
/// smallest chunk was 4 KiB whatever the budget, so a read stream's pollable and a write
/// stream's `check-write` waited for room that could never come, and the guest hung.
/// (The time limit below only turns such a hang into a failure.)
#[tokio::test(flavor = "multi_thread")]
async fn streams_work_under_a_budget_below_their_smallest_chunk() {
    use wasmtime_wasi_io::bytes::Bytes;
    use wasmtime_wasi_io::streams::StreamError;
    const MAX: u64 = 1000;
    let rw = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(rw.path().join("in"), &data).unwrap();
    let limits = Limits {
        max_inflight_bytes: MAX,
        ..Limits::default()
    };
    let mut host = Host::new(rw.path(), ro.path(), limits);
    let (root, _ro) = host.roots().await;
    let input = H::open_at(
        &mut host.view(),
        b(&root),
        P::empty(),
        "in".into(),
        O::empty(),
        D::READ,
    )
    .await
    .unwrap()
    .unwrap();
    let output = H::open_at(
        &mut host.view(),
        b(&root),
        P::empty(),
        "out".into(),
        O::CREATE,
        D::WRITE,
    )
    .await
    .unwrap()
    .unwrap();
    let fs = file_of(&host, &input).fs().clone();
    let s = H::read_via_stream(&mut host.view(), b(&input), 0)
        .await
        .unwrap()
        .unwrap();
    let w = H::write_via_stream(&mut host.view(), b(&output), 0)
        .await
        .unwrap()
        .unwrap();
    // One after the other: a read stream's next chunk, read ahead, and a write's room
    // do not both fit in 1000 bytes.
    let copied = async {
        let mut got = Vec::new();
        let stream = host.table.get_mut(&s).unwrap();
        loop {
            stream.ready().await;
            match stream.read(1 << 20) {
                Ok(chunk) => got.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => panic!("read: {e:?}"),
            }
        }
        host.table.delete(s).unwrap();
        let out = host.table.get_mut(&w).unwrap();
        let mut rest = &got[..];
        while !rest.is_empty() {
            let n = out.check_write().unwrap();
            if n == 0 {
                out.ready().await;
                continue;
            }
            let n = n.min(rest.len());
            out.write(Bytes::copy_from_slice(&rest[..n])).unwrap();
            out.flush().unwrap();
            out.write_ready().await.unwrap();
            rest = &rest[n..];
        }
        got
    };
    let got = tokio::time::timeout(std::time::Duration::from_secs(60), copied)
        .await
        .expect("the streams went on");
    assert!(got == data, "read the bytes");
    assert!(fs.mem().peak() <= MAX);
    host.table.delete(w).unwrap();
    H::drop(&mut host.view(), output).await.unwrap();
    H::drop(&mut host.view(), input).await.unwrap();
    assert!(
        std::fs::read(rw.path().join("out")).unwrap() == data,
        "wrote the bytes"
    );
}
