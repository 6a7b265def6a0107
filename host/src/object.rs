//! Grants on object storage: a bucket prefix mounted like a directory.
//!
//! An object grant is an [`opendal::Operator`] whose root is the granted prefix. The guest
//! sees the same WIT and the same limits, quotas, permissions, metrics and audit as on a
//! local grant: [`crate::fs::Fs`] resolves the path, checks the grant and takes the
//! budgets exactly as for a directory, and only the one trip to storage differs (see
//! `docs/design/object-grants.md` and the README's table of what each operation means).
//!
//! Requests run on one small tokio runtime owned by aiofs ([`runtime`]), whatever executor
//! the embedder uses, raced against the store's `max_op_duration`. Errors reach the guest
//! as error codes only: OpenDAL's messages carry the endpoint and key, and never leave
//! this crate.
//!
//! ```no_run
//! use aiofs_host::object::S3Config;
//! use aiofs_host::{AioFsCtx, Perms};
//! # fn main() -> std::io::Result<()> {
//! // Endpoint, region and keys from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...
//! let config = S3Config::from_env("s3://plugins/tenant-7")?;
//! let ctx = AioFsCtx::builder()
//!     .grant_object(config.operator()?, "/data", Perms::ReadWrite)?
//!     .build();
//! # let _ = ctx; Ok(())
//! # }
//! ```

use crate::error::{ErrorCode, FsResult};
use std::path::{Component, Path};
use std::sync::OnceLock;
use std::time::Duration;

pub use opendal;

/// Longest key S3 accepts, in bytes (prefix included).
pub const MAX_KEY_LEN: usize = 1024;

/// How to reach one S3 bucket prefix. `Debug` never shows the secret.
#[derive(Clone, Default)]
pub struct S3Config {
    /// `http(s)://host:port`; empty for AWS's own endpoint of `region`.
    pub endpoint: String,
    /// Bucket name.
    pub bucket: String,
    /// Prefix inside the bucket that the grant owns (`data` owns `data/…`, never `data2`).
    pub prefix: String,
    /// Region; `us-east-1` when empty.
    pub region: String,
    /// Access key id; none means anonymous (unsigned) requests.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// Time limit of each request attempt (default 10 s).
    pub timeout: Option<Duration>,
    /// Retries of a failed request that may succeed again (default 3), with jittered
    /// backoff from 100 ms to 2 s.
    pub retries: Option<usize>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}

/// Split `s3://bucket/prefix` into bucket and prefix.
///
/// # Errors
/// Not an `s3://` URI, or no bucket.
pub fn parse_s3_uri(uri: &str) -> std::io::Result<(String, String)> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| invalid(format!("{uri:?} is not an s3:// URI")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid(format!("{uri:?} names no bucket")));
    }
    Ok((bucket.to_owned(), normalize_prefix(prefix)?))
}

/// The prefix as OpenDAL's root wants it: no leading `/`, empty and `.` components
/// dropped, one trailing `/`, or empty for the whole bucket.
///
/// # Errors
/// A `..` component (a grant cannot point outside what it names).
pub fn normalize_prefix(prefix: &str) -> std::io::Result<String> {
    let mut out = String::new();
    for c in prefix.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            return Err(invalid(format!("prefix {prefix:?} contains `..`")));
        }
        out.push_str(c);
        out.push('/');
    }
    Ok(out)
}

impl S3Config {
    /// A config for `s3://bucket/prefix` with the endpoint, region and keys taken the way
    /// S3 tools take them: `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`), `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`. Never from `~/.aws` or instance metadata.
    ///
    /// # Errors
    /// A bad URI.
    pub fn from_env(uri: &str) -> std::io::Result<S3Config> {
        let (bucket, prefix) = parse_s3_uri(uri)?;
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        Ok(S3Config {
            endpoint: var(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]).unwrap_or_default(),
            bucket,
            prefix,
            region: var(&["AWS_REGION", "AWS_DEFAULT_REGION"]).unwrap_or_default(),
            access_key_id: var(&["AWS_ACCESS_KEY_ID"]),
            secret_access_key: var(&["AWS_SECRET_ACCESS_KEY"]),
            session_token: var(&["AWS_SESSION_TOKEN"]),
            timeout: None,
            retries: None,
        })
    }

    /// The operator for this prefix, with a per-attempt timeout and bounded retries.
    ///
    /// # Errors
    /// A config OpenDAL refuses (the message names the bucket, never the keys).
    pub fn operator(&self) -> std::io::Result<opendal::Operator> {
        opendal::install_default();
        let prefix = normalize_prefix(&self.prefix)?;
        let region = if self.region.is_empty() {
            "us-east-1"
        } else {
            &self.region
        };
        let mut b = opendal::services::S3::default()
            .bucket(&self.bucket)
            .root(&format!("/{prefix}"))
            .region(region)
            .disable_config_load()
            .disable_ec2_metadata();
        if !self.endpoint.is_empty() {
            b = b.endpoint(&self.endpoint);
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => {
                b = b.access_key_id(id).secret_access_key(secret);
                if let Some(token) = &self.session_token {
                    b = b.session_token(token);
                }
            }
            _ => b = b.skip_signature(),
        }
        let timeout = self.timeout.unwrap_or(Duration::from_secs(10));
        let op = opendal::Operator::new(b)
            .map_err(|e| invalid(format!("bucket {:?}: {}", self.bucket, e.kind())))?
            .layer(
                opendal::layers::TimeoutLayer::new()
                    .with_timeout(timeout)
                    .with_io_timeout(timeout),
            )
            .layer(
                opendal::layers::RetryLayer::new()
                    .with_max_times(self.retries.unwrap_or(3))
                    .with_jitter()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(2)),
            );
        Ok(op)
    }
}

/// The runtime every object request runs on: two threads, created on first use and kept
/// for the life of the process. One runtime for all stores keeps HTTP connections pooled
/// and usable from pool threads (which block on it) and from any embedder executor.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("aiofs-object")
            .enable_all()
            .build()
            .expect("aiofs: cannot start the object-storage runtime")
    })
}

/// One granted prefix of an object store (the store side of an object grant).
pub struct ObjectStore {
    /// Rooted at the granted prefix.
    pub(crate) op: opendal::Operator,
    /// Key prefix under `op`'s root of this view: empty for the grant itself, `sub/` for
    /// a directory opened beneath it (`open-at`).
    pub(crate) base: String,
    /// Distinct per grant: the `device` of every stat.
    pub(crate) id: u64,
    /// Scheme, bucket and root, for overlap checks and messages (no endpoint, no keys).
    pub(crate) name: String,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStore({}{})", self.name, self.base)
    }
}

impl ObjectStore {
    /// Serve `op` (its root is the granted prefix).
    pub fn new(op: opendal::Operator) -> ObjectStore {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1 << 32);
        let info = op.info();
        let root = info.root();
        let root = root.trim_start_matches('/');
        ObjectStore {
            name: format!("{}://{}/{}", info.scheme(), info.name(), root),
            op,
            base: String::new(),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The view of directory `key` (a full key, as [`ObjectStore::key`] gives) beneath
    /// this one, sharing its operator and device id.
    pub(crate) fn beneath(&self, key: &Key) -> ObjectStore {
        ObjectStore {
            op: self.op.clone(),
            base: key.dir(),
            id: self.id,
            name: self.name.clone(),
        }
    }

    /// Whether this grant and `other` could name the same objects (same service and
    /// bucket, one root inside the other).
    pub(crate) fn overlaps(&self, other: &ObjectStore) -> bool {
        let (a, b) = (&self.name, &other.name);
        let norm = |s: &str| {
            if s.ends_with('/') {
                s.to_owned()
            } else {
                format!("{s}/")
            }
        };
        let (a, b) = (norm(a), norm(b));
        a.starts_with(&b) || b.starts_with(&a)
    }

    /// The key of `rel` (a grant-relative path as [`crate::grant::Grants::resolve`] gives
    /// it), resolved lexically: there are no links, so `..` removes the previous name, and
    /// a `..` above the grant root is `not-permitted`, as an escape is on a local grant.
    /// The result never holds `.`, `..`, `//` or a leading `/`, and is exactly the key
    /// OpenDAL sends: OpenDAL trims whitespace off both ends of a path before building the
    /// URL, so a name that starts or ends with whitespace is `invalid` (`" ../x"` would
    /// become `../x`, which the URL parser resolves above the grant's prefix).
    pub(crate) fn key(&self, rel: &Path) -> FsResult<Key> {
        let mut names: Vec<&str> = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(n) => {
                    let n = n.to_str().ok_or(ErrorCode::IllegalByteSequence)?;
                    if n.trim() != n {
                        return Err(ErrorCode::Invalid);
                    }
                    names.push(n);
                }
                Component::ParentDir => {
                    names.pop().ok_or(ErrorCode::NotPermitted)?;
                }
                Component::CurDir => {}
                Component::RootDir | Component::Prefix(_) => return Err(ErrorCode::NotPermitted),
            }
        }
        let rel_bytes = rel.as_os_str().as_encoded_bytes();
        let mut path = self.base.trim_end_matches('/').to_owned();
        for n in &names {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(n);
        }
        if path.len() + 1 + self.op.info().root().len() > MAX_KEY_LEN {
            return Err(ErrorCode::NameTooLong);
        }
        // What OpenDAL will make of it must be the key itself (see above).
        if !path.is_empty() && opendal::raw::normalize_path(&path) != path {
            return Err(ErrorCode::Invalid);
        }
        Ok(Key {
            root: names.is_empty(),
            want_dir: rel_bytes.ends_with(b"/"),
            path,
        })
    }
}

/// A guest path as a key under the operator's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    /// The key of a file (`a/b`); the view's base without its `/` for its root.
    pub(crate) path: String,
    /// The path names the root of the grant (or of the opened directory).
    pub(crate) root: bool,
    /// Written with a trailing `/`: only a directory will do.
    pub(crate) want_dir: bool,
}

impl Key {
    /// The key of the directory of this name: `a/b/`, or `/` for the operator's root.
    pub(crate) fn dir(&self) -> String {
        if self.path.is_empty() {
            "/".to_owned()
        } else {
            format!("{}/", self.path)
        }
    }

    /// The same name without a demand for a directory (as if written without the `/`).
    pub(crate) fn name(&self) -> Key {
        Key {
            want_dir: false,
            ..self.clone()
        }
    }

    /// The key of the directory holding this one (`/` for a top-level name).
    pub(crate) fn parent_dir(&self) -> String {
        match self.path.rsplit_once('/') {
            Some((parent, _)) => format!("{parent}/"),
            None => "/".to_owned(),
        }
    }
}

/// The error code of an OpenDAL error: its kind only (the message names the endpoint and
/// the key, and is never shown to the guest or logged).
pub(crate) fn code(e: &opendal::Error) -> ErrorCode {
    use opendal::ErrorKind as K;
    match e.kind() {
        K::NotFound => ErrorCode::NoEntry,
        K::AlreadyExists | K::ConditionNotMatch => ErrorCode::Exist,
        K::IsADirectory => ErrorCode::IsDirectory,
        K::NotADirectory => ErrorCode::NotDirectory,
        K::PermissionDenied => ErrorCode::Access,
        K::Unsupported => ErrorCode::Unsupported,
        K::IsSameFile => ErrorCode::Invalid,
        _ => ErrorCode::Io,
    }
}

impl From<opendal::Error> for ErrorCode {
    fn from(e: opendal::Error) -> ErrorCode {
        code(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(base: &str) -> ObjectStore {
        let op =
            opendal::Operator::new(opendal::services::Memory::default().root("/grant/")).unwrap();
        let mut s = ObjectStore::new(op);
        s.base = base.to_owned();
        s
    }

    #[test]
    fn keys_are_lexical_and_never_escape() {
        let s = store("");
        let k = |p: &str| s.key(Path::new(p));
        assert_eq!(k("a/b").unwrap().path, "a/b");
        assert_eq!(k("./a/./b/").unwrap().path, "a/b");
        assert!(k("a/b/").unwrap().want_dir);
        assert_eq!(k("a/../b").unwrap().path, "b");
        assert!(k(".").unwrap().root);
        assert!(k("a/..").unwrap().root);
        assert_eq!(k("..").unwrap_err(), ErrorCode::NotPermitted);
        assert_eq!(k("../x").unwrap_err(), ErrorCode::NotPermitted);
        assert_eq!(k("a/../../x").unwrap_err(), ErrorCode::NotPermitted);
        assert_eq!(k("%2e%2e/x").unwrap().path, "%2e%2e/x");
        // OpenDAL trims a path's ends: a name with whitespace there could turn into `..`
        // (or into the grant root) after these checks, so it is refused.
        for bad in [
            " ../x",
            "\t../x",
            "\u{a0}../x",
            " ",
            "a/ ",
            "a/b\n",
            " a/b",
            "a/ ../b",
        ] {
            assert_eq!(k(bad).unwrap_err(), ErrorCode::Invalid, "{bad:?}");
        }
        assert_eq!(k("a b/c\td").unwrap().path, "a b/c\td");
        let long = "x/".repeat(600);
        assert_eq!(k(&long).unwrap_err(), ErrorCode::NameTooLong);
        // A view beneath: keys carry its base, `..` stops at the view's root.
        let sub = store("d/e/");
        assert_eq!(sub.key(Path::new("f")).unwrap().path, "d/e/f");
        assert_eq!(sub.key(Path::new(".")).unwrap().path, "d/e");
        assert_eq!(
            sub.key(Path::new("..")).unwrap_err(),
            ErrorCode::NotPermitted
        );
    }

    #[test]
    fn generated_keys_hold_no_dot_names() {
        let s = store("");
        let names = [
            "a", ".", "..", "", "b.c", "..d", "e..", "%2e", " ..", ".. ", " ",
        ];
        // Every path of up to four names from the corpus.
        let mut n = 0;
        for i in 0..names.len().pow(4) {
            let mut parts = Vec::new();
            let mut x = i;
            for _ in 0..4 {
                parts.push(names[x % names.len()]);
                x /= names.len();
            }
            let path = parts.join("/");
            if let Ok(key) = s.key(Path::new(&path)) {
                n += 1;
                let p = &key.path;
                assert!(
                    !p.starts_with('/') && !p.ends_with('/') && !p.contains("//"),
                    "{p}"
                );
                assert!(p.split('/').all(|c| c != "." && c != ".."), "{path} -> {p}");
                assert!(
                    p.is_empty() || &opendal::raw::normalize_path(p) == p,
                    "{path}"
                );
            }
        }
        assert!(n > 1000, "{n}");
    }

    #[test]
    fn uris_and_prefixes() {
        assert_eq!(
            parse_s3_uri("s3://b/data/sub").unwrap(),
            ("b".into(), "data/sub/".into())
        );
        assert_eq!(parse_s3_uri("s3://b").unwrap(), ("b".into(), "".into()));
        assert_eq!(
            parse_s3_uri("s3://b//./x/").unwrap(),
            ("b".into(), "x/".into())
        );
        assert!(parse_s3_uri("s3://b/x/../y").is_err());
        assert!(parse_s3_uri("s3:///x").is_err());
        assert!(parse_s3_uri("file:///x").is_err());
    }

    #[test]
    fn prefix_twins_do_not_overlap() {
        let mk = |prefix: &str| {
            let config = S3Config {
                endpoint: "http://127.0.0.1:9".into(),
                bucket: "b".into(),
                prefix: prefix.into(),
                ..S3Config::default()
            };
            ObjectStore::new(config.operator().unwrap())
        };
        assert!(!mk("/data/").overlaps(&mk("/data2/")));
        assert!(mk("/data/").overlaps(&mk("/data/sub/")));
        assert!(mk("/").overlaps(&mk("/data/")));
    }
}
