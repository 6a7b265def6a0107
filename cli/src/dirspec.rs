//! `--dir` specifications: `HOST::GUEST` (read-write; `HOST::GUEST:rw` says so explicitly;
//! HOST may be `s3://BUCKET/PREFIX`, which needs `::GUEST`),
//! `HOST::GUEST:ro` (read-only), or a plain `HOST` mounted at the same path, like
//! `wasmtime run --dir`. Guest paths may not contain `:` or `..`.

use aiofs_host::Perms;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// One parsed `--dir` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSpec {
    /// The host directory to grant (opened later; not checked here).
    pub host: PathBuf,
    /// Where the guest sees it, as written (the host library makes it absolute).
    pub guest: String,
    /// Read-only or read-write.
    pub perms: Perms,
}

/// Why a `--dir` argument does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSpecError {
    spec: String,
    reason: &'static str,
}

impl fmt::Display for DirSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad --dir {:?}: {} (expected HOST, HOST::GUEST or HOST::GUEST:ro)",
            self.spec, self.reason
        )
    }
}

impl std::error::Error for DirSpecError {}

impl FromStr for DirSpec {
    type Err = DirSpecError;

    fn from_str(spec: &str) -> Result<DirSpec, DirSpecError> {
        let fail = |reason| DirSpecError {
            spec: spec.to_string(),
            reason,
        };
        let (host, guest, perms) = match spec.split_once("::") {
            Some((host, rest)) => {
                if let Some(guest) = rest.strip_suffix(":ro") {
                    (host, guest, Perms::ReadOnly)
                } else if let Some(guest) = rest.strip_suffix(":rw") {
                    (host, guest, Perms::ReadWrite)
                } else {
                    (host, rest, Perms::ReadWrite)
                }
            }
            None => (spec, spec, Perms::ReadWrite),
        };
        if host.is_empty() {
            return Err(fail("the host directory is empty"));
        }
        if host.contains("://") && !spec.contains("::") {
            return Err(fail("a URI grant needs a guest path (URI::GUEST)"));
        }
        if host.contains("://") && !host.starts_with("s3://") {
            return Err(fail("the only URI scheme served is s3://"));
        }
        if guest.is_empty() {
            return Err(fail("the guest path is empty"));
        }
        if guest.contains(':') {
            return Err(fail(
                "unexpected `:` in the guest path (suffixes are `:ro` and `:rw`)",
            ));
        }
        if guest.contains('\0') || host.contains('\0') {
            return Err(fail("NUL byte in a path"));
        }
        if guest.split('/').any(|c| c == "..") {
            return Err(fail("the guest path may not contain `..`"));
        }
        Ok(DirSpec {
            host: PathBuf::from(host),
            guest: guest.to_string(),
            perms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<DirSpec, DirSpecError> {
        s.parse()
    }

    #[test]
    fn forms() {
        assert_eq!(
            parse("./data::/data").unwrap(),
            DirSpec {
                host: "./data".into(),
                guest: "/data".into(),
                perms: Perms::ReadWrite
            }
        );
        assert_eq!(parse("/srv/x::/x:ro").unwrap().perms, Perms::ReadOnly);
        assert_eq!(parse("/srv/x::/x:ro").unwrap().guest, "/x");
        assert_eq!(parse("/srv/x::/x:rw").unwrap().perms, Perms::ReadWrite);
        assert_eq!(parse("/srv/x::/x:rw").unwrap().guest, "/x");
        let same = parse("/tmp/work").unwrap();
        assert_eq!(
            (same.host.to_str(), same.guest.as_str()),
            (Some("/tmp/work"), "/tmp/work")
        );
        assert_eq!(same.perms, Perms::ReadWrite);
        let s3 = parse("s3://bucket/some/prefix::/data:ro").unwrap();
        assert_eq!(
            (s3.host.to_str(), s3.guest.as_str(), s3.perms),
            (Some("s3://bucket/some/prefix"), "/data", Perms::ReadOnly)
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "::/g",
            "h::",
            "h:::ro",
            "h::/a::b",
            "h::/a:",
            "h::/a:rx",
            "h::/a/../b",
            "h::..",
            "s3://bucket/prefix",
            "gs://bucket::/g",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("bad --dir"), "{bad:?}: {err}");
            assert!(!err.contains('\n'));
        }
    }
}
