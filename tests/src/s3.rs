//! The S3 server of the object-grant tests.
//!
//! `scripts/test.sh` starts one SeaweedFS for the whole run (`scripts/s3-server.sh`) and
//! exports its address and keys as `AIOFS_S3_*`, with `AIOFS_S3_REQUIRED=1`. [`s3_env`]
//! reads them; every test takes its own [`S3Env::unique_prefix`], so tests share the
//! server in parallel. Without the variables a test prints `skipped: no S3 server` and
//! passes ([`s3_or_skip!`](crate::s3_or_skip)), unless `AIOFS_S3_REQUIRED=1`, where a
//! missing server is a failure. Fault tests start a [`PrivateServer`] of their own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the S3 server is and how to sign requests to it.
#[derive(Clone)]
pub struct S3Env {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket the server created at start.
    pub bucket: String,
    /// The signing region.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never print it: tests check that nothing else does).
    pub secret_access_key: String,
    /// The `weed` binary, when the server came from `scripts/s3-server.sh`.
    pub weed: Option<PathBuf>,
    /// Process id of the server, when known.
    pub pid: Option<u32>,
    /// The server's log file, when known.
    pub log: Option<PathBuf>,
}

impl std::fmt::Debug for S3Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Env")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// The variables that name a server (the others are optional).
const NEEDED: [&str; 4] = [
    "AIOFS_S3_ENDPOINT",
    "AIOFS_S3_BUCKET",
    "AIOFS_S3_ACCESS_KEY_ID",
    "AIOFS_S3_SECRET_ACCESS_KEY",
];

/// The shared server from the `AIOFS_S3_*` environment, or `None` when there is none.
///
/// # Panics
/// When `AIOFS_S3_REQUIRED=1` and the variables are missing: the run was meant to test
/// object grants and would otherwise pass without doing so.
pub fn s3_env() -> Option<S3Env> {
    let env = S3Env::from_vars(|k| std::env::var(k).ok());
    if env.is_none() && std::env::var("AIOFS_S3_REQUIRED").as_deref() == Ok("1") {
        panic!(
            "AIOFS_S3_REQUIRED=1 but {} are not all set: run scripts/test.sh, or \
             `. \"$(bash scripts/s3-server.sh start)\"` first",
            NEEDED.join(", ")
        );
    }
    env
}

/// The shared server's [`S3Env`], or print `skipped: no S3 server` and return from the
/// calling test.
#[macro_export]
macro_rules! s3_or_skip {
    () => {
        match $crate::s3::s3_env() {
            Some(env) => env,
            None => {
                eprintln!("skipped: no S3 server");
                return;
            }
        }
    };
}

impl S3Env {
    /// From variables named as in `scripts/s3-server.sh`'s env file; `None` if one of the
    /// needed ones is missing or empty.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Option<S3Env> {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        for k in NEEDED {
            get(k)?;
        }
        Some(S3Env {
            endpoint: get("AIOFS_S3_ENDPOINT")?,
            bucket: get("AIOFS_S3_BUCKET")?,
            region: get("AIOFS_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
            access_key_id: get("AIOFS_S3_ACCESS_KEY_ID")?,
            secret_access_key: get("AIOFS_S3_SECRET_ACCESS_KEY")?,
            weed: get("AIOFS_S3_WEED").map(PathBuf::from),
            pid: get("AIOFS_S3_PID").and_then(|p| p.parse().ok()),
            log: get("AIOFS_S3_LOG").map(PathBuf::from),
        })
    }

    /// A key prefix no other test (of this or another process) uses: `t-PID-N-NANOS/`.
    pub fn unique_prefix(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!(
            "t-{}-{}-{nanos}/",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// `s3://BUCKET/PREFIX`, as `aiofs run --dir` takes it.
    pub fn uri(&self, prefix: &str) -> String {
        format!("s3://{}/{}", self.bucket, prefix.trim_start_matches('/'))
    }

    /// The standard AWS variables for this server, for a child process (`aiofs run`) or
    /// `S3Config::from_env`.
    pub fn aws_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
        ]
    }

    /// What the server logged so far (empty if its log is unknown).
    pub fn server_log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

/// `export K=V` lines of an env file written by `scripts/s3-server.sh`.
pub fn parse_env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh")
}

/// A SeaweedFS of one test's own, for faults that must not disturb the shared server
/// (pausing it, killing it). Started with `scripts/s3-server.sh` on free ports, stopped
/// and its data removed on drop; the script also stops it if the test process dies.
pub struct PrivateServer {
    /// How to reach it.
    pub env: S3Env,
    env_file: PathBuf,
    paused: bool,
}

impl PrivateServer {
    /// Start one and wait until it answers signed requests.
    ///
    /// # Panics
    /// If the script fails (its stderr is shown).
    pub fn start() -> PrivateServer {
        let out = std::process::Command::new("bash")
            .arg(script())
            .args(["start", "--watch", &std::process::id().to_string()])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run scripts/s3-server.sh");
        assert!(
            out.status.success(),
            "s3-server.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env_file = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        let vars = parse_env_file(&std::fs::read_to_string(&env_file).unwrap());
        let env = S3Env::from_vars(|k| vars.get(k).cloned())
            .unwrap_or_else(|| panic!("incomplete env file {}", env_file.display()));
        assert!(
            env.pid.is_some(),
            "no AIOFS_S3_PID in {}",
            env_file.display()
        );
        PrivateServer {
            env,
            env_file,
            paused: false,
        }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.env.pid.unwrap() as libc::pid_t;
        // SAFETY: kill(2) with a pid we started and a valid signal number.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {sig}): {}",
            std::io::Error::last_os_error()
        );
    }

    /// Freeze the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&mut self) {
        self.signal(libc::SIGSTOP);
        self.paused = true;
    }

    /// Let a paused server run again (SIGCONT).
    pub fn resume(&mut self) {
        self.signal(libc::SIGCONT);
        self.paused = false;
    }

    /// Kill the server if it still runs and start it again on the same data, ports and
    /// keys (a crash and a restart, as a client sees them); returns once it answers.
    ///
    /// # Panics
    /// If the script fails.
    pub fn restart(&mut self) {
        let out = std::process::Command::new("bash")
            .arg(script())
            .arg("restart")
            .arg(&self.env_file)
            .args(["--watch", &std::process::id().to_string()])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run scripts/s3-server.sh");
        assert!(
            out.status.success(),
            "s3-server.sh restart failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars = parse_env_file(&std::fs::read_to_string(&self.env_file).unwrap());
        self.env.pid = vars.get("AIOFS_S3_PID").and_then(|p| p.parse().ok());
        self.paused = false;
    }

    /// Kill the server at once (SIGKILL), as a crash would; its data dir stays until drop.
    pub fn kill(&mut self) {
        if self.paused {
            self.resume();
        }
        self.signal(libc::SIGKILL);
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if self.paused {
            // SAFETY: as in `signal`; a stopped process would ignore SIGTERM until resumed.
            unsafe { libc::kill(self.env.pid.unwrap() as libc::pid_t, libc::SIGCONT) };
        }
        let out = std::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.env_file)
            .stdin(std::process::Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() && out.stderr.is_empty() => {}
            other => eprintln!("s3-server.sh stop {}: {other:?}", self.env_file.display()),
        }
        // Whatever the script did, the server must not outlive the test.
        // SAFETY: kill(2) of the server we started; a process already gone is ESRCH.
        unsafe { libc::kill(self.env.pid.unwrap() as libc::pid_t, libc::SIGKILL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_round_trip() {
        let text = "export AIOFS_S3_ENDPOINT=http://127.0.0.1:1\nexport AIOFS_S3_BUCKET=b\n\
                    export AIOFS_S3_ACCESS_KEY_ID=K\nexport AIOFS_S3_SECRET_ACCESS_KEY=SECRETVALUE\n\
                    export AIOFS_S3_PID=42\n";
        let vars = parse_env_file(text);
        let env = S3Env::from_vars(|k| vars.get(k).cloned()).unwrap();
        assert_eq!(env.endpoint, "http://127.0.0.1:1");
        assert_eq!((env.region.as_str(), env.pid), ("us-east-1", Some(42)));
        assert_eq!(env.secret_access_key, "SECRETVALUE");
        assert!(
            !format!("{env:?}").contains("SECRETVALUE"),
            "Debug shows the secret"
        );
        let partial = parse_env_file("export AIOFS_S3_ENDPOINT=x\n");
        assert!(S3Env::from_vars(|k| partial.get(k).cloned()).is_none());
    }

    #[test]
    fn prefixes_are_unique() {
        let vars = parse_env_file(
            "export AIOFS_S3_ENDPOINT=e\nexport AIOFS_S3_BUCKET=b\n\
             export AIOFS_S3_ACCESS_KEY_ID=k\nexport AIOFS_S3_SECRET_ACCESS_KEY=s\n",
        );
        let env = S3Env::from_vars(|k| vars.get(k).cloned()).unwrap();
        let (a, b) = (env.unique_prefix(), env.unique_prefix());
        assert_ne!(a, b);
        assert!(a.starts_with("t-") && a.ends_with('/') && !a[..a.len() - 1].contains('/'));
        assert_eq!(env.uri(&a), format!("s3://b/{a}"));
    }
}

/// The bucket side of the tests: what a test reads and writes directly, with OpenDAL (the
/// version aiofs uses), to set up a prefix and to check what a guest left in it.
pub mod bucket {
    use super::S3Env;
    use aiofs_host::object::S3Config;
    use aiofs_host::object::opendal::{self, Operator};
    use std::collections::BTreeMap;
    use std::path::Path;

    impl S3Env {
        /// The configuration of an object grant of `prefix` on this server.
        pub fn config(&self, prefix: &str) -> S3Config {
            S3Config {
                endpoint: self.endpoint.clone(),
                bucket: self.bucket.clone(),
                prefix: prefix.to_owned(),
                region: self.region.clone(),
                access_key_id: Some(self.access_key_id.clone()),
                secret_access_key: Some(self.secret_access_key.clone()),
                ..S3Config::default()
            }
        }

        /// An operator rooted at `prefix` (with aiofs' timeout and retry layers).
        ///
        /// # Panics
        /// If OpenDAL refuses the configuration.
        pub fn operator(&self, prefix: &str) -> Operator {
            self.config(prefix).operator().expect("S3 operator")
        }
    }

    /// Write one object.
    ///
    /// # Panics
    /// On any error.
    pub async fn put(op: &Operator, key: &str, data: &[u8]) {
        op.write(key, data.to_vec())
            .await
            .unwrap_or_else(|e| panic!("put {key}: {}", e.kind()));
    }

    /// The content of one object, `None` if there is none.
    ///
    /// # Panics
    /// On any error but not-found.
    pub async fn get(op: &Operator, key: &str) -> Option<Vec<u8>> {
        match op.read(key).await {
            Ok(b) => Some(b.to_vec()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => None,
            Err(e) => panic!("get {key}: {}", e.kind()),
        }
    }

    /// Every key under `dir` (`""` for the operator's root, else ending in `/`), relative
    /// to `dir` and sorted; directory markers end in `/`, `dir`'s own marker is left out.
    ///
    /// # Panics
    /// On any error.
    pub async fn keys(op: &Operator, dir: &str) -> Vec<String> {
        let entries = op
            .list_with(dir)
            .recursive(true)
            .await
            .unwrap_or_else(|e| panic!("list {dir}: {}", e.kind()));
        let mut out: Vec<String> = entries
            .iter()
            .map(|e| e.path().trim_start_matches('/').to_owned())
            .filter_map(|p| p.strip_prefix(dir).map(str::to_owned))
            .filter(|p| !p.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The files under `dir` (not markers) with their contents.
    ///
    /// # Panics
    /// On any error.
    pub async fn files(op: &Operator, dir: &str) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for k in keys(op, dir).await {
            if !k.ends_with('/') {
                let data = get(op, &format!("{dir}{k}"))
                    .await
                    .unwrap_or_else(|| panic!("{dir}{k} listed but gone"));
                out.insert(k, data);
            }
        }
        out
    }

    /// Upload the regular files under host directory `dir` to `to` (`""` or ending in
    /// `/`); an empty directory becomes a marker `name/`; symlinks are skipped (a bucket
    /// has none).
    ///
    /// # Panics
    /// On any error.
    pub async fn upload_dir(op: &Operator, dir: &Path, to: &str) {
        let mut stack = vec![(dir.to_path_buf(), to.to_owned())];
        while let Some((d, key)) = stack.pop() {
            let mut empty = true;
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                let ty = e.file_type().unwrap();
                if ty.is_dir() {
                    empty = false;
                    stack.push((e.path(), format!("{key}{name}/")));
                } else if ty.is_file() {
                    empty = false;
                    put(
                        op,
                        &format!("{key}{name}"),
                        &std::fs::read(e.path()).unwrap(),
                    )
                    .await;
                }
            }
            if empty && !key.is_empty() {
                op.create_dir(&key)
                    .await
                    .unwrap_or_else(|e| panic!("mkdir {key}: {}", e.kind()));
            }
        }
    }
}

/// The object-storage twin of [`crate::Sandbox`]: the same fixture files (no symlinks: a
/// bucket has none) under a fresh prefix `P/` of the shared server, `P/data/` granted
/// read-write at `/data` and `P/ro/` read-only at `/ro`, and `P/outside/canary.txt` never
/// granted.
pub struct S3Sandbox {
    /// The server.
    pub env: S3Env,
    /// This sandbox's prefix, `t-…/`.
    pub prefix: String,
    /// Rooted at the prefix: keys are `data/hello.txt`, `ro/ro.txt`, `outside/canary.txt`.
    pub op: aiofs_host::object::opendal::Operator,
}

impl S3Sandbox {
    /// Upload the fixture under a new prefix.
    pub async fn new(env: &S3Env) -> S3Sandbox {
        let prefix = env.unique_prefix();
        let op = env.operator(&prefix);
        let local = crate::Sandbox::new();
        for dir in ["data", "ro", "outside"] {
            bucket::upload_dir(&op, &local.path(dir), &format!("{dir}/")).await;
        }
        S3Sandbox {
            env: env.clone(),
            prefix,
            op,
        }
    }

    /// An object grant of `P/NAME/` (an operator of its own, as an embedder would build).
    pub fn operator(&self, name: &str) -> aiofs_host::object::opendal::Operator {
        self.env.operator(&format!("{}{name}/", self.prefix))
    }

    /// `/data` (read-write) and `/ro` (read-only) as object grants.
    pub fn builder(&self) -> aiofs_host::AioFsCtxBuilder {
        use aiofs_host::Perms;
        aiofs_host::AioFsCtx::builder()
            .grant_object(self.operator("data"), "/data", Perms::ReadWrite)
            .unwrap()
            .grant_object(self.operator("ro"), "/ro", Perms::ReadOnly)
            .unwrap()
    }

    /// The standard grants with the given limits and pool.
    pub fn ctx_with(
        &self,
        limits: aiofs_host::Limits,
        pool: aiofs_host::Pool,
    ) -> aiofs_host::AioFsCtx {
        self.builder().limits(limits).pool(pool).build()
    }

    /// The standard grants with default limits and a small private pool.
    pub fn ctx(&self) -> aiofs_host::AioFsCtx {
        self.ctx_with(aiofs_host::Limits::default(), aiofs_host::Pool::new(4))
    }

    /// The object `rel` (e.g. `data/hello.txt`).
    ///
    /// # Panics
    /// If it does not exist.
    pub async fn read(&self, rel: &str) -> Vec<u8> {
        bucket::get(&self.op, rel)
            .await
            .unwrap_or_else(|| panic!("no object {rel}"))
    }

    /// Whether the object `rel` exists.
    pub async fn exists(&self, rel: &str) -> bool {
        bucket::get(&self.op, rel).await.is_some()
    }

    /// Every key under directory `rel` (e.g. `data`), relative to it and sorted; markers
    /// end in `/`.
    pub async fn tree(&self, rel: &str) -> Vec<String> {
        bucket::keys(&self.op, &format!("{}/", rel.trim_end_matches('/'))).await
    }

    /// Assert that nothing outside the grants and nothing in the read-only grant changed.
    pub async fn assert_untouched(&self) {
        assert_eq!(self.tree("outside").await, ["canary.txt"]);
        assert_eq!(self.read("outside/canary.txt").await, b"canary");
        assert_eq!(self.tree("ro").await, ["ro.txt", "rsub/"]);
        assert_eq!(self.read("ro/ro.txt").await, b"read only\n");
        let all = bucket::keys(&self.op, "").await;
        let stray: Vec<_> = all
            .iter()
            .filter(|k| {
                !["data/", "ro/", "outside/"]
                    .iter()
                    .any(|d| k.starts_with(d))
            })
            .collect();
        assert!(
            stray.is_empty(),
            "keys outside the fixture's dirs: {stray:?}"
        );
    }
}
