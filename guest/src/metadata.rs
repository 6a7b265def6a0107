//! Conveniences on the metadata records of the WIT contract.

use std::time::{Duration, SystemTime};

use crate::bindings::aiofs::fs::grants::{Grant, Permission};
use crate::bindings::aiofs::fs::types::{DirEntry, FileType, StatResult, Timestamp};

impl Timestamp {
    /// Seconds since the Unix epoch as a float, like Python's `os.path.getmtime`.
    pub fn as_secs_f64(&self) -> f64 {
        self.seconds as f64 + f64::from(self.nanoseconds) / 1e9
    }

    /// The same instant as a [`SystemTime`] (`None` if it does not fit).
    pub fn to_system_time(&self) -> Option<SystemTime> {
        let nanos = Duration::from_nanos(u64::from(self.nanoseconds));
        if self.seconds >= 0 {
            SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_secs(self.seconds.unsigned_abs()))?
                .checked_add(nanos)
        } else {
            SystemTime::UNIX_EPOCH
                .checked_sub(Duration::from_secs(self.seconds.unsigned_abs()))?
                .checked_add(nanos)
        }
    }
}

impl StatResult {
    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.type_ == FileType::RegularFile
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.type_ == FileType::Directory
    }

    /// True for a symbolic link (only reported by `lstat`).
    pub fn is_symlink(&self) -> bool {
        self.type_ == FileType::SymbolicLink
    }

    /// The size in bytes (the same as the `size` field).
    pub fn len(&self) -> u64 {
        self.size
    }

    /// True if the size is zero.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// True if no write permission bit is set (`mode & 0o222 == 0`).
    pub fn is_readonly(&self) -> bool {
        self.mode & 0o222 == 0
    }
}

impl DirEntry {
    /// True for a regular file (symlinks are not followed).
    pub fn is_file(&self) -> bool {
        self.type_ == FileType::RegularFile
    }

    /// True for a directory (symlinks are not followed).
    pub fn is_dir(&self) -> bool {
        self.type_ == FileType::Directory
    }

    /// True for a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.type_ == FileType::SymbolicLink
    }
}

impl Grant {
    /// True if the grant allows writing.
    pub fn is_writable(&self) -> bool {
        self.permission == Permission::ReadWrite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_convert_both_sides_of_the_epoch() {
        let t = Timestamp {
            seconds: 1,
            nanoseconds: 500_000_000,
        };
        assert_eq!(t.as_secs_f64(), 1.5);
        assert_eq!(
            t.to_system_time(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1500))
        );
        let before = Timestamp {
            seconds: -2,
            nanoseconds: 500_000_000,
        };
        assert_eq!(before.as_secs_f64(), -1.5);
        assert_eq!(
            before.to_system_time(),
            Some(SystemTime::UNIX_EPOCH - Duration::from_millis(1500))
        );
    }
}
