//! Object grants when the server fails, each on a SeaweedFS of the test's own
//! ([`PrivateServer`]; the tests run when the shared server's variables are set, as
//! under `scripts/test.sh`, and print `skipped: no S3 server` otherwise):
//!
//! * a hung server (SIGSTOP): the guest's operations return `io` (or `interrupted`)
//!   within the grant's timeout and retries, and work again once the server resumes;
//! * a server killed in the middle of a multipart upload: the guest's write or close
//!   fails, and after a restart of the server the object does not exist;
//! * the secret key appears in none of the guests' output, the store's audit records or
//!   error strings.

use aiofs_cli::CapturedOutput;
use aiofs_host::object::S3Config;
use aiofs_host::{AioFsCtx, Audit, GrantQuota, Perms, Pool};
use aiofs_tests::s3::{PrivateServer, bucket};
use aiofs_tests::{HOSTILE, component, guest_io, runner, s3_or_skip, wait_until};
use std::time::Duration;

/// A hang guard only: a broken build fails instead of hanging CI. Nothing is timed.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// How a run ended: exit code (`None` for a trap), stdout, stderr.
async fn run_any(guest: &str, ctx: AioFsCtx, args: &[&str]) -> (Option<i32>, String, String) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let component = component(guest);
    let run = runner().run(&component, ctx, guest_io(args));
    match tokio::time::timeout(HANG_GUARD, run)
        .await
        .expect("the guest never returned")
    {
        Ok(out) => (Some(out.exit_code), text(&out.stdout), text(&out.stderr)),
        Err(e) => {
            let (stdout, stderr) = e
                .downcast_ref::<CapturedOutput>()
                .map(|c| (text(&c.stdout), text(&c.stderr)))
                .unwrap_or_default();
            (None, stdout, format!("{stderr}\n{e:?}"))
        }
    }
}

/// An object grant of `prefix` on `server` at `/data`, with short request timeouts and
/// one retry, so that a fault answers soon.
fn config(server: &PrivateServer, prefix: &str) -> S3Config {
    S3Config {
        timeout: Some(Duration::from_secs(1)),
        retries: Some(1),
        ..server.env.config(prefix)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hung_server_answers_io_then_recovers() {
    let _shared = s3_or_skip!();
    let mut server = PrivateServer::start();
    let prefix = server.env.unique_prefix();
    let op = server.env.operator(&prefix);
    bucket::put(&op, "hello.txt", b"hello").await;
    let cfg = config(&server, &prefix);
    // Both runs audit refusals and mutations into one channel.
    let (audit, records) = Audit::channel_with_mutations(256);
    let ctx = || {
        AioFsCtx::builder()
            .grant_object(cfg.operator().unwrap(), "/data", Perms::ReadWrite)
            .unwrap()
            .pool(Pool::new(2))
            .audit(audit.clone())
            .build()
    };
    let cases = [
        "cases",
        "read|/data/hello.txt",
        "stat|/data/hello.txt",
        "write|/data/new.txt|x",
        "listdir|/data",
    ];

    server.pause();
    let (code, stdout, stderr) = run_any(HOSTILE, ctx(), &cases).await;
    server.resume();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let (hung_stdout, hung_stderr) = (stdout.clone(), stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            *line == format!("{i} err io") || *line == format!("{i} err interrupted"),
            "case {i} on a hung server: {line}"
        );
    }
    // Every answer works again after the resume. (Whether the write that timed out was
    // applied is the server's business: it may still finish a request the client gave up
    // on, as with any timed-out PUT.)
    let (code, stdout, stderr) = run_any(HOSTILE, ctx(), &cases).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        stdout, "0 ok hello\n1 ok FileType::RegularFile 5\n2 ok \n3 ok hello.txt,new.txt\n",
        "after resume"
    );
    assert_eq!(bucket::get(&op, "new.txt").await.unwrap(), b"x");
    let audit_text: String = records.drain().iter().map(|r| r.to_json() + "\n").collect();
    assert!(
        !audit_text.is_empty(),
        "the failed operations were not audited"
    );
    let hung = format!("{hung_stdout}\n{hung_stderr}");
    for (what, body) in [
        ("output while hung", &hung),
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("audit", &audit_text),
    ] {
        assert!(
            !body.contains(&server.env.secret_access_key),
            "the secret key is in the {what}"
        );
    }
}

/// The server dies after the guest has streamed 20 MiB into a multipart upload: the
/// guest's write or close fails, and once the server is back the key does not exist.
#[tokio::test(flavor = "multi_thread")]
async fn server_killed_mid_upload_leaves_no_object() {
    let _shared = s3_or_skip!();
    let mut server = PrivateServer::start();
    let prefix = server.env.unique_prefix();
    // The file-size budget only stops a write loop that would never see the failure.
    let quota = GrantQuota {
        max_file_size: Some(256 << 20),
        ..GrantQuota::UNLIMITED
    };
    let ctx = AioFsCtx::builder()
        .grant_object_with_quota(
            config(&server, &prefix).operator().unwrap(),
            "/data",
            Perms::ReadWrite,
            quota,
        )
        .unwrap()
        .pool(Pool::new(2))
        .build();
    let fs = ctx.fs().clone();
    let guest =
        tokio::spawn(
            async move { run_any(HOSTILE, ctx, &["fill", "/data/big.bin", "1048576"]).await },
        );
    wait_until("20 MiB streamed into the upload", || {
        fs.grant_usage()[0].bytes_written >= 20 << 20
    })
    .await;
    server.kill();
    let (code, stdout, stderr) = guest.await.unwrap();
    // `fill` prints how its write loop ended (a write failed with io), then closes: the
    // close fails with io too, and `fill` traps on it.
    assert!(
        stdout.contains("fill err=io"),
        "the upload did not fail with io: code {code:?}\n{stdout}\n{stderr}"
    );
    assert_eq!(code, None, "the close did not fail\n{stdout}\n{stderr}");
    assert!(stderr.contains("name: \"io\""), "{stderr}");
    server.restart();
    let op = server.env.operator(&prefix);
    assert_eq!(
        bucket::get(&op, "big.bin").await,
        None,
        "a partial upload is visible"
    );
    assert!(
        bucket::keys(&op, "").await.is_empty(),
        "{:?}",
        bucket::keys(&op, "").await
    );
    assert!(!stderr.contains(&server.env.secret_access_key));
    assert!(!stdout.contains(&server.env.secret_access_key));
}
