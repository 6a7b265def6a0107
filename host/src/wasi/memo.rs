//! One `stat` answered once for two calls.
//!
//! wasi-libc (on WASI 0.2 and 0.3) implements each `stat`, `lstat` and `fstat` as two calls
//! on the same object: `metadata-hash(-at)` for `st_ino`, then `stat(-at)` for the rest.
//! Each would cost a trip to the pool. The first call keeps its result in the descriptor's
//! [`StatMemo`] and the second takes it from there.
//!
//! A memo is made only by a stat that ran alone on the pool (idle when it was queued, and
//! no other job taken until it finished), and answers at most one call, only for the same
//! path, and only if the pool took no job at all since: every change to a file, through
//! either surface and by any store sharing the pool, is a pool job, so the answer is exactly
//! what a second `stat` right then would return, except for changes made outside aiofs in
//! between (which the two calls race anyway, as two system calls natively would).

use super::{pool_jobs as jobs, pool_jobs_if_idle};
use crate::error::FsResult;
use crate::fs::{FileType, Fs, Stat};
use std::sync::{Arc, Mutex};

/// The last `stat` of a descriptor (of itself, or of a path beneath it), kept for the one
/// call that may ask for it again. Clones share the memo.
#[derive(Clone, Default)]
pub struct StatMemo(Arc<Mutex<Option<Memo>>>);

struct Memo {
    /// `None`: the descriptor itself.
    path: Option<String>,
    follow: bool,
    stat: Stat,
    /// [`jobs`] right after the stat's own job.
    jobs: u64,
}

impl StatMemo {
    /// Stat `path` (`None`: the descriptor itself) with `run`, or take the answer the
    /// previous call left if it still holds.
    pub(crate) async fn stat(
        &self,
        fs: &Fs,
        path: Option<&str>,
        follow: bool,
        run: impl Future<Output = FsResult<Stat>>,
    ) -> FsResult<Stat> {
        if let Some(stat) = self.take(fs, path, follow) {
            return Ok(stat);
        }
        let before = pool_jobs_if_idle(fs);
        let stat = run.await?;
        // Kept only if the stat ran alone: the pool was idle when it was queued (no write
        // in flight could land after it) and it was the one job taken meanwhile.
        let after = jobs(fs);
        *self.lock() = before.is_some_and(|b| after == b + 1).then(|| Memo {
            path: path.map(str::to_owned),
            follow,
            stat: stat.clone(),
            jobs: after,
        });
        Ok(stat)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Memo>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept answer, once, if it is for this question and nothing ran since.
    fn take(&self, fs: &Fs, path: Option<&str>, follow: bool) -> Option<Stat> {
        let memo = self.lock().take()?;
        // Not following a symlink gives the same answer as following one when the
        // object is not a symlink (wasi-libc's `stat` asks without, then with).
        let same_question = memo.path.as_deref() == path
            && (memo.follow == follow
                || (!memo.follow && memo.stat.file_type != FileType::SymbolicLink));
        (same_question && jobs(fs) == memo.jobs).then_some(memo.stat)
    }
}
