//! Operations on names: metadata, listings, creating, renaming, linking and removing
//! entries, and the `os.path` predicates. Each resolves its path(s) under the grants,
//! checks the permission, and makes one trip to the pool.

use super::*;

#[allow(
    missing_docs,
    reason = "each method is documented in wit/aiofs.wit under the same name"
)]
impl Fs {
    pub async fn stat(&self, path: String, follow_symlinks: bool) -> FsResult<Stat> {
        self.op(OpKind::Stat, &path)
            .run(async {
                let r = self.resolve(&path)?;
                on_object!(r, |o| self.obj_stat(&o, &r).await);
                self.quick(r.budget.cached_io(), move || {
                    Ok(meta::stat(&lookup(&r, follow_symlinks)?))
                })
                .await
            })
            .await
    }

    pub async fn access(&self, path: String, mode: AccessMode) -> FsResult<bool> {
        self.op(OpKind::Access, &path)
            .run(async {
                use cap_fs_ext::{AccessType, DirExt};
                use cap_primitives::fs::AccessModes;
                let r = self.resolve(&path)?;
                if mode.write && !r.grant.perms.can_write() {
                    return Ok(false);
                }
                on_object!(r, |o| Ok(
                    !mode.execute && self.obj_probe(&o, &r).await?.is_some()
                ));
                self.blocking(move || {
                    let ty = if mode.read || mode.write || mode.execute {
                        AccessType::Access(AccessModes {
                            readable: mode.read,
                            writable: mode.write,
                            executable: mode.execute,
                        })
                    } else {
                        AccessType::Exists
                    };
                    match r.grant.dir()?.access(&r.rel, ty) {
                        Ok(()) => Ok(true),
                        Err(e) => match ErrorCode::from(e) {
                            // Outside every grant is an error, not "no access".
                            ErrorCode::NotPermitted => Err(ErrorCode::NotPermitted),
                            _ => Ok(false),
                        },
                    }
                })
                .await
            })
            .await
    }

    pub async fn listdir(&self, path: String) -> FsResult<Vec<String>> {
        self.op(OpKind::Listdir, &path)
            .run(async {
                let r = self.resolve(&path)?;
                on_object!(r, |o| {
                    let (entries, _held) = self.obj_scandir(&o, &r).await?;
                    Ok(entries.into_iter().map(|e| e.name).collect())
                });
                let max = self.limits.max_dir_entries;
                self.blocking_held(move |held| {
                    let mut names: Vec<String> = Vec::new();
                    for entry in r.grant.dir()?.read_dir(&r.rel)? {
                        if names.len() == max {
                            return Err(ErrorCode::Quota);
                        }
                        if names.len().is_multiple_of(LISTING_CHUNK) {
                            crate::pool::checkpoint()?;
                        }
                        let name = utf8_name(entry?.file_name())?;
                        held.grow_for_push(&mut names, name.heap_size())?;
                        names.push(name);
                    }
                    Ok(names)
                })
                .await
            })
            .await
    }

    pub async fn scandir(&self, path: String, with_stat: bool) -> FsResult<Vec<DirEntry>> {
        Ok(self.scandir_held(path, with_stat).await?.0)
    }

    /// [`scandir`](Fs::scandir), handing back the listing's charge to the memory budget
    /// with it, for a caller that keeps the listing.
    pub(crate) async fn scandir_held(
        &self,
        path: String,
        with_stat: bool,
    ) -> FsResult<(Vec<DirEntry>, Held)> {
        self.op(OpKind::Scandir, &path)
            .run(async {
                let r = self.resolve(&path)?;
                on_object!(r, |o| self.obj_scandir(&o, &r).await);
                let max = self.limits.max_dir_entries;
                // A stat follows the entry's symlinks from the grant root: up to 40 hops
                // of up to a whole path each, so checked far more often.
                let chunk = if with_stat { STAT_CHUNK } else { LISTING_CHUNK };
                self.blocking_charged(move |held| {
                    let dir = r.grant.dir()?;
                    let mut out = Vec::new();
                    for entry in dir.read_dir(&r.rel)? {
                        if out.len() == max {
                            return Err(ErrorCode::Quota);
                        }
                        if out.len().is_multiple_of(chunk) {
                            crate::pool::checkpoint()?;
                        }
                        let entry = entry?;
                        let name = utf8_name(entry.file_name())?;
                        // A directory stream keeps the listing: charged as it allocates.
                        held.grow_for_push(&mut out, name.heap_size())?;
                        let file_type = meta::file_type(entry.file_type()?);
                        let inode = std::os::unix::fs::DirEntryExt::ino(&entry);
                        // Following symlinks from the grant root, so a link to a sibling directory
                        // works and a link out of the grant yields no stat.
                        let stat = if with_stat {
                            dir.metadata(r.rel.join(&name))
                                .ok()
                                .map(|md| meta::stat(&md))
                        } else {
                            None
                        };
                        out.push(DirEntry {
                            name,
                            file_type,
                            stat,
                            inode,
                        });
                    }
                    Ok(out)
                })
                .await
            })
            .await
    }

    /// `os.rename` and `os.replace` (identical on POSIX).
    pub async fn rename(&self, src: String, dst: String) -> FsResult<()> {
        self.op(OpKind::Rename, &src)
            .target(&dst)
            .run(async {
                let (s, d) = self.resolve_pair_rw(&src, &dst)?;
                not_root(&s)?;
                not_root(&d)?;
                same_grant(&s, &d)?;
                on_object!(s, |o| self.obj_rename(&o, s, d).await);
                self.blocking(move || rename_local(&s, &d)).await
            })
            .await
    }

    pub async fn renames(&self, src: String, dst: String) -> FsResult<()> {
        self.op(OpKind::Rename, &src)
            .target(&dst)
            .run(async {
                let (s, d) = self.resolve_pair_rw(&src, &dst)?;
                not_root(&s)?;
                not_root(&d)?;
                same_grant(&s, &d)?;
                on_object!(s, |o| self.obj_rename(&o, s, d).await);
                self.blocking(move || {
                    if let Some(parent) = d.rel.parent().filter(|p| !p.as_os_str().is_empty())
                        && !d.grant.dir()?.exists(parent)
                    {
                        create_dirs_counted(&d, parent)?;
                    }
                    rename_local(&s, &d)?;
                    prune(s.grant.dir()?, prunable_parents(&s.rel));
                    Ok(())
                })
                .await
            })
            .await
    }

    /// `os.remove` / `os.unlink`.
    pub async fn remove_file(&self, path: String) -> FsResult<()> {
        self.op(OpKind::Remove, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                not_root(&r)?;
                on_object!(r, |o| self.obj_remove_file(&o, &r).await);
                self.blocking(move || {
                    let dir = r.grant.dir()?;
                    Ok(links::removing(|| dir.remove_file(&r.rel))?)
                })
                .await
            })
            .await
    }

    pub async fn mkdir(&self, path: String) -> FsResult<()> {
        self.op(OpKind::Mkdir, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                if is_root(&r.rel) {
                    return Err(ErrorCode::Exist);
                }
                r.budget.precheck_create()?;
                on_object!(r, |o| self.obj_mkdir(&o, r, None).await);
                self.blocking(move || {
                    let lease = r.budget.create(1)?;
                    r.grant.dir()?.create_dir(&r.rel)?;
                    lease.keep();
                    Ok(())
                })
                .await
            })
            .await
    }

    pub async fn makedirs(&self, path: String, exist_ok: bool) -> FsResult<()> {
        self.op(OpKind::Makedirs, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                on_object!(r, |o| self.obj_mkdir(&o, r, Some(exist_ok)).await);
                self.blocking(move || {
                    let dir = r.grant.dir()?;
                    match dir.metadata(&r.rel) {
                        Ok(md) if md.is_dir() && exist_ok => return Ok(()),
                        Ok(_) => return Err(ErrorCode::Exist),
                        Err(_) => {}
                    }
                    match create_dirs_counted(&r, &r.rel) {
                        Ok(()) => Ok(()),
                        // Created concurrently by someone else: same as finding it there.
                        Err(_) if exist_ok && dir.metadata(&r.rel).is_ok_and(|m| m.is_dir()) => {
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                })
                .await
            })
            .await
    }

    pub async fn rmdir(&self, path: String) -> FsResult<()> {
        self.op(OpKind::Rmdir, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                not_root(&r)?;
                on_object!(r, |o| self.obj_rmdir(&o, &r, false).await);
                self.blocking(move || Ok(r.grant.dir()?.remove_dir(&r.rel)?))
                    .await
            })
            .await
    }

    pub async fn removedirs(&self, path: String) -> FsResult<()> {
        self.op(OpKind::Removedirs, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                not_root(&r)?;
                on_object!(r, |o| self.obj_rmdir(&o, &r, true).await);
                self.blocking(move || {
                    r.grant.dir()?.remove_dir(&r.rel)?;
                    prune(r.grant.dir()?, prunable_parents(&r.rel));
                    Ok(())
                })
                .await
            })
            .await
    }

    /// A hard link: [`link_to`](Fs::link_to) within this store's own view.
    pub async fn link(&self, src: String, dst: String) -> FsResult<()> {
        self.link_to(src, self, dst).await
    }

    pub async fn symlink(&self, target: String, link_path: String) -> FsResult<()> {
        let shown = self.record_copy(&target);
        self.op(OpKind::Symlink, &link_path)
            .target(&shown)
            .run(async {
                if target.contains('\0') {
                    return Err(ErrorCode::Invalid);
                }
                if target.is_empty() {
                    return Err(ErrorCode::NoEntry);
                }
                if target.len() > self.limits.max_path_len {
                    return Err(ErrorCode::NameTooLong);
                }
                let r = self.resolve_rw(&link_path)?;
                if target.starts_with('/') {
                    return Err(ErrorCode::NotPermitted);
                }
                on_object!(r, |_o| Err(ErrorCode::Unsupported));
                r.budget.precheck_create()?;
                self.blocking(move || {
                    let lease = r.budget.create(1)?;
                    r.grant.dir()?.symlink(&target, &r.rel)?;
                    lease.keep();
                    Ok(())
                })
                .await
            })
            .await
    }

    /// The link's content. An absolute target (made by the host, never by a guest) is a
    /// host path with no meaning in the guest: `not-permitted`.
    pub async fn readlink(&self, path: String) -> FsResult<String> {
        self.op(OpKind::Readlink, &path)
            .run(async {
                let r = self.resolve(&path)?;
                on_object!(r, |o| self.obj_readlink(&o, &r).await);
                self.blocking(move || {
                    let target = r.grant.dir()?.read_link(&r.rel)?;
                    utf8_name(target.into_os_string())
                })
                .await
            })
            .await
    }

    pub async fn remove_tree(&self, path: String) -> FsResult<()> {
        self.op(OpKind::RemoveTree, &path)
            .run(async {
                let r = self.resolve_rw(&path)?;
                not_root(&r)?;
                on_object!(r, |o| self.obj_remove_tree(&o, &r).await);
                self.blocking(move || {
                    // Like `shutil.rmtree`: refuse a symlink (removing it is not removing a tree).
                    if !r.grant.dir()?.symlink_metadata(&r.rel)?.is_dir() {
                        return Err(ErrorCode::NotDirectory);
                    }
                    remove_tree_chunked(r.grant.dir()?, &r.rel)
                })
                .await
            })
            .await
    }

    pub async fn exists(&self, path: String) -> FsResult<bool> {
        self.op(OpKind::Exists, &path)
            .run(async { self.probe(&path, true, |_| true, |_| true).await })
            .await
    }

    pub async fn is_file(&self, path: String) -> FsResult<bool> {
        self.op(OpKind::Exists, &path)
            .run(async {
                self.probe(
                    &path,
                    true,
                    |md| md.is_file(),
                    |t| t == FileType::RegularFile,
                )
                .await
            })
            .await
    }

    pub async fn is_dir(&self, path: String) -> FsResult<bool> {
        self.op(OpKind::Exists, &path)
            .run(async {
                self.probe(&path, true, |md| md.is_dir(), |t| t == FileType::Directory)
                    .await
            })
            .await
    }

    pub async fn is_link(&self, path: String) -> FsResult<bool> {
        self.op(OpKind::Exists, &path)
            .run(async {
                self.probe(&path, false, |md| md.is_symlink(), |_| false)
                    .await
            })
            .await
    }

    pub async fn samefile(&self, a: String, b: String) -> FsResult<bool> {
        self.op(OpKind::Samefile, &a)
            .target(&b)
            .run(async {
                use cap_std::fs::MetadataExt;
                let ra = self.resolve(&a)?;
                let rb = self.resolve(&b)?;
                #[cfg(feature = "object")]
                if ra.grant.object().is_some() || rb.grant.object().is_some() {
                    let sa = self.stat(a.clone(), true).await?;
                    let sb = self.stat(b.clone(), true).await?;
                    return Ok((sa.device, sa.inode) == (sb.device, sb.inode));
                }
                self.blocking(move || {
                    let ma = ra.grant.dir()?.metadata(&ra.rel)?;
                    let mb = rb.grant.dir()?.metadata(&rb.rel)?;
                    Ok(ma.dev() == mb.dev() && ma.ino() == mb.ino())
                })
                .await
            })
            .await
    }

    /// Resolve two paths that are both written (rename, link): `read-only` unless both
    /// grants allow writing.
    fn resolve_pair_rw(&self, a: &str, b: &str) -> FsResult<(Resolved, Resolved)> {
        let ra = self.resolve(a)?;
        let rb = self.resolve(b)?;
        at::writable_pair(&ra, &rb)?;
        Ok((ra, rb))
    }

    /// `os.path` predicates: metadata (following symlinks or not) tested by `pred`;
    /// `false` for a path that does not resolve to anything.
    async fn probe(
        &self,
        path: &str,
        follow: bool,
        pred: fn(&cap_std::fs::Metadata) -> bool,
        #[cfg_attr(not(feature = "object"), allow(unused_variables))] on_store: fn(
            FileType,
        ) -> bool,
    ) -> FsResult<bool> {
        let r = self.resolve(path)?;
        on_object!(r, |o| Ok(self
            .obj_probe(&o, &r)
            .await?
            .is_some_and(on_store)));
        self.quick(r.budget.cached_io(), move || match lookup(&r, follow) {
            Ok(md) => Ok(pred(&md)),
            Err(ErrorCode::NoEntry | ErrorCode::NotDirectory | ErrorCode::Loop) => Ok(false),
            Err(e) => Err(e),
        })
        .await
    }
}

/// The parents of `rel` that may be pruned, innermost first: only plain names, never the
/// grant root and never a path that goes through `..`. Borrowed from `rel`: a path of many
/// short components must not cost the square of its length.
fn prunable_parents(rel: &Path) -> impl Iterator<Item = &Path> {
    let plain = rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    rel.ancestors()
        .skip(1)
        .take_while(move |p| plain && !is_root(p) && !p.as_os_str().is_empty())
}

/// Rename `s` to `d` on the host (replacing what `d` names drops its link: a removal, see
/// the `links` module).
pub(super) fn rename_local(s: &Resolved, d: &Resolved) -> FsResult<()> {
    let (from, to) = (s.grant.dir()?, d.grant.dir()?);
    Ok(links::removing(|| from.rename(&s.rel, to, &d.rel))?)
}

/// Remove each directory in `dirs` in order, stopping at the first that cannot be removed
/// (not empty, missing, ...). Errors are not reported, as in Python's `removedirs`.
fn prune<'a>(dir: &Dir, dirs: impl Iterator<Item = &'a Path>) {
    for (level, d) in dirs.enumerate() {
        let stop =
            level % LEVELS_PER_CHECK == LEVELS_PER_CHECK - 1 && crate::pool::checkpoint().is_err();
        if stop || dir.remove_dir(d).is_err() {
            break;
        }
    }
}

/// Directory levels created or pruned between two checks of the job's time limit (each
/// resolves its whole prefix: a 4 KiB path has up to 2048 levels).
const LEVELS_PER_CHECK: usize = 64;

/// Deepest level `remove_tree_chunked` descends to: it holds two descriptors per level, and
/// a guest can build trees of any depth (opening directories relative to deep ones), so
/// the host's descriptors are not the guest's to exhaust (deeper parts are moved up).
const MAX_TREE_DEPTH: usize = 64;

/// Remove the directory `rel` and everything beneath it, one entry at a time with a
/// [`checkpoint`](crate::pool::checkpoint) every [`LISTING_CHUNK`] entries, so a huge tree
/// can be stopped (`interrupted`; what was removed stays removed). Symlinks are removed,
/// never followed. Holds two descriptors per directory level being emptied, at most
/// [`MAX_TREE_DEPTH`] levels: a directory met deeper is moved up into the top directory
/// (under a name of its own) and removed from there later, so a tree of any depth goes,
/// in work linear in its entries. Entries moved up after the top's listing passed are
/// found by listing the top again.
pub(crate) fn remove_tree_chunked(root: &Dir, rel: &Path) -> FsResult<()> {
    use cap_fs_ext::DirExt;
    let top = root.open_dir_nofollow(rel)?;
    let entries = top.entries()?;
    // (directory, its listing, its name in its parent)
    let mut stack = vec![(top, entries, None::<std::ffi::OsString>)];
    let mut work = 0usize;
    let mut moved_up = 0u64;
    while !stack.is_empty() {
        let depth = stack.len();
        work += 1;
        if work.is_multiple_of(LISTING_CHUNK) {
            crate::pool::checkpoint()?;
        }
        let next = stack[depth - 1].1.next();
        let dir = &stack[depth - 1].0;
        match next {
            Some(entry) => {
                let entry = entry?;
                let name = entry.file_name();
                if !entry.file_type()?.is_dir() {
                    links::removing(|| dir.remove_file(&name))?;
                } else if depth >= MAX_TREE_DEPTH {
                    move_up(dir, &name, &stack[0].0, &mut moved_up)?;
                } else {
                    let child = dir.open_dir_nofollow(&name)?;
                    let listing = child.entries()?;
                    stack.push((child, listing, Some(name)));
                }
            }
            None => {
                let (dir, _, name) = stack.pop().expect("not empty");
                match (name, stack.last()) {
                    (Some(name), Some((parent, _, _))) => parent.remove_dir(&name)?,
                    _ => match root.remove_dir(rel) {
                        // Moved up after its listing passed: list it again.
                        Err(e) if moved_up > 0 && e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                            let entries = dir.entries()?;
                            stack.push((dir, entries, None));
                        }
                        r => r?,
                    },
                }
            }
        }
    }
    Ok(())
}

/// Move directory `name` of `dir` into `top` under a name not taken there (removed from
/// there later).
fn move_up(dir: &Dir, name: &std::ffi::OsStr, top: &Dir, moved: &mut u64) -> FsResult<()> {
    loop {
        *moved += 1;
        let to = format!(".aiofs-removing-{moved}");
        if top.symlink_metadata(&to).is_ok() {
            continue;
        }
        return Ok(dir.rename(name, top, &to)?);
    }
}

/// `create_dir_all(rel)`, counting the directories it creates against `max_created`.
/// Each directory is created on its own (uncounted, the leaf is tried alone first); under
/// that budget it pays one creation first and
/// gets it back if the directory turned out to exist: exact under any concurrency (a
/// directory removed and created again by a racing call is paid for again). Every level
/// resolves its whole prefix beneath the grant, so a path of many short components is
/// quadratic work: the job's time limit and cancellation are checked every
/// [`LEVELS_PER_CHECK`] levels.
fn create_dirs_counted(r: &Resolved, rel: &Path) -> FsResult<()> {
    let dir = r.grant.dir()?;
    let counted = r.budget.limits_creates();
    // Uncounted, the usual case (only the leaf is missing) is one `mkdirat`.
    if !counted && dir.create_dir(rel).is_ok() {
        return Ok(());
    }
    let mut prefix = PathBuf::new();
    for (level, comp) in rel.components().enumerate() {
        if level % LEVELS_PER_CHECK == LEVELS_PER_CHECK - 1 {
            crate::pool::checkpoint()?;
        }
        prefix.push(comp);
        if !matches!(comp, Component::Normal(_)) {
            // `..` must lead somewhere that exists, inside the grant (cap-std decides).
            if !dir.metadata(&prefix)?.is_dir() {
                return Err(ErrorCode::NotDirectory);
            }
            continue;
        }
        let lease = counted.then(|| r.budget.create(1)).transpose()?;
        match dir.create_dir(&prefix) {
            Ok(()) => {
                if let Some(lease) = lease {
                    lease.keep();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                drop(lease);
                if !dir.metadata(&prefix)?.is_dir() {
                    return Err(ErrorCode::NotDirectory);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Directory entries read between two checkpoints of a listing.
const LISTING_CHUNK: usize = 1024;
/// Entries of a listing with stats between two checkpoints.
const STAT_CHUNK: usize = 64;
