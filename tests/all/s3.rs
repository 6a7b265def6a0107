//! Object grants end to end, against the shared S3 server (`scripts/s3-server.sh`; each
//! test prints `skipped: no S3 server` without one, and fails without one under
//! `AIOFS_S3_REQUIRED=1`). Every test has its own key prefix, and checks the bucket with
//! OpenDAL afterwards, never a disk.
//!
//! * The `scenarios` guest over object grants at the guest paths the local tests use; the
//!   scenarios that need what an object grant does not have are listed in [`SKIPPED`] with
//!   the reason, and each is run to check that it stops on `unsupported`.
//! * The `wc` example prints the same table over a prefix as over the directory it came
//!   from.
//! * A differential table: the same `hostile` cases on a local directory and on a bucket
//!   prefix laid out alike must give the same answers line by line and leave the same
//!   files (escapes and prefix twins, read-only, every `GrantQuota` budget), besides the
//!   answers each case must give.

use aiofs_host::object::opendal::Operator;
use aiofs_host::{AioFsCtx, GrantQuota, Limits, Perms, Pool};
use aiofs_tests::s3::{S3Env, S3Sandbox, bucket};
use aiofs_tests::{
    HOSTILE, SCENARIOS, WC, component, drain, guest_io, run, runner, s3_or_skip, scenario,
};
use std::collections::BTreeMap;
use std::path::Path;

/// An `unsupported` answer in a guest's failure report.
const UNSUPPORTED: &str = "name: \"unsupported\"";

/// Scenarios of the `scenarios` guest that cannot pass on an object grant: the reason,
/// and what the failure must show (any of). Each is run anyway
/// ([`unsupported_scenarios_stop_where_expected`]) to check that it stops there and not
/// on something else.
const SKIPPED: &[(&str, &str, &[&str])] = &[
    (
        "binary_io",
        "w+b (read back through a write handle), a/a+b (append), truncate and sync",
        &[UNSUPPORTED],
    ),
    (
        "text_io",
        "a (append) and r+ (update in place)",
        &[UNSUPPORTED],
    ),
    (
        "streams",
        "w+b: the stream is written, then read back through one handle",
        &[UNSUPPORTED],
    ),
    (
        "os_ops",
        "symlink and link; and a path through a file (`hello.txt/x`) is no-entry, not \
         not-directory: there is no file to walk through, only keys",
        &[UNSUPPORTED, "stat through file"],
    ),
    (
        "path_ops",
        "symlink (and the fixture's mtime, which the host sets on the file)",
        &[UNSUPPORTED],
    ),
    (
        "tempfiles",
        "temporary-file's default mode w+b",
        &[UNSUPPORTED],
    ),
];

/// Scenarios not run on object grants at all, and why.
const NOT_APPLICABLE: &[(&str, &str)] = &[
    (
        "escapes",
        "its cases are the fixture's symlinks, which a bucket cannot hold; the lexical \
         cases run in `escapes_and_prefix_twins`",
    ),
    (
        "quota_pending, cancel_queued",
        "they hold the blocking pool shut, which object requests do not use",
    ),
    (
        "trap_mid_write",
        "a crash test of the local disk (tests/all/crash.rs)",
    ),
];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `whole_file` passes on an object grant up to its last check: a write-file under a
/// missing parent succeeds there (a key implies its parents; a local grant answers
/// `no-entry`).
#[tokio::test(flavor = "multi_thread")]
async fn s3_whole_file() {
    let env = s3_or_skip!();
    let sb = S3Sandbox::new(&env).await;
    let report = failing_scenario(sb.ctx(), "whole_file", "parents are implied").await;
    assert!(report.contains("no parent: expected Err"), "{report}");
    assert_eq!(sb.read("data/plain.txt").await, b"plain");
    assert_eq!(sb.read("data/atomic.txt").await, b"new content");
    assert_eq!(sb.read("data/nodir/x").await, b"");
    // No temporary objects.
    let stray: Vec<_> = sb
        .tree("data")
        .await
        .into_iter()
        .filter(|k| k.contains("tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    sb.assert_untouched().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_grants() {
    let env = s3_or_skip!();
    let sb = S3Sandbox::new(&env).await;
    scenario(sb.ctx(), &["grants"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_concurrent_reads() {
    let env = s3_or_skip!();
    let sb = S3Sandbox::new(&env).await;
    for i in 0..16 {
        bucket::put(
            &sb.op,
            &format!("data/c{i}.txt"),
            format!("file {i}").as_bytes(),
        )
        .await;
    }
    let ctx = sb.ctx();
    let fs = ctx.fs().clone();
    scenario(ctx, &["concurrent_reads", "16"]).await;
    assert_eq!(fs.pending_ops(), 0);
    // Sixteen reads ran, each counted under /data.
    let usage = fs.grant_usage();
    assert_eq!(usage[0].guest_path, "/data");
    assert_eq!(
        usage[0].bytes_read,
        (0..16)
            .map(|i| format!("file {i}").len() as u64)
            .sum::<u64>()
    );
}

/// The open-file limit and the per-read limit hold on object handles. Handles dropped
/// without `close` are completed as a local file's drop closes it: all six uploads are
/// visible (empty) once the pool has run the closes the drops queued.
#[tokio::test(flavor = "multi_thread")]
async fn s3_quota_open_files_and_read_size() {
    let env = s3_or_skip!();
    let sb = S3Sandbox::new(&env).await;
    let limits = Limits {
        max_open_files: 5,
        max_read_bytes: 1024,
        ..Limits::default()
    };
    let pool = Pool::new(2);
    let ctx = sb.ctx_with(limits, pool.clone());
    let fs = ctx.fs().clone();
    scenario(ctx, &["quota_open_files", "5"]).await;
    drain(&pool).await;
    assert_eq!(fs.open_files(), 0, "every handle was released");
    let written: Vec<String> = sb
        .tree("data")
        .await
        .into_iter()
        .filter(|k| k.starts_with('q') || k == "one-more")
        .collect();
    assert_eq!(
        written,
        ["one-more", "q0.bin", "q1.bin", "q2.bin", "q3.bin", "q4.bin"]
    );
    for k in &written {
        assert_eq!(sb.read(&format!("data/{k}")).await, b"", "{k}");
    }
}

/// A guest that traps with eight uploads open (100 bytes written to each) leaves none of
/// them visible: the uploads of a store torn down by a trap are aborted, not completed.
#[tokio::test(flavor = "multi_thread")]
async fn s3_trap_mid_write_leaves_no_upload() {
    let env = s3_or_skip!();
    let sb = S3Sandbox::new(&env).await;
    let pool = Pool::new(2);
    let report = failing_scenario(
        sb.ctx_with(Limits::default(), pool.clone()),
        "trap_mid_write",
        "it traps",
    )
    .await;
    assert!(report.contains("deliberate trap"), "{report}");
    drain(&pool).await;
    let left: Vec<String> = sb
        .tree("data")
        .await
        .into_iter()
        .filter(|k| k.starts_with('t') && k.ends_with(".bin"))
        .collect();
    assert!(
        left.is_empty(),
        "uploads of a trapped guest are visible: {left:?}"
    );
    sb.assert_untouched().await;
}

/// Run a scenario expected to fail; the failure report (trap or output).
async fn failing_scenario(ctx: AioFsCtx, name: &str, why: &str) -> String {
    let result = runner()
        .run(&component(SCENARIOS), ctx, guest_io(&[name]))
        .await;
    match result {
        Err(e) => format!("{e:?}"),
        Ok(out) if out.exit_code != 0 => format!("{}{}", text(&out.stdout), text(&out.stderr)),
        Ok(out) => panic!(
            "{name} passed on an object grant; it is listed as failing because {why}\n{}",
            text(&out.stdout)
        ),
    }
}

/// Every scenario in [`SKIPPED`] fails on an object grant, where the list says.
#[tokio::test(flavor = "multi_thread")]
async fn unsupported_scenarios_stop_where_expected() {
    let env = s3_or_skip!();
    for (name, why, markers) in SKIPPED {
        let sb = S3Sandbox::new(&env).await;
        let report = failing_scenario(sb.ctx(), name, why).await;
        assert!(
            markers.iter().any(|m| report.contains(m)),
            "{name} (needs {why}) failed on something else than {markers:?}:\n{report}"
        );
        sb.assert_untouched().await;
    }
    for (name, why) in NOT_APPLICABLE {
        eprintln!("not run on object grants: {name}: {why}");
    }
}

/// `wc` over the quick-start sample data uploaded to a prefix prints the same table as
/// over the directory.
#[tokio::test(flavor = "multi_thread")]
async fn s3_wc_prints_the_local_table() {
    let env = s3_or_skip!();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let prefix = env.unique_prefix();
    bucket::upload_dir(&env.operator(&prefix), &data, "").await;

    let local = AioFsCtx::builder()
        .grant(&data, "/data", Perms::ReadOnly)
        .unwrap()
        .build();
    let object = AioFsCtx::builder()
        .grant_object(env.operator(&prefix), "/data", Perms::ReadOnly)
        .unwrap()
        .build();
    let (want, got) = (run(WC, local, &[]).await, run(WC, object, &[]).await);
    assert_eq!(want.exit_code, 0, "{}", text(&want.stderr));
    assert_eq!(got.exit_code, 0, "{}", text(&got.stderr));
    let want = text(&want.stdout);
    assert!(want.lines().count() > 3, "{want}");
    assert_eq!(text(&got.stdout), want);
}

/// Files both sides of a [`Twin`] start with. `data2/` and `prefix-ab/` are prefix twins
/// of the granted `data/` and `prefix-a/`; neither they nor `outside/` are granted.
const SEED: &[(&str, &str)] = &[
    ("data/hello.txt", "hello"),
    ("data/sub/deep/f.txt", "deep"),
    ("prefix-a/a.txt", "a"),
    ("prefix-ab/secret", "CANARY-prefix-ab"),
    ("data2/secret.txt", "CANARY-data2"),
    ("ro/ro.txt", "read only\n"),
    ("ro/rsub/r.txt", "r"),
    ("outside/canary.txt", "CANARY-outside"),
];

/// A local directory and a bucket prefix laid out alike ([`SEED`]), each granted as
/// `/data` (read-write, with a quota), `/pa` (`prefix-a`, read-write) and `/ro`
/// (read-only).
struct Twin {
    dir: tempfile::TempDir,
    env: S3Env,
    prefix: String,
    op: Operator,
}

/// What one side answered and left.
struct Side {
    lines: Vec<String>,
    usage: Vec<aiofs_host::GrantUsage>,
    files: BTreeMap<String, Vec<u8>>,
}

impl Twin {
    async fn new(env: &S3Env) -> Twin {
        let dir = tempfile::tempdir().unwrap();
        let prefix = env.unique_prefix();
        let op = env.operator(&prefix);
        for (path, data) in SEED {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
            bucket::put(&op, path, data.as_bytes()).await;
        }
        Twin {
            dir,
            env: env.clone(),
            prefix,
            op,
        }
    }

    fn local_ctx(&self, quota: GrantQuota) -> AioFsCtx {
        let d = |name: &str| self.dir.path().join(name);
        AioFsCtx::builder()
            .grant_with_quota(d("data"), "/data", Perms::ReadWrite, quota)
            .unwrap()
            .grant(d("prefix-a"), "/pa", Perms::ReadWrite)
            .unwrap()
            .grant(d("ro"), "/ro", Perms::ReadOnly)
            .unwrap()
            .pool(Pool::new(2))
            .build()
    }

    fn object_ctx(&self, quota: GrantQuota) -> AioFsCtx {
        let op = |name: &str| self.env.operator(&format!("{}{name}/", self.prefix));
        AioFsCtx::builder()
            .grant_object_with_quota(op("data"), "/data", Perms::ReadWrite, quota)
            .unwrap()
            .grant_object(op("prefix-a"), "/pa", Perms::ReadWrite)
            .unwrap()
            .grant_object(op("ro"), "/ro", Perms::ReadOnly)
            .unwrap()
            .pool(Pool::new(2))
            .build()
    }

    /// Every file of the local side, relative to its root.
    fn local_files(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    walk(base, &e.path(), out);
                } else {
                    let rel = e.path().strip_prefix(base).unwrap().display().to_string();
                    out.insert(rel, std::fs::read(e.path()).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out
    }

    /// Run `cases` through the hostile guest on both sides.
    async fn run(&self, cases: &[&str], quota: GrantQuota) -> (Side, Side) {
        let mut args = vec!["cases"];
        args.extend_from_slice(cases);
        let mut sides = Vec::new();
        for object in [false, true] {
            let ctx = if object {
                self.object_ctx(quota)
            } else {
                self.local_ctx(quota)
            };
            let fs = ctx.fs().clone();
            let out = run(HOSTILE, ctx, &args).await;
            let stdout = text(&out.stdout);
            assert_eq!(
                out.exit_code,
                0,
                "object={object}\n{stdout}\n{}",
                text(&out.stderr)
            );
            let files = if object {
                bucket::files(&self.op, "").await
            } else {
                self.local_files()
            };
            sides.push(Side {
                lines: stdout.lines().map(str::to_owned).collect(),
                usage: fs.grant_usage(),
                files,
            });
        }
        let object = sides.pop().unwrap();
        let local = sides.pop().unwrap();
        (local, object)
    }

    /// Run `table` (case, the answer it must give, `A|B` for either on each side, or `None`
    /// for "as on the local side")
    /// on both sides; require the answers, the same answers and usage on both sides, and
    /// the same files. Returns the files.
    async fn check(&self, table: &[(&str, Option<&str>)], quota: GrantQuota) -> Side {
        let cases: Vec<&str> = table.iter().map(|(c, _)| *c).collect();
        let (local, object) = self.run(&cases, quota).await;
        for (i, (case, want)) in table.iter().enumerate() {
            let l = local.lines.get(i).map(String::as_str).unwrap_or("<none>");
            let o = object.lines.get(i).map(String::as_str).unwrap_or("<none>");
            match want {
                Some(any) if any.contains('|') => {
                    let any: Vec<String> = any.split('|').map(|w| format!("{i} {w}")).collect();
                    assert!(any.iter().any(|w| w == l), "local: {case}: {l}");
                    assert!(any.iter().any(|w| w == o), "object: {case}: {o}");
                }
                Some(want) => {
                    assert_eq!(l, format!("{i} {want}"), "local: {case}");
                    assert_eq!(o, l, "object grant differs from local on {case}");
                }
                None => assert_eq!(o, l, "object grant differs from local on {case}"),
            }
        }
        assert_eq!(object.lines.len(), table.len(), "{:?}", object.lines);
        assert_eq!(object.usage, local.usage, "grant usage differs");
        assert_eq!(object.files, local.files, "files differ after the cases");
        object
    }

    /// The files outside `/data` and `/pa` are as seeded.
    fn assert_untouched(&self, files: &BTreeMap<String, Vec<u8>>) {
        for (path, data) in SEED {
            if !path.starts_with("data/") && !path.starts_with("prefix-a/") {
                assert_eq!(
                    files.get(*path).map(Vec::as_slice),
                    Some(data.as_bytes()),
                    "{path} changed"
                );
            }
        }
        let stray: Vec<_> = files
            .keys()
            .filter(|k| !SEED.iter().any(|(p, _)| p == k))
            .filter(|k| !k.starts_with("data/") && !k.starts_with("prefix-a/"))
            .collect();
        assert!(
            stray.is_empty(),
            "created outside the writable grants: {stray:?}"
        );
    }
}

const NP: Option<&str> = Some("err not-permitted");

/// Hostile cases, each with the answer it must give (`None`: as on the local side).
type Table<'a> = Vec<(&'a str, Option<&'a str>)>;

/// Lexical escapes (`..` in every position, other mounts, absolute paths outside every
/// mount) and prefix twins (`prefix-a` granted, `prefix-ab/secret` beside it; `data`
/// granted, `data2/` beside it) answer as on a local grant, and nothing outside the
/// prefixes is read or written.
#[tokio::test(flavor = "multi_thread")]
async fn escapes_and_prefix_twins() {
    let env = s3_or_skip!();
    let twin = Twin::new(&env).await;
    let table: &[(&str, Option<&str>)] = &[
        ("read|..", NP),
        ("read|../x", NP),
        ("read|sub/../../x", NP),
        ("read|/data/sub/../../x", NP),
        // Through a name that does not exist: no-entry locally (the walk stops at `a`),
        // not-permitted on a bucket (resolved lexically); never anything outside.
        ("read|a/../../x", Some("err not-permitted|err no-entry")),
        (
            "read|/data/a/../../x",
            Some("err not-permitted|err no-entry"),
        ),
        ("read|/data/..", NP),
        ("read|/data/../data2/secret.txt", NP),
        ("write|/data/../data2/x|pwned", NP),
        ("read|/data2/secret.txt", NP),
        ("read|/data/../outside/canary.txt", NP),
        ("read|/data/sub/../../outside/canary.txt", NP),
        ("read|/outside/canary.txt", NP),
        ("read|/etc/passwd", NP),
        ("read|/datax/hello.txt", NP),
        ("read|/dat", NP),
        ("read|/pa/../prefix-ab/secret", NP),
        ("read|/prefix-ab/secret", NP),
        ("stat|/pa/../prefix-ab", NP),
        ("write|/pa/../prefix-ab/x|pwned", NP),
        ("listdir|/pa", Some("ok a.txt")),
        ("listdir|/pa/..", NP),
        ("stat|/data/sub/../../outside", NP),
        ("listdir|/data/..", NP),
        ("mkdir|/data/../evil", NP),
        ("makedirs|/data/../evil/x", NP),
        ("rename|/data/hello.txt|/data/../outside/moved", NP),
        ("copy|/data/../outside/canary.txt|/data/stolen", NP),
        ("copy|/data/hello.txt|/data/../data2/copied", NP),
        ("remove|/data/../outside/canary.txt", NP),
        ("rmtree|/data/..", NP),
        ("rmtree|/data/../data2", NP),
        // `%2e%2e` (escaped here as %252e%252e) is a plain name.
        (
            "read|/data/%252e%252e/outside/canary.txt",
            Some("err no-entry"),
        ),
        ("read|/data/sub/deep/../../hello.txt", Some("ok hello")),
        ("read|hello.txt", Some("ok hello")),
        ("rmtree|/data", None),
        ("rmdir|/data", None),
        ("rename|/data|/data/x", None),
        ("read|/data/hello.txt", Some("ok hello")),
    ];
    let side = twin.check(table, GrantQuota::UNLIMITED).await;
    twin.assert_untouched(&side.files);
    assert_eq!(
        side.files.get("data/hello.txt").map(Vec::as_slice),
        Some(&b"hello"[..])
    );
}

/// A trailing `/` on a file's name answers `not-directory`, as on a local grant (the
/// escape list of docs/design/object-grants.md §3).
#[tokio::test(flavor = "multi_thread")]
async fn trailing_slash_on_a_file() {
    let env = s3_or_skip!();
    let twin = Twin::new(&env).await;
    let table: &[(&str, Option<&str>)] = &[
        ("read|/data/hello.txt/", Some("err not-directory")),
        ("stat|/data/hello.txt/", Some("err not-directory")),
        ("write|/data/hello.txt/|x", None),
    ];
    let side = twin.check(table, GrantQuota::UNLIMITED).await;
    twin.assert_untouched(&side.files);
}

/// Every mutation of a read-only object grant answers `read-only` (as locally) and
/// changes nothing; reading it works.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_object_grant() {
    let env = s3_or_skip!();
    let twin = Twin::new(&env).await;
    let ro = Some("err read-only");
    let table: &[(&str, Option<&str>)] = &[
        ("write|/ro/ro.txt|x", ro),
        ("atomic|/ro/new.txt|x", ro),
        ("open|/ro/ro.txt|w", ro),
        ("open|/ro/new.txt|xb", ro),
        ("open|/ro/ro.txt|a", ro),
        ("open|/ro/ro.txt|r+", ro),
        ("mkdir|/ro/d", ro),
        ("makedirs|/ro/d/e", ro),
        ("remove|/ro/ro.txt", ro),
        ("rmdir|/ro/rsub", ro),
        ("rmtree|/ro/rsub", ro),
        ("rename|/ro/ro.txt|/ro/x", ro),
        ("rename|/ro/ro.txt|/data/x", ro),
        ("rename|/data/hello.txt|/ro/x", ro),
        ("copy|/data/hello.txt|/ro/c", ro),
        ("tmpdir|/ro", ro),
        ("accessw|/ro/ro.txt", Some("ok false")),
        ("read|/ro/ro.txt", Some("ok read only\\x0a")),
        ("openread|/ro/rsub/r.txt", Some("ok r")),
        ("listdir|/ro", Some("ok ro.txt,rsub")),
    ];
    let side = twin.check(table, GrantQuota::UNLIMITED).await;
    twin.assert_untouched(&side.files);
}

/// `copy-file` from one object grant into another (a read-only one into a writable one)
/// copies the bytes, as between two directories (docs/design/object-grants.md §4: a
/// streamed GET into an upload).
#[tokio::test(flavor = "multi_thread")]
async fn copy_across_object_grants() {
    let env = s3_or_skip!();
    let twin = Twin::new(&env).await;
    let table: &[(&str, Option<&str>)] = &[
        ("copy|/ro/ro.txt|/data/from-ro.txt", Some("ok 10")),
        ("copy|/data/hello.txt|/pa/from-data.txt", Some("ok 5")),
    ];
    let side = twin.check(table, GrantQuota::UNLIMITED).await;
    twin.assert_untouched(&side.files);
    assert_eq!(
        side.files.get("data/from-ro.txt").map(Vec::as_slice),
        Some(&b"read only\n"[..])
    );
}

/// Each `GrantQuota` budget answers at its limit on an object grant as on a local one:
/// the same answers, the same usage counters, nothing of a refused write in the bucket.
#[tokio::test(flavor = "multi_thread")]
async fn quotas_on_object_grants() {
    let env = s3_or_skip!();
    let q = Some("err quota");
    let big = Some("err file-too-large");
    let none = Some("err no-entry");
    let ok = Some("ok ");
    let budgets: Vec<(GrantQuota, Table)> = vec![
        (
            GrantQuota {
                max_bytes_written: Some(16),
                ..GrantQuota::UNLIMITED
            },
            vec![
                ("write|/data/q1|0123456789", ok),
                ("write|/data/q2|0123456789", q),
                ("read|/data/q2", none),
                ("atomic|/data/q3|012345", ok),
                ("write|/data/q4|x", q),
                ("copy|/data/hello.txt|/data/q5", q),
                ("read|/data/q1", Some("ok 0123456789")),
                ("write|/pa/free|0123456789012345678901234567890", ok),
            ],
        ),
        (
            GrantQuota {
                max_created: Some(2),
                ..GrantQuota::UNLIMITED
            },
            vec![
                ("write|/data/c1|a", ok),
                ("mkdir|/data/d1", ok),
                ("write|/data/c2|b", q),
                ("atomic|/data/c3|c", q),
                ("mkdir|/data/d2", q),
                ("copy|/data/hello.txt|/data/c4", q),
                ("write|/data/c1|again", ok),
                ("read|/data/c2", none),
                ("read|/data/c1", Some("ok again")),
            ],
        ),
        (
            GrantQuota {
                max_file_size: Some(8),
                ..GrantQuota::UNLIMITED
            },
            vec![
                ("write|/data/f1|12345678", ok),
                ("write|/data/f2|123456789", big),
                ("atomic|/data/f3|123456789", big),
                ("read|/data/f2", none),
                ("read|/data/f3", none),
                ("copy|/data/hello.txt|/data/f4", Some("ok 5")),
                ("write|/data/f1|123456789", big),
                ("read|/data/f1", Some("ok 12345678")),
            ],
        ),
        (
            GrantQuota {
                max_bytes_read: Some(8),
                ..GrantQuota::UNLIMITED
            },
            vec![
                ("read|/data/hello.txt", Some("ok hello")),
                ("read|/data/hello.txt", None),
                ("openread|/data/hello.txt", None),
                ("read|/pa/a.txt", Some("ok a")),
            ],
        ),
    ];
    for (quota, table) in budgets {
        let twin = Twin::new(&env).await;
        let side = twin.check(&table, quota).await;
        assert!(
            side.lines
                .iter()
                .any(|l| l.ends_with("err quota") || l.ends_with("err file-too-large")),
            "{quota:?} never answered: {:?}",
            side.lines
        );
        twin.assert_untouched(&side.files);
    }
}

/// The ids of the multipart uploads in progress for `key` (bucket-relative) on the server
/// of `env` (`ListMultipartUploads`, signed by curl: OpenDAL has no call for it, and
/// SeaweedFS hides uploads from object listings).
fn uploads_of(env: &S3Env, key: &str) -> Vec<String> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--aws-sigv4"])
        .arg(format!("aws:amz:{}:s3", env.region))
        .arg("--user")
        .arg(format!("{}:{}", env.access_key_id, env.secret_access_key))
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .arg(format!("{}/{}?uploads=", env.endpoint, env.bucket))
        .output()
        .expect("curl (to list multipart uploads)");
    assert!(out.status.success(), "listing uploads failed");
    String::from_utf8_lossy(&out.stdout)
        .split("<Upload>")
        .skip(1)
        .filter(|u| u.contains(&format!("<Key>{key}</Key>")))
        .filter_map(|u| {
            let id = u.split_once("<UploadId>")?.1.split_once("</UploadId>")?;
            Some(id.0.to_owned())
        })
        .collect()
}

/// A part of an open upload cut by the store's time limit (the server hung) fails the
/// upload, and the upload is aborted once the request is over: no part stays on the
/// server. (Dropping the request half-way, as the old code did, left a writer that could
/// not abort.) The time limit is a limit here, not a measure: nothing is timed.
#[tokio::test(flavor = "multi_thread")]
async fn s3_upload_cut_by_the_time_limit_is_aborted() {
    let _shared = s3_or_skip!();
    let mut server = aiofs_tests::s3::PrivateServer::start();
    let prefix = server.env.unique_prefix();
    let config = aiofs_host::object::S3Config {
        retries: Some(0),
        ..server.env.config(&prefix)
    };
    let limits = Limits {
        max_op_duration: Some(std::time::Duration::from_secs(3)),
        ..Limits::default()
    };
    let ctx = AioFsCtx::builder()
        .limits(limits)
        .grant_object(config.operator().unwrap(), "/data", Perms::ReadWrite)
        .unwrap()
        .build();
    let fs = ctx.fs();
    let f = fs.open("/data/big".into(), "wb").await.unwrap();
    // Three parts: the first is sent (so the upload exists); the writer keeps the others
    // until more come (OpenDAL holds a part back for the close).
    f.write(vec![1u8; 24 << 20]).await.unwrap();
    let key = format!("{prefix}big");
    assert_eq!(uploads_of(&server.env, &key).len(), 1);
    server.pause();
    // The next part's request hangs until the time limit cuts it.
    assert!(f.write(vec![2u8; 8 << 20]).await.is_err());
    server.resume();
    assert!(f.close().await.is_err());
    drop(f);
    // The abort follows the cut request (on the server's state, with a hang guard), and
    // the upload's charge is given back once the abort has returned.
    aiofs_tests::wait_until("the upload to be aborted", || {
        uploads_of(&server.env, &key).is_empty()
    })
    .await;
    aiofs_tests::wait_until("the upload's charge to be given back", || {
        fs.held_bytes() == 0
    })
    .await;
}
