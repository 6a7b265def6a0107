//! A short tour of the aiofs guest API. It needs one writable grant and works in a
//! `tour/` directory there, which it removes at the end.
//!
//! ```text
//! mkdir -p /tmp/scratch
//! aiofs run tour.wasm --dir /tmp/scratch::/work
//! ```

use aiofs::os::{self, AccessMode};
use aiofs::tempfile::{self, Builder};
use aiofs::{ErrorCode, SeekFrom, path};
use futures::TryStreamExt;
use futures::future::try_join_all;

async fn run() -> Result<(), aiofs::Error> {
    // Where are we allowed to go?
    let grants = aiofs::grants();
    for g in &grants {
        let access = if g.is_writable() {
            "read-write"
        } else {
            "read-only"
        };
        println!("grant {} ({access})", g.guest_path);
    }
    let Some(base) = grants.iter().find(|g| g.is_writable()) else {
        println!("the tour needs a writable grant, e.g. --dir /tmp/scratch::/work");
        return Ok(());
    };
    let dir = path::join(&base.guest_path, "tour");
    os::makedirs(&dir, true).await?;
    let notes = path::join(&dir, "notes.txt");

    // Whole-file write, then append through a text-mode handle.
    aiofs::write_file(&notes, "first line\n").await?;
    let f = aiofs::open(&notes, "a").await?;
    f.write_text("second line\n").await?;
    f.write_lines_text(["third line\n", "fourth line\n"])
        .await?;
    f.close().await?;

    // Read it back line by line: one host call per batch of lines.
    let f = aiofs::open(&notes, "r").await?;
    let lines: Vec<String> = f.lines().try_collect().await?;
    println!(
        "{} has {} lines, the last is {:?}",
        f.name(),
        lines.len(),
        lines.last()
    );

    // Seek and read in binary mode.
    let f = aiofs::open(&notes, "rb").await?;
    f.seek(SeekFrom::End(-12)).await?;
    let tail = f.read(100).await?;
    println!("last 12 bytes: {:?}", String::from_utf8_lossy(&tail));

    // Metadata.
    let meta = aiofs::os::stat(&notes).await?;
    println!(
        "size {} bytes, file: {}, modified {:.0} s after the epoch",
        meta.size,
        meta.is_file(),
        meta.modified.map_or(0.0, |t| t.as_secs_f64())
    );
    println!("exists: {}", path::exists(&notes).await?);
    println!("writable: {}", os::access(&notes, AccessMode::WRITE).await?);

    // Directories, and ten writes in flight at once.
    let nested = path::join(&dir, "a/b/c");
    os::makedirs(&nested, false).await?;
    let writes = (0..10).map(|i| {
        let p = path::join(&nested, format!("part-{i}.txt"));
        async move { aiofs::write_file(p, format!("part {i}\n")).await }
    });
    try_join_all(writes).await?;
    let mut names = os::listdir(&nested).await?;
    names.sort();
    println!("{nested}: {}", names.join(" "));
    os::copy_file(&notes, path::join(&dir, "notes-copy.txt")).await?;
    os::rename(
        path::join(&dir, "notes-copy.txt"),
        path::join(&dir, "renamed.txt"),
    )
    .await?;
    for entry in os::scandir(&dir).await? {
        println!("  {:<12} {:?}", entry.name, entry.type_);
    }

    // Temporary objects.
    let scratch = tempfile::temporary_file().await?;
    scratch.write(b"scratch data").await?;
    scratch.rewind().await?;
    println!(
        "anonymous temp file holds {} bytes",
        scratch.read_all().await?.len()
    );
    let named = Builder::new()
        .dir(&dir)
        .prefix("report-")
        .suffix(".txt")
        .mode("w")
        .named_tempfile()
        .await?;
    println!("named temp file {}", named.name());
    named.close().await?; // deleted on close
    let tmp = Builder::new().dir(&dir).tempdir().await?;
    aiofs::write_file(tmp.join("x"), "x").await?;
    println!("temp dir {}", tmp.path());
    tmp.cleanup().await?;

    // The sandbox: paths outside every grant are refused.
    for escape in ["/etc/passwd", "../outside.txt"] {
        match aiofs::open(escape, "r").await {
            Err(e) if e.code() == ErrorCode::NotPermitted => println!("refused: {e}"),
            Err(e) => println!("refused differently: {e}"),
            Ok(_) => println!("{escape} was opened: the sandbox is broken!"),
        }
    }

    // Errors carry the path and convert into std::io::Error.
    let missing = aiofs::open(path::join(&dir, "missing.txt"), "r")
        .await
        .unwrap_err();
    let io: std::io::Error = missing.clone().into();
    println!("{missing} (io::ErrorKind::{:?})", io.kind());

    os::remove_tree(&dir).await?;
    println!("removed {dir}; tour done");
    Ok(())
}

aiofs::main!(run);
