//! `wasi:filesystem@0.2` (types and preopens, 0.2.12 as wasmtime-wasi 48 links it) over
//! the domain layer.

use super::StatMemo;
use super::p2_streams::{FileInput, FileOutput};
use crate::ctx::{AioFs, AioFsCtxView, AioFsView};
use crate::error::{ErrorCode as DomainError, FsResult};
use crate::fs::held::Held;
use crate::fs::{
    self, Directory, File, Fs, OpenRequest, OpenSlot, Opened, SetTime, Stat, Timestamp,
};
use crate::grant::Perms;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

mod generated {
    #![allow(missing_docs, reason = "generated code")]
    wasmtime::component::bindgen!({
        path: "wit-wasi/p2",
        world: "aiofs:wasi-p2/filesystem",
        imports: { default: async | trappable },
        with: {
            "wasi:io/poll": wasmtime_wasi_io::bindings::wasi::io::poll,
            "wasi:io/streams": wasmtime_wasi_io::bindings::wasi::io::streams,
            "wasi:io/error": wasmtime_wasi_io::bindings::wasi::io::error,
            "wasi:clocks/wall-clock": wasmtime_wasi::p2::bindings::clocks::wall_clock,
            "wasi:filesystem/types.descriptor": super::Descriptor,
            "wasi:filesystem/types.directory-entry-stream": super::DirEntries,
        },
    });
}

use generated::wasi::clocks::wall_clock::Datetime;
use generated::wasi::filesystem::{preopens, types};
use types::ErrorCode;

/// A `wasi:filesystem` descriptor: an open directory or an open file of the store.
#[derive(Clone)]
pub enum Descriptor {
    /// A directory (a preopen or one opened with `open-at`) and its state.
    Dir(Directory, DirState),
    /// A regular file, the permission of the grant it lies in, and its last `stat`.
    File(File, Perms, StatMemo),
}

impl Descriptor {
    /// Stat the object itself, or take the answer the call before left for it (see
    /// [`StatMemo`]).
    pub(crate) async fn stat_self(&self) -> FsResult<Stat> {
        match self {
            Descriptor::Dir(d, state) => {
                let fs = d.fs();
                state
                    .memo
                    .stat(fs, None, true, fs.stat(".".into(), true))
                    .await
            }
            Descriptor::File(f, _, memo) => memo.stat(f.fs(), None, true, f.stat()).await,
        }
    }
}

/// What a directory descriptor carries besides the directory: whether it was opened to
/// mutate the directory (what `get-flags` reports), and the identities (device, and inode
/// per name) its last `read-directory` reported. wasi-libc asks `metadata-hash-at` for
/// every entry it lists (for `d_ino`); each name is answered once from here, as the
/// listing saw it (what `d_ino` means natively), instead of with one `stat` per entry.
#[derive(Clone, Default)]
pub struct DirState {
    mutate: bool,
    /// The identities, with their charge to the store's memory budget.
    listed: Arc<Mutex<Option<(Ids, Held)>>>,
    /// The last `stat` of the directory or of a path beneath it.
    memo: StatMemo,
}

/// A directory's device and the inode of each name in it.
pub(crate) type Ids = (u64, HashMap<String, u64>);

impl DirState {
    /// A fresh state; `mutate`: opened with `mutate-directory` in a writable grant.
    pub(crate) fn new(mutate: bool) -> DirState {
        DirState {
            mutate,
            listed: Arc::default(),
            memo: StatMemo::default(),
        }
    }

    /// Whether `get-flags` reports `mutate-directory`.
    pub(crate) fn mutate(&self) -> bool {
        self.mutate
    }

    /// Stat `path` beneath `dir` (this state's directory), or take the answer the call
    /// before left for it (see [`StatMemo`]).
    pub(crate) async fn stat_at(
        &self,
        dir: &Directory,
        path: String,
        follow: bool,
    ) -> FsResult<Stat> {
        if path.len() > dir.fs().limits.max_path_len {
            // Refused as too long: no copy for the memo.
            return dir.fs().stat(path, follow).await;
        }
        self.memo
            .stat(
                dir.fs(),
                Some(&path),
                follow,
                dir.fs().stat(path.clone(), follow),
            )
            .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Ids, Held)>> {
        self.listed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember the identities a listing of the directory (on `device`) saw, charged to
    /// `fs`'s memory budget; without room for them nothing is remembered (each
    /// `metadata-hash-at` then stats, as it would without a listing).
    pub(crate) fn remember(&self, store: &Fs, device: u64, entries: &[fs::DirEntry]) {
        let names: u64 = entries
            .iter()
            .map(|e| fs::held::allocated(e.name.len() as u64))
            .sum();
        let cost = names + id_table_bytes(entries.len());
        let mut guard = self.lock();
        *guard = None;
        if let Ok(held) = store.charge(cost) {
            let ids = entries.iter().map(|e| (e.name.clone(), e.inode)).collect();
            *guard = Some(((device, ids), held));
        }
    }

    /// The identity of `name` from the last listing, once.
    pub(crate) fn take(&self, name: &str) -> Option<(u64, u64)> {
        let mut guard = self.lock();
        let ((device, names), _) = guard.as_mut()?;
        names.remove(name).map(|inode| (*device, inode))
    }
}

/// What the table of `n` remembered identities allocates besides the names: its buckets
/// (a key, a value and a control byte each) number the power of two at or above 8/7 of
/// `n`, so up to about 2.3 per identity; counted here from just above 8/7 of `n`, never
/// fewer than the table has.
fn id_table_bytes(n: usize) -> u64 {
    let buckets = (n.saturating_mul(8) / 7 + 1).next_power_of_two().max(4) as u64;
    buckets * (size_of::<(String, u64)>() as u64 + 1) + 16
}

/// The entries of one `read-directory` call, handed out one by one. Like a file stream it
/// holds an open-handle slot, and the listing stays charged to the memory budget.
pub struct DirEntries {
    entries: std::vec::IntoIter<fs::DirEntry>,
    _held: Held,
    _slot: OpenSlot,
}

/// Add aiofs' `wasi:filesystem/types` and `wasi:filesystem/preopens` (0.2) to `linker`:
/// the store's grants become the preopens. Link wasi:io from wasmtime-wasi (or
/// wasmtime-wasi-io) too: the file streams are its `input-stream`/`output-stream`.
///
/// # Errors
/// The interfaces are already defined in `linker`.
pub fn add_filesystem_to_linker<T: AioFsView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    fn getter<T: AioFsView>(t: &mut T) -> AioFsCtxView<'_> {
        t.aiofs()
    }
    types::add_to_linker::<T, AioFs>(linker, getter::<T>)?;
    preopens::add_to_linker::<T, AioFs>(linker, getter::<T>)?;
    Ok(())
}

/// Everything `wasmtime_wasi::p2::add_to_linker_async` links (cli, clocks, random, io,
/// sockets; sockets stay closed unless the `WasiCtx` allows them), with aiofs'
/// `wasi:filesystem` in place of wasmtime-wasi's.
///
/// # Errors
/// Any of the interfaces is already defined in `linker`.
pub fn add_to_linker_async<T: wasmtime_wasi::WasiView + AioFsView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, random, sockets};
    use wasmtime_wasi::random::WasiRandom;
    use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
    use wasmtime_wasi_io::bindings::wasi::io;

    struct HasTable;
    impl HasData for HasTable {
        type Data<'a> = &'a mut ResourceTable;
    }
    fn table<T: wasmtime_wasi::WasiView>(t: &mut T) -> &mut ResourceTable {
        t.ctx().table
    }
    let l = linker;
    io::error::add_to_linker::<T, HasTable>(l, table::<T>)?;
    io::poll::add_to_linker::<T, HasTable>(l, table::<T>)?;
    io::streams::add_to_linker::<T, HasTable>(l, table::<T>)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    sockets::tcp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::udp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::instance_network::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    sockets::network::add_to_linker::<T, WasiSockets>(l, &Default::default(), T::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
    add_filesystem_to_linker(l)
}

/// What every host function returns: a trap, or a guest-visible result.
type HostResult<T> = wasmtime::Result<Result<T, ErrorCode>>;

/// The one conversion from the domain error to the WASI 0.2 error code.
pub(crate) fn to_wasi_error(e: DomainError) -> ErrorCode {
    use ErrorCode as W;
    crate::error::same_code!(e, W)
}

/// A domain result as a host result.
fn ok<T>(r: FsResult<T>) -> HostResult<T> {
    Ok(r.map_err(to_wasi_error))
}

/// A path for a `*-at` call: always relative to the descriptor. An absolute path is
/// `not-permitted` (as in wasmtime); everything else is the domain's resolution.
fn at_path(path: String) -> Result<String, ErrorCode> {
    if path.starts_with('/') {
        return Err(ErrorCode::NotPermitted);
    }
    Ok(path)
}

/// Early return of a guest-visible error.
macro_rules! guest_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

fn descriptor_type(t: fs::FileType) -> types::DescriptorType {
    use fs::FileType as F;
    use types::DescriptorType as D;
    match t {
        F::Unknown => D::Unknown,
        F::RegularFile => D::RegularFile,
        F::Directory => D::Directory,
        F::SymbolicLink => D::SymbolicLink,
        F::BlockDevice => D::BlockDevice,
        F::CharacterDevice => D::CharacterDevice,
        F::Fifo => D::Fifo,
        F::Socket => D::Socket,
    }
}

fn datetime(t: Option<Timestamp>) -> Option<Datetime> {
    let t = t?;
    Some(Datetime {
        seconds: u64::try_from(t.seconds).ok()?,
        nanoseconds: t.nanoseconds,
    })
}

fn descriptor_stat(s: &Stat) -> types::DescriptorStat {
    types::DescriptorStat {
        type_: descriptor_type(s.file_type),
        link_count: s.link_count,
        size: s.size,
        data_access_timestamp: datetime(s.accessed),
        data_modification_timestamp: datetime(s.modified),
        status_change_timestamp: datetime(s.changed),
    }
}

fn new_time(t: types::NewTimestamp) -> SetTime {
    match t {
        types::NewTimestamp::NoChange => SetTime::Keep,
        types::NewTimestamp::Now => SetTime::Now,
        types::NewTimestamp::Timestamp(d) => SetTime::At(Timestamp {
            seconds: i64::try_from(d.seconds).unwrap_or(i64::MAX),
            nanoseconds: d.nanoseconds,
        }),
    }
}

/// The identity hash of an object, as wasmtime computes it (device and inode through
/// the standard hasher; the upper half derived from the lower), so that preview1 inode
/// numbers look the same under both.
fn metadata_hash(s: &Stat) -> types::MetadataHashValue {
    hash_identity(s.device, s.inode)
}

/// The [`metadata_hash`] of the object with this device and inode.
fn hash_identity(device: u64, inode: u64) -> types::MetadataHashValue {
    let (lower, upper) = super::identity_hash(device, inode);
    types::MetadataHashValue { lower, upper }
}

impl AioFsCtxView<'_> {
    fn desc(&self, fd: &Resource<Descriptor>) -> wasmtime::Result<&Descriptor> {
        Ok(self.table.get(fd)?)
    }

    /// The directory behind `fd` (`not-directory` for a file).
    fn dir(&self, fd: &Resource<Descriptor>) -> wasmtime::Result<Result<Directory, ErrorCode>> {
        Ok(match self.desc(fd)? {
            Descriptor::Dir(d, _) => Ok(d.clone()),
            Descriptor::File(..) => Err(ErrorCode::NotDirectory),
        })
    }

    /// The directory behind `fd` and its state (`not-directory` for a file).
    fn dir_state(
        &self,
        fd: &Resource<Descriptor>,
    ) -> wasmtime::Result<Result<(Directory, DirState), ErrorCode>> {
        Ok(match self.desc(fd)? {
            Descriptor::Dir(d, state) => Ok((d.clone(), state.clone())),
            Descriptor::File(..) => Err(ErrorCode::NotDirectory),
        })
    }

    /// The file behind `fd` (`bad-descriptor` for a directory).
    fn file(&self, fd: &Resource<Descriptor>) -> wasmtime::Result<Result<File, ErrorCode>> {
        Ok(match self.desc(fd)? {
            Descriptor::File(f, ..) => Ok(f.clone()),
            Descriptor::Dir(..) => Err(ErrorCode::BadDescriptor),
        })
    }

    /// Stat the object behind `fd` (see [`Descriptor::stat_self`]).
    fn stat_of(
        &self,
        fd: &Resource<Descriptor>,
    ) -> wasmtime::Result<impl Future<Output = FsResult<Stat>> + Send + 'static> {
        let desc = self.desc(fd)?.clone();
        Ok(async move { desc.stat_self().await })
    }
}

impl preopens::Host for AioFsCtxView<'_> {
    async fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let mut out = Vec::new();
        let roots = self
            .ctx
            .preopens()
            .map_err(|e| wasmtime::format_err!("get-directories: {e} (max_open_files)"))?;
        for dir in roots {
            let name = dir.guest_path().to_owned();
            let state = DirState::new(dir.perms().can_write());
            out.push((self.table.push(Descriptor::Dir(dir, state))?, name));
        }
        Ok(out)
    }
}

/// Check that `file` may be streamed in this direction and take the open-handle slot its
/// stream holds while it lives, waiting at `max_open_files` while
/// some slots are held only by closes of dropped handles still under way, as an open or a
/// listing does ([`Fs::open_slot`]): `quota` only when every slot belongs to something the
/// guest holds.
async fn stream_slot(file: &File, write: bool) -> FsResult<OpenSlot> {
    file.check_stream(write)?;
    file.fs().open_slot().await
}

impl types::Host for AioFsCtxView<'_> {
    async fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err
            .downcast_ref::<DomainError>()
            .copied()
            .map(to_wasi_error))
    }
}

impl types::HostDescriptor for AioFsCtxView<'_> {
    async fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: u64,
    ) -> HostResult<Resource<DynInputStream>> {
        let file = guest_try!(self.file(&fd)?);
        let slot = guest_try!(stream_slot(&file, false).await.map_err(to_wasi_error));
        let stream: DynInputStream = Box::new(FileInput::new(file, offset, slot));
        Ok(Ok(self.table.push(stream)?))
    }

    async fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: u64,
    ) -> HostResult<Resource<DynOutputStream>> {
        let file = guest_try!(self.file(&fd)?);
        let slot = guest_try!(stream_slot(&file, true).await.map_err(to_wasi_error));
        let stream: DynOutputStream = Box::new(FileOutput::new(file, Some(offset), slot));
        Ok(Ok(self.table.push(stream)?))
    }

    async fn append_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> HostResult<Resource<DynOutputStream>> {
        let file = guest_try!(self.file(&fd)?);
        let slot = guest_try!(stream_slot(&file, true).await.map_err(to_wasi_error));
        let stream: DynOutputStream = Box::new(FileOutput::new(file, None, slot));
        Ok(Ok(self.table.push(stream)?))
    }

    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        _offset: u64,
        _length: u64,
        _advice: types::Advice,
    ) -> HostResult<()> {
        guest_try!(self.file(&fd)?);
        Ok(Ok(()))
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> HostResult<()> {
        match self.desc(&fd)? {
            Descriptor::File(f, ..) => {
                let f = f.clone();
                ok(f.sync_data().await)
            }
            Descriptor::Dir(d, _) => {
                let d = d.clone();
                ok(d.fs().sync_dir(".".into()).await)
            }
        }
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> HostResult<()> {
        match self.desc(&fd)? {
            Descriptor::File(f, ..) => {
                let f = f.clone();
                ok(f.sync().await)
            }
            Descriptor::Dir(d, _) => {
                let d = d.clone();
                ok(d.fs().sync_dir(".".into()).await)
            }
        }
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> HostResult<types::DescriptorFlags> {
        use types::DescriptorFlags as F;
        Ok(Ok(match self.desc(&fd)? {
            Descriptor::File(f, ..) => {
                let (read, write) = f.access();
                let mut flags = F::empty();
                if read {
                    flags |= F::READ;
                }
                if write {
                    flags |= F::WRITE;
                }
                flags
            }
            Descriptor::Dir(_, state) if state.mutate() => F::READ | F::MUTATE_DIRECTORY,
            Descriptor::Dir(..) => F::READ,
        }))
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> HostResult<types::DescriptorType> {
        match self.desc(&fd)? {
            Descriptor::Dir(..) => Ok(Ok(types::DescriptorType::Directory)),
            Descriptor::File(..) => Ok(Ok(types::DescriptorType::RegularFile)),
        }
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: u64) -> HostResult<()> {
        let file = guest_try!(self.file(&fd)?);
        ok(file.truncate(Some(size)).await.map(drop))
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atime: types::NewTimestamp,
        mtime: types::NewTimestamp,
    ) -> HostResult<()> {
        let (atime, mtime) = (new_time(atime), new_time(mtime));
        match self.desc(&fd)? {
            Descriptor::File(_, perms, _) if !perms.can_write() => Ok(Err(ErrorCode::ReadOnly)),
            Descriptor::File(f, ..) => {
                let f = f.clone();
                ok(f.set_times(atime, mtime).await)
            }
            Descriptor::Dir(d, _) => {
                let d = d.clone();
                ok(d.fs().set_times(".".into(), true, atime, mtime).await)
            }
        }
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        length: u64,
        offset: u64,
    ) -> HostResult<(Vec<u8>, bool)> {
        let file = guest_try!(self.file(&fd)?);
        let data = guest_try!(file.read_at(offset, length).await.map_err(to_wasi_error));
        let eof = data.is_empty() && length > 0;
        Ok(Ok((data, eof)))
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buffer: Vec<u8>,
        offset: u64,
    ) -> HostResult<u64> {
        let file = guest_try!(self.file(&fd)?);
        let len = buffer.len() as u64;
        ok(file.write_at(Some(offset), buffer).await.map(|_| len))
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> HostResult<Resource<DirEntries>> {
        let (dir, listed) = match self.desc(&fd)? {
            Descriptor::Dir(d, l) => (d.clone(), l.clone()),
            Descriptor::File(..) => return Ok(Err(ErrorCode::NotDirectory)),
        };
        let slot = guest_try!(dir.fs().open_slot().await.map_err(to_wasi_error));
        let here = guest_try!(dir.fs().stat(".".into(), true).await.map_err(to_wasi_error));
        let (entries, held) = guest_try!(
            dir.fs()
                .scandir_held(".".into(), false)
                .await
                .map_err(to_wasi_error)
        );
        listed.remember(dir.fs(), here.device, &entries);
        Ok(Ok(self.table.push(DirEntries {
            entries: entries.into_iter(),
            _held: held,
            _slot: slot,
        })?))
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> HostResult<()> {
        let dir = guest_try!(self.dir(&fd)?);
        let path = guest_try!(at_path(path));
        ok(dir.fs().mkdir(path).await)
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> HostResult<types::DescriptorStat> {
        ok(self.stat_of(&fd)?.await.map(|s| descriptor_stat(&s)))
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: types::PathFlags,
        path: String,
    ) -> HostResult<types::DescriptorStat> {
        let (dir, state) = guest_try!(self.dir_state(&fd)?);
        let path = guest_try!(at_path(path));
        let follow = flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        ok(state
            .stat_at(&dir, path, follow)
            .await
            .map(|s| descriptor_stat(&s)))
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: types::PathFlags,
        path: String,
        atime: types::NewTimestamp,
        mtime: types::NewTimestamp,
    ) -> HostResult<()> {
        let dir = guest_try!(self.dir(&fd)?);
        let path = guest_try!(at_path(path));
        let follow = flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        ok(dir
            .fs()
            .set_times(path, follow, new_time(atime), new_time(mtime))
            .await)
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_flags: types::PathFlags,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> HostResult<()> {
        let from = guest_try!(self.dir(&fd)?);
        let to = guest_try!(self.dir(&new_fd)?);
        let old_path = guest_try!(at_path(old_path));
        let new_path = guest_try!(at_path(new_path));
        if old_flags.contains(types::PathFlags::SYMLINK_FOLLOW) {
            return Ok(Err(ErrorCode::Invalid));
        }
        ok(from.fs().link_to(old_path, to.fs(), new_path).await)
    }

    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        open_flags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> HostResult<Resource<Descriptor>> {
        use types::{DescriptorFlags as D, OpenFlags as O};
        let dir = guest_try!(self.dir(&fd)?);
        let path = guest_try!(at_path(path));
        if flags
            .intersects(D::FILE_INTEGRITY_SYNC | D::DATA_INTEGRITY_SYNC | D::REQUESTED_WRITE_SYNC)
        {
            return Ok(Err(ErrorCode::Unsupported));
        }
        if open_flags.contains(O::DIRECTORY) && open_flags.contains(O::EXCLUSIVE) {
            return Ok(Err(ErrorCode::Invalid));
        }
        let req = OpenRequest {
            read: flags.contains(D::READ),
            write: flags.contains(D::WRITE),
            create: open_flags.contains(O::CREATE),
            exclusive: open_flags.contains(O::EXCLUSIVE),
            truncate: open_flags.contains(O::TRUNCATE),
            directory: open_flags.contains(O::DIRECTORY),
            follow_symlinks: path_flags.contains(types::PathFlags::SYMLINK_FOLLOW),
        };
        let perms = dir.perms();
        let mutate = flags.contains(D::MUTATE_DIRECTORY);
        let opened = guest_try!(dir.fs().open_at(path, req).await.map_err(to_wasi_error));
        let desc = match opened {
            Opened::Dir(d) => Descriptor::Dir(d, DirState::new(mutate && perms.can_write())),
            Opened::File(f) => Descriptor::File(f, perms, StatMemo::default()),
        };
        Ok(Ok(self.table.push(desc)?))
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> HostResult<String> {
        let dir = guest_try!(self.dir(&fd)?);
        let path = guest_try!(at_path(path));
        ok(dir.fs().readlink(path).await)
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> HostResult<()> {
        let dir = guest_try!(self.dir(&fd)?);
        let path = guest_try!(at_path(path));
        if super::is_self(&path) {
            return Ok(Err(ErrorCode::Invalid));
        }
        ok(dir.fs().rmdir(path).await)
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> HostResult<()> {
        let from = guest_try!(self.dir(&fd)?);
        let to = guest_try!(self.dir(&new_fd)?);
        let old_path = guest_try!(at_path(old_path));
        let new_path = guest_try!(at_path(new_path));
        ok(from.fs().rename_to(old_path, to.fs(), new_path).await)
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_path: String,
    ) -> HostResult<()> {
        let dir = guest_try!(self.dir(&fd)?);
        let new_path = guest_try!(at_path(new_path));
        ok(dir.fs().symlink(old_path, new_path).await)
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> HostResult<()> {
        let dir = guest_try!(self.dir(&fd)?);
        let path = guest_try!(at_path(path));
        if super::is_self(&path) {
            return Ok(Err(ErrorCode::IsDirectory));
        }
        ok(dir.fs().remove_file(path).await)
    }

    async fn is_same_object(
        &mut self,
        fd: Resource<Descriptor>,
        other: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        let a = self.stat_of(&fd)?.await;
        let b = self.stat_of(&other)?.await;
        Ok(match (a, b) {
            (Ok(a), Ok(b)) => (a.device, a.inode) == (b.device, b.inode),
            _ => false,
        })
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> HostResult<types::MetadataHashValue> {
        ok(self.stat_of(&fd)?.await.map(|s| metadata_hash(&s)))
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: types::PathFlags,
        path: String,
    ) -> HostResult<types::MetadataHashValue> {
        let follow = flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        if let Descriptor::Dir(_, listed) = self.desc(&fd)?
            && !follow
            && let Some((device, inode)) = listed.take(&path)
        {
            return Ok(Ok(hash_identity(device, inode)));
        }
        let (dir, state) = guest_try!(self.dir_state(&fd)?);
        let path = guest_try!(at_path(path));
        ok(state
            .stat_at(&dir, path, follow)
            .await
            .map(|s| metadata_hash(&s)))
    }

    async fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        self.table.delete(fd)?;
        Ok(())
    }
}

impl types::HostDirectoryEntryStream for AioFsCtxView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<DirEntries>,
    ) -> HostResult<Option<types::DirectoryEntry>> {
        let entries = self.table.get_mut(&stream)?;
        Ok(Ok(entries.entries.next().map(|e| types::DirectoryEntry {
            type_: descriptor_type(e.file_type),
            name: e.name,
        })))
    }

    async fn drop(&mut self, stream: Resource<DirEntries>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "p2_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "p2_governance_tests.rs"]
mod governance_tests;
