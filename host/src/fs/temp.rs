//! Temporary directories.

use crate::error::FsResult;

/// A temporary directory inside a grant; removed (recursively, on the pool) when dropped
/// unless `cleanup` already removed it.
#[derive(Debug)]
pub struct TempDir {
    guest_path: String,
}

impl TempDir {
    /// The guest path of the directory.
    pub fn path(&self) -> &str {
        &self.guest_path
    }

    /// Remove the tree now; later calls and the drop do nothing.
    pub async fn cleanup(&self) -> FsResult<()> {
        todo!()
    }
}
