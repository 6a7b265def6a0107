//! The io_uring contender: what the kernel's asynchronous interface does for the small
//! operations, measured natively (no guest), to decide whether an io_uring backend could
//! beat aiofs' thread pool.
//!
//! Every open is confined the way aiofs confines it (`openat2` with `RESOLVE_BENEATH`
//! relative to the data directory), into a *direct* descriptor (a registered-file slot),
//! so that open, read and close of one file are one linked chain: one submission, no
//! descriptor installed in the process table. The ring is used from one thread, with
//! up to `in_flight` chains (or `statx` calls) queued at once.

use crate::data::{Data, SMALL_BYTES};
use io_uring::{IoUring, opcode, squeue, types};
use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Slots of the registered-file table (one per chain in flight).
const SLOTS: u32 = 256;

/// Whether io_uring works here (kernel support, not disabled by sysctl or seccomp).
pub fn available() -> bool {
    IoUring::new(8).is_ok()
}

/// Paths relative to the data directory, as C strings (made before the clock starts).
fn rel_paths(d: &Data, n: usize, path: impl Fn(usize) -> std::path::PathBuf) -> Vec<CString> {
    (0..n)
        .map(|i| {
            let p = path(i);
            let rel = p.strip_prefix(d.root()).expect("under the data root");
            CString::new(rel.as_os_str().as_encoded_bytes()).expect("no NUL")
        })
        .collect()
}

/// Run `workload` once with io_uring; returns the time and the check count.
pub fn uring_once(
    workload: &str,
    d: &Data,
    n: usize,
    in_flight: usize,
) -> io::Result<(Duration, u64)> {
    let in_flight = match workload {
        "small_read_file" | "stat" => 1,
        _ => in_flight,
    }
    .min(SLOTS as usize);
    let root = std::fs::File::open(d.root())?;
    match workload {
        "small_read_file" | "small_read_concurrent" => {
            let paths = rel_paths(d, n, |i| d.small(i));
            read_files(root.as_raw_fd(), &paths, in_flight)
        }
        "stat" | "stat_concurrent" => {
            let paths = rel_paths(d, n, |i| d.many(i));
            stat_paths(root.as_raw_fd(), &paths, in_flight)
        }
        other => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("no io_uring version of {other}"),
        )),
    }
}

/// Whole-file reads: per file one linked chain openat2 (beneath `root`, into a direct
/// descriptor) → read → close, `in_flight` chains at once.
fn read_files(root: i32, paths: &[CString], in_flight: usize) -> io::Result<(Duration, u64)> {
    let mut ring = IoUring::new((in_flight * 4).next_power_of_two() as u32)?;
    ring.submitter().register_files_sparse(SLOTS)?;
    let how = types::OpenHow::new()
        // No O_CLOEXEC: a direct descriptor is never in the process table (EINVAL with it).
        .flags(libc::O_RDONLY as u64)
        .resolve(libc::RESOLVE_BENEATH);
    // One buffer per slot, a little larger than the file so one read reaches its end.
    let mut bufs = vec![vec![0u8; SMALL_BYTES * 2]; in_flight];
    let mut free: Vec<usize> = (0..in_flight).collect();
    let (mut next, mut done, mut total) = (0usize, 0usize, 0u64);
    let t = Instant::now();
    while done < paths.len() {
        while next < paths.len()
            && let Some(slot) = free.pop()
        {
            let file = types::Fixed(slot as u32);
            let open = opcode::OpenAt2::new(types::Fd(root), paths[next].as_ptr(), &how)
                .file_index(Some(
                    types::DestinationSlot::try_from_slot_target(slot as u32)
                        .map_err(|_| io::Error::other("no such direct descriptor slot"))?,
                ))
                .build()
                .flags(squeue::Flags::IO_LINK | squeue::Flags::SKIP_SUCCESS)
                .user_data(u64::MAX);
            let buf = &mut bufs[slot];
            let read = opcode::Read::new(file, buf.as_mut_ptr(), buf.len() as u32)
                .offset(0)
                .build()
                // A short read (the end of the file) would cancel a soft link: the close
                // must run whatever the read returned.
                .flags(squeue::Flags::IO_HARDLINK)
                .user_data((slot as u64) << 1);
            let close = opcode::Close::new(file)
                .build()
                .user_data(((slot as u64) << 1) | 1);
            // SAFETY: the path, `how` and the buffer outlive the submission (they live
            // until every completion has been reaped below).
            #[allow(unsafe_code, reason = "io_uring submissions point into our memory")]
            unsafe {
                ring.submission()
                    .push_multiple(&[open, read, close])
                    .map_err(|_| io::Error::other("submission queue full"))?;
            }
            next += 1;
        }
        ring.submit_and_wait(1)?;
        for cqe in ring.completion() {
            let res = cqe.result();
            if res < 0 {
                return Err(io::Error::from_raw_os_error(-res));
            }
            let data = cqe.user_data();
            if data == u64::MAX {
                continue;
            }
            if data & 1 == 0 {
                total += res as u64;
            } else {
                // The close ends the chain: the slot and its buffer are free again.
                free.push((data >> 1) as usize);
                done += 1;
            }
        }
    }
    Ok((t.elapsed(), total))
}

/// `statx` of every path relative to `root`, `in_flight` at once (statx has no
/// `RESOLVE_BENEATH`: this is the unconfined lower bound).
fn stat_paths(root: i32, paths: &[CString], in_flight: usize) -> io::Result<(Duration, u64)> {
    let mut ring = IoUring::new((in_flight * 2).next_power_of_two() as u32)?;
    // SAFETY: `statx` is plain old data; all zeroes is a valid value.
    #[allow(unsafe_code, reason = "zeroed plain-old-data buffers for statx")]
    let mut bufs: Vec<libc::statx> = vec![unsafe { std::mem::zeroed() }; in_flight];
    let mut free: Vec<usize> = (0..in_flight).collect();
    let (mut next, mut done, mut files) = (0usize, 0usize, 0u64);
    let t = Instant::now();
    while done < paths.len() {
        while next < paths.len()
            && let Some(slot) = free.pop()
        {
            let buf = &mut bufs[slot] as *mut libc::statx as *mut types::statx;
            let e = opcode::Statx::new(types::Fd(root), paths[next].as_ptr(), buf)
                .mask(libc::STATX_BASIC_STATS)
                .build()
                .user_data(slot as u64);
            // SAFETY: the path and the buffer outlive the submission.
            #[allow(unsafe_code, reason = "io_uring submissions point into our memory")]
            unsafe {
                ring.submission()
                    .push(&e)
                    .map_err(|_| io::Error::other("submission queue full"))?;
            }
            next += 1;
        }
        ring.submit_and_wait(1)?;
        for cqe in ring.completion() {
            if cqe.result() < 0 {
                return Err(io::Error::from_raw_os_error(-cqe.result()));
            }
            let slot = cqe.user_data() as usize;
            files += u64::from(u32::from(bufs[slot].stx_mode) & libc::S_IFMT == libc::S_IFREG);
            free.push(slot);
            done += 1;
        }
    }
    Ok((t.elapsed(), files))
}
