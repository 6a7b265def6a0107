//! `aiofs run --dir s3://BUCKET/PREFIX::/data` processes sharing one prefix of the shared
//! S3 server (skipped without one; see `aiofs_tests::s3`):
//!
//! * two writers make many whole-file writes of distinct full payloads to one key while
//!   they and a third process read it: every read is exactly one whole payload;
//! * processes racing to create the same keys in `x` mode: exactly one winner per key,
//!   whose content the object holds;
//! * the secret key never appears in anything `aiofs` prints, logs or audits, on success,
//!   on refusals, and with a wrong secret.
//!
//! The `aiofs` binary is the one `cargo test` built next to this test (`target/debug`).

use aiofs_tests::s3::{S3Env, bucket};
use aiofs_tests::{HOSTILE, SCENARIOS, WC, s3_or_skip};
use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

/// The `aiofs` binary built by this `cargo test`, built now if it is missing or older than
/// the sources it is made of.
fn aiofs_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap(); // target/debug/deps/.. = target/debug
        let bin = dir.join("aiofs");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let newest_source = ["cli/src", "host/src"]
            .iter()
            .map(|d| newest_mtime(&root.join(d)))
            .max()
            .unwrap();
        let fresh = |bin: &Path| {
            std::fs::metadata(bin)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= newest_source)
        };
        if !fresh(&bin) {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(&root)
                .args(["build", "-p", "aiofs-cli", "--bin", "aiofs"])
                .status()
                .expect("spawn cargo");
            assert!(status.success(), "cargo build -p aiofs-cli failed");
            assert!(fresh(&bin), "{} is still missing or stale", bin.display());
        }
        bin
    })
    .clone()
}

fn newest_mtime(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::UNIX_EPOCH;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = if e.file_type().unwrap().is_dir() {
            newest_mtime(&e.path())
        } else {
            e.metadata().unwrap().modified().unwrap()
        };
        newest = newest.max(t);
    }
    newest
}

/// `aiofs run GUEST --dir s3://BUCKET/PREFIX::/data EXTRA... -- ARGS...`, with the
/// server's address and keys in the standard AWS variables (and nothing else from the
/// caller's AWS configuration).
fn aiofs_run(env: &S3Env, prefix: &str, guest: &str, extra: &[&str], args: &[&str]) -> Command {
    aiofs_run_at(
        env,
        &format!("{}::/data", env.uri(prefix)),
        guest,
        extra,
        args,
    )
}

/// `aiofs run GUEST --dir DIRSPEC EXTRA... -- ARGS...`, environment as [`aiofs_run`].
fn aiofs_run_at(env: &S3Env, dir: &str, guest: &str, extra: &[&str], args: &[&str]) -> Command {
    let mut cmd = Command::new(aiofs_bin());
    cmd.arg("run")
        .arg(guest)
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .arg("--")
        .args(args)
        .env(
            "AIOFS_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("s3-cli-cache"),
        )
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for k in [
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_S3",
        "AWS_DEFAULT_REGION",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env.aws_vars() {
        cmd.env(k, v);
    }
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Wait for `child` and require exit status 0.
fn finish(child: Child, what: &str) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Round `i` of writer `w`: a 1 KiB payload no other write has, and from which no other
/// payload can be made by cutting or mixing (each names its writer and round in every
/// line).
fn payload(w: char, i: usize) -> String {
    let line = format!("{w}{i:04}-");
    line.repeat(1024 / line.len())
}

/// Two writers, each 300 whole-file writes (atomic and plain, alternating) of distinct
/// payloads to one key, each followed by a read; a third process only reads. Every read
/// is one writer's whole payload, never a mix or a prefix, and the key ends as one.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_whole_file_writes_are_never_torn() {
    let env = s3_or_skip!();
    const ROUNDS: usize = 300;
    let prefix = env.unique_prefix();
    let op = env.operator(&prefix);
    bucket::put(&op, "shared.bin", payload('S', 0).as_bytes()).await;

    let mut all: BTreeSet<String> = BTreeSet::from([payload('S', 0)]);
    let mut children = Vec::new();
    for w in ['A', 'B'] {
        let mut cases = Vec::new();
        for i in 0..ROUNDS {
            let p = payload(w, i);
            all.insert(p.clone());
            let op = if i % 2 == 0 { "atomic" } else { "write" };
            cases.push(format!("{op}|/data/shared.bin|{p}"));
            cases.push("read|/data/shared.bin".to_string());
        }
        let mut args = vec!["cases"];
        args.extend(cases.iter().map(String::as_str));
        children.push((
            format!("writer {w}"),
            aiofs_run(&env, &prefix, HOSTILE, &[], &args)
                .spawn()
                .unwrap(),
        ));
    }
    let reads: Vec<&str> = std::iter::once("cases")
        .chain(std::iter::repeat_n("read|/data/shared.bin", 2 * ROUNDS))
        .collect();
    children.push((
        "reader".to_string(),
        aiofs_run(&env, &prefix, HOSTILE, &[], &reads)
            .spawn()
            .unwrap(),
    ));

    let mut seen = 0;
    // (process, writer whose payload it read): how the processes interleaved.
    let mut by_writer: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for (what, child) in children {
        let out = finish(child, &what);
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2 * ROUNDS, "{what}: {stdout}");
        for (n, line) in lines.iter().enumerate() {
            let (_, rest) = line.split_once(' ').unwrap();
            if rest == "ok " {
                continue; // a write
            }
            let data = rest
                .strip_prefix("ok ")
                .unwrap_or_else(|| panic!("{what}: case {n}: {line}"));
            assert!(
                all.contains(data),
                "{what}: case {n} read a torn or unknown object ({} bytes): {:.80}",
                data.len(),
                data
            );
            seen += 1;
            *by_writer
                .entry((what.clone(), data[..1].to_string()))
                .or_insert(0) += 1;
        }
    }
    assert_eq!(seen, 4 * ROUNDS);
    eprintln!("reads by process and writer seen: {by_writer:?}");
    let last = String::from_utf8(bucket::get(&op, "shared.bin").await.unwrap()).unwrap();
    assert!(all.contains(&last), "final object is no payload");
    assert_eq!(bucket::keys(&op, "").await, ["shared.bin"], "stray objects");
}

/// Four processes race to create the same 20 keys in `x` mode, released together (each
/// waits for a `go` object the test makes once all four are running): each key has
/// exactly one winner, and holds the winner's content.
#[tokio::test(flavor = "multi_thread")]
async fn exclusive_create_race_has_one_winner() {
    let env = s3_or_skip!();
    let prefix = env.unique_prefix();
    let op = env.operator(&prefix);
    let keys: Vec<String> = (0..20).map(|i| format!("/data/race-{i:02}")).collect();
    let racers = ["r0", "r1", "r2", "r3"];
    // Each racer says `ready`, then waits for `go`, made once all four are ready.
    let mut children: Vec<(Child, BufReader<ChildStdout>)> = racers
        .iter()
        .map(|id| {
            let mut args = vec!["exclusive", *id, "/data/go"];
            args.extend(keys.iter().map(String::as_str));
            let mut child = aiofs_run(&env, &prefix, SCENARIOS, &[], &args)
                .spawn()
                .unwrap();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            (child, stdout)
        })
        .collect();
    for ((_, stdout), id) in children.iter_mut().zip(racers) {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "{id}");
    }
    bucket::put(&op, "go", b"").await;
    let mut winners: Vec<Vec<&str>> = vec![Vec::new(); keys.len()];
    let outs: Vec<String> = children
        .into_iter()
        .zip(racers)
        .map(|((child, mut stdout), id)| {
            let mut rest = String::new();
            stdout.read_to_string(&mut rest).unwrap();
            finish(child, id);
            rest
        })
        .collect();
    for (out, id) in outs.iter().zip(racers) {
        for (i, key) in keys.iter().enumerate() {
            let line = out
                .lines()
                .find(|l| l.starts_with(&format!("{key} ")))
                .unwrap_or_else(|| panic!("{id}: no answer for {key}:\n{out}"));
            match line.rsplit(' ').next() {
                Some("created") => winners[i].push(id),
                Some("exist") => {}
                other => panic!("{id}: {key}: {other:?}"),
            }
        }
    }
    eprintln!("winners: {winners:?}");
    for (key, w) in keys.iter().zip(&winners) {
        assert_eq!(w.len(), 1, "{key}: winners {w:?}");
        let name = key.trim_start_matches("/data/");
        let held = bucket::get(&op, name).await.unwrap();
        assert_eq!(held, w[0].as_bytes(), "{key} holds another racer's content");
    }
    assert_eq!(bucket::keys(&op, "").await.len(), keys.len() + 1);
}

/// Nothing `aiofs run` prints, logs (at trace level) or audits holds the secret key:
/// not on success, not on the guest's refusals and errors, and not when the server
/// refuses the signature of a wrong secret.
#[tokio::test(flavor = "multi_thread")]
async fn the_secret_key_is_never_shown() {
    let env = s3_or_skip!();
    let prefix = env.unique_prefix();
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        "cases",
        "write|/data/a.txt|hello",
        "read|/data/a.txt",
        "read|/data/missing",
        "read|/data/../outside",
        "listdir|/data",
        "stat|/data/a.txt",
        "copy|/data/a.txt|/data/b.txt",
        "rename|/data/b.txt|/data/c.txt",
        "rmtree|/data/nothing",
        "open|/data/a.txt|a",
    ];
    let wrong = S3Env {
        secret_access_key: format!("WRONG{}", env.secret_access_key),
        ..env.clone()
    };
    let mut runs = Vec::new();
    for (what, e) in [("right secret", &env), ("wrong secret", &wrong)] {
        let audit = tmp.path().join(format!("{}.audit", what.replace(' ', "-")));
        let flags = [
            "--log",
            "trace",
            "--stats",
            "--audit",
            audit.to_str().unwrap(),
        ];
        let out = aiofs_run(e, &prefix, HOSTILE, &flags, &cases)
            .output()
            .unwrap();
        let audit_text = std::fs::read_to_string(&audit).unwrap_or_default();
        runs.push((what, e.secret_access_key.clone(), out, audit_text));
    }
    // The right secret worked and the wrong one was refused (so both paths ran).
    let ok = text(&runs[0].2.stdout);
    assert!(
        ok.contains("1 ok hello"),
        "{ok}\n{}",
        text(&runs[0].2.stderr)
    );
    let refused = text(&runs[1].2.stdout);
    assert!(
        refused.contains("0 err access") || refused.contains("0 err io"),
        "{refused}\n{}",
        text(&runs[1].2.stderr)
    );
    for (what, secret, out, audit) in &runs {
        for (stream, body) in [
            ("stdout", text(&out.stdout)),
            ("stderr", text(&out.stderr)),
            ("audit", audit.clone()),
        ] {
            assert!(
                !body.is_empty() || stream != "stderr",
                "{what}: no log at all"
            );
            assert!(
                !body.contains(secret.as_str()),
                "{what}: the secret key is in the {stream}"
            );
            assert!(
                !body.contains(&env.secret_access_key),
                "{what}: the server's secret key is in the {stream}"
            );
        }
    }
}

/// Through the command line: `wc` prints the same table over `s3://…::/data:ro` (the
/// sample data uploaded to a prefix) as over `examples/data::/data:ro`, and `:ro` makes
/// the prefix read-only.
#[tokio::test(flavor = "multi_thread")]
async fn wc_and_read_only_through_the_cli() {
    let env = s3_or_skip!();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let prefix = env.unique_prefix();
    let op = env.operator(&prefix);
    bucket::upload_dir(&op, &data, "").await;
    let local_spec = format!("{}::/data:ro", data.display());
    let s3_spec = format!("{}::/data:ro", env.uri(&prefix));

    let local = aiofs_run_at(&env, &local_spec, WC, &[], &[])
        .spawn()
        .unwrap();
    let local = text(&finish(local, "wc over the directory").stdout);
    let over_s3 = aiofs_run_at(&env, &s3_spec, WC, &[], &[]).spawn().unwrap();
    let over_s3 = text(&finish(over_s3, "wc over s3").stdout);
    assert!(local.lines().count() > 3, "{local}");
    assert_eq!(over_s3, local);

    // The same prefix, read-only, to the hostile guest: changes are refused, reads work.
    let name = local
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap();
    let size = std::fs::metadata(data.join(name.trim_start_matches("/data/")))
        .unwrap()
        .len();
    let cases = [
        "cases".to_string(),
        format!("write|{name}|x"),
        "mkdir|/data/new".to_string(),
        format!("remove|{name}"),
        format!("size|{name}"),
    ];
    let cases: Vec<&str> = cases.iter().map(String::as_str).collect();
    let out = aiofs_run_at(&env, &s3_spec, HOSTILE, &[], &cases)
        .spawn()
        .unwrap();
    assert_eq!(
        text(&finish(out, "hostile on :ro").stdout),
        format!("0 err read-only\n1 err read-only\n2 err read-only\n3 ok {size}\n")
    );
    let before = bucket::files(&op, "").await;
    assert_eq!(
        before.get(name.trim_start_matches("/data/")).map(Vec::len),
        Some(size as usize)
    );
    assert!(!before.keys().any(|k| k.starts_with("new")));
}
