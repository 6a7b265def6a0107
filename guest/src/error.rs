//! The crate's error type: a WIT `error-code` plus what was being done, and to which path.

use std::fmt;
use std::io;

pub use crate::bindings::aiofs::fs::types::ErrorCode;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An aiofs operation failed.
///
/// It carries the WIT [`ErrorCode`] the host returned ([`Error::code`]) and, when the
/// failing call was made through this crate's API, the operation and the guest path(s)
/// it was about, so the message reads like
/// `open "/data/missing.txt": no such file or directory (no-entry)`.
///
/// It converts into [`std::io::Error`] with a matching [`io::ErrorKind`], so `?` works
/// in functions returning `io::Result`.
///
/// ```no_run
/// # async fn demo() {
/// use aiofs::ErrorCode;
/// match aiofs::open("/data/missing.txt", "r").await {
///     Err(e) if e.code() == ErrorCode::NoEntry => println!("not there: {e}"),
///     Err(e) => println!("other failure: {e}"),
///     Ok(_) => println!("found"),
/// }
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    operation: Option<&'static str>,
    path: Option<Box<str>>,
    other_path: Option<Box<str>>,
}

impl Error {
    /// An error with only a code and no context.
    pub fn new(code: ErrorCode) -> Self {
        Error {
            code,
            operation: None,
            path: None,
            other_path: None,
        }
    }

    /// An error that happened while doing `operation` (e.g. `"open"`) on `path`.
    pub fn with_path(code: ErrorCode, operation: &'static str, path: &str) -> Self {
        Error {
            code,
            operation: Some(operation),
            path: Some(path.into()),
            other_path: None,
        }
    }

    /// An error of a two-path operation such as `rename src -> dst`.
    pub fn with_paths(code: ErrorCode, operation: &'static str, src: &str, dst: &str) -> Self {
        Error {
            code,
            operation: Some(operation),
            path: Some(src.into()),
            other_path: Some(dst.into()),
        }
    }

    /// The WIT error code the host returned.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The operation that failed (e.g. `"open"`, `"read"`), if known.
    pub fn operation(&self) -> Option<&str> {
        self.operation
    }

    /// The guest path the operation was about (the source, for two-path operations).
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The destination path of a two-path operation (`rename`, `link`, `copy_file`, ...).
    pub fn other_path(&self) -> Option<&str> {
        self.other_path.as_deref()
    }

    /// The [`io::ErrorKind`] closest to this error's code.
    pub fn kind(&self) -> io::ErrorKind {
        kind_of(self.code)
    }
}

/// A short, lower-case description of an error code, as used in [`Error`]'s `Display`.
pub fn describe(code: ErrorCode) -> &'static str {
    use ErrorCode as C;
    match code {
        C::Access => "permission denied",
        C::BadDescriptor => "bad file descriptor (closed, or not usable in this mode)",
        C::Busy => "device or resource busy",
        C::CrossDevice => "cannot move across filesystems",
        C::Exist => "file exists",
        C::FileTooLarge => "file too large",
        C::IllegalByteSequence => "invalid UTF-8",
        C::InsufficientSpace => "no space left on device",
        C::InsufficientMemory => "out of memory",
        C::Interrupted => "interrupted",
        C::Invalid => "invalid argument",
        C::InvalidSeek => "illegal seek",
        C::Io => "input/output error",
        C::IsDirectory => "is a directory",
        C::Loop => "too many levels of symbolic links",
        C::NameTooLong => "file name too long",
        C::NoEntry => "no such file or directory",
        C::NotDirectory => "not a directory",
        C::NotEmpty => "directory not empty",
        C::NotPermitted => "path is outside every granted directory",
        C::Overflow => "value too large for its type",
        C::Quota => "a limit set by the host was reached",
        C::ReadOnly => "the grant is read-only",
        C::TooManyLinks => "too many links",
        C::Unsupported => "operation not supported",
    }
}

/// The [`io::ErrorKind`] for an error code (`Other` when std has no closer kind).
pub(crate) fn kind_of(code: ErrorCode) -> io::ErrorKind {
    use ErrorCode as C;
    use io::ErrorKind as K;
    match code {
        C::Access | C::NotPermitted => K::PermissionDenied,
        C::Busy => K::ResourceBusy,
        C::CrossDevice => K::CrossesDevices,
        C::Exist => K::AlreadyExists,
        C::FileTooLarge => K::FileTooLarge,
        C::IllegalByteSequence => K::InvalidData,
        C::InsufficientSpace => K::StorageFull,
        C::InsufficientMemory => K::OutOfMemory,
        C::Interrupted => K::Interrupted,
        C::Invalid => K::InvalidInput,
        C::InvalidSeek => K::NotSeekable,
        C::IsDirectory => K::IsADirectory,
        C::NameTooLong => K::InvalidFilename,
        C::NoEntry => K::NotFound,
        C::NotDirectory => K::NotADirectory,
        C::NotEmpty => K::DirectoryNotEmpty,
        C::Quota => K::QuotaExceeded,
        C::ReadOnly => K::ReadOnlyFilesystem,
        C::TooManyLinks => K::TooManyLinks,
        C::Unsupported => K::Unsupported,
        // No stable std kind is closer (`FilesystemLoop` is unstable; EBADF, EIO and
        // EOVERFLOW are uncategorised in std too).
        C::BadDescriptor | C::Io | C::Loop | C::Overflow => K::Other,
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        Error::new(code)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        io::Error::new(e.kind(), e)
    }
}

impl PartialEq<ErrorCode> for Error {
    fn eq(&self, other: &ErrorCode) -> bool {
        self.code == *other
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = self.operation {
            f.write_str(op)?;
            if let Some(p) = &self.path {
                write!(f, " {p:?}")?;
            }
            if let Some(p) = &self.other_path {
                write!(f, " -> {p:?}")?;
            }
            f.write_str(": ")?;
        }
        write!(f, "{} ({})", describe(self.code), self.code.name())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code.name());
        if let Some(op) = self.operation {
            d.field("operation", &op);
        }
        if let Some(p) = &self.path {
            d.field("path", p);
        }
        if let Some(p) = &self.other_path {
            d.field("other_path", p);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.code)
    }
}

/// Attach context to a raw bindings result.
pub(crate) trait Context<T> {
    /// Failing `operation` on `path`.
    fn at(self, operation: &'static str, path: &str) -> Result<T>;
    /// Failing `operation` from `src` to `dst`.
    fn at2(self, operation: &'static str, src: &str, dst: &str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, ErrorCode> {
    fn at(self, operation: &'static str, path: &str) -> Result<T> {
        self.map_err(|c| Error::with_path(c, operation, path))
    }
    fn at2(self, operation: &'static str, src: &str, dst: &str) -> Result<T> {
        self.map_err(|c| Error::with_paths(c, operation, src, dst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code, in WIT order. A case added to the WIT enum shifts the discriminants
    /// and fails `every_code_is_listed`; the matches in `describe` and `kind_of` fail to
    /// compile.
    const ALL: [ErrorCode; 25] = [
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

    #[test]
    fn every_code_is_listed() {
        for (i, code) in ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{}", code.name());
        }
    }

    #[test]
    fn io_kinds() {
        use io::ErrorKind as K;
        let expect = [
            (ErrorCode::NoEntry, K::NotFound),
            (ErrorCode::Exist, K::AlreadyExists),
            (ErrorCode::Access, K::PermissionDenied),
            (ErrorCode::NotPermitted, K::PermissionDenied),
            (ErrorCode::ReadOnly, K::ReadOnlyFilesystem),
            (ErrorCode::Invalid, K::InvalidInput),
            (ErrorCode::IllegalByteSequence, K::InvalidData),
            (ErrorCode::IsDirectory, K::IsADirectory),
            (ErrorCode::NotDirectory, K::NotADirectory),
            (ErrorCode::NotEmpty, K::DirectoryNotEmpty),
            (ErrorCode::InsufficientSpace, K::StorageFull),
            (ErrorCode::Quota, K::QuotaExceeded),
            (ErrorCode::Unsupported, K::Unsupported),
            (ErrorCode::Io, K::Other),
        ];
        for (code, kind) in expect {
            assert_eq!(kind_of(code), kind, "{}", code.name());
            let io: io::Error = Error::new(code).into();
            assert_eq!(io.kind(), kind, "{}", code.name());
        }
    }

    #[test]
    fn io_error_keeps_the_aiofs_error() {
        let io: io::Error = Error::with_path(ErrorCode::NoEntry, "open", "/d/x").into();
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(inner.map(Error::code), Some(ErrorCode::NoEntry));
        assert_eq!(inner.and_then(Error::path), Some("/d/x"));
    }

    #[test]
    fn display_reads_well() {
        let e = Error::with_path(ErrorCode::NoEntry, "open", "/data/missing.txt");
        assert_eq!(
            e.to_string(),
            r#"open "/data/missing.txt": no such file or directory (no-entry)"#
        );
        let e = Error::with_paths(ErrorCode::NotPermitted, "rename", "a", "/etc/b");
        assert_eq!(
            e.to_string(),
            r#"rename "a" -> "/etc/b": path is outside every granted directory (not-permitted)"#
        );
        assert_eq!(
            Error::new(ErrorCode::ReadOnly).to_string(),
            "the grant is read-only (read-only)"
        );
    }

    #[test]
    fn every_code_has_a_distinct_description() {
        let mut seen: Vec<&str> = ALL.iter().map(|c| describe(*c)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), ALL.len());
    }

    #[test]
    fn context_and_comparison() {
        let r: std::result::Result<(), ErrorCode> = Err(ErrorCode::Exist);
        let e = r.at("mkdir", "/d/x").unwrap_err();
        assert_eq!(e, ErrorCode::Exist);
        assert_eq!(e.operation(), Some("mkdir"));
        assert_eq!(e.other_path(), None);
        assert!(std::error::Error::source(&e).is_some());
    }
}
