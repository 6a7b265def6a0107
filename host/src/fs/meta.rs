//! cap-std metadata as the domain [`Stat`].

use super::{FileType, Stat, Timestamp};
use cap_std::fs::{FileTypeExt, Metadata, MetadataExt};
use std::time::{SystemTime, UNIX_EPOCH};

/// The domain file type of a cap-std file type.
pub(super) fn file_type(ft: cap_std::fs::FileType) -> FileType {
    if ft.is_file() {
        FileType::RegularFile
    } else if ft.is_dir() {
        FileType::Directory
    } else if ft.is_symlink() {
        FileType::SymbolicLink
    } else if ft.is_block_device() {
        FileType::BlockDevice
    } else if ft.is_char_device() {
        FileType::CharacterDevice
    } else if ft.is_fifo() {
        FileType::Fifo
    } else if ft.is_socket() {
        FileType::Socket
    } else {
        FileType::Unknown
    }
}

/// `stat` output as a [`Stat`].
pub(super) fn stat(md: &Metadata) -> Stat {
    Stat {
        file_type: file_type(md.file_type()),
        size: md.len(),
        mode: md.mode() & 0o7777,
        link_count: md.nlink(),
        inode: md.ino(),
        device: md.dev(),
        accessed: timestamp(md.atime(), md.atime_nsec()),
        modified: timestamp(md.mtime(), md.mtime_nsec()),
        changed: timestamp(md.ctime(), md.ctime_nsec()),
        created: md.created().ok().and_then(|t| system_time(t.into_std())),
    }
}

/// Seconds and nanoseconds from `stat`, normalised so that `0 <= nanoseconds < 10^9`.
fn timestamp(seconds: i64, nanos: i64) -> Option<Timestamp> {
    let seconds = seconds.checked_add(nanos.div_euclid(1_000_000_000))?;
    let nanoseconds = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    Some(Timestamp {
        seconds,
        nanoseconds,
    })
}

/// A `SystemTime` as a [`Timestamp`] (negative seconds before 1970).
pub(super) fn system_time(t: SystemTime) -> Option<Timestamp> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => timestamp(i64::try_from(d.as_secs()).ok()?, d.subsec_nanos().into()),
        Err(e) => {
            let d = e.duration();
            timestamp(
                i64::try_from(d.as_secs()).ok()?.checked_neg()?,
                -i64::from(d.subsec_nanos()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_normalise() {
        let ts = |s, n| Timestamp {
            seconds: s,
            nanoseconds: n,
        };
        assert_eq!(timestamp(5, 7), Some(ts(5, 7)));
        assert_eq!(timestamp(5, 1_500_000_000), Some(ts(6, 500_000_000)));
        assert_eq!(timestamp(0, -1), Some(ts(-1, 999_999_999)));
        assert_eq!(
            system_time(UNIX_EPOCH + Duration::new(3, 25)),
            Some(ts(3, 25))
        );
        // 1.25 s before the epoch is -2 s + 0.75 s.
        assert_eq!(
            system_time(UNIX_EPOCH - Duration::new(1, 250_000_000)),
            Some(ts(-2, 750_000_000))
        );
        assert_eq!(system_time(UNIX_EPOCH), Some(ts(0, 0)));
    }
}
