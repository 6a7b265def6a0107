//! `close` reports what a write stream lost, and nothing a read stream did.

use super::{ReadStreamProducer, WriteStreamConsumer};
use crate::{AioFsCtx, Perms};

/// A read stream refused at its start (a text-mode file), its result future dropped
/// unread, leaves `close` of a good file fine: the WIT's `close` reports the first
/// unobserved error of a *write* stream, and a read loses nothing. (It reported the read
/// stream's `invalid`.) A write stream's unobserved refusal is still reported: the bytes
/// the guest sent into it went nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_reports_unobserved_write_stream_errors_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"text\n").unwrap();
    let ctx = AioFsCtx::builder()
        .grant(dir.path(), "/data", Perms::ReadWrite)
        .unwrap()
        .build();
    let fs = ctx.fs();
    let file = fs.open("/data/f".into(), "r").await.unwrap();
    let (producer, result) = ReadStreamProducer::new(file.clone());
    drop(result);
    drop(producer);
    assert_eq!(file.close().await, Ok(()));

    let file = fs.open("/data/f".into(), "rb").await.unwrap();
    let (consumer, result) = WriteStreamConsumer::new(file.clone());
    assert!(consumer.is_none(), "a read-only file takes no write stream");
    drop(result);
    assert!(file.close().await.is_err(), "the lost write is reported");
}
