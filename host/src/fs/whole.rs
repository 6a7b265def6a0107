//! Whole-file operations: `read-file`, `write-file` (atomic or not) and `copy-file`,
//! each one trip to the pool, budgeted before it is queued and chunked while it runs.

use super::*;

#[allow(
    missing_docs,
    reason = "each method is documented in wit/aiofs.wit under the same name"
)]
impl Fs {
    pub async fn read_file(&self, path: String, max: u64) -> FsResult<Vec<u8>> {
        self.op(OpKind::ReadFile, &path)
            .run(async {
                let r = self.resolve(&path)?;
                r.budget.precheck_read()?;
                on_object!(r, |o| self.obj_read_file(&o, r, max).await);
                let quota = self.limits.max_read_bytes;
                self.quick_held(r.budget.cached_io(), move |held| {
                    let file = open_read(&r)?;
                    let md = file.metadata()?;
                    check_regular(&md)?;
                    cached::expect(md.len())?;
                    let file = file.into_std();
                    let (limit, too_big) = if max <= quota {
                        (max, ErrorCode::FileTooLarge)
                    } else {
                        (quota, ErrorCode::Quota)
                    };
                    if md.len() > max {
                        return Err(ErrorCode::FileTooLarge);
                    }
                    if md.len() > quota {
                        return Err(ErrorCode::Quota);
                    }
                    if md.len() == 0 {
                        return read_unmeasured(&file, limit, too_big, held, &r.budget);
                    }
                    let lease = r.budget.read_exact(md.len())?;
                    held.grow(md.len())?;
                    let data = read_limited(file, md.len(), limit)?;
                    lease.settle(data.len() as u64);
                    held.settle(data.len() as u64);
                    Ok(data)
                })
                .await
            })
            .await
    }

    pub async fn write_file(&self, path: String, data: Vec<u8>, atomic: bool) -> FsResult<()> {
        self.op(OpKind::WriteFile, &path)
            .bytes(data.len() as u64)
            .run(async {
                if data.len() as u64 > self.limits.max_write_bytes {
                    return Err(ErrorCode::Quota);
                }
                let r = self.resolve_rw(&path)?;
                if is_root(&r.rel) || has_trailing_slash(&r.rel) {
                    return Err(ErrorCode::IsDirectory);
                }
                let len = data.len() as u64;
                r.budget.precheck_write(len)?;
                // The payload is the guest's from here on: charged before it waits for anything.
                let payload = self.charge(len)?;
                on_object!(r, |o| self.obj_write_file(&o, r, data, payload).await);
                let counters = self.counters.clone();
                self.blocking(move || {
                    let _payload = payload;
                    let dir = r.grant.dir()?;
                    let paid = r.budget.write(len)?;
                    if !atomic {
                        let mut file =
                            regular(open_counted(&r, &write_options(), Create::IfMissing)?)?;
                        let _growth = reserve_growth(&counters, &r, &file, len)?;
                        // What reached the file counts even if the write stops halfway
                        // (dropped, interrupted, a disk error): it stays there.
                        let mut written = 0;
                        let out = write_chunked(&mut file, &data, &mut written);
                        paid.settle(written);
                        return out;
                    }
                    let name = r.rel.file_name().ok_or(ErrorCode::IsDirectory)?;
                    let parent = r.rel.parent().unwrap_or(Path::new(""));
                    // Everything happens in one opened parent directory: if the directory is
                    // renamed meanwhile, the temporary file is still renamed over the target
                    // beside it, or removed, and never left behind.
                    let opened;
                    let parent_dir = if parent.as_os_str().is_empty() {
                        &**dir
                    } else {
                        opened = dir.open_dir(parent)?;
                        &opened
                    };
                    // The rename creates the target if it is missing.
                    let created = if r.budget.limits_creates()
                        && parent_dir.symlink_metadata(name).is_err()
                    {
                        Some(r.budget.create(1)?)
                    } else {
                        None
                    };
                    // `.name.XXXXXXXX.tmp`, the name cut so the whole stays a valid file name.
                    let stem = name.to_string_lossy();
                    let prefix = format!(".{}.", &stem[..stem.floor_char_boundary(TEMP_STEM_MAX)]);
                    let (tmp, mut file) = with_temp_name(&prefix, ".tmp", |n| {
                        parent_dir.open_with(n, OpenOptions::new().write(true).create_new(true))
                    })?;
                    // Nothing of a failed atomic write stays (its temporary file is removed
                    // below), so nothing of it is paid.
                    let written =
                        write_chunked(&mut file, &data, &mut 0).and_then(|()| Ok(file.sync_all()?));
                    drop(file);
                    use super::links::removing;
                    if let Err(e) = written
                        .and_then(|()| Ok(removing(|| parent_dir.rename(&tmp, parent_dir, name))?))
                    {
                        let _ = removing(|| parent_dir.remove_file(&tmp));
                        return Err(e);
                    }
                    paid.keep();
                    if let Some(created) = created {
                        created.keep();
                    }
                    Ok(())
                })
                .await
            })
            .await
    }

    /// Copy content only (not permissions), like `shutil.copyfile`; copying a file onto
    /// itself (same device and inode) fails with `invalid` and leaves it intact.
    pub async fn copy_file(&self, src: String, dst: String) -> FsResult<u64> {
        self.op(OpKind::CopyFile, &src)
            .target(&dst)
            .run(async {
                use cap_std::fs::MetadataExt;
                let s = self.resolve(&src)?;
                let d = self.resolve_rw(&dst)?;
                s.budget.precheck_read()?;
                #[cfg(feature = "object")]
                if s.grant.object().is_some() || d.grant.object().is_some() {
                    // Server-side within one object grant; else streamed through two files.
                    return match (s.grant.object().cloned(), same_grant(&s, &d)) {
                        (Some(o), Ok(())) => self.obj_copy_file(&o, s, d).await,
                        _ => self.copy_streamed(src.clone(), dst.clone()).await,
                    };
                }
                let counters = self.counters.clone();
                self.blocking(move || {
                    let from = regular(open_counted(&s, &read_options(), Create::No)?)?;
                    // Truncating the destination must not destroy the source (`shutil.SameFileError`).
                    let src_md = from.metadata()?;
                    if let Ok(dst_md) = d.grant.dir()?.metadata(&d.rel)
                        && (dst_md.dev(), dst_md.ino())
                            == (
                                std::os::unix::fs::MetadataExt::dev(&src_md),
                                std::os::unix::fs::MetadataExt::ino(&src_md),
                            )
                    {
                        return Err(ErrorCode::Invalid);
                    }
                    let len = src_md.len();
                    d.budget.check_size(len)?;
                    let read = s.budget.read_exact(len)?;
                    let written = d.budget.write(len)?;
                    let mut to = regular(open_counted(&d, &write_options(), Create::IfMissing)?)?;
                    let _growth = reserve_growth(&counters, &d, &to, len)?;
                    // Under a budget, copy what was paid for (the size when the copy started).
                    let budgeted = *s.budget.quota() != GrantQuota::UNLIMITED
                        || *d.budget.quota() != GrantQuota::UNLIMITED;
                    let cap = if budgeted { len } else { u64::MAX };
                    // In chunks (the kernel copies each without a buffer here), stopping at a
                    // checkpoint between them: a huge or sparse source cannot hold a thread.
                    let mut copied = 0u64;
                    let result = loop {
                        if let Err(e) = crate::pool::checkpoint() {
                            break Err(e);
                        }
                        let want = (CHUNK as u64).min(cap - copied);
                        match std::io::copy(&mut (&from).take(want), &mut to) {
                            Ok(0) => break Ok(()),
                            Ok(n) => copied += n,
                            Err(e) => break Err(e.into()),
                        }
                        if copied == cap {
                            break Ok(());
                        }
                    };
                    read.settle(copied);
                    written.settle(copied);
                    result.map(|()| copied)
                })
                .await
            })
            .await
    }
}

impl Fs {
    /// `copy-file` between different kinds of storage: the source opened for reading, the
    /// destination for writing, and [`CHUNK`]-sized reads and writes between them, each an
    /// operation of its own (limits, budgets, memory and cancellation as for the guest's
    /// own reads and writes). A failure discards the destination: an upload is aborted, a
    /// host file is left as far as it got (as a local copy that failed is).
    #[cfg(feature = "object")]
    async fn copy_streamed(&self, src: String, dst: String) -> FsResult<u64> {
        let from = self.open(src, "rb").await?;
        let to = self.open(dst, "wb").await?;
        let mut copied = 0u64;
        // The whole copy, not only each chunk, stops at `max_op_duration` (as a local
        // copy does at its checkpoints).
        let deadline = self
            .limits
            .max_op_duration
            .map(|d| std::time::Instant::now() + d);
        let result = async {
            loop {
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return Err(ErrorCode::Interrupted);
                }
                let chunk = from.read(CHUNK as u64).await?;
                if chunk.is_empty() {
                    return Ok(());
                }
                copied += chunk.len() as u64;
                to.write(chunk).await?;
            }
        }
        .await;
        let _ = from.close().await;
        match result {
            Ok(()) => to.close().await.map(|()| copied),
            Err(e) => {
                let _ = to.discard().await;
                Err(e)
            }
        }
    }
}

/// Read the file `src`, `expected` bytes long when measured (at most `limit`), into a new
/// vector. Once those bytes have arrived the read is complete: it returns the file as it was
/// when measured (bytes appended since lie past them), without a further `read` to find
/// the end.
fn read_limited(src: std::fs::File, expected: u64, limit: u64) -> FsResult<Vec<u8>> {
    let mut out = Vec::new();
    let expected = usize::try_from(expected.min(limit)).unwrap_or(usize::MAX);
    out.try_reserve_exact(expected)
        .map_err(|_| ErrorCode::InsufficientMemory)?;
    read_local(&src, 0, expected, &mut out)?;
    // The result is charged at its length: a file that shrank since it was measured
    // gives the rest of the reservation back (a batch keeps its results until it ends).
    out.shrink_to_fit();
    Ok(out)
}

/// Bytes of a file measured empty read at a time, each paid before it is read.
const UNMEASURED_PIECE: u64 = 64 << 10;

/// Read `src`, measured empty (being written to, or a pseudo-file whose size is not
/// known), until its end: in pieces, each charged to `held` and to the read budget before
/// it is read (a file that grows meanwhile cannot make the host hold what nobody paid
/// for), failing with `too_big` once more than `limit` bytes arrive. A piece takes what is
/// left of the read budget if that is less: an empty file (or one that fits what is left)
/// reads under any budget, and one with more bytes than are left fails with `quota`
/// (found by a one-byte probe that is not delivered), never overrunning the budget.
fn read_unmeasured(
    src: &std::fs::File,
    limit: u64,
    too_big: ErrorCode,
    held: &mut Held,
    budget: &Arc<crate::grant::Budget>,
) -> FsResult<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let piece = UNMEASURED_PIECE.min(limit.saturating_add(1) - out.len() as u64);
        crate::pool::checkpoint()?;
        let lease = match budget.read_up_to(piece) {
            Ok(lease) => lease,
            // Nothing left to pay with: fine only if nothing more is there.
            Err(e) => {
                return at_end(src, out.len() as u64).and_then(|end| end.then_some(out).ok_or(e));
            }
        };
        let paid = lease.taken().min(piece);
        held.grow(paid)?;
        let got = read_local(src, out.len() as u64, paid as usize, &mut out)?;
        lease.settle(got as u64);
        held.settle(out.len() as u64);
        if out.len() as u64 > limit {
            return Err(too_big);
        }
        if (got as u64) < paid {
            return Ok(out);
        }
    }
}

/// Whether `src` has no byte at `offset` (a one-byte probe, not delivered to anyone).
fn at_end(src: &std::fs::File, offset: u64) -> FsResult<bool> {
    let mut probe = Vec::with_capacity(1);
    Ok(read_local(src, offset, 1, &mut probe)? == 0)
}

/// Bytes written or copied between two checkpoints of a long operation.
const CHUNK: usize = 8 << 20;

/// Write all of `data` in chunks, stopping at a [`checkpoint`](crate::pool::checkpoint)
/// (`interrupted`) between them; `written` counts the bytes that may have reached `file`.
fn write_chunked(file: &mut impl Write, data: &[u8], written: &mut u64) -> FsResult<()> {
    for piece in data.chunks(CHUNK) {
        crate::pool::checkpoint()?;
        // A piece that fails partway may have landed in part: counted whole.
        *written += piece.len() as u64;
        file.write_all(piece)?;
    }
    Ok(())
}

/// For a whole-file write or copy of `len` bytes into the just-truncated `file`: reserve
/// its growth against the grant's `max_file_size` (see `growth`), if it has one.
fn reserve_growth(
    counters: &StoreCounters,
    r: &Resolved,
    file: &std::fs::File,
    len: u64,
) -> FsResult<Option<growth::Reserved>> {
    match r.budget.quota().max_file_size {
        Some(max) => Ok(Some(
            counters
                .growth
                .reserve(file, max, len, |size| size.max(len))?,
        )),
        None => Ok(None),
    }
}

/// Create or truncate for writing.
fn write_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    // Never blocks on a FIFO or device; never makes a terminal the host's own.
    o.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::GrantQuota;

    /// A file that shrank after it was measured keeps no more than its bytes: the
    /// result is charged at its length, so the reservation's rest is given back.
    #[test]
    fn a_file_shorter_than_measured_keeps_only_its_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let file = std::fs::File::open(tmp.path().join("f")).unwrap();
        let out = read_limited(file, 1 << 20, 1 << 20).unwrap();
        assert_eq!(out, b"x");
        assert_eq!(out.capacity(), 1, "the 1 MiB reservation was kept");
    }

    /// A file measured empty is read in pieces, each paid before it is read: every byte
    /// that arrives is charged to memory and to the read budget, and a budget that runs
    /// out stops the read instead of being overrun.
    #[test]
    fn a_file_measured_empty_is_paid_piece_by_piece() {
        let tmp = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        std::fs::write(tmp.path().join("f"), &body).unwrap();
        let ctx = crate::AioFsCtx::builder()
            .grant_with_quota(
                tmp.path(),
                "/d",
                crate::Perms::ReadOnly,
                GrantQuota {
                    max_bytes_read: Some(500_000),
                    ..GrantQuota::UNLIMITED
                },
            )
            .unwrap()
            .build();
        let fs = ctx.fs();
        let r = fs.resolve("/d/f").unwrap();
        let read = |limit| {
            let file = std::fs::File::open(tmp.path().join("f")).unwrap();
            let mut held = fs.mem().empty();
            let out = read_unmeasured(&file, limit, ErrorCode::FileTooLarge, &mut held, &r.budget);
            (out, held.bytes())
        };
        let bytes_read = || fs.grant_usage()[0].bytes_read;
        let (out, held) = read(u64::MAX);
        assert_eq!(out.unwrap(), body);
        assert_eq!((held, bytes_read()), (200_000, 200_000));
        // Past `limit`: `too_big` as soon as one byte more than it has arrived.
        let (out, _) = read(100_000);
        assert_eq!(out, Err(ErrorCode::FileTooLarge));
        assert_eq!(bytes_read(), 300_001);
        // The read budget cannot pay for another whole read: refused, not overrun.
        let (out, _) = read(u64::MAX);
        assert_eq!(out, Err(ErrorCode::Quota));
        assert!(bytes_read() <= 500_000, "{}", bytes_read());
    }

    /// An empty file costs nothing of the read budget, so a grant with less than one
    /// unmeasured piece of it left still reads it (and every file measured empty that is
    /// empty): `read-file` refuses only what does not fit. Once nothing is left, a file
    /// with bytes in it is refused with `quota`, and the budget is never overrun.
    #[tokio::test]
    async fn an_empty_file_reads_under_a_small_read_budget() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("empty"), b"").unwrap();
        std::fs::write(tmp.path().join("f"), vec![1u8; 100]).unwrap();
        let ctx = crate::AioFsCtx::builder()
            .grant_with_quota(
                tmp.path(),
                "/d",
                crate::Perms::ReadOnly,
                GrantQuota {
                    max_bytes_read: Some(1000),
                    ..GrantQuota::UNLIMITED
                },
            )
            .unwrap()
            .build();
        let fs = ctx.fs();
        assert_eq!(
            fs.read_file("/d/empty".into(), 1 << 20).await,
            Ok(Vec::new())
        );
        assert_eq!(fs.grant_usage()[0].bytes_read, 0);
        // The same through the unmeasured path (a pseudo-file's size is 0 too), with 100
        // bytes of the budget left: an empty file reads, a 100-byte one exactly fits, and
        // with nothing left the next one is refused.
        let r = fs.resolve("/d/f").unwrap();
        let read = |name: &str| {
            let file = std::fs::File::open(tmp.path().join(name)).unwrap();
            let mut held = fs.mem().empty();
            read_unmeasured(&file, 1 << 20, ErrorCode::Quota, &mut held, &r.budget)
        };
        assert_eq!(
            fs.read_file("/d/f".into(), 1000).await.map(|d| d.len()),
            Ok(100)
        );
        for _ in 0..8 {
            assert_eq!(read("f").map(|d| d.len()), Ok(100));
        }
        assert_eq!(read("empty"), Ok(Vec::new()));
        assert_eq!(read("f").map(|d| d.len()), Ok(100));
        assert_eq!(fs.grant_usage()[0].bytes_read, 1000);
        assert_eq!(read("empty"), Ok(Vec::new()), "an empty file costs nothing");
        assert_eq!(read("f"), Err(ErrorCode::Quota));
        assert_eq!(fs.grant_usage()[0].bytes_read, 1000);
        assert_eq!(fs.held_bytes(), 0);
    }
}
