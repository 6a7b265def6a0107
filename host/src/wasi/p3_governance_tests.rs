//! Hostile use of the `wasi:filesystem@0.3` stream adapters, and `aiofs:fs`'s read stream
//! (no guest): the producers and consumers driven through wasmtime's own stream machinery (a host-to-host pipe in a
//! store with concurrency support), checked against what they are charged.

use super::*;
use crate::fs::{Fs, OpenRequest, Opened};
use crate::{Limits, Perms};
use std::sync::{Arc, Mutex};
use wasmtime::component::{StreamReader, WriteBuffer};
use wasmtime::{AsContextMut, Store};

/// A store whose host can make and pipe streams.
fn store() -> Store<()> {
    let mut config = wasmtime::Config::new();
    config.concurrency_support(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    Store::new(&engine, ())
}

/// A store of aiofs with one read-write grant at `dir` (one pool thread; nothing read
/// inline, so every chunk goes to the pool).
fn fs_at(dir: &std::path::Path, limits: Limits) -> Fs {
    let limits = Limits {
        max_inline_bytes: 0,
        ..limits
    };
    crate::AioFsCtx::builder()
        .grant(dir, "/data", Perms::ReadWrite)
        .unwrap()
        .limits(limits)
        .pool(crate::Pool::new(1))
        .build()
        .fs()
        .clone()
}

/// Open `path` under the grant.
async fn open(fs: &Fs, path: &str, read: bool, write: bool) -> File {
    let req = OpenRequest {
        read,
        write,
        create: write,
        ..OpenRequest::default()
    };
    match fs.open_at(path.into(), req).await.unwrap() {
        Opened::File(f) => f,
        Opened::Dir(_) => panic!("a file"),
    }
}

/// A host reader of a byte stream: takes everything it is offered.
struct Collect(Arc<Mutex<Vec<u8>>>);

impl<D> StreamConsumer<D> for Collect {
    type Item = u8;

    fn poll_consume(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        mut store: StoreContextMut<D>,
        mut src: Source<u8>,
        _finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let mut buf = Vec::with_capacity(src.remaining(&mut store));
        src.read(&mut store, &mut buf)?;
        self.0.lock().unwrap().extend(buf);
        Poll::Ready(Ok(StreamResult::Completed))
    }
}

/// A read-stream producer (`P`: the 0.3 [`ReadProducer`] or `aiofs:fs`'s
/// `ReadStreamProducer`) that, each time it has to wait, looks at what the stream's
/// buffer (kept by wasmtime between reads) still holds: a chunk the reader has taken may
/// only stay there while its charge does (`charged` says whether the producer still
/// holds the charge of the chunk it handed over).
struct Watch<P> {
    inner: P,
    charged: fn(&P) -> bool,
    /// One line per wait that found a chunk held uncharged.
    uncharged: Arc<Mutex<Vec<String>>>,
}

impl<D, P> StreamProducer<D> for Watch<P>
where
    P: StreamProducer<D, Item = u8, Buffer = VecBuffer<u8>> + Unpin,
{
    type Item = u8;
    type Buffer = VecBuffer<u8>;

    fn poll_produce<'a>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, u8, VecBuffer<u8>>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let me = &mut *self;
        let poll = Pin::new(&mut me.inner).poll_produce(
            cx,
            store.as_context_mut(),
            dst.reborrow(),
            finish,
        );
        if poll.is_pending() {
            let buffer = dst.take_buffer();
            // An empty buffer with no allocation points nowhere (a dangling pointer); one
            // whose bytes were all taken still points into its allocation.
            let allocated = WriteBuffer::remaining(&buffer).as_ptr()
                != std::ptr::NonNull::<u8>::dangling().as_ptr();
            if allocated && !(me.charged)(&me.inner) {
                me.uncharged
                    .lock()
                    .unwrap()
                    .push("a taken chunk still held, its charge given back".to_string());
            }
            dst.set_buffer(buffer);
        }
        poll
    }
}

/// Read a 192 KiB file through a producer `make` builds for it (with the future that
/// reports how its stream ended), watched by [`Watch`] under a budget with room for one
/// 64 KiB chunk but not for reading 128 KiB ahead beside it (so the stream asks the pool
/// again only once the reader has taken the chunk). Returns the stream's outcome, whether
/// the bytes read were the file's, and the waits that found a chunk held uncharged.
async fn watch_a_read<P, R, T>(
    make: impl FnOnce(File) -> (P, R),
    charged: fn(&P) -> bool,
) -> (T, bool, Vec<String>)
where
    P: StreamProducer<(), Item = u8, Buffer = VecBuffer<u8>> + Unpin + Send + 'static,
    R: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3 * 65536u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("f"), &data).unwrap();
    let fs = fs_at(
        dir.path(),
        Limits {
            max_inflight_bytes: 100_000,
            ..Limits::default()
        },
    );
    let file = open(&fs, "f", true, false).await;
    let mut store = store();
    let got = Arc::new(Mutex::new(Vec::new()));
    let uncharged = Arc::new(Mutex::new(Vec::new()));
    let (inner, result) = make(file);
    let producer = Watch {
        inner,
        charged,
        uncharged: uncharged.clone(),
    };
    let reader = StreamReader::new(&mut store, producer).unwrap();
    reader.pipe(&mut store, Collect(got.clone())).unwrap();
    let outcome = store.run_concurrent(async |_| result.await).await.unwrap();
    let same = *got.lock().unwrap() == data;
    let uncharged = uncharged.lock().unwrap().clone();
    (outcome, same, uncharged)
}

/// A read stream holds each chunk, charged, until the reader has taken it; wasmtime
/// keeps the chunk's buffer (its allocation, even once every byte is taken) until the
/// producer sets the next one. So the producer must drop that buffer before it gives the
/// chunk's charge back: it gave it back first, then waited for the next chunk (on the
/// pool, or for room in the budget), holding the last chunk (up to 1 MiB per stream)
/// uncharged all that time, and for good after the end of the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_read_chunk_is_freed_before_its_charge_is_given_back() {
    let (outcome, same, uncharged) = watch_a_read(
        |file| {
            let (tx, rx) = oneshot::channel();
            let slot = file.stream_slot(false).unwrap();
            (ReadProducer::new(file, 0, slot, tx), rx)
        },
        |p: &ReadProducer| p.handed.is_some(),
    )
    .await;
    assert!(matches!(outcome, Ok(Ok(()))), "{outcome:?}");
    assert!(same, "the bytes read are the file's");
    assert!(uncharged.is_empty(), "{uncharged:#?}");
}

/// The same for `aiofs:fs`'s `read-via-stream` (`ReadStreamProducer`): a chunk the reader
/// has taken is freed before its charge is given back. It gave the charge back first and
/// then waited for the next chunk, holding the last one uncharged meanwhile (and for good
/// after the end of the file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiofs_read_stream_frees_a_taken_chunk_before_its_charge() {
    use crate::stream::ReadStreamProducer;
    let (outcome, same, uncharged) = watch_a_read(
        ReadStreamProducer::new,
        ReadStreamProducer::holds_handed_charge,
    )
    .await;
    assert!(matches!(outcome, Ok(Ok(()))), "{outcome:?}");
    assert!(same, "the bytes read are the file's");
    assert!(uncharged.is_empty(), "{uncharged:#?}");
}

/// Reading ahead is a guess the reader may never come back for: it must not wait for the
/// file. A read-ahead queued behind another operation of the file took the file when that
/// operation ended, but nothing polls a read-ahead until the reader asks for more, so
/// every later operation of the file (a `stat`, a `set-size`, another stream) waited for
/// a reader that might be waiting for them: the guest hung. It now reads ahead only when
/// the file is free, as `aiofs:fs` streams do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_ahead_never_holds_up_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), vec![1u8; 200_000]).unwrap();
    let fs = fs_at(dir.path(), Limits::default());
    let file = open(&fs, "f", true, false).await;
    let (tx, _rx) = oneshot::channel();
    let mut producer = ReadProducer::new(file.clone(), 0, file.stream_slot(false).unwrap(), tx);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    // The pool's one thread runs a job the test holds, and a `stat` of the file holds the
    // file, queued behind it, when the stream reads ahead.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let mut blocker = std::pin::pin!(fs.blocking(move || {
        gate.recv().ok();
        Ok(())
    }));
    assert!(blocker.as_mut().poll(&mut cx).is_pending());
    let mut stat = std::pin::pin!(file.stat());
    assert!(stat.as_mut().poll(&mut cx).is_pending());
    producer.read_ahead(&mut cx);
    release.send(()).unwrap();
    blocker.await.unwrap();
    stat.await.unwrap();
    // The reader has not come back; the file's next operation must not wait for it.
    let next = tokio::time::timeout(std::time::Duration::from_secs(30), file.stat()).await;
    assert!(
        next.is_ok(),
        "a stat of the file waited for a read-ahead nobody polls"
    );
    drop(producer);
}
