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

/// The domain code as the same-named case of a generated WIT `error-code` enum `$w` (an
/// identifier in scope: `aiofs:fs`, `wasi:filesystem@0.2` and `@0.3` each have their own
/// type with the same cases). One list for every surface; a case missing on either side
/// fails to compile.
macro_rules! same_code {
    ($e:expr, $w:ident) => {{
        use $crate::error::ErrorCode as D;
        match $e {
            D::Access => $w::Access,
            D::BadDescriptor => $w::BadDescriptor,
            D::Busy => $w::Busy,
            D::CrossDevice => $w::CrossDevice,
            D::Exist => $w::Exist,
            D::FileTooLarge => $w::FileTooLarge,
            D::IllegalByteSequence => $w::IllegalByteSequence,
            D::InsufficientSpace => $w::InsufficientSpace,
            D::InsufficientMemory => $w::InsufficientMemory,
            D::Interrupted => $w::Interrupted,
            D::Invalid => $w::Invalid,
            D::InvalidSeek => $w::InvalidSeek,
            D::Io => $w::Io,
            D::IsDirectory => $w::IsDirectory,
            D::Loop => $w::Loop,
            D::NameTooLong => $w::NameTooLong,
            D::NoEntry => $w::NoEntry,
            D::NotDirectory => $w::NotDirectory,
            D::NotEmpty => $w::NotEmpty,
            D::NotPermitted => $w::NotPermitted,
            D::Overflow => $w::Overflow,
            D::Quota => $w::Quota,
            D::ReadOnly => $w::ReadOnly,
            D::TooManyLinks => $w::TooManyLinks,
            D::Unsupported => $w::Unsupported,
        }
    }};
}
pub(crate) use same_code;

impl ErrorCode {
    /// Every code, in declaration order (`code as usize` indexes it).
    pub const ALL: [ErrorCode; 25] = [
        ErrorCode::Access,
        ErrorCode::BadDescriptor,
        ErrorCode::Busy,
        ErrorCode::CrossDevice,
        ErrorCode::Exist,
        ErrorCode::FileTooLarge,
        ErrorCode::IllegalByteSequence,
        ErrorCode::InsufficientSpace,
        ErrorCode::InsufficientMemory,
        ErrorCode::Interrupted,
        ErrorCode::Invalid,
        ErrorCode::InvalidSeek,
        ErrorCode::Io,
        ErrorCode::IsDirectory,
        ErrorCode::Loop,
        ErrorCode::NameTooLong,
        ErrorCode::NoEntry,
        ErrorCode::NotDirectory,
        ErrorCode::NotEmpty,
        ErrorCode::NotPermitted,
        ErrorCode::Overflow,
        ErrorCode::Quota,
        ErrorCode::ReadOnly,
        ErrorCode::TooManyLinks,
        ErrorCode::Unsupported,
    ];

    /// The WIT name of the code (`read-only`, `not-permitted`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Access => "access",
            ErrorCode::BadDescriptor => "bad-descriptor",
            ErrorCode::Busy => "busy",
            ErrorCode::CrossDevice => "cross-device",
            ErrorCode::Exist => "exist",
            ErrorCode::FileTooLarge => "file-too-large",
            ErrorCode::IllegalByteSequence => "illegal-byte-sequence",
            ErrorCode::InsufficientSpace => "insufficient-space",
            ErrorCode::InsufficientMemory => "insufficient-memory",
            ErrorCode::Interrupted => "interrupted",
            ErrorCode::Invalid => "invalid",
            ErrorCode::InvalidSeek => "invalid-seek",
            ErrorCode::Io => "io",
            ErrorCode::IsDirectory => "is-directory",
            ErrorCode::Loop => "loop",
            ErrorCode::NameTooLong => "name-too-long",
            ErrorCode::NoEntry => "no-entry",
            ErrorCode::NotDirectory => "not-directory",
            ErrorCode::NotEmpty => "not-empty",
            ErrorCode::NotPermitted => "not-permitted",
            ErrorCode::Overflow => "overflow",
            ErrorCode::Quota => "quota",
            ErrorCode::ReadOnly => "read-only",
            ErrorCode::TooManyLinks => "too-many-links",
            ErrorCode::Unsupported => "unsupported",
        }
    }

    /// What kind of refusal this code is, if it is one: the sandbox or a permission said
    /// no (`not-permitted`, `read-only`, `access`), or a limit or quota did (`quota`,
    /// `file-too-large`, `insufficient-memory` from the byte budget, `interrupted` from
    /// `max_op_duration`). Ordinary failures (`no-entry`, `exist`, ...) are `None`.
    pub fn refusal(self) -> Option<Refusal> {
        match self {
            ErrorCode::NotPermitted | ErrorCode::ReadOnly | ErrorCode::Access => {
                Some(Refusal::Denied)
            }
            ErrorCode::Quota
            | ErrorCode::FileTooLarge
            | ErrorCode::InsufficientMemory
            | ErrorCode::Interrupted => Some(Refusal::Limited),
            _ => None,
        }
    }
}

/// Why an operation was refused (see [`ErrorCode::refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Outside every grant, a read-only grant, or the host's own permissions.
    Denied,
    /// A limit, quota or budget.
    Limited,
}

impl Refusal {
    /// `denied` or `limited`.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Denied => "denied",
            Refusal::Limited => "limited",
        }
    }
}

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
    if let Some(code) = err.raw_os_error().and_then(from_errno) {
        return code;
    }
    from_kind(err)
}

/// The errno table. `None` for an errno without a closer code than the `ErrorKind` gives.
#[cfg(unix)]
fn from_errno(errno: i32) -> Option<ErrorCode> {
    use ErrorCode::*;
    // `match` guards instead of patterns: several constants share values on some platforms
    // (EAGAIN/EWOULDBLOCK, ENOTSUP/EOPNOTSUPP on Linux), which patterns would reject.
    let table: &[(i32, ErrorCode)] = &[
        (libc::ENOENT, NoEntry),
        (libc::EEXIST, Exist),
        (libc::ENOTDIR, NotDirectory),
        (libc::EISDIR, IsDirectory),
        (libc::ENOTEMPTY, NotEmpty),
        (libc::EACCES, Access),
        (libc::EPERM, Access),
        (libc::EROFS, ReadOnly),
        (libc::EXDEV, CrossDevice),
        (libc::ENOSPC, InsufficientSpace),
        (libc::EDQUOT, Quota),
        (libc::EMFILE, Quota),
        (libc::ENFILE, Quota),
        (libc::EFBIG, FileTooLarge),
        (libc::ENAMETOOLONG, NameTooLong),
        (libc::ELOOP, Loop),
        (libc::EINVAL, Invalid),
        (libc::ESPIPE, InvalidSeek),
        (libc::EBADF, BadDescriptor),
        (libc::EBUSY, Busy),
        (libc::ETXTBSY, Busy),
        (libc::EMLINK, TooManyLinks),
        (libc::EILSEQ, IllegalByteSequence),
        (libc::EINTR, Interrupted),
        (libc::ENOMEM, InsufficientMemory),
        (libc::EOVERFLOW, Overflow),
        (libc::ENOTSUP, Unsupported),
        (libc::EOPNOTSUPP, Unsupported),
        (libc::ENOSYS, Unsupported),
        (libc::EIO, Io),
    ];
    table
        .iter()
        .find(|(e, _)| *e == errno)
        .map(|(_, code)| *code)
}

#[cfg(not(unix))]
fn from_errno(_errno: i32) -> Option<ErrorCode> {
    None
}

/// The `ErrorKind` fallback, for errors without an errno (cap-std's own refusals, errors
/// built by std or by aiofs itself).
fn from_kind(err: &io::Error) -> ErrorCode {
    use io::ErrorKind as K;
    match err.kind() {
        // No errno: cap-std's "a path led outside of the filesystem" (or any other
        // refusal made in user space). A real EACCES/EPERM was handled by the table.
        K::PermissionDenied if err.raw_os_error().is_none() => ErrorCode::NotPermitted,
        K::PermissionDenied => ErrorCode::Access,
        K::NotFound => ErrorCode::NoEntry,
        K::AlreadyExists => ErrorCode::Exist,
        K::NotADirectory => ErrorCode::NotDirectory,
        K::IsADirectory => ErrorCode::IsDirectory,
        K::DirectoryNotEmpty => ErrorCode::NotEmpty,
        K::ReadOnlyFilesystem => ErrorCode::ReadOnly,
        K::CrossesDevices => ErrorCode::CrossDevice,
        K::StorageFull => ErrorCode::InsufficientSpace,
        K::QuotaExceeded => ErrorCode::Quota,
        K::FileTooLarge => ErrorCode::FileTooLarge,
        K::InvalidFilename => ErrorCode::NameTooLong,
        K::InvalidInput => ErrorCode::Invalid,
        K::InvalidData => ErrorCode::IllegalByteSequence,
        K::NotSeekable => ErrorCode::InvalidSeek,
        K::ResourceBusy | K::ExecutableFileBusy => ErrorCode::Busy,
        K::TooManyLinks => ErrorCode::TooManyLinks,
        K::Interrupted => ErrorCode::Interrupted,
        K::OutOfMemory => ErrorCode::InsufficientMemory,
        K::Unsupported => ErrorCode::Unsupported,
        _ => ErrorCode::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use io::ErrorKind as K;

    #[cfg(unix)]
    #[test]
    fn errno_table() {
        use ErrorCode::*;
        let cases = [
            (libc::ENOENT, NoEntry),
            (libc::EEXIST, Exist),
            (libc::ENOTDIR, NotDirectory),
            (libc::EISDIR, IsDirectory),
            (libc::ENOTEMPTY, NotEmpty),
            (libc::EACCES, Access),
            (libc::EPERM, Access),
            (libc::EROFS, ReadOnly),
            (libc::EXDEV, CrossDevice),
            (libc::ENOSPC, InsufficientSpace),
            (libc::EDQUOT, Quota),
            (libc::EMFILE, Quota),
            (libc::ENFILE, Quota),
            (libc::EFBIG, FileTooLarge),
            (libc::ENAMETOOLONG, NameTooLong),
            (libc::ELOOP, Loop),
            (libc::EINVAL, Invalid),
            (libc::ESPIPE, InvalidSeek),
            (libc::EBADF, BadDescriptor),
            (libc::EBUSY, Busy),
            (libc::ETXTBSY, Busy),
            (libc::EMLINK, TooManyLinks),
            (libc::EILSEQ, IllegalByteSequence),
            (libc::EINTR, Interrupted),
            (libc::ENOMEM, InsufficientMemory),
            (libc::EOVERFLOW, Overflow),
            (libc::ENOTSUP, Unsupported),
            (libc::EOPNOTSUPP, Unsupported),
            (libc::EIO, Io),
            // No closer code: falls back to the kind, then `Io`.
            (libc::ECHILD, Io),
        ];
        for (errno, want) in cases {
            let err = io::Error::from_raw_os_error(errno);
            assert_eq!(from_io_error(&err), want, "errno {errno} ({err})");
        }
    }

    #[test]
    fn kind_fallback_without_errno() {
        use ErrorCode::*;
        let cases = [
            (K::NotFound, NoEntry),
            (K::AlreadyExists, Exist),
            (K::PermissionDenied, NotPermitted),
            (K::InvalidInput, Invalid),
            (K::InvalidData, IllegalByteSequence),
            (K::NotADirectory, NotDirectory),
            (K::IsADirectory, IsDirectory),
            (K::DirectoryNotEmpty, NotEmpty),
            (K::Unsupported, Unsupported),
            (K::OutOfMemory, InsufficientMemory),
            (K::Interrupted, Interrupted),
            (K::UnexpectedEof, Io),
            (K::Other, Io),
        ];
        for (kind, want) in cases {
            assert_eq!(from_io_error(&io::Error::new(kind, "x")), want, "{kind:?}");
        }
    }

    #[test]
    fn cap_std_escape_is_not_permitted() {
        // The exact shape cap-std produces for `..` above the root.
        let dir = tempfile::tempdir().unwrap();
        let cap =
            cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let err = cap.open("../x").unwrap_err();
        assert_eq!(err.raw_os_error(), None);
        assert_eq!(ErrorCode::from(err), ErrorCode::NotPermitted);
    }

    #[cfg(unix)]
    #[test]
    fn real_permission_denied_is_access() {
        let err = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(err.kind(), K::PermissionDenied);
        assert_eq!(from_io_error(&err), ErrorCode::Access);
    }
}
