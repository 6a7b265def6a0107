//! `wasi:filesystem@0.3` (types and preopens, 0.3.0 as wasmtime-wasi 48 links it) over
//! the domain layer: the same descriptors as 0.2, with component-model async functions
//! and `stream`/`future` in place of wasi:io streams.

mod generated {
    #![allow(missing_docs, reason = "generated code")]
    wasmtime::component::bindgen!({
        path: "wit-wasi/p3",
        world: "aiofs:wasi-p3/filesystem",
        imports: {
            "wasi:filesystem/types.[method]descriptor.read-via-stream": store | trappable,
            "wasi:filesystem/types.[method]descriptor.write-via-stream": store | trappable,
            "wasi:filesystem/types.[method]descriptor.append-via-stream": store | trappable,
            "wasi:filesystem/types.[method]descriptor.read-directory": store | trappable,
            default: trappable,
        },
        with: {
            "wasi:clocks/system-clock": wasmtime_wasi::p3::bindings::clocks::system_clock,
            "wasi:clocks/types": wasmtime_wasi::p3::bindings::clocks::types,
            "wasi:filesystem/types.descriptor": crate::wasi::p2::Descriptor,
        },
    });
}

use super::p2::{Descriptor, DirState};
use super::p3_streams::{DirProducer, ReadProducer, WriteConsumer};
use crate::ctx::{AioFs, AioFsCtxView, AioFsView};
use crate::error::{ErrorCode as DomainError, FsResult};
use crate::fs::{self, Directory, File, OpenRequest, Opened, SetTime, Stat, StreamSlot, Timestamp};
use generated::wasi::clocks::system_clock::Instant;
use generated::wasi::filesystem::{preopens, types};
use tokio::sync::oneshot;
use types::{DescriptorType, ErrorCode};
use wasmtime::component::{Access, Accessor, FutureReader, Linker, Resource, StreamReader};

/// Add aiofs' `wasi:filesystem/types` and `wasi:filesystem/preopens` (0.3) to `linker`:
/// the store's grants become the preopens. The engine needs component-model async.
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

/// Everything `wasmtime_wasi::p3::add_to_linker` links (cli, clocks, random, sockets;
/// sockets stay closed unless the `WasiCtx` allows them), with aiofs' `wasi:filesystem`
/// in place of wasmtime-wasi's.
///
/// # Errors
/// Any of the interfaces is already defined in `linker`.
pub fn add_to_linker<T: wasmtime_wasi::WasiView + AioFsView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p3::cli::add_to_linker(linker)?;
    wasmtime_wasi::p3::clocks::add_to_linker(linker)?;
    wasmtime_wasi::p3::random::add_to_linker(linker)?;
    wasmtime_wasi::p3::sockets::add_to_linker(linker)?;
    add_filesystem_to_linker(linker)
}

/// What every async host function returns: a trap, or a guest-visible result.
type HostResult<T> = wasmtime::Result<Result<T, ErrorCode>>;

/// The one conversion from the domain error to the WASI 0.3 error code.
pub(crate) fn to_wasi_error(e: DomainError) -> ErrorCode {
    use ErrorCode as W;
    crate::error::same_code!(e, W)
}

fn ok<T>(r: FsResult<T>) -> HostResult<T> {
    Ok(r.map_err(to_wasi_error))
}

/// Early return of a guest-visible domain error.
macro_rules! guest_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(to_wasi_error(e))),
        }
    };
}

/// A path for a `*-at` call: relative to the descriptor; absolute is `not-permitted`.
fn at_path(path: String) -> FsResult<String> {
    if path.starts_with('/') {
        return Err(DomainError::NotPermitted);
    }
    Ok(path)
}

/// The descriptor behind `fd`, cloned out of the table.
fn desc<T>(acc: &Accessor<T, AioFs>, fd: &Resource<Descriptor>) -> wasmtime::Result<Descriptor> {
    acc.with(|mut a| Ok(a.get().table.get(fd)?.clone()))
}

fn dir_of(d: Descriptor) -> FsResult<Directory> {
    match d {
        Descriptor::Dir(d, _) => Ok(d),
        Descriptor::File(..) => Err(DomainError::NotDirectory),
    }
}

fn dir_state_of(d: Descriptor) -> FsResult<(Directory, DirState)> {
    match d {
        Descriptor::Dir(d, state) => Ok((d, state)),
        Descriptor::File(..) => Err(DomainError::NotDirectory),
    }
}

fn file_of(d: Descriptor) -> FsResult<File> {
    match d {
        Descriptor::File(f, ..) => Ok(f),
        Descriptor::Dir(..) => Err(DomainError::BadDescriptor),
    }
}

async fn stat_of(d: Descriptor) -> FsResult<Stat> {
    d.stat_self().await
}

fn descriptor_type(t: fs::FileType) -> DescriptorType {
    use fs::FileType as F;
    match t {
        F::Unknown => DescriptorType::Other(None),
        F::RegularFile => DescriptorType::RegularFile,
        F::Directory => DescriptorType::Directory,
        F::SymbolicLink => DescriptorType::SymbolicLink,
        F::BlockDevice => DescriptorType::BlockDevice,
        F::CharacterDevice => DescriptorType::CharacterDevice,
        F::Fifo => DescriptorType::Fifo,
        F::Socket => DescriptorType::Socket,
    }
}

fn instant(t: Option<Timestamp>) -> Option<Instant> {
    t.map(|t| Instant {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    })
}

fn descriptor_stat(s: &Stat) -> types::DescriptorStat {
    types::DescriptorStat {
        type_: descriptor_type(s.file_type),
        link_count: s.link_count,
        size: s.size,
        data_access_timestamp: instant(s.accessed),
        data_modification_timestamp: instant(s.modified),
        status_change_timestamp: instant(s.changed),
    }
}

fn new_time(t: types::NewTimestamp) -> SetTime {
    match t {
        types::NewTimestamp::NoChange => SetTime::Keep,
        types::NewTimestamp::Now => SetTime::Now,
        types::NewTimestamp::Timestamp(i) => SetTime::At(Timestamp {
            seconds: i.seconds,
            nanoseconds: i.nanoseconds,
        }),
    }
}

/// The error code type of 0.3 (for the stream adapters).
pub(crate) type WasiError = ErrorCode;

/// A listed entry as a 0.3 directory entry.
pub(crate) fn dir_entry(e: fs::DirEntry) -> types::DirectoryEntry {
    types::DirectoryEntry {
        type_: descriptor_type(e.file_type),
        name: e.name,
    }
}

/// The 0.3 directory-entry type (for the stream adapters).
pub(crate) type WasiDirEntry = types::DirectoryEntry;

fn hash(device: u64, inode: u64) -> types::MetadataHashValue {
    let (lower, upper) = super::identity_hash(device, inode);
    types::MetadataHashValue { lower, upper }
}

/// A finished stream-result future holding `err`.
fn failed_future<T>(
    store: &mut Access<'_, T, AioFs>,
    err: DomainError,
) -> wasmtime::Result<FutureReader<Result<(), ErrorCode>>> {
    let err = to_wasi_error(err);
    FutureReader::new(store, async move { wasmtime::error::Ok(Err(err)) })
}

/// A result future fed by `rx` (a dropped sender reads as `io`).
fn result_future<T>(
    store: &mut Access<'_, T, AioFs>,
    rx: oneshot::Receiver<Result<(), ErrorCode>>,
) -> wasmtime::Result<FutureReader<Result<(), ErrorCode>>> {
    FutureReader::new(store, async move {
        wasmtime::error::Ok(rx.await.unwrap_or(Err(ErrorCode::Io)))
    })
}

impl types::Host for AioFsCtxView<'_> {}

impl types::HostDescriptor for AioFsCtxView<'_> {
    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        self.table.delete(fd)?;
        Ok(())
    }
}

impl preopens::Host for AioFsCtxView<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
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

impl<T> types::HostDescriptorWithStore<T> for AioFs {
    fn read_via_stream(
        mut store: Access<T, Self>,
        fd: Resource<Descriptor>,
        offset: u64,
    ) -> wasmtime::Result<(StreamReader<u8>, FutureReader<Result<(), ErrorCode>>)> {
        let d = store.get().table.get(&fd)?.clone();
        let (file, slot) = match file_of(d).and_then(|f| f.stream_slot(false).map(|s| (f, s))) {
            Ok(opened) => opened,
            Err(e) => {
                let stream = StreamReader::new(&mut store, std::iter::empty())?;
                return Ok((stream, failed_future(&mut store, e)?));
            }
        };
        let (tx, rx) = oneshot::channel();
        let stream = StreamReader::new(&mut store, ReadProducer::new(file, offset, slot, tx))?;
        Ok((stream, result_future(&mut store, rx)?))
    }

    fn write_via_stream(
        mut store: Access<T, Self>,
        fd: Resource<Descriptor>,
        data: StreamReader<u8>,
        offset: u64,
    ) -> wasmtime::Result<FutureReader<Result<(), ErrorCode>>> {
        Self::write_stream(&mut store, fd, data, Some(offset))
    }

    fn append_via_stream(
        mut store: Access<T, Self>,
        fd: Resource<Descriptor>,
        data: StreamReader<u8>,
    ) -> wasmtime::Result<FutureReader<Result<(), ErrorCode>>> {
        Self::write_stream(&mut store, fd, data, None)
    }

    async fn advise(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        _offset: u64,
        _length: u64,
        _advice: types::Advice,
    ) -> HostResult<()> {
        ok(file_of(desc(acc, &fd)?).map(drop))
    }

    async fn sync_data(acc: &Accessor<T, Self>, fd: Resource<Descriptor>) -> HostResult<()> {
        ok(match desc(acc, &fd)? {
            Descriptor::File(f, ..) => f.sync_data().await,
            Descriptor::Dir(d, _) => d.fs().sync_dir(".".into()).await,
        })
    }

    async fn sync(acc: &Accessor<T, Self>, fd: Resource<Descriptor>) -> HostResult<()> {
        ok(match desc(acc, &fd)? {
            Descriptor::File(f, ..) => f.sync().await,
            Descriptor::Dir(d, _) => d.fs().sync_dir(".".into()).await,
        })
    }

    async fn get_flags(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
    ) -> HostResult<types::DescriptorFlags> {
        use types::DescriptorFlags as F;
        Ok(Ok(match desc(acc, &fd)? {
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

    async fn get_type(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
    ) -> HostResult<DescriptorType> {
        Ok(Ok(match desc(acc, &fd)? {
            Descriptor::Dir(..) => DescriptorType::Directory,
            Descriptor::File(..) => DescriptorType::RegularFile,
        }))
    }

    async fn set_size(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        size: u64,
    ) -> HostResult<()> {
        let file = guest_try!(file_of(desc(acc, &fd)?));
        ok(file.truncate(Some(size)).await.map(drop))
    }

    async fn set_times(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        atime: types::NewTimestamp,
        mtime: types::NewTimestamp,
    ) -> HostResult<()> {
        let (atime, mtime) = (new_time(atime), new_time(mtime));
        ok(match desc(acc, &fd)? {
            Descriptor::File(_, perms, _) if !perms.can_write() => Err(DomainError::ReadOnly),
            Descriptor::File(f, ..) => f.set_times(atime, mtime).await,
            Descriptor::Dir(d, _) => d.fs().set_times(".".into(), true, atime, mtime).await,
        })
    }

    fn read_directory(
        mut store: Access<T, Self>,
        fd: Resource<Descriptor>,
    ) -> wasmtime::Result<(
        StreamReader<types::DirectoryEntry>,
        FutureReader<Result<(), ErrorCode>>,
    )> {
        let (dir, listed) = match store.get().table.get(&fd)?.clone() {
            Descriptor::Dir(d, l) => (d, l),
            Descriptor::File(..) => {
                let stream = StreamReader::new(&mut store, std::iter::empty())?;
                return Ok((
                    stream,
                    failed_future(&mut store, DomainError::NotDirectory)?,
                ));
            }
        };
        let slot = match StreamSlot::take(dir.fs()) {
            Ok(slot) => slot,
            Err(e) => {
                let stream = StreamReader::new(&mut store, std::iter::empty())?;
                return Ok((stream, failed_future(&mut store, e)?));
            }
        };
        let (tx, rx) = oneshot::channel();
        let stream = StreamReader::new(&mut store, DirProducer::new(dir, listed, slot, tx))?;
        Ok((stream, result_future(&mut store, rx)?))
    }

    async fn create_directory_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> HostResult<()> {
        let dir = guest_try!(dir_of(desc(acc, &fd)?));
        let path = guest_try!(at_path(path));
        ok(dir.fs().mkdir(path).await)
    }

    async fn stat(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
    ) -> HostResult<types::DescriptorStat> {
        ok(stat_of(desc(acc, &fd)?).await.map(|s| descriptor_stat(&s)))
    }

    async fn stat_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        flags: types::PathFlags,
        path: String,
    ) -> HostResult<types::DescriptorStat> {
        let (dir, state) = guest_try!(dir_state_of(desc(acc, &fd)?));
        let path = guest_try!(at_path(path));
        let follow = flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        ok(state
            .stat_at(&dir, path, follow)
            .await
            .map(|s| descriptor_stat(&s)))
    }

    async fn set_times_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        flags: types::PathFlags,
        path: String,
        atime: types::NewTimestamp,
        mtime: types::NewTimestamp,
    ) -> HostResult<()> {
        let dir = guest_try!(dir_of(desc(acc, &fd)?));
        let path = guest_try!(at_path(path));
        let follow = flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        ok(dir
            .fs()
            .set_times(path, follow, new_time(atime), new_time(mtime))
            .await)
    }

    async fn link_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        old_flags: types::PathFlags,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> HostResult<()> {
        let from = guest_try!(dir_of(desc(acc, &fd)?));
        let to = guest_try!(dir_of(desc(acc, &new_fd)?));
        let old_path = guest_try!(at_path(old_path));
        let new_path = guest_try!(at_path(new_path));
        if old_flags.contains(types::PathFlags::SYMLINK_FOLLOW) {
            return Ok(Err(ErrorCode::Invalid));
        }
        ok(from.fs().link_to(old_path, to.fs(), new_path).await)
    }

    async fn open_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        open_flags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> HostResult<Resource<Descriptor>> {
        use types::{DescriptorFlags as D, OpenFlags as O};
        let dir = guest_try!(dir_of(desc(acc, &fd)?));
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
        let opened = guest_try!(dir.fs().open_at(path, req).await);
        let desc = match opened {
            Opened::Dir(d) => Descriptor::Dir(d, DirState::new(mutate && perms.can_write())),
            Opened::File(f) => Descriptor::File(f, perms, super::StatMemo::default()),
        };
        acc.with(|mut a| match a.get().table.push(desc) {
            Ok(r) => Ok(Ok(r)),
            Err(_) => Ok(Err(ErrorCode::Quota)),
        })
    }

    async fn readlink_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> HostResult<String> {
        let dir = guest_try!(dir_of(desc(acc, &fd)?));
        let path = guest_try!(at_path(path));
        ok(dir.fs().readlink(path).await)
    }

    async fn remove_directory_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> HostResult<()> {
        let dir = guest_try!(dir_of(desc(acc, &fd)?));
        let path = guest_try!(at_path(path));
        if super::is_self(&path) {
            return Ok(Err(ErrorCode::Invalid));
        }
        ok(dir.fs().rmdir(path).await)
    }

    async fn rename_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> HostResult<()> {
        let from = guest_try!(dir_of(desc(acc, &fd)?));
        let to = guest_try!(dir_of(desc(acc, &new_fd)?));
        let old_path = guest_try!(at_path(old_path));
        let new_path = guest_try!(at_path(new_path));
        ok(from.fs().rename_to(old_path, to.fs(), new_path).await)
    }

    async fn symlink_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        old_path: String,
        new_path: String,
    ) -> HostResult<()> {
        let dir = guest_try!(dir_of(desc(acc, &fd)?));
        let new_path = guest_try!(at_path(new_path));
        ok(dir.fs().symlink(old_path, new_path).await)
    }

    async fn unlink_file_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> HostResult<()> {
        let dir = guest_try!(dir_of(desc(acc, &fd)?));
        let path = guest_try!(at_path(path));
        if super::is_self(&path) {
            return Ok(Err(ErrorCode::IsDirectory));
        }
        ok(dir.fs().remove_file(path).await)
    }

    async fn is_same_object(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        other: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        let (a, b) = (desc(acc, &fd)?, desc(acc, &other)?);
        Ok(match (stat_of(a).await, stat_of(b).await) {
            (Ok(a), Ok(b)) => (a.device, a.inode) == (b.device, b.inode),
            _ => false,
        })
    }

    async fn metadata_hash(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
    ) -> HostResult<types::MetadataHashValue> {
        ok(stat_of(desc(acc, &fd)?)
            .await
            .map(|s| hash(s.device, s.inode)))
    }

    async fn metadata_hash_at(
        acc: &Accessor<T, Self>,
        fd: Resource<Descriptor>,
        flags: types::PathFlags,
        path: String,
    ) -> HostResult<types::MetadataHashValue> {
        let follow = flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        let d = desc(acc, &fd)?;
        if let Descriptor::Dir(_, listed) = &d
            && !follow
            && let Some((device, inode)) = listed.take(&path)
        {
            return Ok(Ok(hash(device, inode)));
        }
        let (dir, state) = guest_try!(dir_state_of(d));
        let path = guest_try!(at_path(path));
        ok(state
            .stat_at(&dir, path, follow)
            .await
            .map(|s| hash(s.device, s.inode)))
    }
}

impl AioFs {
    /// `write-via-stream` (`Some(offset)`) and `append-via-stream` (`None`).
    fn write_stream<T>(
        store: &mut Access<T, Self>,
        fd: Resource<Descriptor>,
        mut data: StreamReader<u8>,
        offset: Option<u64>,
    ) -> wasmtime::Result<FutureReader<Result<(), ErrorCode>>> {
        let d = store.get().table.get(&fd)?.clone();
        match file_of(d).and_then(|f| f.stream_slot(true).map(|s| (f, s))) {
            Ok((file, slot)) => {
                let (tx, rx) = oneshot::channel();
                data.pipe(&mut *store, WriteConsumer::new(file, offset, slot, tx))?;
                result_future(store, rx)
            }
            Err(e) => {
                data.close(&mut *store)?;
                failed_future(store, e)
            }
        }
    }
}
