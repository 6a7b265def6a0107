//! Cached I/O on the caller's thread: a small operation whose data the kernel already holds
//! runs where it was called, with no trip to the pool.
//!
//! Most small operations of a busy program find everything in the kernel's caches: the
//! names in the dentry cache, the inode in memory, the bytes in the page cache. Sending them
//! to a pool thread costs two thread hand-offs and two wake-ups, several times the work
//! itself. So [`Fs::quick`](super::Fs) first runs an operation's closure right where it was
//! called (the event loop), in *trying* mode, after every check and budget reservation the
//! pool path makes: while trying, the primitives below ask the kernel to work only from its
//! caches, and report [`WouldBlock`](io::ErrorKind::WouldBlock) instead of waiting:
//!
//! - opens are `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` (the confinement
//!   cap-std uses) plus `RESOLVE_CACHED`, which fails with `EAGAIN` unless every component is
//!   in the dentry cache and needs no revalidation;
//! - reads are `preadv2` with `RWF_NOWAIT`, which fails with `EAGAIN` unless the bytes are in
//!   the page cache;
//! - the whole attempt copies at most `Limits::max_inline_bytes` bytes: past that it would
//!   block, so the event loop never spends more than a few microseconds on one call.
//!
//! Any other failure also counts as "would block" (except `ENOENT`, whose answer is the
//! same wherever it is computed), and the closure is then run again, unchanged, on the pool,
//! where cap-std gives the canonical result and error. A blocked attempt leaves nothing
//! behind: its leases and charges are given back as they drop, and a cursor read appends
//! nothing on error.
//!
//! Only grants on local filesystems (ext4, XFS, btrfs, tmpfs, overlayfs, ...) try: there a
//! `statx` of an open descriptor reads the in-memory inode and closing a read-only
//! descriptor writes nothing; on NFS or FUSE either may wait for a server.

use rustix::fs::{OFlags, ResolveFlags};
use rustix::io::{Errno, ReadWriteFlags};
use std::cell::Cell;
use std::fs::File as StdFile;
use std::io::{self, IoSliceMut};
use std::path::Path;

/// Where this thread is in an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not trying: the primitives must not be called.
    Off,
    /// Trying, with this many bytes left to copy.
    Trying { left: u64 },
    /// Something would have blocked: the attempt is over, whatever the closure returns.
    Blocked,
}

thread_local! {
    static MODE: Cell<Mode> = const { Cell::new(Mode::Off) };
}

/// Filesystem magics (`statfs.f_type`) whose inode metadata lives in memory and whose
/// read-only closes write nothing: ext2/3/4, XFS, btrfs, tmpfs, ramfs, overlayfs, F2FS,
/// bcachefs.
const LOCAL_FS: [u32; 8] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0x8584_58F6,
    0x794C_7630,
    0xF2F5_2010,
    0xCA45_1A4E,
];

/// Whether operations under `dir` may try the caches first (it is on a local filesystem).
pub(crate) fn local_fs(dir: &cap_std::fs::Dir) -> bool {
    on_local_fs(dir)
}

/// Whether an open `file` is on a local filesystem, so that its small operations may be
/// tried here: a file opened on the pool may lie on a mount beneath its grant's root (a
/// cached open never crosses one: `RESOLVE_NO_XDEV`). Blocking on a network filesystem:
/// call it on the pool.
pub(crate) fn local_file(file: &StdFile) -> bool {
    on_local_fs(file)
}

fn on_local_fs(fd: impl std::os::fd::AsFd) -> bool {
    rustix::fs::fstatfs(fd).is_ok_and(|s| LOCAL_FS.contains(&(s.f_type as u64 as u32)))
}

/// Whether this thread is inside an attempt (blocked or not): code that may run in one
/// must use the primitives of this module instead of blocking calls.
pub(crate) fn trying() -> bool {
    MODE.get() != Mode::Off
}

/// Whether the attempt under way has given up (what it computed since must be thrown
/// away: a call that returns what it gathered before an error must not return it here).
pub(crate) fn blocked() -> bool {
    MODE.get() == Mode::Blocked
}

/// Run `f` in trying mode, copying at most `max_bytes`; `None` if something in it would
/// have blocked (its result is then dropped, and `f` must be run again on the pool), or if
/// it may not start because a removal of `links` is under way (see the `links` module: no
/// file this thread closes while trying can be one whose last link went meanwhile).
pub(crate) fn attempt<T>(
    links: &super::links::Exclusion,
    max_bytes: u64,
    f: impl FnOnce() -> T,
) -> Option<T> {
    struct Restore(Mode);
    impl Drop for Restore {
        fn drop(&mut self) {
            MODE.set(self.0);
        }
    }
    let _attempt = links.attempt()?;
    let _restore = Restore(MODE.replace(Mode::Trying { left: max_bytes }));
    let out = f();
    (MODE.get() != Mode::Blocked).then_some(out)
}

/// End the attempt: the operation goes to the pool.
fn would_block() -> io::Error {
    MODE.set(Mode::Blocked);
    io::ErrorKind::WouldBlock.into()
}

/// End the attempt because the operation must not run here (the error returned is thrown
/// away and the operation runs again on the pool).
pub(crate) fn give_up() -> io::Error {
    would_block()
}

/// In an attempt, `would-block` unless `n` more bytes may still be copied (so a big read
/// goes to the pool before it starts); nothing outside one.
pub(crate) fn expect(n: u64) -> io::Result<()> {
    match MODE.get() {
        Mode::Trying { left } if n >= left => Err(would_block()),
        _ => Ok(()),
    }
}

/// Open `rel` beneath `dir` for reading, from the caches only.
pub(crate) fn open_read(dir: &cap_std::fs::Dir, rel: &Path) -> io::Result<StdFile> {
    open(dir, rel, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)
}

/// The metadata of `rel` beneath `dir` (of the symlink itself unless `follow`), from the
/// caches only: an `O_PATH` open as cap-std's `stat` makes, then `statx` of it.
pub(crate) fn metadata(
    dir: &cap_std::fs::Dir,
    rel: &Path,
    follow: bool,
) -> io::Result<cap_std::fs::Metadata> {
    let flags = if follow {
        OFlags::PATH
    } else {
        OFlags::PATH | OFlags::NOFOLLOW
    };
    cap_std::fs::File::from_std(open(dir, rel, flags)?).metadata()
}

fn open(dir: &cap_std::fs::Dir, rel: &Path, flags: OFlags) -> io::Result<StdFile> {
    if !matches!(MODE.get(), Mode::Trying { .. }) {
        return Err(would_block());
    }
    // `NO_XDEV`: a mount inside the grant may be NFS or FUSE, whose opens wait.
    let resolve = ResolveFlags::BENEATH
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV
        | ResolveFlags::CACHED;
    match rustix::fs::openat2(
        dir,
        rel,
        flags | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        resolve,
    ) {
        Ok(fd) => Ok(StdFile::from(fd)),
        Err(Errno::NOENT) => Err(Errno::NOENT.into()),
        Err(_) => Err(would_block()),
    }
}

/// Append up to `max` bytes of `file` from `offset` to `out`, from the page cache only;
/// returns how many (0 at end of file). Nothing is appended on error. Like the pool's read,
/// it fills the capacity reserved before the call and grows `out` only past it (probing
/// with a small stack buffer first, so an exact reservation is not doubled to find the end).
pub(crate) fn read_up_to(
    file: &StdFile,
    offset: u64,
    max: usize,
    out: &mut Vec<u8>,
) -> io::Result<usize> {
    let start = out.len();
    let read = read_into(file, offset, max, out);
    if read.is_err() {
        out.truncate(start);
    }
    read
}

fn read_into(file: &StdFile, offset: u64, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
    let start = out.len();
    loop {
        let got = out.len() - start;
        let Mode::Trying { left } = MODE.get() else {
            return Err(would_block());
        };
        if got >= max {
            return Ok(got);
        }
        let room = usize::try_from(left).unwrap_or(usize::MAX);
        if room == 0 {
            return Err(would_block());
        }
        let at = offset.saturating_add(got as u64);
        let spare = out.capacity() - out.len();
        let n = if spare == 0 {
            let mut probe = [0u8; 32];
            let want = (max - got).min(room).min(probe.len());
            let n = pread_nowait(file, &mut probe[..want], at)?;
            out.extend_from_slice(&probe[..n]);
            n
        } else {
            let want = (max - got).min(room).min(spare);
            let end = out.len();
            out.resize(end + want, 0);
            let n = pread_nowait(file, &mut out[end..], at)?;
            out.truncate(end + n);
            n
        };
        if n == 0 {
            return Ok(got);
        }
        MODE.set(Mode::Trying {
            left: left - n as u64,
        });
    }
}

/// Fill `buf` from `offset` as far as the file goes, from the page cache only; returns
/// the bytes read.
pub(crate) fn read_at(file: &StdFile, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let Mode::Trying { left } = MODE.get() else {
            return Err(would_block());
        };
        let want = (buf.len() - got).min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Err(would_block());
        }
        let n = pread_nowait(
            file,
            &mut buf[got..got + want],
            offset.saturating_add(got as u64),
        )?;
        if n == 0 {
            break;
        }
        got += n;
        MODE.set(Mode::Trying {
            left: left - n as u64,
        });
    }
    Ok(got)
}

fn pread_nowait(file: &StdFile, buf: &mut [u8], at: u64) -> io::Result<usize> {
    loop {
        match rustix::io::preadv2(
            file,
            &mut [IoSliceMut::new(buf)],
            at,
            ReadWriteFlags::NOWAIT,
        ) {
            Ok(n) => return Ok(n),
            Err(Errno::INTR) => {}
            Err(_) => return Err(would_block()),
        }
    }
}
