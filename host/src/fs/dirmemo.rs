//! A batch's memo of the directory its lookups go through.
//!
//! A lookup (`stat`, `exists`, `is-file`, ...) of `dir/name` resolves the whole path beneath
//! the grant each time: cap-std opens it `O_PATH` with `openat2(RESOLVE_BENEATH)`, `fstat`s
//! and closes it, three system calls where a native `stat` makes one. A batch of lookups
//! mostly asks about names in one directory, so while a batch runs its lookups
//! ([`Memo::enable`]), the directory the last one went through stays open, and a lookup of a
//! plain name in it is one `fstatat(AT_SYMLINK_NOFOLLOW)` relative to that descriptor (cap-std's
//! own single-component path). The memo only ever shortens the work, never changes an
//! answer:
//!
//! - the directory is opened through cap-std beneath the grant, as the full lookup would
//!   resolve it, and the last component is a plain name looked up without following it, so
//!   nothing outside the grant can be reached;
//! - only paths of plain names qualify (no `..`, no `.`, no trailing `/` demanding a
//!   directory); a symlink found while following, and every error, is looked up again the
//!   full way, which gives the canonical answer and error;
//! - the memo lives for one run of lookups in one batch job, on its thread: the batch forgets
//!   it before every item that may change names (so a batch that renames `d` and then asks
//!   about `d/x` sees the rename) and when the job ends.

use cap_std::fs::{Dir, Metadata};
use std::cell::RefCell;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Component, Path, PathBuf};

/// The directory the last lookup went through.
struct Entry {
    /// The grant directory it was resolved from (its descriptor number: stable while the
    /// store, and so the batch, lives).
    start: RawFd,
    /// Its path beneath the grant.
    parent: PathBuf,
    /// The open directory; `None` when it could not be opened (the full way decides).
    dir: Option<Dir>,
}

thread_local! {
    /// `None`: no batch on this thread is memoizing; `Some(None)`: one is, nothing memoized yet.
    static MEMO: RefCell<Option<Option<Entry>>> = const { RefCell::new(None) };
}

/// Memoizing on this thread until dropped (see the [module docs](self)).
pub(crate) struct Memo(());

impl Memo {
    /// Start memoizing lookups on this thread.
    pub(crate) fn enable() -> Memo {
        MEMO.with(|m| *m.borrow_mut() = Some(None));
        Memo(())
    }

    /// Close the memoized directory (before an item that may change names).
    pub(crate) fn forget(&self) {
        MEMO.with(|m| *m.borrow_mut() = Some(None));
    }
}

impl Drop for Memo {
    fn drop(&mut self) {
        MEMO.with(|m| *m.borrow_mut() = None);
    }
}

/// The metadata of `rel` beneath `start` through the memo, if this thread is memoizing and
/// the memo can answer; `None`: look it up the full way.
pub(crate) fn lookup(start: &Dir, rel: &Path, follow: bool) -> Option<Metadata> {
    let raw = rel.as_os_str().as_encoded_bytes();
    if raw.ends_with(b"/") || raw.ends_with(b"/.") {
        return None;
    }
    let parent = rel.parent()?;
    let name = rel.file_name()?;
    if parent.as_os_str().is_empty() || !plain(rel) {
        return None;
    }
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        let slot = m.as_mut()?;
        let fd = start.as_raw_fd();
        if !slot
            .as_ref()
            .is_some_and(|e| e.start == fd && e.parent == parent)
        {
            *slot = Some(Entry {
                start: fd,
                parent: parent.to_path_buf(),
                dir: start.open_dir(parent).ok(),
            });
        }
        let md = slot.as_ref()?.dir.as_ref()?.symlink_metadata(name).ok()?;
        if follow && md.is_symlink() {
            return None;
        }
        #[cfg(test)]
        HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(md)
    })
}

/// Whether every component of `rel` is a plain name.
fn plain(rel: &Path) -> bool {
    rel.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Lookups the memo answered, in this test process (tests read how it grew).
#[cfg(test)]
pub(crate) static HITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
