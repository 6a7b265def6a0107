//! Glue: the generated host traits implemented over the domain layer.
//!
//! Every method here is the same three steps: clone what it needs (the [`Fs`] or a
//! [`File`]) out of the store inside `Accessor::with`, await the domain method outside it
//! (never holding the store across an `.await`), and convert the result. The only
//! domain-to-WIT error mapping is [`to_wit_error`].

use crate::bindings::{batch, files, grants, os, path, tempfile, types};
use crate::ctx::{AioFs, AioFsCtxView, AioFsView};
use crate::error::{ErrorCode, FsResult};
use crate::fs::{self, File, Fs, TempDir};
use crate::grant::Perms;
use crate::stream::{ReadStreamProducer, WriteStreamConsumer};
use std::sync::Arc;
use wasmtime::component::{
    Access, Accessor, FutureReader, Linker, Resource, ResourceTable, StreamReader,
};

/// Add every `aiofs:fs` interface to `linker`.
///
/// The engine's `Config` needs `wasm_component_model_async(true)`; guests are run with
/// `Store::run_concurrent` (or through a bindings type that does).
pub fn add_to_linker<T: AioFsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    fn getter<T: AioFsView>(t: &mut T) -> AioFsCtxView<'_> {
        t.aiofs()
    }
    types::add_to_linker::<T, AioFs>(linker, getter::<T>)?;
    files::add_to_linker::<T, AioFs>(linker, getter::<T>)?;
    os::add_to_linker::<T, AioFs>(linker, getter::<T>)?;
    path::add_to_linker::<T, AioFs>(linker, getter::<T>)?;
    tempfile::add_to_linker::<T, AioFs>(linker, getter::<T>)?;
    batch::add_to_linker::<T, AioFs>(linker, getter::<T>)?;
    grants::add_to_linker::<T, AioFs>(linker, getter::<T>)?;
    Ok(())
}

/// What every host function returns: a trap, or a guest-visible result.
type HostResult<T> = wasmtime::Result<Result<T, types::ErrorCode>>;

/// The one conversion from the domain error to the WIT error.
pub(crate) fn to_wit_error(e: ErrorCode) -> types::ErrorCode {
    use types::ErrorCode as W;
    crate::error::same_code!(e, W)
}

/// Convert a domain result into a guest-visible one.
fn done<T, U: From<T>>(r: FsResult<T>) -> HostResult<U> {
    Ok(r.map(U::from).map_err(to_wit_error))
}

/// Same as [`done`] for results whose conversion is not a `From` impl.
fn done_with<T, U>(r: FsResult<T>, f: impl FnOnce(T) -> U) -> HostResult<U> {
    Ok(r.map(f).map_err(to_wit_error))
}

/// Clone the store's [`Fs`] out of the accessor.
fn fs_of<T>(acc: &Accessor<T, AioFs>) -> Fs {
    acc.with(|mut a| a.get().ctx.fs.clone())
}

/// Clone a resource's domain value out of the table. A stale handle is a host bug or a
/// forged handle, which wasmtime already rejects: trap.
fn cloned<T, R: Clone + 'static>(
    acc: &Accessor<T, AioFs>,
    res: &Resource<R>,
) -> wasmtime::Result<R> {
    acc.with(|mut a| Ok(a.get().table.get(res)?.clone()))
}

/// Put a new resource in the table; a full table is the guest's `quota`, not a trap.
fn push<T, R: Send + 'static>(
    acc: &Accessor<T, AioFs>,
    value: R,
) -> Result<Resource<R>, ErrorCode> {
    acc.with(|mut a| push_table(a.get().table, value))
}

fn push_table<R: Send + 'static>(
    table: &mut ResourceTable,
    value: R,
) -> Result<Resource<R>, ErrorCode> {
    table.push(value).map_err(|_| ErrorCode::Quota)
}

/// Open something in the domain layer and hand it to the guest as a resource.
async fn open_resource<T, R: Send + 'static>(
    acc: &Accessor<T, AioFs>,
    opened: FsResult<R>,
) -> HostResult<Resource<R>> {
    done_with(opened.and_then(|r| push(acc, r)), |r| r)
}

// ---- conversions between domain and WIT types (no logic beyond field mapping) ----

impl From<fs::FileType> for types::FileType {
    fn from(t: fs::FileType) -> Self {
        use fs::FileType as F;
        match t {
            F::Unknown => Self::Unknown,
            F::RegularFile => Self::RegularFile,
            F::Directory => Self::Directory,
            F::SymbolicLink => Self::SymbolicLink,
            F::BlockDevice => Self::BlockDevice,
            F::CharacterDevice => Self::CharacterDevice,
            F::Fifo => Self::Fifo,
            F::Socket => Self::Socket,
        }
    }
}

impl From<fs::Timestamp> for types::Timestamp {
    fn from(t: fs::Timestamp) -> Self {
        types::Timestamp {
            seconds: t.seconds,
            nanoseconds: t.nanoseconds,
        }
    }
}

impl From<fs::Stat> for types::StatResult {
    fn from(s: fs::Stat) -> Self {
        types::StatResult {
            type_: s.file_type.into(),
            size: s.size,
            mode: s.mode,
            link_count: s.link_count,
            inode: s.inode,
            device: s.device,
            accessed: s.accessed.map(Into::into),
            modified: s.modified.map(Into::into),
            changed: s.changed.map(Into::into),
            created: s.created.map(Into::into),
        }
    }
}

impl From<fs::DirEntry> for types::DirEntry {
    fn from(e: fs::DirEntry) -> Self {
        types::DirEntry {
            name: e.name,
            type_: e.file_type.into(),
            stat: e.stat.map(Into::into),
        }
    }
}

impl From<types::Whence> for fs::Whence {
    fn from(w: types::Whence) -> Self {
        match w {
            types::Whence::Start => fs::Whence::Start,
            types::Whence::Current => fs::Whence::Current,
            types::Whence::End => fs::Whence::End,
        }
    }
}

impl From<os::AccessMode> for fs::AccessMode {
    fn from(m: os::AccessMode) -> Self {
        fs::AccessMode {
            read: m.contains(os::AccessMode::READ),
            write: m.contains(os::AccessMode::WRITE),
            execute: m.contains(os::AccessMode::EXECUTE),
        }
    }
}

impl From<tempfile::TempOptions> for fs::TempOptions {
    fn from(o: tempfile::TempOptions) -> Self {
        fs::TempOptions {
            dir: o.dir,
            prefix: o.prefix,
            suffix: o.suffix,
        }
    }
}

/// Seconds since the epoch as a float, like Python's `os.path.getmtime`.
fn seconds(t: Option<fs::Timestamp>) -> f64 {
    t.map_or(0.0, |t| t.seconds as f64 + f64::from(t.nanoseconds) / 1e9)
}

fn to_vecs<T, U: From<T>>(v: Vec<T>) -> Vec<U> {
    v.into_iter().map(U::from).collect()
}

// ---- aiofs:fs/types: the file resource ----

impl types::Host for AioFsCtxView<'_> {}

impl types::HostFile for AioFsCtxView<'_> {
    fn name(&mut self, file: Resource<File>) -> wasmtime::Result<String> {
        Ok(self.table.get(&file)?.name().to_string())
    }

    fn mode(&mut self, file: Resource<File>) -> wasmtime::Result<String> {
        Ok(self.table.get(&file)?.mode())
    }

    fn is_text(&mut self, file: Resource<File>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&file)?.is_text())
    }

    fn closed(&mut self, file: Resource<File>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&file)?.is_closed())
    }

    fn drop(&mut self, file: Resource<File>) -> wasmtime::Result<()> {
        // Dropping the domain handle hands the descriptor to the pool for closing.
        self.table.delete(file)?;
        Ok(())
    }
}

/// Generates the file methods that are a straight call of the domain method of the same
/// name followed by a conversion of the result.
macro_rules! file_methods {
    ($( fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $(=> $conv:expr)?; )*) => {$(
        async fn $name<>(acc: &Accessor<T, Self>, file: Resource<File> $(, $arg: $ty)*) -> HostResult<$ret> {
            let file = cloned(acc, &file)?;
            let r = file.$name($($arg.into()),*).await;
            file_methods!(@conv r $($conv)?)
        }
    )*};
    (@conv $r:ident) => { done($r) };
    (@conv $r:ident $conv:expr) => { done_with($r, $conv) };
}

impl<T> types::HostFileWithStore<T> for AioFs {
    file_methods! {
        fn read(n: u64) -> Vec<u8>;
        fn read_all() -> Vec<u8>;
        fn read_line() -> Vec<u8>;
        fn read_lines(max: u32) -> Vec<Vec<u8>>;
        fn write(data: Vec<u8>) -> u64;
        fn write_lines(lines: Vec<Vec<u8>>) -> u64;
        fn read_text(n: u64) -> String;
        fn read_all_text() -> String;
        fn read_line_text() -> String;
        fn read_lines_text(max: u32) -> Vec<String>;
        fn write_text(text: String) -> u64;
        fn write_lines_text(lines: Vec<String>) -> u64;
        fn seek(offset: i64, whence: types::Whence) -> u64;
        fn tell() -> u64;
        fn truncate(size: Option<u64>) -> u64;
        fn flush() -> ();
        fn sync() -> ();
        fn sync_data() -> ();
        fn stat() -> types::StatResult;
        fn close() -> ();
    }

    fn read_via_stream(
        mut store: Access<T, Self>,
        file: Resource<File>,
    ) -> wasmtime::Result<(StreamReader<u8>, FutureReader<Result<(), types::ErrorCode>>)> {
        let file = store.get().table.get(&file)?.clone();
        let (producer, result) = ReadStreamProducer::new(file);
        Ok((
            StreamReader::new(&mut store, producer)?,
            FutureReader::new(&mut store, result)?,
        ))
    }

    fn write_via_stream(
        mut store: Access<T, Self>,
        file: Resource<File>,
        mut data: StreamReader<u8>,
    ) -> wasmtime::Result<FutureReader<Result<u64, types::ErrorCode>>> {
        let file = store.get().table.get(&file)?.clone();
        let (consumer, result) = WriteStreamConsumer::new(file);
        match consumer {
            Some(consumer) => data.pipe(&mut store, consumer)?,
            None => data.close(&mut store)?,
        }
        FutureReader::new(&mut store, result)
    }
}

// ---- aiofs:fs/files ----

impl files::Host for AioFsCtxView<'_> {}

impl<T> files::HostWithStore<T> for AioFs {
    async fn open(
        acc: &Accessor<T, Self>,
        path: String,
        mode: String,
    ) -> HostResult<Resource<File>> {
        let opened = fs_of(acc).open(path, &mode).await;
        open_resource(acc, opened).await
    }

    async fn read_file(acc: &Accessor<T, Self>, path: String, max: u64) -> HostResult<Vec<u8>> {
        done(fs_of(acc).read_file(path, max).await)
    }

    async fn write_file(
        acc: &Accessor<T, Self>,
        path: String,
        data: Vec<u8>,
        atomic: bool,
    ) -> HostResult<()> {
        done(fs_of(acc).write_file(path, data, atomic).await)
    }
}

// ---- aiofs:fs/batch ----

impl From<batch::Op> for fs::batch::BatchOp {
    fn from(op: batch::Op) -> Self {
        use batch::Op as W;
        use fs::batch::BatchOp as B;
        match op {
            W::Stat(p) => B::Stat(p),
            W::Lstat(p) => B::Lstat(p),
            W::Exists(p) => B::Exists(p),
            W::IsFile(p) => B::IsFile(p),
            W::IsDir(p) => B::IsDir(p),
            W::ReadFile((path, max)) => B::ReadFile { path, max },
            W::WriteFile((path, data)) => B::WriteFile { path, data },
            W::Remove(p) => B::Remove(p),
            W::Mkdir(p) => B::Mkdir(p),
            W::Makedirs((path, exist_ok)) => B::Makedirs { path, exist_ok },
            W::Rmdir(p) => B::Rmdir(p),
            W::Rename((src, dst)) => B::Rename { src, dst },
        }
    }
}

impl From<fs::batch::BatchOutcome> for batch::Outcome {
    fn from(o: fs::batch::BatchOutcome) -> Self {
        use fs::batch::BatchOutcome as B;
        match o {
            B::Stat(st) => Self::Stat(st.into()),
            B::Flag(b) => Self::Flag(b),
            B::Data(d) => Self::Data(d),
            B::Done => Self::Done,
        }
    }
}

impl batch::Host for AioFsCtxView<'_> {}

impl<T> batch::HostWithStore<T> for AioFs {
    async fn run(
        acc: &Accessor<T, Self>,
        ops: Vec<batch::Op>,
    ) -> HostResult<Vec<Result<batch::Outcome, types::ErrorCode>>> {
        let ops = ops.into_iter().map(Into::into).collect();
        done_with(fs_of(acc).batch(ops).await, |items| {
            items
                .into_iter()
                .map(|r| r.map(Into::into).map_err(to_wit_error))
                .collect()
        })
    }
}

// ---- aiofs:fs/os ----

impl os::Host for AioFsCtxView<'_> {}

impl<T> os::HostWithStore<T> for AioFs {
    async fn stat(acc: &Accessor<T, Self>, path: String) -> HostResult<types::StatResult> {
        done(fs_of(acc).stat(path, true).await)
    }

    async fn lstat(acc: &Accessor<T, Self>, path: String) -> HostResult<types::StatResult> {
        done(fs_of(acc).stat(path, false).await)
    }

    async fn access(
        acc: &Accessor<T, Self>,
        path: String,
        mode: os::AccessMode,
    ) -> HostResult<bool> {
        done(fs_of(acc).access(path, mode.into()).await)
    }

    async fn listdir(acc: &Accessor<T, Self>, path: String) -> HostResult<Vec<String>> {
        done(fs_of(acc).listdir(path).await)
    }

    async fn scandir(
        acc: &Accessor<T, Self>,
        path: String,
        with_stat: bool,
    ) -> HostResult<Vec<types::DirEntry>> {
        done_with(fs_of(acc).scandir(path, with_stat).await, to_vecs)
    }

    async fn rename(acc: &Accessor<T, Self>, src: String, dst: String) -> HostResult<()> {
        done(fs_of(acc).rename(src, dst).await)
    }

    async fn replace(acc: &Accessor<T, Self>, src: String, dst: String) -> HostResult<()> {
        done(fs_of(acc).rename(src, dst).await)
    }

    async fn renames(acc: &Accessor<T, Self>, src: String, dst: String) -> HostResult<()> {
        done(fs_of(acc).renames(src, dst).await)
    }

    async fn remove(acc: &Accessor<T, Self>, path: String) -> HostResult<()> {
        done(fs_of(acc).remove_file(path).await)
    }

    async fn unlink(acc: &Accessor<T, Self>, path: String) -> HostResult<()> {
        done(fs_of(acc).remove_file(path).await)
    }

    async fn mkdir(acc: &Accessor<T, Self>, path: String) -> HostResult<()> {
        done(fs_of(acc).mkdir(path).await)
    }

    async fn makedirs(acc: &Accessor<T, Self>, path: String, exist_ok: bool) -> HostResult<()> {
        done(fs_of(acc).makedirs(path, exist_ok).await)
    }

    async fn rmdir(acc: &Accessor<T, Self>, path: String) -> HostResult<()> {
        done(fs_of(acc).rmdir(path).await)
    }

    async fn removedirs(acc: &Accessor<T, Self>, path: String) -> HostResult<()> {
        done(fs_of(acc).removedirs(path).await)
    }

    async fn link(acc: &Accessor<T, Self>, src: String, dst: String) -> HostResult<()> {
        done(fs_of(acc).link(src, dst).await)
    }

    async fn symlink(acc: &Accessor<T, Self>, target: String, link_path: String) -> HostResult<()> {
        done(fs_of(acc).symlink(target, link_path).await)
    }

    async fn readlink(acc: &Accessor<T, Self>, path: String) -> HostResult<String> {
        done(fs_of(acc).readlink(path).await)
    }

    async fn copy_file(acc: &Accessor<T, Self>, src: String, dst: String) -> HostResult<u64> {
        done(fs_of(acc).copy_file(src, dst).await)
    }

    async fn remove_tree(acc: &Accessor<T, Self>, path: String) -> HostResult<()> {
        done(fs_of(acc).remove_tree(path).await)
    }
}

// ---- aiofs:fs/path ----

impl path::Host for AioFsCtxView<'_> {}

impl<T> path::HostWithStore<T> for AioFs {
    async fn exists(acc: &Accessor<T, Self>, path: String) -> HostResult<bool> {
        done(fs_of(acc).exists(path).await)
    }

    async fn is_file(acc: &Accessor<T, Self>, path: String) -> HostResult<bool> {
        done(fs_of(acc).is_file(path).await)
    }

    async fn is_dir(acc: &Accessor<T, Self>, path: String) -> HostResult<bool> {
        done(fs_of(acc).is_dir(path).await)
    }

    async fn is_link(acc: &Accessor<T, Self>, path: String) -> HostResult<bool> {
        done(fs_of(acc).is_link(path).await)
    }

    async fn get_size(acc: &Accessor<T, Self>, path: String) -> HostResult<u64> {
        done_with(fs_of(acc).stat(path, true).await, |s| s.size)
    }

    async fn get_mtime(acc: &Accessor<T, Self>, path: String) -> HostResult<f64> {
        done_with(fs_of(acc).stat(path, true).await, |s| seconds(s.modified))
    }

    async fn get_atime(acc: &Accessor<T, Self>, path: String) -> HostResult<f64> {
        done_with(fs_of(acc).stat(path, true).await, |s| seconds(s.accessed))
    }

    async fn get_ctime(acc: &Accessor<T, Self>, path: String) -> HostResult<f64> {
        done_with(fs_of(acc).stat(path, true).await, |s| seconds(s.changed))
    }

    async fn samefile(acc: &Accessor<T, Self>, a: String, b: String) -> HostResult<bool> {
        done(fs_of(acc).samefile(a, b).await)
    }
}

// ---- aiofs:fs/tempfile ----

/// The table entry behind a guest `temp-dir` handle. Shared so that `cleanup` can run
/// outside the store while the handle stays in the table; the tree is removed when the
/// last reference goes.
#[derive(Clone)]
pub struct TempDirResource(Arc<TempDir>);

impl tempfile::Host for AioFsCtxView<'_> {}

impl tempfile::HostTempDir for AioFsCtxView<'_> {
    fn path(&mut self, dir: Resource<TempDirResource>) -> wasmtime::Result<String> {
        Ok(self.table.get(&dir)?.0.path().to_string())
    }

    fn drop(&mut self, dir: Resource<TempDirResource>) -> wasmtime::Result<()> {
        // Dropping the domain value removes the tree on the pool.
        self.table.delete(dir)?;
        Ok(())
    }
}

impl<T> tempfile::HostTempDirWithStore<T> for AioFs {
    async fn cleanup(acc: &Accessor<T, Self>, dir: Resource<TempDirResource>) -> HostResult<()> {
        let dir = cloned(acc, &dir)?;
        done(dir.0.cleanup().await)
    }
}

impl<T> tempfile::HostWithStore<T> for AioFs {
    async fn temporary_file(
        acc: &Accessor<T, Self>,
        mode: String,
        options: tempfile::TempOptions,
    ) -> HostResult<Resource<File>> {
        let opened = fs_of(acc).temporary_file(mode, options.into()).await;
        open_resource(acc, opened).await
    }

    async fn named_temporary_file(
        acc: &Accessor<T, Self>,
        mode: String,
        options: tempfile::TempOptions,
        delete: bool,
    ) -> HostResult<Resource<File>> {
        let opened = fs_of(acc)
            .named_temporary_file(mode, options.into(), delete)
            .await;
        open_resource(acc, opened).await
    }

    async fn temporary_directory(
        acc: &Accessor<T, Self>,
        options: tempfile::TempOptions,
    ) -> HostResult<Resource<TempDirResource>> {
        let made = fs_of(acc).temporary_directory(options.into()).await;
        open_resource(acc, made.map(|d| TempDirResource(Arc::new(d)))).await
    }
}

// ---- aiofs:fs/grants ----

impl grants::Host for AioFsCtxView<'_> {
    fn list_grants(&mut self) -> wasmtime::Result<Vec<grants::Grant>> {
        Ok(self
            .ctx
            .fs
            .grant_list()
            .into_iter()
            .map(|(guest_path, perms)| grants::Grant {
                guest_path,
                permission: match perms {
                    Perms::ReadOnly => grants::Permission::ReadOnly,
                    Perms::ReadWrite => grants::Permission::ReadWrite,
                },
            })
            .collect())
    }
}
