//! Operations on object grants: the storage trip of each [`Fs`] operation when the path
//! resolved to an object store. Resolution, permissions, limits, budgets and counting
//! happen in the `Fs` method before it gets here, exactly as for a directory; these
//! functions only talk to the store, through [`Fs::remote`] (or, for open files, on the
//! pool). What each operation means on an object store is tabled in the README.

mod file;

pub(crate) use file::UPLOAD_CHUNK;
#[cfg(test)]
pub(crate) use file::UPLOAD_HELD;
pub(crate) use file::{ObjFile, block};
use file::{Reading, Uploading, upload_in_parts};

use super::*;
use crate::object::{Key, ObjectStore, code};
use futures::TryStreamExt;
use opendal::{EntryMode, ErrorKind, Metadata, Operator};

/// What a key names.
enum Found {
    File(Metadata),
    Dir,
    Missing,
}

fn not_found(e: &opendal::Error) -> bool {
    e.kind() == ErrorKind::NotFound
}

/// Whether `key` names a file, a directory (a marker `key/` or any key beneath it), or
/// nothing. A file wins over a directory of the same name.
async fn find(op: &Operator, key: &Key) -> FsResult<Found> {
    if key.root {
        return Ok(Found::Dir);
    }
    let file = match op.stat(&key.path).await {
        Ok(md) if md.mode() == EntryMode::FILE => Some(md),
        Ok(_) => None,
        Err(e) if not_found(&e) => None,
        Err(e) => return Err(code(&e)),
    };
    match file {
        Some(_) if key.want_dir => return Err(ErrorCode::NotDirectory),
        Some(md) => return Ok(Found::File(md)),
        None => {}
    }
    match op.stat(&key.dir()).await {
        Ok(_) => Ok(Found::Dir),
        Err(e) if not_found(&e) => Ok(Found::Missing),
        Err(e) => Err(code(&e)),
    }
}

/// `Ok` if `key` names a directory (with or without a trailing `/`), else `not-directory`
/// (a file) or `no-entry`.
async fn must_be_dir(op: &Operator, key: &Key) -> FsResult<()> {
    match find(op, &key.name()).await? {
        Found::Dir => Ok(()),
        Found::File(_) => Err(ErrorCode::NotDirectory),
        Found::Missing => Err(ErrorCode::NoEntry),
    }
}

/// Whether the directory holding `key` exists (the view's root always does).
async fn parent_exists(op: &Operator, o: &ObjectStore, key: &Key) -> FsResult<bool> {
    let parent = key.parent_dir();
    if parent == "/" || parent == o.base {
        return Ok(true);
    }
    match op.stat(&parent).await {
        Ok(_) => Ok(true),
        Err(e) if not_found(&e) => Ok(false),
        Err(e) => Err(code(&e)),
    }
}

/// The stable inode of a key: a hash of the store and the key.
fn inode(o: &ObjectStore, key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    o.name.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

/// What a stat shows of a file: its length and last modification (no heap, unlike an
/// OpenDAL [`Metadata`], which a listing would otherwise keep per entry).
#[derive(Debug, Clone, Copy)]
struct FileFacts {
    size: u64,
    modified: Option<Timestamp>,
}

impl FileFacts {
    fn of(md: &Metadata) -> FileFacts {
        FileFacts {
            size: md.content_length(),
            modified: md.last_modified().and_then(|t| meta::system_time(t.into())),
        }
    }
}

/// The metadata of a file (`Some(md)`) or directory (`None`) at `key`.
fn stat_of(o: &ObjectStore, key: &str, md: Option<&Metadata>, perms: Perms) -> Stat {
    stat_from(o, key, md.map(FileFacts::of), perms)
}

/// [`stat_of`] from a file's [`FileFacts`].
fn stat_from(o: &ObjectStore, key: &str, file: Option<FileFacts>, perms: Perms) -> Stat {
    let time = file.and_then(|f| f.modified);
    let w = perms.can_write();
    let (file_type, mode) = match file {
        Some(_) => (FileType::RegularFile, if w { 0o644 } else { 0o444 }),
        None => (FileType::Directory, if w { 0o755 } else { 0o555 }),
    };
    Stat {
        file_type,
        size: file.map_or(0, |f| f.size),
        mode,
        link_count: 1,
        inode: inode(o, key.trim_end_matches('/')),
        device: o.id,
        accessed: time,
        modified: time,
        changed: time,
        created: None,
    }
}

/// The file `key` names, or why not: `is-directory`, or for nothing there the code of
/// [`missing`].
async fn file_at(op: &Operator, key: &Key) -> FsResult<Metadata> {
    file_or_err(op, key, find(op, key).await?).await
}

/// [`file_at`] for what [`find`] already found.
async fn file_or_err(op: &Operator, key: &Key, found: Found) -> FsResult<Metadata> {
    match found {
        Found::File(md) => Ok(md),
        Found::Dir => Err(ErrorCode::IsDirectory),
        Found::Missing => Err(missing(op, key).await),
    }
}

/// Why nothing is at `key`: `not-directory` when the name it is in is a file (`f/x`),
/// as locally, else `no-entry`. One more request, made only on this error path.
async fn missing(op: &Operator, key: &Key) -> ErrorCode {
    match key.path.rsplit_once('/') {
        Some((parent, _)) => match op.stat(parent).await {
            Ok(md) if md.mode() == EntryMode::FILE => ErrorCode::NotDirectory,
            _ => ErrorCode::NoEntry,
        },
        None => ErrorCode::NoEntry,
    }
}

/// One listing entry: name, file facts (`None` for a directory).
type Listed = (String, Option<FileFacts>);

/// What one listing page may hold in host memory while it is read (1000 keys of up to
/// 1 KiB, their XML and their parsed entries), charged for as long as the listing runs.
const LIST_PAGE_HELD: u64 = 4 << 20;

/// What a recursive delete holds while it runs: a listing page and a batch of keys to
/// delete (with its request body), charged to the store's memory budget for the whole
/// delete (at most the budget itself, so a small budget still lets one run).
pub(crate) fn delete_held(mem: &crate::fs::held::MemBudget) -> u64 {
    (2 * LIST_PAGE_HELD).min(mem.max())
}

/// The entries directly beneath directory `key`, at most `max` (`quota` past it), in
/// name order, charged to `held` for what they allocate (each name as the allocator takes
/// it, the list's slots spare ones included), which also holds a page's worth
/// ([`LIST_PAGE_HELD`]) while the listing runs. The directory's own marker is not an
/// entry; a name that is both a file and a directory is listed once, as the file.
async fn list(op: &Operator, key: &Key, max: usize, held: &mut Held) -> FsResult<Vec<Listed>> {
    held.grow(LIST_PAGE_HELD)?;
    let out = list_entries(op, key, max, held).await;
    held.settle(held.bytes().saturating_sub(LIST_PAGE_HELD));
    out
}

/// What a list of `slots` entries of `T` and `names` allocate: the slots and each name as
/// the allocator takes it.
fn list_bytes<T>(slots: usize, names: impl Iterator<Item = usize>) -> u64 {
    let names: u64 = names.map(|n| crate::fs::held::allocated(n as u64)).sum();
    (slots * size_of::<T>()) as u64 + names
}

async fn list_entries(
    op: &Operator,
    key: &Key,
    max: usize,
    held: &mut Held,
) -> FsResult<Vec<Listed>> {
    let dir = key.dir();
    let mut lister = op.lister(&dir).await.map_err(|e| code(&e))?;
    let mut out: Vec<Listed> = Vec::new();
    let mut saw_self = false;
    // A name is listed at most twice (a file `n` and keys beneath `n/`), so the list
    // holds at most `2 * max` entries before the twins are dropped.
    let most = max.saturating_mul(2);
    while let Some(entry) = lister.try_next().await.map_err(|e| code(&e))? {
        if is_marker(entry.path(), &dir) {
            saw_self = true;
            continue;
        }
        let (name, facts) = match entry.metadata().mode() {
            EntryMode::DIR => (entry.name().trim_end_matches('/'), None),
            _ => (entry.name(), Some(FileFacts::of(entry.metadata()))),
        };
        if name.is_empty() {
            continue;
        }
        if out.len() == most {
            return Err(ErrorCode::Quota);
        }
        // Charged before it is allocated: the name, and the list's slots before it
        // grows (doubling, so up to half of them spare).
        held.grow_for_push(&mut out, name.len() as u64)?;
        out.push((name.to_owned(), facts));
    }
    // A file and a directory of the same name: the file (sorted first) stays.
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.is_none().cmp(&b.1.is_none())));
    out.dedup_by(|later, first| later.0 == first.0);
    if out.len() > max {
        return Err(ErrorCode::Quota);
    }
    if out.is_empty() && !saw_self && !key.root {
        // Nothing beneath it: a file, or nothing at all.
        must_be_dir(op, key).await?;
    }
    Ok(out)
}

/// Whether a listing entry at `path` is the listed directory `dir` itself (its marker,
/// which OpenDAL lists first).
fn is_marker(path: &str, dir: &str) -> bool {
    path.trim_start_matches('/') == dir.trim_start_matches('/')
}

/// Whether directory `key` has anything beneath it besides its marker.
async fn has_children(op: &Operator, key: &Key) -> FsResult<bool> {
    let dir = key.dir();
    let mut lister = op.lister_with(&dir).limit(2).await.map_err(|e| code(&e))?;
    while let Some(entry) = lister.try_next().await.map_err(|e| code(&e))? {
        if !is_marker(entry.path(), &dir) {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Fs {
    /// The choke point for object-store work: take a pending-operation slot (`quota` if
    /// none, before anything is sent), run `fut` on the object runtime under the store's
    /// `max_op_duration` (`interrupted` past it), and count its time as the operation's
    /// run time. Dropping the returned future cancels the request.
    pub(crate) async fn remote<T, F>(&self, fut: F) -> FsResult<T>
    where
        T: Send + 'static,
        F: Future<Output = FsResult<T>> + Send + 'static,
    {
        struct AbortOnDrop(tokio::task::AbortHandle);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let slot = self.admit()?;
        if self.tenant.is_cancelled() {
            return Err(ErrorCode::Interrupted);
        }
        let limit = self.limits.max_op_duration;
        let start = std::time::Instant::now();
        let timed = async move {
            match limit {
                Some(d) => tokio::time::timeout(d, fut)
                    .await
                    .unwrap_or(Err(ErrorCode::Interrupted)),
                None => fut.await,
            }
        };
        let out = if crate::pool::inline_now() {
            // An item of a batch, on the batch's pool thread: run it here and now.
            block(timed)
        } else {
            let task = crate::object::runtime().spawn(timed);
            let _abort = AbortOnDrop(task.abort_handle());
            task.await.unwrap_or(Err(ErrorCode::Io))
        };
        drop(slot);
        crate::obs::note_run(start.elapsed());
        out
    }

    pub(super) async fn obj_stat(&self, o: &Arc<ObjectStore>, r: &Resolved) -> FsResult<Stat> {
        let key = o.key(&r.rel)?;
        let (op, store, perms) = (o.op.clone(), o.clone(), r.grant.perms);
        self.remote(async move {
            match find(&op, &key).await? {
                Found::File(md) => Ok(stat_of(&store, &key.path, Some(&md), perms)),
                Found::Dir => Ok(stat_of(&store, &key.path, None, perms)),
                Found::Missing => Err(missing(&op, &key).await),
            }
        })
        .await
    }

    /// `exists` and the `os.path` predicates: `None` for nothing there.
    pub(super) async fn obj_probe(
        &self,
        o: &Arc<ObjectStore>,
        r: &Resolved,
    ) -> FsResult<Option<FileType>> {
        let key = o.key(&r.rel)?;
        let op = o.op.clone();
        self.remote(async move {
            match find(&op, &key).await {
                Ok(Found::File(_)) => Ok(Some(FileType::RegularFile)),
                Ok(Found::Dir) => Ok(Some(FileType::Directory)),
                Ok(Found::Missing) | Err(ErrorCode::NotDirectory) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    pub(super) async fn obj_scandir(
        &self,
        o: &Arc<ObjectStore>,
        r: &Resolved,
    ) -> FsResult<(Vec<DirEntry>, Held)> {
        let key = o.key(&r.rel)?;
        let (op, store, perms) = (o.op.clone(), o.clone(), r.grant.perms);
        let max = self.limits.max_dir_entries;
        let mut held = self.mem().empty();
        self.remote(async move {
            let listed = list(&op, &key, max, &mut held).await?;
            // The entries are kept (a directory stream holds them): charged at what they
            // allocate, in a list of exactly their number, before the listing goes.
            let kept = list_bytes::<DirEntry>(listed.len(), listed.iter().map(|l| l.0.len()));
            held.grow(kept)?;
            let mut entries = Vec::new();
            entries
                .try_reserve_exact(listed.len())
                .map_err(|_| ErrorCode::InsufficientMemory)?;
            for (name, facts) in listed {
                let child = if key.path.is_empty() {
                    name.clone()
                } else {
                    format!("{}/{name}", key.path)
                };
                let stat = stat_from(&store, &child, facts, perms);
                entries.push(DirEntry {
                    name,
                    file_type: stat.file_type,
                    inode: stat.inode,
                    stat: Some(stat),
                });
            }
            held.settle(kept);
            Ok((entries, held))
        })
        .await
    }

    pub(super) async fn obj_read_file(
        &self,
        o: &Arc<ObjectStore>,
        r: Resolved,
        max: u64,
    ) -> FsResult<Vec<u8>> {
        let key = o.key(&r.rel)?;
        if key.root {
            return Err(ErrorCode::IsDirectory);
        }
        let quota = self.limits.max_read_bytes;
        let (limit, too_big) = if max <= quota {
            (max, ErrorCode::FileTooLarge)
        } else {
            (quota, ErrorCode::Quota)
        };
        let op = o.op.clone();
        let mut held = self.mem().empty();
        self.remote(async move {
            // One streamed GET: stop as soon as the body passes the limit or a budget.
            // A missing key is only known at the first chunk; then it may be a directory.
            let gone = async || file_at(&op, &key).await.err().unwrap_or(ErrorCode::NoEntry);
            if key.want_dir {
                // `file/` is not-directory, `dir/` is-directory, as locally.
                file_at(&op, &key).await?;
            }
            let stream = async { op.reader(&key.path).await?.into_stream(..).await };
            let mut stream = match stream.await {
                Ok(s) => s,
                Err(e) if not_found(&e) => return Err(gone().await),
                Err(e) => return Err(code(&e)),
            };
            // The response's length: too big fails before any byte is fetched, and the
            // result is allocated once (the length is only a hint: the limits are checked
            // again on what arrives).
            let md = match stream.metadata().await {
                Ok(md) => Some(md),
                Err(e) if not_found(&e) => return Err(gone().await),
                Err(e) if e.kind() == ErrorKind::Unsupported => None,
                Err(e) => return Err(code(&e)),
            };
            let size = md.as_ref().map_or(0, Metadata::content_length);
            if size > limit {
                return Err(too_big);
            }
            // All or nothing, as locally: the read budget pays for the whole announced
            // length before a byte is fetched (and gets back what does not arrive).
            let lease = r.budget.read_exact(size)?;
            let mut paid = size;
            let mut out: Vec<u8> = Vec::new();
            held.resize(size)?;
            out.try_reserve_exact(size as usize)
                .map_err(|_| ErrorCode::InsufficientMemory)?;
            loop {
                let buf = match stream.try_next().await {
                    Ok(Some(buf)) => buf,
                    Ok(None) => break,
                    Err(e) if not_found(&e) && out.is_empty() => return Err(gone().await),
                    Err(e) => return Err(code(&e)),
                };
                let n = buf.len() as u64;
                if out.len() as u64 + n > limit {
                    return Err(too_big);
                }
                // Past the announced length (or with none announced): paid as it arrives.
                let over = (out.len() as u64 + n).saturating_sub(paid);
                if over > 0 {
                    r.budget.read_exact(over)?.keep();
                    paid += over;
                }
                // Charged by capacity: a growing vector may hold more than its length.
                out.try_reserve(buf.len())
                    .map_err(|_| ErrorCode::InsufficientMemory)?;
                held.resize(held.bytes().max(out.capacity() as u64))?;
                std::io::Read::read_to_end(&mut { buf }, &mut out)?;
            }
            lease.settle(size.min(out.len() as u64));
            Ok(out)
        })
        .await
    }

    /// `write-file`: one PUT (in parts above [`UPLOAD_CHUNK`]), atomic either way. An upload
    /// in parts cut short (an error, the time limit, the guest dropping the call) is
    /// aborted, holding the payload's charge until it is ([`upload_in_parts`]).
    pub(super) async fn obj_write_file(
        &self,
        o: &Arc<ObjectStore>,
        r: Resolved,
        data: Vec<u8>,
        payload: Held,
    ) -> FsResult<()> {
        let key = o.key(&r.rel)?;
        if key.root || key.want_dir {
            return Err(ErrorCode::IsDirectory);
        }
        let op = o.op.clone();
        let len = data.len() as u64;
        self.remote(async move {
            r.budget.check_size(len)?;
            let paid = r.budget.write(len)?;
            let created = if r.budget.limits_creates() {
                match find(&op, &key).await? {
                    Found::Missing => Some(r.budget.create(1)?),
                    Found::Dir => return Err(ErrorCode::IsDirectory),
                    Found::File(_) => None,
                }
            } else {
                None
            };
            if len > UPLOAD_CHUNK as u64 {
                upload_in_parts(op, key.path, data, payload).await
            } else {
                // One request: dropped, nothing of it stays.
                let _payload = payload;
                op.write(&key.path, data).await.map(drop)
            }
            .map_err(|e| code(&e))?;
            paid.keep();
            if let Some(c) = created {
                c.keep();
            }
            Ok(())
        })
        .await
    }

    /// `copy-file` within one object grant: a server-side copy.
    pub(super) async fn obj_copy_file(
        &self,
        o: &Arc<ObjectStore>,
        s: Resolved,
        d: Resolved,
    ) -> FsResult<u64> {
        let (sk, dk) = (o.key(&s.rel)?, o.key(&d.rel)?);
        if dk.root || dk.want_dir {
            return Err(ErrorCode::IsDirectory);
        }
        let op = o.op.clone();
        self.remote(async move {
            let md = file_at(&op, &sk).await?;
            if sk.path == dk.path {
                return Err(ErrorCode::Invalid);
            }
            let created = match find(&op, &dk).await? {
                Found::Dir => return Err(ErrorCode::IsDirectory),
                Found::Missing if d.budget.limits_creates() => Some(d.budget.create(1)?),
                _ => None,
            };
            let len = md.content_length();
            d.budget.check_size(len)?;
            let read = s.budget.read_exact(len)?;
            let written = d.budget.write(len)?;
            op.copy(&sk.path, &dk.path).await.map_err(|e| code(&e))?;
            read.settle(len);
            written.settle(len);
            if let Some(c) = created {
                c.keep();
            }
            Ok(len)
        })
        .await
    }

    /// `rename`, `replace`, `renames`, `rename-at`: files only, as a server-side copy then
    /// a delete of the source. Not atomic: a failure between the two leaves both, never
    /// neither. `o` is the source's store; the destination's key is taken in its own view
    /// (`rename-at` may name a directory opened elsewhere beneath the same grant), which
    /// must share the source's operator (`cross-device` otherwise).
    pub(super) async fn obj_rename(
        &self,
        o: &Arc<ObjectStore>,
        s: Resolved,
        d: Resolved,
    ) -> FsResult<()> {
        let to = d.grant.object().ok_or(ErrorCode::CrossDevice)?;
        if to.id != o.id || to.name != o.name {
            return Err(ErrorCode::CrossDevice);
        }
        let (sk, dk) = (o.key(&s.rel)?, to.key(&d.rel)?);
        if sk.root || dk.root {
            return Err(ErrorCode::Busy);
        }
        let op = o.op.clone();
        self.remote(async move {
            match find(&op, &sk).await? {
                Found::File(_) => {}
                Found::Dir => return Err(ErrorCode::Unsupported),
                Found::Missing => return Err(ErrorCode::NoEntry),
            }
            if sk.path == dk.path {
                return Ok(());
            }
            let created = match find(&op, &dk).await? {
                Found::Dir => return Err(ErrorCode::IsDirectory),
                Found::Missing if d.budget.limits_creates() => Some(d.budget.create(1)?),
                _ => None,
            };
            op.copy(&sk.path, &dk.path).await.map_err(|e| code(&e))?;
            op.delete(&sk.path).await.map_err(|e| code(&e))?;
            if let Some(c) = created {
                c.keep();
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn obj_remove_file(&self, o: &Arc<ObjectStore>, r: &Resolved) -> FsResult<()> {
        let key = o.key(&r.rel)?;
        if key.root {
            return Err(ErrorCode::Busy);
        }
        let op = o.op.clone();
        self.remote(async move {
            file_at(&op, &key).await?;
            op.delete(&key.path).await.map_err(|e| code(&e))
        })
        .await
    }

    /// `mkdir` (`exist_ok: None`) and `makedirs`: a marker object `key/`. `mkdir` needs
    /// the parent; `makedirs` makes only the leaf's marker (parents are implied by it).
    pub(super) async fn obj_mkdir(
        &self,
        o: &Arc<ObjectStore>,
        r: Resolved,
        exist_ok: Option<bool>,
    ) -> FsResult<()> {
        let key = o.key(&r.rel)?;
        let (op, store) = (o.op.clone(), o.clone());
        self.remote(async move {
            match find(&op, &key.name()).await? {
                Found::Dir if exist_ok == Some(true) => return Ok(()),
                Found::Missing => {}
                _ => return Err(ErrorCode::Exist),
            }
            if exist_ok.is_none() && !parent_exists(&op, &store, &key).await? {
                return Err(ErrorCode::NoEntry);
            }
            let lease = r.budget.create(1)?;
            op.create_dir(&key.dir()).await.map_err(|e| code(&e))?;
            lease.keep();
            Ok(())
        })
        .await
    }

    /// `rmdir` and `removedirs` (`prune`: then each parent that is left empty).
    pub(super) async fn obj_rmdir(
        &self,
        o: &Arc<ObjectStore>,
        r: &Resolved,
        prune: bool,
    ) -> FsResult<()> {
        let key = o.key(&r.rel)?;
        if key.root {
            return Err(ErrorCode::Busy);
        }
        let (op, store) = (o.op.clone(), o.clone());
        self.remote(async move {
            must_be_dir(&op, &key).await?;
            if has_children(&op, &key).await? {
                return Err(ErrorCode::NotEmpty);
            }
            op.delete(&key.dir()).await.map_err(|e| code(&e))?;
            if prune {
                let mut at = key;
                while let Some((parent, _)) = at.path.rsplit_once('/') {
                    let parent = Key {
                        path: parent.to_owned(),
                        root: false,
                        want_dir: true,
                    };
                    if format!("{}/", parent.path) == store.base
                        || has_children(&op, &parent).await.unwrap_or(true)
                    {
                        break;
                    }
                    if op.delete(&parent.dir()).await.is_err() {
                        break;
                    }
                    at = parent;
                }
            }
            Ok(())
        })
        .await
    }

    /// `remove-tree`: every key beneath, in batched deletes; not atomic.
    pub(super) async fn obj_remove_tree(&self, o: &Arc<ObjectStore>, r: &Resolved) -> FsResult<()> {
        let key = o.key(&r.rel)?;
        if key.root {
            return Err(ErrorCode::Busy);
        }
        let op = o.op.clone();
        let held = self.charge(delete_held(self.mem()))?;
        self.remote(async move {
            let _held = held;
            must_be_dir(&op, &key).await?;
            op.delete_with(&key.dir())
                .recursive(true)
                .await
                .map_err(|e| code(&e))
        })
        .await
    }

    /// `readlink`: there are no links (`invalid` for something that exists).
    pub(super) async fn obj_readlink(
        &self,
        o: &Arc<ObjectStore>,
        r: &Resolved,
    ) -> FsResult<String> {
        match self.obj_probe(o, r).await? {
            Some(_) => Err(ErrorCode::Invalid),
            None => Err(ErrorCode::NoEntry),
        }
    }

    /// Open an object: for reading (pinned to its version), or as an upload (`w`, `x`).
    /// Appending and updating in place are `unsupported`.
    pub(super) async fn obj_open(
        &self,
        o: &Arc<ObjectStore>,
        r: Resolved,
        mode: OpenMode,
        name: String,
    ) -> FsResult<File> {
        self.obj_open_with(o, r, mode, name, None).await
    }

    /// [`obj_open`](Fs::obj_open), running `on_close` on the pool after the close.
    pub(super) async fn obj_open_with(
        &self,
        o: &Arc<ObjectStore>,
        r: Resolved,
        mode: OpenMode,
        name: String,
        on_close: Option<Box<dyn FnOnce() + Send>>,
    ) -> FsResult<File> {
        if mode.append || (mode.read && mode.write) {
            return Err(ErrorCode::Unsupported);
        }
        if mode.write && !mode.truncate && !mode.exclusive {
            return Err(ErrorCode::Unsupported);
        }
        let key = o.key(&r.rel)?;
        if key.root || (key.want_dir && mode.write) {
            return Err(ErrorCode::IsDirectory);
        }
        let slot = self.open_slot().await?;
        let (op, store, perms) = (o.op.clone(), o.clone(), r.grant.perms);
        let budget = r.budget.clone();
        let upload_held = mode.write.then(|| self.mem().empty());
        let mem = self.mem().clone();
        let handle = self
            .remote(async move {
                let found = find(&op, &key).await?;
                let Some(held) = upload_held else {
                    let md = file_or_err(&op, &key, found).await?;
                    return Ok(ObjFile::Read(Reading {
                        stat: stat_of(&store, &key.path, Some(&md), perms),
                        size: md.content_length(),
                        etag: md.etag().map(str::to_owned),
                        key: key.path,
                        op,
                        mem,
                    }));
                };
                let created = match found {
                    Found::Dir => return Err(ErrorCode::IsDirectory),
                    Found::File(_) if mode.exclusive => return Err(ErrorCode::Exist),
                    Found::File(_) => None,
                    Found::Missing if budget.limits_creates() => Some(budget.create(1)?),
                    Found::Missing => None,
                };
                // No chunking by OpenDAL: the upload hands it whole parts already, and its
                // chunk buffer would keep one more part than `UPLOAD_HELD` pays for (it
                // keeps one part back until the next comes or the close).
                let writer = op
                    .writer_with(&key.path)
                    .if_not_exists(mode.exclusive)
                    .await
                    .map_err(|e| code(&e))?;
                if let Some(c) = created {
                    c.keep();
                }
                let mut stat = stat_of(&store, &key.path, None, perms);
                stat.file_type = FileType::RegularFile;
                stat.mode = 0o644;
                Ok(ObjFile::Write(Uploading::new(writer, stat, held)))
            })
            .await?;
        Ok(File::with_handle(
            self,
            r.budget,
            crate::fs::file::Handle::Object(Box::new(handle)),
            name,
            mode,
            slot,
            on_close,
        ))
    }
}
