//! Temporary directories.

use super::{Fs, OpenSlot};
use crate::error::{ErrorCode, FsResult};
use crate::grant::Grant;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// close is).
    _slot: OpenSlot,
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
            _slot: slot,
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
        let dir = self.grant.dir.clone();
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
        let dir = self.grant.dir.clone();
        let rel = std::mem::take(&mut self.rel);
        self.fs
            .spawn_detached(move || match super::remove_tree_chunked(&dir, &rel) {
                Ok(()) | Err(ErrorCode::NoEntry) => {}
                Err(e) => tracing::warn!("removing temporary directory {rel:?}: {e}"),
            });
    }
}
