//! The domain error type and the one mapping from `std::io::Error` to it.

use std::io;

/// Why an operation failed; mirrors the WIT `error-code` enum case for case.
///
/// This is the bindings-free twin of `aiofs:fs/types.error-code`: the domain layer returns
/// it, and `host.rs` converts it to the generated type in exactly one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[allow(missing_docs, reason = "each variant is documented in wit/aiofs.wit")]
pub enum ErrorCode {
    #[error("permission denied")]
    Access,
    #[error("bad file descriptor")]
    BadDescriptor,
    #[error("resource busy")]
    Busy,
    #[error("cross-device link")]
    CrossDevice,
    #[error("file exists")]
    Exist,
    #[error("file too large")]
    FileTooLarge,
    #[error("illegal byte sequence")]
    IllegalByteSequence,
    #[error("no space left on device")]
    InsufficientSpace,
    #[error("out of memory")]
    InsufficientMemory,
    #[error("interrupted")]
    Interrupted,
    #[error("invalid argument")]
    Invalid,
    #[error("invalid seek")]
    InvalidSeek,
    #[error("input/output error")]
    Io,
    #[error("is a directory")]
    IsDirectory,
    #[error("too many levels of symbolic links")]
    Loop,
    #[error("name too long")]
    NameTooLong,
    #[error("no such file or directory")]
    NoEntry,
    #[error("not a directory")]
    NotDirectory,
    #[error("directory not empty")]
    NotEmpty,
    #[error("not permitted: outside every grant")]
    NotPermitted,
    #[error("value too large")]
    Overflow,
    #[error("quota exceeded")]
    Quota,
    #[error("read-only grant")]
    ReadOnly,
    #[error("too many links")]
    TooManyLinks,
    #[error("unsupported")]
    Unsupported,
}

/// Result of a domain operation.
pub type FsResult<T> = Result<T, ErrorCode>;

impl From<io::Error> for ErrorCode {
    fn from(err: io::Error) -> Self {
        from_io_error(&err)
    }
}

/// Map an `io::Error` to an [`ErrorCode`]: errno first, then `ErrorKind`, then `Io`.
///
/// cap-std reports sandbox escapes as `PermissionDenied` *without* an errno; those become
/// [`ErrorCode::NotPermitted`], while a real `EACCES`/`EPERM` becomes [`ErrorCode::Access`].
pub fn from_io_error(err: &io::Error) -> ErrorCode {
    todo!("errno table, ErrorKind fallback: {err}")
}
