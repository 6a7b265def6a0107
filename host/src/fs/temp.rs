//! Temporary files and directories: `temporary-file`, `named-temporary-file`,
//! `temporary-directory`, the [`TempDir`] handle, and the random names they (and atomic
//! writes) use.

use super::*;
use std::sync::atomic::AtomicBool;

/// A temporary directory inside a grant; removed (recursively, on the pool) when dropped
/// unless `cleanup` already removed it.
#[derive(Debug)]
pub struct TempDir {
    fs: Fs,
    grant: Arc<Grant>,
    /// Path of the directory relative to the grant's directory.
    rel: PathBuf,
    guest_path: String,
    /// Set once the tree is gone; the drop then has nothing to do.
    removed: AtomicBool,
    /// The store's open-handle reservation, released when the handle is dropped (the
    /// removal of a tree `cleanup` did not remove is queued on the pool then, as a file's
    /// close is); on an object grant, kept until the background removal has ended.
    slot: Option<OpenSlot>,
}

impl TempDir {
    pub(super) fn new(
        fs: Fs,
        grant: Arc<Grant>,
        rel: PathBuf,
        guest_path: String,
        slot: OpenSlot,
    ) -> TempDir {
        TempDir {
            fs,
            grant,
            rel,
            guest_path,
            removed: AtomicBool::new(false),
            slot: Some(slot),
        }
    }

    /// The guest path of the directory.
    pub fn path(&self) -> &str {
        &self.guest_path
    }

    /// Remove the tree now; later calls and the drop do nothing. A tree the guest already
    /// removed counts as removed.
    pub async fn cleanup(&self) -> FsResult<()> {
        if self.removed.load(Ordering::Acquire) {
            return Ok(());
        }
        #[cfg(feature = "object")]
        if self.grant.object().is_some() {
            return match self.fs.remove_tree(self.guest_path.clone()).await {
                Ok(()) | Err(ErrorCode::NoEntry) => {
                    self.removed.store(true, Ordering::Release);
                    Ok(())
                }
                Err(e) => Err(e),
            };
        }
        let dir = self.grant.dir()?.clone();
        let rel = self.rel.clone();
        let removed = self
            .fs
            .op(crate::obs::OpKind::RemoveTree, &self.guest_path)
            .run(
                self.fs
                    .blocking(move || match super::remove_tree_chunked(&dir, &rel) {
                        Err(ErrorCode::NoEntry) => Ok(()),
                        other => other,
                    }),
            )
            .await;
        match removed {
            Ok(()) | Err(ErrorCode::NoEntry) => {
                self.removed.store(true, Ordering::Release);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.removed.load(Ordering::Acquire) {
            return;
        }
        #[cfg(feature = "object")]
        if let Some(o) = self.grant.object() {
            // Removed in the background, on the object runtime, within the store's
            // time limit for one operation. Nothing queues behind it on the pool, so it
            // keeps its slot until it has ended: a guest looping create-and-drop cannot
            // pile removals up (an open at the limit waits for them meanwhile).
            if let Ok(key) = o.key(&self.rel) {
                let op = o.op.clone();
                let limit = self.fs.limits.max_op_duration;
                let slot = self.slot.take().map(|s| self.fs.closing_slot(Box::new(s)));
                let mem = self.fs.mem().clone();
                crate::object::runtime().spawn(async move {
                    let _slot = slot;
                    let dir = key.dir();
                    let delete = async {
                        // Charged like `remove-tree`; a drop cannot be refused, so it
                        // waits for room (within the same time limit).
                        let want = super::object::delete_held(&mem);
                        let _held = mem.charge_when_room(want, want).await;
                        op.delete_with(&dir).recursive(true).await
                    };
                    match limit {
                        Some(d) => drop(tokio::time::timeout(d, delete).await),
                        None => drop(delete.await),
                    }
                });
            }
            return;
        }
        let Ok(dir) = self.grant.dir().cloned() else {
            return;
        };
        let rel = std::mem::take(&mut self.rel);
        let fs = self.fs.clone();
        self.fs
            .spawn_detached(move || match super::remove_tree_chunked(&dir, &rel) {
                Ok(()) | Err(ErrorCode::NoEntry) => {}
                // A guest can make this fail at will (a file in the directory's place)
                // and drop one after another: its warnings keep to the store's
                // `max_audit_rate`, like refusal events.
                Err(e) if fs.obs().admit_event(&fs.limits) => tracing::warn!(
                    store = %fs.obs().label,
                    "removing temporary directory {rel:?}: {e}"
                ),
                Err(_) => {}
            });
        // Free at once: the removal is queued before anything the store submits later.
        drop(self.slot.take());
    }
}

#[allow(
    missing_docs,
    reason = "each method is documented in wit/aiofs.wit under the same name"
)]
impl Fs {
    pub async fn temporary_file(&self, mode: String, options: TempOptions) -> FsResult<File> {
        let at = self.record_copy(options.dir.as_deref().unwrap_or_default());
        self.op(OpKind::Tempfile, &at)
            .run(async {
                let mode = temp_mode(&mode)?;
                let place = self.temp_place(options)?;
                place.at.budget.precheck_create()?;
                // An unnamed file that can be read back needs an object that exists before
                // it is closed.
                on_object!(place.at, |_o| Err(ErrorCode::Unsupported));
                let slot = self.open_slot().await?;
                let fs = self.clone();
                self.blocking(move || {
                    let dir = place.at.grant.dir()?;
                    let lease = place.at.budget.create(1)?;
                    let (name, file) = with_temp_name(&place.prefix, &place.suffix, |n| {
                        dir.open_with(place.at.rel.join(n), &temp_options(&mode))
                    })?;
                    lease.keep();
                    // Unlink at once: the file lives only as long as its descriptor.
                    super::links::removing(|| dir.remove_file(place.at.rel.join(&name)))?;
                    let guest = guest_join(&place.at, &name);
                    let budget = place.at.budget.clone();
                    let file = file.into_std();
                    let local = budget.cached_io() && super::cached::local_file(&file);
                    Ok(File::new_in(
                        &fs, budget, file, guest, mode, slot, None, local,
                    ))
                })
                .await
            })
            .await
    }

    pub async fn named_temporary_file(
        &self,
        mode: String,
        options: TempOptions,
        delete: bool,
    ) -> FsResult<File> {
        let at = self.record_copy(options.dir.as_deref().unwrap_or_default());
        self.op(OpKind::Tempfile, &at)
            .run(async {
                let mode = temp_mode(&mode)?;
                let place = self.temp_place(options)?;
                place.at.budget.precheck_create()?;
                on_object!(place.at, |o| self
                    .object_temp_file(&o, place, mode, delete)
                    .await);
                let slot = self.open_slot().await?;
                let fs = self.clone();
                self.blocking(move || {
                    let dir = place.at.grant.dir()?.clone();
                    let lease = place.at.budget.create(1)?;
                    let (name, file) = with_temp_name(&place.prefix, &place.suffix, |n| {
                        dir.open_with(place.at.rel.join(n), &temp_options(&mode))
                    })?;
                    lease.keep();
                    let rel = place.at.rel.join(&name);
                    let on_close: Option<Box<dyn FnOnce() + Send>> = delete.then(|| {
                        Box::new(move || {
                            // Gone already (renamed or removed by the guest) is fine.
                            let _ = super::links::removing(|| dir.remove_file(&rel));
                        }) as Box<dyn FnOnce() + Send>
                    });
                    let guest = guest_join(&place.at, &name);
                    let budget = place.at.budget.clone();
                    let file = file.into_std();
                    let local = budget.cached_io() && super::cached::local_file(&file);
                    Ok(File::new_in(
                        &fs, budget, file, guest, mode, slot, on_close, local,
                    ))
                })
                .await
            })
            .await
    }

    pub async fn temporary_directory(&self, options: TempOptions) -> FsResult<TempDir> {
        let at = self.record_copy(options.dir.as_deref().unwrap_or_default());
        self.op(OpKind::Tempdir, &at)
            .run(async {
                let place = self.temp_place(options)?;
                place.at.budget.precheck_create()?;
                // A temporary directory is a handle too: it counts against `max_open_files`.
                let slot = self.open_slot().await?;
                #[cfg(feature = "object")]
                if let Some(o) = place.at.grant.object().cloned() {
                    let name = self.object_temp_dir(&o, &place).await?;
                    return Ok(TempDir::new(
                        self.clone(),
                        place.at.grant.clone(),
                        place.at.rel.join(&name),
                        guest_join(&place.at, &name),
                        slot,
                    ));
                }
                let (name, ()) = self
                    .blocking({
                        let place_dir = place.at.grant.dir()?.clone();
                        let rel = place.at.rel.clone();
                        let (prefix, suffix) = (place.prefix.clone(), place.suffix.clone());
                        let budget = place.at.budget.clone();
                        move || {
                            let lease = budget.create(1)?;
                            let made = with_temp_name(&prefix, &suffix, |n| {
                                place_dir.create_dir(rel.join(n))
                            })?;
                            lease.keep();
                            Ok(made)
                        }
                    })
                    .await?;
                Ok(TempDir::new(
                    self.clone(),
                    place.at.grant.clone(),
                    place.at.rel.join(&name),
                    guest_join(&place.at, &name),
                    slot,
                ))
            })
            .await
    }

    /// `named-temporary-file` on an object grant: an exclusive upload under a random
    /// name (write-only modes: nothing can be read back before it is closed), removed
    /// after its close when `delete`.
    #[cfg(feature = "object")]
    async fn object_temp_file(
        &self,
        o: &Arc<crate::object::ObjectStore>,
        place: TempPlace,
        mut mode: OpenMode,
        delete: bool,
    ) -> FsResult<File> {
        mode.exclusive = true;
        for _ in 0..TEMP_ATTEMPTS {
            let name = temp_name(&place.prefix, &place.suffix);
            let at = Resolved {
                rel: place.at.rel.join(&name),
                ..place.at.clone()
            };
            let on_close = if delete {
                let key = o.key(&at.rel)?;
                let op = o.op.clone();
                Some(Box::new(move || {
                    let _ = super::object::block(op.delete(&key.path));
                }) as Box<dyn FnOnce() + Send>)
            } else {
                None
            };
            match self
                .obj_open_with(o, at, mode, guest_join(&place.at, &name), on_close)
                .await
            {
                Err(ErrorCode::Exist) => continue,
                other => return other,
            }
        }
        Err(ErrorCode::Exist)
    }

    /// `temporary-directory` on an object grant: a marker under a random name.
    #[cfg(feature = "object")]
    async fn object_temp_dir(
        &self,
        o: &Arc<crate::object::ObjectStore>,
        place: &TempPlace,
    ) -> FsResult<String> {
        for _ in 0..TEMP_ATTEMPTS {
            let name = temp_name(&place.prefix, &place.suffix);
            let at = Resolved {
                rel: place.at.rel.join(&name),
                ..place.at.clone()
            };
            match self.obj_mkdir(o, at, None).await {
                Err(ErrorCode::Exist) => continue,
                Ok(()) => return Ok(name),
                Err(e) => return Err(e),
            }
        }
        Err(ErrorCode::Exist)
    }

    /// Where a temporary object goes: `options.dir` or the first writable grant's root,
    /// which must allow writing; prefix and suffix must be plain name parts, short enough
    /// together for a file name (`name-too-long` otherwise, before anything is queued:
    /// a queued operation holds them).
    fn temp_place(&self, options: TempOptions) -> FsResult<TempPlace> {
        let prefix = options.prefix.unwrap_or_else(|| "tmp".to_owned());
        let suffix = options.suffix.unwrap_or_default();
        for part in [&prefix, &suffix] {
            if part.contains(['/', '\0']) {
                return Err(ErrorCode::Invalid);
            }
        }
        if prefix.len() + TEMP_RANDOM + suffix.len() > MAX_NAME_LEN {
            return Err(ErrorCode::NameTooLong);
        }
        let at = match options.dir {
            Some(dir) => self.resolve_rw(&dir)?,
            None => self.default_temp_dir()?,
        };
        Ok(TempPlace { at, prefix, suffix })
    }

    /// The root of the first writable grant (`read-only` if every grant is read-only,
    /// `not-permitted` if there are none).
    fn default_temp_dir(&self) -> FsResult<Resolved> {
        let (grant, budget): (&Arc<Grant>, _) = self
            .grants
            .iter_with_budgets()
            .find(|(g, _)| g.perms.can_write())
            .ok_or(if self.grants.iter().next().is_some() {
                ErrorCode::ReadOnly
            } else {
                ErrorCode::NotPermitted
            })?;
        Ok(Resolved {
            grant: grant.clone(),
            budget: budget.clone(),
            rel: PathBuf::from("."),
        })
    }
}

/// Where and how to create a temporary object: resolved, writable directory and name parts.
struct TempPlace {
    at: Resolved,
    prefix: String,
    suffix: String,
}

/// Characters of the random part of temporary names (as Python's `tempfile`).
const TEMP_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";

/// Longest part of the target's name kept in an atomic write's temporary name.
pub(super) const TEMP_STEM_MAX: usize = 200;

/// Attempts at finding an unused temporary name before giving up with `exist`.
const TEMP_ATTEMPTS: usize = 100;

/// A random name `prefix` + 8 characters + `suffix`.
/// Random characters between a temporary name's prefix and suffix.
const TEMP_RANDOM: usize = 8;
/// Longest file name (bytes) of the local filesystems aiofs serves (`NAME_MAX`).
const MAX_NAME_LEN: usize = 255;

fn temp_name(prefix: &str, suffix: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + TEMP_RANDOM + suffix.len());
    name.push_str(prefix);
    for _ in 0..TEMP_RANDOM {
        name.push(TEMP_CHARS[fastrand::usize(..TEMP_CHARS.len())] as char);
    }
    name.push_str(suffix);
    name
}

/// Try `create(name)` with fresh random names until one does not exist yet.
pub(super) fn with_temp_name<T>(
    prefix: &str,
    suffix: &str,
    mut create: impl FnMut(&str) -> std::io::Result<T>,
) -> FsResult<(String, T)> {
    for _ in 0..TEMP_ATTEMPTS {
        let name = temp_name(prefix, suffix);
        match create(&name) {
            Ok(v) => return Ok((name, v)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ErrorCode::Exist)
}

/// The guest path of `name` inside the resolved directory `r` (for `file.name` and
/// `temp-dir.path`): the mount, then the relative part, then the name.
fn guest_join(r: &Resolved, name: &str) -> String {
    let mut out = r.grant.guest_path.clone();
    let mut push = |comp: &str| {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(comp);
    };
    if !is_root(&r.rel) {
        push(r.rel.to_string_lossy().trim_end_matches('/'));
    }
    push(name);
    out
}

/// A temporary file is always created new, whatever the base letter of its mode.
fn temp_options(mode: &OpenMode) -> OpenOptions {
    let mut o = open_options(mode);
    o.create(false).create_new(true).truncate(false);
    o
}

/// The mode of a temporary file: `w+b` when empty; it must be a creating mode.
fn temp_mode(mode: &str) -> FsResult<OpenMode> {
    let mode = OpenMode::parse(if mode.is_empty() { "w+b" } else { mode })?;
    if !mode.creates() {
        return Err(ErrorCode::Invalid);
    }
    Ok(mode)
}
