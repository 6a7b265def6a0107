//! Directory grants and guest-path resolution.

use crate::error::FsResult;
use std::path::PathBuf;
use std::sync::Arc;

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perms {
    /// Reading only; every mutating operation fails with `read-only` before any work is queued.
    ReadOnly,
    /// Reading and writing.
    ReadWrite,
}

impl Perms {
    /// True for [`Perms::ReadWrite`].
    pub fn can_write(self) -> bool {
        matches!(self, Perms::ReadWrite)
    }
}

/// One directory mounted into the guest's path space.
#[derive(Debug)]
pub struct Grant {
    /// The granted directory; every path under the mount resolves beneath it via cap-std.
    pub dir: Arc<cap_std::fs::Dir>,
    /// Normalised absolute guest mount path (`/`, `/data`, `/data/sub`; no trailing slash).
    pub guest_path: String,
    /// What the grant allows.
    pub perms: Perms,
}

/// A guest path resolved to a grant and a path relative to the grant's directory.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The grant the path falls under.
    pub grant: Arc<Grant>,
    /// The rest of the path, relative (never absolute); `.` for the mount point itself.
    /// May still contain `..` or lead through symlinks: cap-std decides.
    pub rel: PathBuf,
}

/// The ordered set of grants of one store.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    grants: Vec<Arc<Grant>>,
}

impl Grants {
    /// Add a grant (order matters: the first is where relative paths resolve).
    pub fn push(&mut self, grant: Grant) {
        self.grants.push(Arc::new(grant));
    }

    /// All grants in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Grant>> {
        self.grants.iter()
    }

    /// Resolve a guest path (see the WIT package docs). Errors: `invalid` for NUL,
    /// `no-entry` for an empty path, `name-too-long` above `max_len`, `not-permitted`
    /// when no grant's mount is a component-wise prefix of an absolute path (or there are
    /// no grants).
    pub fn resolve(&self, path: &str, max_len: usize) -> FsResult<Resolved> {
        todo!("{path} {max_len}")
    }
}

/// Normalise a guest mount path: make it absolute, drop `.`/empty components and any
/// trailing `/`. `..` is rejected with `invalid`.
pub fn normalize_mount(guest_path: &str) -> FsResult<String> {
    todo!("{guest_path}")
}
