//! The object-grant rows (issue 13): an S3 bucket prefix through OpenDAL, used by a guest
//! on an object grant (`aiofs`) and by host code awaiting the same `Operator` directly
//! (`native OpenDAL`), against the same server and with the same layers, in one run.
//!
//! The server is the one named by `AIOFS_S3_*` (as `scripts/s3-server.sh start` writes
//! them), or else a private SeaweedFS that this run starts through that script and stops
//! at its end. The fixture is uploaded under a fresh prefix of the bucket:
//!
//! ```text
//! small/0 .. small/999   4 KiB each (the same bytes as the local fixture)
//! big                    64 MiB (8 MiB for `--quick`)
//! many/0 .. many/999     1000 empty objects (listdir)
//! w/0 .. w/999           written (overwritten) by the write rows
//! ```

use crate::guests::Rep;
use aiofs_host::object::S3Config;
use aiofs_host::object::opendal::{self, Operator};
use futures::{StreamExt, TryStreamExt, stream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use tokio::runtime::Handle;
use wasmtime::{Result, bail, format_err};

/// Objects in `small/`, `many/`, and written by the write row.
pub const OBJECTS: usize = 1000;
/// Writes kept in flight by the write row.
pub const WRITES_IN_FLIGHT: usize = 32;
/// The S3 server of the run.
pub struct Server {
    config: S3Config,
    /// Where it came from, for the machine table.
    pub origin: String,
    /// The env file of a server this run started (stopped on drop).
    started: Option<(PathBuf, PathBuf)>,
}

impl Server {
    /// The server of `AIOFS_S3_*`, or a private one started with
    /// `scripts/s3-server.sh` (stopped when this is dropped, or when this process is gone).
    ///
    /// # Errors
    /// No variables and the script failed (its reason is in the message).
    pub fn get(workspace: &Path) -> Result<Server> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(config) = config_from(var) {
            return Ok(Server {
                origin: "the S3 server named by AIOFS_S3_ENDPOINT".into(),
                config,
                started: None,
            });
        }
        let script = workspace.join("scripts/s3-server.sh");
        eprintln!("aiofs-bench: no AIOFS_S3_* server; starting one with scripts/s3-server.sh");
        let out = Command::new("bash")
            .arg(&script)
            .args(["start", "--watch", &std::process::id().to_string()])
            .current_dir(workspace)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            bail!("scripts/s3-server.sh start failed ({})", out.status);
        }
        let env_file = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let text = std::fs::read_to_string(&env_file)?;
        let vars: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |k: &str| {
            vars.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let started = Some((script, env_file.clone()));
        let Some(config) = config_from(get) else {
            // Stop it again before failing.
            drop(Server {
                config: S3Config::default(),
                origin: String::new(),
                started,
            });
            bail!("{} lacks AIOFS_S3_* variables", env_file.display());
        };
        Ok(Server {
            origin: format!(
                "{}, started for this run by scripts/s3-server.sh on loopback",
                version_of(workspace).unwrap_or("SeaweedFS".into())
            ),
            config,
            started,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((script, env_file)) = self.started.take() {
            eprintln!("aiofs-bench: stopping the S3 server");
            let _ = Command::new("bash")
                .arg(script)
                .arg("stop")
                .arg(env_file)
                .stdin(Stdio::null())
                .status();
        }
    }
}

/// An [`S3Config`] from variables named as in `scripts/s3-server.sh`'s env file.
fn config_from(get: impl Fn(&str) -> Option<String>) -> Option<S3Config> {
    Some(S3Config {
        endpoint: get("AIOFS_S3_ENDPOINT")?,
        bucket: get("AIOFS_S3_BUCKET")?,
        region: get("AIOFS_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
        access_key_id: Some(get("AIOFS_S3_ACCESS_KEY_ID")?),
        secret_access_key: Some(get("AIOFS_S3_SECRET_ACCESS_KEY")?),
        ..S3Config::default()
    })
}

/// "SeaweedFS 4.48" when the server is the pinned one of `scripts/s3-server.sh`.
fn version_of(workspace: &Path) -> Option<String> {
    let script = workspace.join("scripts/s3-server.sh");
    let text = std::fs::read_to_string(script).ok()?;
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix("SEAWEEDFS_VERSION="))?;
    Some(format!("SeaweedFS {} (`weed mini`)", v.trim()))
}

/// The fixture under a fresh prefix of the server's bucket, and the operator rooted there.
pub struct Fixture {
    /// Rooted at the fixture's prefix; timeout and retry layers as `S3Config` adds them.
    pub op: Operator,
    /// Whether to delete the objects at the end (a shared server; a private one is
    /// thrown away whole).
    shared: bool,
}

impl Fixture {
    /// Upload the fixture (on the current tokio runtime).
    pub async fn create(server: &Server, big_bytes: usize) -> Result<Fixture> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let config = S3Config {
            prefix: format!("aiofs-bench-{}-{nanos}/", std::process::id()),
            ..server.config.clone()
        };
        let op = config.operator()?;
        let small = &crate::proto::small_payload();
        let puts = (0..OBJECTS)
            .map(|i| (format!("small/{i}"), small.clone()))
            .chain((0..OBJECTS).map(|i| (format!("many/{i}"), Vec::new())));
        stream::iter(puts)
            .map(|(key, body)| {
                let op = op.clone();
                async move { op.write(&key, body).await }
            })
            .buffer_unordered(WRITES_IN_FLIGHT)
            .try_for_each(|_| async { Ok(()) })
            .await?;
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let mut w = op.writer_with("big").chunk(8 << 20).concurrent(4).await?;
        for _ in 0..big_bytes / chunk.len() {
            w.write(chunk.clone()).await?;
        }
        w.close().await?;
        Ok(Fixture {
            op,
            shared: server.started.is_none(),
        })
    }

    /// Delete the fixture from a shared server.
    pub async fn cleanup(&self) -> Result<()> {
        if self.shared {
            for dir in ["small/", "many/", "w/"] {
                self.op.delete_with(dir).recursive(true).await?;
            }
            self.op.delete("big").await?;
        }
        Ok(())
    }
}

/// Bytes of the big object: 64 MiB, 8 MiB for `--quick`.
pub fn big_bytes(quick: bool) -> usize {
    if quick { 8 << 20 } else { 64 << 20 }
}

/// The guest workload of an object row (`s3_listdir` → `listdir`).
pub fn guest_workload(key: &str) -> Option<&str> {
    key.strip_prefix("s3_")
}

/// Await `fut` here, or spawned on `rt` (as aiofs runs every object request: on its own
/// runtime, awaited from the store's task).
async fn on<T: Send + 'static>(
    rt: Option<&Handle>,
    fut: impl Future<Output = opendal::Result<T>> + Send + 'static,
) -> Result<T> {
    Ok(match rt {
        Some(rt) => rt.spawn(fut).await??,
        None => fut.await?,
    })
}

/// Run object row `key` once with `op` from host code, each request awaited here or, with
/// `rt`, spawned on that runtime; returns the time and the check.
pub async fn native_once(op: &Operator, key: &str, n: usize, rt: Option<&Handle>) -> Result<Rep> {
    // Inputs that are not part of the work are made before the clock starts (the guest
    // does the same).
    let bufs: Vec<Vec<u8>> = if key == "s3_small_write_concurrent" {
        (0..n).map(|_| crate::proto::small_payload()).collect()
    } else {
        Vec::new()
    };
    let t = Instant::now();
    let check = match key {
        "s3_small_read_file" => {
            let mut total = 0;
            for i in 0..n {
                let (op, key) = (op.clone(), format!("small/{}", i % OBJECTS));
                total += on(rt, async move { op.read(&key).await }).await?.len() as u64;
            }
            total
        }
        "s3_big_read_whole" => {
            let op = op.clone();
            on(rt, async move { op.read("big").await }).await?.len() as u64
        }
        "s3_listdir" => {
            let op = op.clone();
            on(rt, async move { op.list("many/").await })
                .await?
                .iter()
                .filter(|e| e.path() != "many/")
                .count() as u64
        }
        "s3_small_write_concurrent" => {
            stream::iter(bufs.into_iter().enumerate())
                .map(|(i, buf)| {
                    let len = buf.len() as u64;
                    let (op, key) = (op.clone(), format!("w/{}", i % OBJECTS));
                    async move {
                        on(rt, async move { op.write(&key, buf).await }).await?;
                        Ok::<_, wasmtime::Error>(len)
                    }
                })
                .buffer_unordered(WRITES_IN_FLIGHT)
                .try_fold(0u64, |acc, len| async move { Ok(acc + len) })
                .await?
        }
        other => return Err(format_err!("no native OpenDAL version of {other}")),
    };
    Ok(Rep {
        elapsed: t.elapsed(),
        check,
    })
}

/// One warm-up and `reps` timed repetitions of `key` from host code (see
/// [`native_once`]).
pub async fn native(
    op: &Operator,
    key: &str,
    reps: usize,
    n: usize,
    rt: Option<&Handle>,
) -> Result<Vec<Rep>> {
    let mut out = Vec::new();
    for _ in 0..=reps {
        out.push(native_once(op, key, n, rt).await?);
    }
    out.remove(0);
    Ok(out)
}
