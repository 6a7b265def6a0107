//! Operations relative to an open directory, with open flags, times and identity: what
//! `wasi:filesystem` needs, written as general domain operations.
//!
//! A [`Directory`] is an [`Fs`] whose only grant is the opened directory. It shares the
//! limits, pool, counters and the *budget* of the grant it was opened under, and keeps that
//! grant's permission, so every path operation of [`Fs`] works beneath it with the same
//! resolution (cap-std beneath the directory: `..` or a symlink out of it is
//! `not-permitted`), the same `read-only` check before anything is queued, and the same
//! budgets. A relative path given to a directory's [`Fs`] resolves beneath that directory.

use super::{
    Create, File, Fs, OpenMode, OpenSlot, Timestamp, is_root, not_root, on_object, open_counted,
    open_options, same_grant,
};
use crate::error::{ErrorCode, FsResult};
use crate::grant::{Budget, Grant, Grants, Perms, Resolved};
use crate::obs::OpKind;
use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use std::sync::Arc;

/// How to open something (the flags of `wasi:filesystem` `open-at`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenRequest {
    /// Open for reading (also implied when `write` is not set, as wasmtime does).
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Create the file if it is missing.
    pub create: bool,
    /// With `create`: fail with `exist` if it is there already.
    pub exclusive: bool,
    /// Truncate to zero length.
    pub truncate: bool,
    /// Fail with `not-directory` unless it is a directory.
    pub directory: bool,
    /// Follow a symlink in the last component (otherwise opening one is `loop`).
    pub follow_symlinks: bool,
}

impl OpenRequest {
    /// Whether the request may change the file system (so needs a writable grant).
    pub fn writes(&self) -> bool {
        self.write || self.create || self.truncate
    }
}

/// A directory opened beneath a grant (or a grant's root): its [`Fs`] resolves relative
/// paths beneath it. Cheap to clone; the descriptor closes when the last clone goes.
#[derive(Debug, Clone)]
pub struct Directory {
    fs: Fs,
    /// The store's open-handle slot (`None` for a grant root, which is always open).
    _slot: Option<Arc<OpenSlot>>,
}

impl Directory {
    /// Operations beneath this directory (relative paths only: an absolute path resolves
    /// against the directory's own mount path, which callers serving `*-at` calls refuse).
    pub fn fs(&self) -> &Fs {
        &self.fs
    }

    /// The guest path this directory was opened at.
    pub fn guest_path(&self) -> &str {
        &self.grant().guest_path
    }

    /// The permission of the grant it lies in.
    pub fn perms(&self) -> Perms {
        self.grant().perms
    }

    fn grant(&self) -> &Arc<Grant> {
        self.fs
            .grants
            .iter()
            .next()
            .expect("a directory view has exactly one grant")
    }
}

/// What [`Fs::open_at`] opened.
#[derive(Debug)]
pub enum Opened {
    /// A regular file, in binary mode.
    File(File),
    /// A directory.
    Dir(Directory),
}

/// What to set one timestamp to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTime {
    /// Leave it as it is.
    Keep,
    /// The current time.
    Now,
    /// This time.
    At(Timestamp),
}

impl SetTime {
    fn spec(self) -> FsResult<Option<cap_fs_ext::SystemTimeSpec>> {
        use cap_fs_ext::SystemTimeSpec;
        Ok(match self {
            SetTime::Keep => None,
            SetTime::Now => Some(SystemTimeSpec::SymbolicNow),
            SetTime::At(t) => Some(SystemTimeSpec::Absolute(
                cap_std::time::SystemTime::from_std(system_time(t)?),
            )),
        })
    }

    /// As a `futimens` time (`Now` is the kernel's, as cap-std's `set_times` asks).
    fn timespec(self) -> FsResult<rustix::fs::Timespec> {
        use rustix::fs::{Timespec, UTIME_NOW, UTIME_OMIT};
        Ok(match self {
            SetTime::Keep => Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            },
            SetTime::Now => Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_NOW,
            },
            SetTime::At(t) => {
                system_time(t)?;
                Timespec {
                    tv_sec: t.seconds,
                    tv_nsec: t.nanoseconds.into(),
                }
            }
        })
    }

    /// As `std` file times (`Now` read from the clock here).
    pub(crate) fn std(self) -> FsResult<Option<std::time::SystemTime>> {
        Ok(match self {
            SetTime::Keep => None,
            SetTime::Now => Some(std::time::SystemTime::now()),
            SetTime::At(t) => Some(system_time(t)?),
        })
    }
}

/// Open `r` (following symlinks) to set its times: read-only and non-blocking, so a FIFO
/// opens at once instead of holding a pool thread until a peer opens it (cap-std's
/// `set_times` opens for writing, without `O_NONBLOCK`); a write-only file (no read
/// permission) is opened for writing, also non-blocking.
fn open_for_times(r: &Resolved) -> FsResult<cap_std::fs::File> {
    use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
    use cap_std::fs::{OpenOptions, OpenOptionsExt};
    let dir = r.grant.dir()?;
    let open = |write: bool| {
        let mut o = OpenOptions::new();
        o.read(!write).write(write);
        o.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
        o.follow(FollowSymlinks::Yes);
        dir.open_with(&r.rel, &o)
    };
    match open(false) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(open(true)?),
        other => Ok(other?),
    }
}

/// A [`Timestamp`] as a `SystemTime` (`invalid` if out of range, or before 1970: the
/// crates that set times, cap-primitives and fs-set-times, panic on those).
fn system_time(t: Timestamp) -> FsResult<std::time::SystemTime> {
    use std::time::{Duration, UNIX_EPOCH};
    if t.nanoseconds >= 1_000_000_000 || t.seconds < 0 {
        return Err(ErrorCode::Invalid);
    }
    UNIX_EPOCH
        .checked_add(Duration::new(t.seconds.unsigned_abs(), t.nanoseconds))
        .ok_or(ErrorCode::Overflow)
}

/// The guest path of a resolved path (mount, then the relative part).
fn guest_of(r: &Resolved) -> String {
    let rel = r.rel.to_string_lossy();
    let rel = rel.trim_end_matches('/');
    if is_root(&r.rel) || rel.is_empty() {
        return r.grant.guest_path.clone();
    }
    let mut out = r.grant.guest_path.clone();
    if !out.ends_with('/') {
        out.push('/');
    }
    out.push_str(rel);
    out
}

impl Fs {
    /// This store with `grant` (paid from `budget`) as its only grant.
    fn view(&self, grant: Arc<Grant>, budget: Arc<Budget>, local: bool) -> Fs {
        let mut fs = self.clone();
        fs.grants = Arc::new(Grants::single(grant, budget));
        fs.local_paths = local;
        fs
    }

    /// This store without grants, for a file opened beneath a view: a file never
    /// resolves paths (its name is already an absolute guest path), and holding the view
    /// would keep the view's directory open, uncounted, after the view's own slot is
    /// given back.
    fn for_handles(&self) -> Fs {
        let mut fs = self.clone();
        fs.grants = Arc::default();
        // Whether the file itself is local is its own flag.
        fs.local_paths = true;
        fs
    }

    /// The root of every grant as a [`Directory`], in grant order (what `wasi:filesystem`
    /// hands out as preopens; the guest path is [`Directory::guest_path`]).
    pub fn grant_roots(&self) -> Vec<Directory> {
        self.grants
            .iter_with_budgets()
            .map(|(g, b)| Directory {
                fs: self.view(g.clone(), b.clone(), true),
                _slot: None,
            })
            .collect()
    }

    /// [`grant_roots`](Fs::grant_roots), each holding a `max_open_files` slot until its
    /// last clone goes (`quota` if the slots run out).
    pub(crate) fn grant_roots_held(&self) -> FsResult<Vec<Directory>> {
        self.grants
            .iter_with_budgets()
            .map(|(g, b)| {
                Ok(Directory {
                    fs: self.view(g.clone(), b.clone(), true),
                    _slot: Some(Arc::new(self.reserve_open_slot()?)),
                })
            })
            .collect()
    }

    /// Open a regular file or a directory at `path` with explicit flags (`open-at`).
    ///
    /// A request that writes, creates or truncates needs a writable grant (`read-only`
    /// otherwise, before anything is queued). A directory is returned as a [`Directory`]
    /// (writing to one is `is-directory`); with `directory` set anything else is
    /// `not-directory`. Like [`Fs::open`], only regular files and directories are served:
    /// a FIFO, socket or device is `unsupported`. Files and directories opened here count
    /// against `max_open_files`; creations count against the grant's `max_created`.
    pub async fn open_at(&self, path: String, req: OpenRequest) -> FsResult<Opened> {
        self.op(OpKind::Open, &path)
            .mutation(req.writes())
            .run(async {
                if req.directory && (req.create || req.truncate) {
                    return Err(ErrorCode::Invalid);
                }
                let r = if req.writes() {
                    self.resolve_rw(&path)?
                } else {
                    self.resolve(&path)?
                };
                let mode = OpenMode {
                    read: req.read || !req.write,
                    write: req.writes(),
                    append: false,
                    create: req.create,
                    exclusive: req.create && req.exclusive,
                    truncate: req.truncate,
                    text: false,
                };
                let create = Create::of(&mode, &r)?;
                // The opened file or directory keeps its full guest path (the view's
                // mount, the file's name), which grows with every relative open: capped
                // like any path the guest passes, so a chain of `open-at(d, "x/..")`
                // cannot build an unbounded one.
                if guest_of(&r).len() > self.limits.max_path_len {
                    return Err(ErrorCode::NameTooLong);
                }
                #[cfg(feature = "object")]
                if let Some(o) = r.grant.object().cloned() {
                    return self.object_open_at(&o, r, mode, req.directory).await;
                }
                let slot = self.open_slot().await?;
                let fs = self.clone();
                self.blocking(move || {
                    let mut opts = open_options(&mode);
                    opts.follow(if req.follow_symlinks {
                        FollowSymlinks::Yes
                    } else {
                        FollowSymlinks::No
                    });
                    let file = open_counted(&r, &opts, create)?;
                    let md = file.metadata()?;
                    if md.is_dir() {
                        if mode.write {
                            return Err(ErrorCode::IsDirectory);
                        }
                        let dir = cap_std::fs::Dir::from_std_file(file.into_std());
                        // It may lie on a mount beneath the grant's root (this runs on
                        // the pool: `fstatfs` may block on a network filesystem).
                        let local = r.budget.cached_io() && super::cached::local_fs(&dir);
                        let grant = Arc::new(Grant::local(dir, guest_of(&r), r.grant.perms));
                        return Ok(Opened::Dir(Directory {
                            fs: fs.view(grant, r.budget.clone(), local),
                            _slot: Some(Arc::new(slot)),
                        }));
                    }
                    if req.directory {
                        return Err(ErrorCode::NotDirectory);
                    }
                    if !md.is_file() {
                        return Err(ErrorCode::Unsupported);
                    }
                    let name = guest_of(&r);
                    let budget = r.budget.clone();
                    let file = file.into_std();
                    let local = budget.cached_io() && super::cached::local_file(&file);
                    Ok(Opened::File(File::new_in(
                        &fs.for_handles(),
                        budget,
                        file,
                        name,
                        mode,
                        slot,
                        None,
                        local,
                    )))
                })
                .await
            })
            .await
    }

    /// [`open_at`](Fs::open_at) on an object grant: a directory becomes a view of the
    /// prefix beneath it; a file opens as [`Fs::open`] does there.
    #[cfg(feature = "object")]
    async fn object_open_at(
        &self,
        o: &Arc<crate::object::ObjectStore>,
        r: Resolved,
        mode: OpenMode,
        directory: bool,
    ) -> FsResult<Opened> {
        use super::FileType;
        let found = self.obj_probe(o, &r).await?;
        match found {
            Some(FileType::Directory) if mode.write => Err(ErrorCode::IsDirectory),
            Some(FileType::Directory) => {
                let slot = self.open_slot().await?;
                let key = o.key(&r.rel)?;
                let grant = Arc::new(Grant {
                    store: crate::grant::Store::Object(Arc::new(o.beneath(&key))),
                    guest_path: guest_of(&r),
                    perms: r.grant.perms,
                });
                Ok(Opened::Dir(Directory {
                    fs: self.view(grant, r.budget.clone(), true),
                    _slot: Some(Arc::new(slot)),
                }))
            }
            Some(_) if directory => Err(ErrorCode::NotDirectory),
            None if directory => Err(ErrorCode::NoEntry),
            _ => {
                let name = guest_of(&r);
                Ok(Opened::File(self.obj_open(o, r, mode, name).await?))
            }
        }
    }

    /// Set the access and modification times of `path` (of the link itself unless
    /// `follow_symlinks`). Needs a writable grant.
    pub async fn set_times(
        &self,
        path: String,
        follow_symlinks: bool,
        accessed: SetTime,
        modified: SetTime,
    ) -> FsResult<()> {
        self.op(OpKind::SetTimes, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                let (atime, mtime) = (accessed.spec()?, modified.spec()?);
                let times = rustix::fs::Timestamps {
                    last_access: accessed.timespec()?,
                    last_modification: modified.timespec()?,
                };
                self.blocking(move || {
                    let dir = r.grant.dir()?;
                    if follow_symlinks {
                        let file = open_for_times(&r)?;
                        Ok(rustix::fs::futimens(&file, &times).map_err(std::io::Error::from)?)
                    } else {
                        // A symlink's own times are set by name: nothing is opened.
                        Ok(dir.set_symlink_times(&r.rel, atime, mtime)?)
                    }
                })
                .await
            })
            .await
    }

    /// Flush a directory's entries to the device (`fsync` on the directory).
    pub async fn sync_dir(&self, path: String) -> FsResult<()> {
        self.op(OpKind::Sync, &path)
            .run(async {
                let r = self.resolve(&path)?;
                // Nothing to flush: an object store's writes are durable when they return.
                on_object!(r, |_o| Ok(()));
                self.blocking(move || {
                    let dir = r.grant.dir()?.open_dir(&r.rel)?;
                    Ok(dir.open(".")?.sync_all()?)
                })
                .await
            })
            .await
    }

    /// Rename `src` (beneath this store's grants) to `dst` beneath `to`'s (another
    /// directory of the same store, or the same). Both must be writable and in the same
    /// grant (`cross-device` otherwise, as for `rename`).
    pub async fn rename_to(&self, src: String, to: &Fs, dst: String) -> FsResult<()> {
        self.op(OpKind::Rename, &src)
            .target(&dst)
            .run(async {
                let (s, d) = (self.resolve(&src)?, to.resolve(&dst)?);
                writable_pair(&s, &d)?;
                same_grant(&s, &d)?;
                not_root(&s)?;
                not_root(&d)?;
                on_object!(s, |o| self.obj_rename(&o, s, d).await);
                self.blocking(move || super::names::rename_local(&s, &d))
                    .await
            })
            .await
    }

    /// Hard-link `src` (beneath this store's grants) as `dst` beneath `to`'s. Both must
    /// be writable and in the same grant; the link counts against `max_created`.
    pub async fn link_to(&self, src: String, to: &Fs, dst: String) -> FsResult<()> {
        self.op(OpKind::Link, &src)
            .target(&dst)
            .run(async {
                let (s, d) = (self.resolve(&src)?, to.resolve(&dst)?);
                writable_pair(&s, &d)?;
                same_grant(&s, &d)?;
                // No links on an object store.
                on_object!(s, |_o| Err(ErrorCode::Unsupported));
                d.budget.precheck_create()?;
                self.blocking(move || {
                    let lease = d.budget.create(1)?;
                    s.grant.dir()?.hard_link(&s.rel, d.grant.dir()?, &d.rel)?;
                    lease.keep();
                    Ok(())
                })
                .await
            })
            .await
    }
}

/// `read-only` unless both ends of a rename or link lie in writable grants.
pub(super) fn writable_pair(a: &Resolved, b: &Resolved) -> FsResult<()> {
    if !a.grant.perms.can_write() || !b.grant.perms.can_write() {
        return Err(ErrorCode::ReadOnly);
    }
    Ok(())
}
