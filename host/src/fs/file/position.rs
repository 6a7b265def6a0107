//! The position and the file as a whole: `seek`, `tell`, `truncate`, `flush` and the
//! syncs, each in order with the file's other operations.

use super::{File, Need};
use crate::error::FsResult;
use crate::fs::Whence;
use crate::obs::OpKind;

#[allow(
    missing_docs,
    reason = "each method is documented in wit/aiofs.wit under the same name"
)]
impl File {
    pub async fn seek(&self, offset: i64, whence: Whence) -> FsResult<u64> {
        self.observe(OpKind::Seek)
            .bytes(0)
            .run(async {
                let (slot, mut guard) = self.enter(Need::Open).await?;
                // Without the end of the file in play the new position is pure arithmetic.
                match whence {
                    Whence::Start => return guard.cur.seek_to(0, offset),
                    Whence::Current if !guard.cur.at_end_pending => {
                        let base = guard.cur.pos;
                        return guard.cur.seek_to(base, offset);
                    }
                    _ => {}
                }
                self.run(slot, guard, move |cur, file, _| {
                    let base = match whence {
                        Whence::Start => 0,
                        Whence::Current => cur.resolve(file)?,
                        Whence::End => file.len()?,
                    };
                    cur.seek_to(base, offset)
                })
                .await
            })
            .await
    }
    pub async fn tell(&self) -> FsResult<u64> {
        self.observe(OpKind::Seek)
            .bytes(0)
            .run(async {
                let (slot, guard) = self.enter(Need::Open).await?;
                if !guard.cur.at_end_pending {
                    return Ok(guard.cur.pos);
                }
                self.run(slot, guard, |cur, file, _| Ok(cur.resolve(file)?))
                    .await
            })
            .await
    }
    pub async fn truncate(&self, size: Option<u64>) -> FsResult<u64> {
        self.observe(OpKind::Truncate)
            .bytes(0)
            .run(async {
                let budget = self.inner.budget.clone();
                let counters = self.inner.fs.counters.clone();
                self.op(Need::Write, move |cur, file, _| {
                    let size = match size {
                        Some(size) => size,
                        None => cur.resolve(file)?,
                    };
                    budget.check_size(size)?;
                    // Counted as growth to `size` while it runs (see `run_write`).
                    let _growth = match budget.quota().max_file_size {
                        Some(max) => counters.growth.reserve_on(file, max, size, |_| size)?,
                        None => None,
                    };
                    cur.invalidate();
                    file.set_len(size)?;
                    Ok(size)
                })
                .await
            })
            .await
    }
    pub async fn flush(&self) -> FsResult<()> {
        self.observe(OpKind::Flush)
            .run(async { self.enter(Need::Open).await.map(drop) })
            .await
    }
    pub async fn sync(&self) -> FsResult<()> {
        self.observe(OpKind::Sync)
            .run(async { self.op(Need::Open, |_, file, _| Ok(file.sync_all()?)).await })
            .await
    }
    pub async fn sync_data(&self) -> FsResult<()> {
        self.observe(OpKind::Sync)
            .run(async {
                self.op(Need::Open, |_, file, _| Ok(file.sync_data()?))
                    .await
            })
            .await
    }
}
