//! The hostile guest: an untrusted plugin that tries hard. Run as `hostile MODE ARGS...`.
//!
//! * `cases CASE...` — an interpreter for the host's table of escape attempts. Each CASE is
//!   `op` and its arguments separated by `|`, each `%XX`-escaped (so NUL, `|` and `%`
//!   survive). One line per case goes to stdout: `N ok DETAIL` or `N err CODE`, where
//!   DETAIL is what the operation returned (file content, names, ...), escaped. The host
//!   holds the expectations and checks the disk.
//! * `race ROUNDS` — read, stat, list and write through `/data/swap` while the host
//!   flips it between a real directory and a symlink leading out.
//! * `open_loop`, `temp_loop`, `ops_loop N`, `quota_io` — push on the per-store and
//!   per-grant limits until they answer `quota`.
//! * `drop_streams`, `cancel_storm SEED ROUNDS`, `cancel_atomic [wait]`, `trap_atomic`,
//!   `trap_streams` — faults: streams dropped half way, futures dropped at random
//!   points, a trap while an atomic write runs.
//! * `atomic_loop PATH START` — `write-file(atomic)` generation after generation, printing
//!   each generation once it is written, until killed.
//! * `fill PATH CHUNK` — write until the disk (or the file size limit) says no.
//! * `soak SEED OPS DIR` — a mixed workload in DIR, checked against its own model.

use aiofs::bindings::aiofs::fs::types::{ErrorCode, File, Whence};
use aiofs::bindings::aiofs::fs::{files, os, path, tempfile};
use futures::future::join_all;
use std::collections::BTreeMap;
use std::io::Write as _;

type E = ErrorCode;

/// `%XX` escapes back to characters.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len() + 1
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("cases are UTF-8")
}

/// Printable ASCII as is, everything else (and `\`) as `\xNN`.
fn show(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &c in bytes {
        if (0x20..0x7f).contains(&c) && c != b'\\' {
            out.push(c as char);
        } else {
            out.push_str(&format!("\\x{c:02x}"));
        }
    }
    out
}

fn opts(dir: &str) -> tempfile::TempOptions {
    tempfile::TempOptions {
        dir: (dir != "-").then(|| dir.to_string()),
        prefix: Some("hostile-".into()),
        suffix: None,
    }
}

/// Run one case; `Ok(detail)` or the error code.
async fn case(op: &str, a: &[String]) -> Result<String, E> {
    let arg = |i: usize| a.get(i).cloned().unwrap_or_default();
    let n = |i: usize| arg(i).parse::<u64>().unwrap_or(0);
    let unit = |r: Result<(), E>| r.map(|()| String::new());
    let flag = |r: Result<bool, E>| r.map(|b| b.to_string());
    match op {
        "read" => files::read_file(arg(0), 1 << 20).await.map(|d| show(&d)),
        "open" => files::open(arg(0), arg(1)).await.map(|f| f.mode()),
        "openread" => {
            let f = files::open(arg(0), "rb".into()).await?;
            f.read_all().await.map(|d| show(&d))
        }
        "write" => unit(files::write_file(arg(0), arg(1).into_bytes(), false).await),
        "atomic" => unit(files::write_file(arg(0), arg(1).into_bytes(), true).await),
        "append" => {
            let f = files::open(arg(0), "ab".into()).await?;
            f.write(arg(1).into_bytes()).await.map(|n| n.to_string())
        }
        "truncate" => {
            let f = files::open(arg(0), "r+b".into()).await?;
            f.truncate(Some(n(1))).await.map(|n| n.to_string())
        }
        "stat" | "lstat" => {
            let st = if op == "stat" {
                os::stat(arg(0)).await?
            } else {
                os::lstat(arg(0)).await?
            };
            Ok(format!("{:?} {}", st.type_, st.size))
        }
        "access" => flag(os::access(arg(0), os::AccessMode::empty()).await),
        "accessw" => flag(os::access(arg(0), os::AccessMode::WRITE).await),
        "listdir" => os::listdir(arg(0)).await.map(|mut v| {
            v.sort();
            show(v.join(",").as_bytes())
        }),
        "scandir" => os::scandir(arg(0), true).await.map(|mut v| {
            v.sort_by(|a, b| a.name.cmp(&b.name));
            let names: Vec<String> = v
                .iter()
                .map(|e| format!("{}:{:?}:{}", e.name, e.type_, e.stat.is_some()))
                .collect();
            show(names.join(",").as_bytes())
        }),
        "exists" => flag(path::exists(arg(0)).await),
        "isfile" => flag(path::is_file(arg(0)).await),
        "isdir" => flag(path::is_dir(arg(0)).await),
        "islink" => flag(path::is_link(arg(0)).await),
        "size" => path::get_size(arg(0)).await.map(|n| n.to_string()),
        "mtime" => path::get_mtime(arg(0)).await.map(|_| String::new()),
        "samefile" => flag(path::samefile(arg(0), arg(1)).await),
        "mkdir" => unit(os::mkdir(arg(0)).await),
        "makedirs" => unit(os::makedirs(arg(0), true).await),
        "rmdir" => unit(os::rmdir(arg(0)).await),
        "removedirs" => unit(os::removedirs(arg(0)).await),
        "remove" => unit(os::remove(arg(0)).await),
        "unlink" => unit(os::unlink(arg(0)).await),
        "rename" => unit(os::rename(arg(0), arg(1)).await),
        "replace" => unit(os::replace(arg(0), arg(1)).await),
        "renames" => unit(os::renames(arg(0), arg(1)).await),
        "link" => unit(os::link(arg(0), arg(1)).await),
        "symlink" => unit(os::symlink(arg(0), arg(1)).await),
        "readlink" => os::readlink(arg(0)).await.map(|s| show(s.as_bytes())),
        "copy" => os::copy_file(arg(0), arg(1)).await.map(|n| n.to_string()),
        "rmtree" => unit(os::remove_tree(arg(0)).await),
        "tmpfile" => tempfile::temporary_file("".into(), opts(&arg(0)))
            .await
            .map(|f| f.name()),
        "ntmpfile" => tempfile::named_temporary_file("".into(), opts(&arg(0)), true)
            .await
            .map(|f| f.name()),
        // `batch|OP:PATH[:DATA]|...`: one host call; each item's result as `ok DETAIL`
        // or `err CODE`, joined with `;`.
        "batch" => batch(a).await,
        "tmpdir" => tempfile::temporary_directory(opts(&arg(0)))
            .await
            .map(|d| d.path()),
        other => panic!("unknown op {other:?}"),
    }
}

async fn cases(list: &[String]) {
    let mut out = std::io::stdout().lock();
    for (i, c) in list.iter().enumerate() {
        let mut parts = c.split('|').map(unescape);
        let op = parts.next().unwrap_or_default();
        let args: Vec<String> = parts.collect();
        match case(&op, &args).await {
            Ok(detail) => writeln!(out, "{i} ok {detail}").unwrap(),
            Err(e) => writeln!(out, "{i} err {}", e.name()).unwrap(),
        }
    }
}

/// Hammer `/data/swap` while the host swaps it between a directory holding `f.txt`
/// ("inside") and a symlink to the outside directory (whose `f.txt` is the canary).
/// Every successful read must see "inside"; nothing may be created outside (the host
/// checks that). Prints how each kind of outcome was seen.
async fn race(rounds: usize) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut note = |what: String| *seen.entry(what).or_default() += 1;
    for i in 0..rounds {
        let key = match i % 6 {
            0 => match files::read_file("/data/swap/f.txt".into(), 1024).await {
                Ok(d) => {
                    assert_eq!(d, b"inside", "read through the swap leaked {}", show(&d));
                    "read ok".to_string()
                }
                Err(e) => format!("read {}", e.name()),
            },
            1 => match files::open("/data/swap/f.txt".into(), "rb".into()).await {
                Ok(f) => match f.read_all().await {
                    Ok(d) => {
                        assert_eq!(d, b"inside", "open+read leaked {}", show(&d));
                        "open ok".to_string()
                    }
                    Err(e) => format!("open-read {}", e.name()),
                },
                Err(e) => format!("open {}", e.name()),
            },
            2 => match os::listdir("/data/swap".into()).await {
                Ok(names) => {
                    assert!(
                        names.iter().all(|n| n == "f.txt" || n.starts_with("new-")),
                        "listdir leaked {names:?}"
                    );
                    "listdir ok".to_string()
                }
                Err(e) => format!("listdir {}", e.name()),
            },
            3 => match os::stat("/data/swap/f.txt".into()).await {
                Ok(st) => {
                    assert_eq!(st.size, 6, "stat leaked the canary's size");
                    "stat ok".to_string()
                }
                Err(e) => format!("stat {}", e.name()),
            },
            4 => {
                let p = format!("/data/swap/new-{i}.txt");
                match files::write_file(p.clone(), b"written".to_vec(), i % 12 == 4).await {
                    Ok(()) => {
                        // Clean up if it is still there (the directory may have moved).
                        let _ = os::remove(p).await;
                        "write ok".to_string()
                    }
                    Err(e) => format!("write {}", e.name()),
                }
            }
            _ => match files::open("/data/swap/f.txt".into(), "r+b".into()).await {
                Ok(f) => {
                    // Overwrite with the same bytes: a write that escaped would change
                    // the canary.
                    f.write(b"inside".to_vec()).await.map(drop).unwrap_or(());
                    "rw ok".to_string()
                }
                Err(e) => format!("rw {}", e.name()),
            },
        };
        note(key);
    }
    for (k, v) in &seen {
        println!("{k}={v}");
    }
}

fn count(results: &[Result<(), E>]) -> String {
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let quota = results.iter().filter(|r| **r == Err(E::Quota)).count();
    assert_eq!(ok + quota, results.len(), "{results:?}");
    format!("ok={ok} quota={quota}")
}

/// Open handles until `quota`, then show every slot comes back: close them, and open and
/// drop handles in a tight loop many times the limit.
async fn open_loop() {
    let mut held: Vec<File> = Vec::new();
    let err = loop {
        match files::open(format!("/data/h{}.bin", held.len()), "wb".into()).await {
            Ok(f) => held.push(f),
            Err(e) => break e,
        }
        assert!(held.len() <= 100_000, "no limit on open files");
    };
    assert_eq!(err, E::Quota);
    println!("held={}", held.len());
    let limit = held.len();
    for f in held.drain(..) {
        f.close().await.unwrap();
    }
    for i in 0..limit * 20 {
        let f = files::open(format!("/data/h{}.bin", i % limit), "rb".into())
            .await
            .unwrap_or_else(|e| panic!("reopen {i}: {e:?}"));
        drop(f);
    }
    println!("reopened={}", limit * 20);
}

/// Temporary directories until `quota`: they are handles too.
async fn temp_loop() {
    let mut held = Vec::new();
    let err = loop {
        match tempfile::temporary_directory(opts("-")).await {
            Ok(d) => held.push(d),
            Err(e) => break e,
        }
        assert!(held.len() <= 100_000, "no limit on temporary directories");
    };
    assert_eq!(err, E::Quota);
    println!("temp_dirs={}", held.len());
}

/// `n` operations at once, repeatedly: each round, whatever exceeds the per-store cap
/// fails with `quota` at once; the rest succeed.
async fn ops_loop(n: usize) {
    for round in 0..5 {
        let ops = (0..n).map(|_| async { path::exists("/data".into()).await.map(drop) });
        let results = join_all(ops).await;
        println!("round={round} {}", count(&results));
    }
}

/// Exercise the grant budgets the host set on `/data`: 4000 bytes written, 1024 read,
/// files at most 1000 bytes, 5 creations.
async fn quota_io() {
    // Max file size: a whole-file write, a handle write and a stream past 1000 bytes.
    let too_big = files::write_file("/data/big".into(), vec![1; 1001], false).await;
    assert_eq!(too_big, Err(E::FileTooLarge));
    let f = files::open("/data/a.bin".into(), "w+b".into())
        .await
        .unwrap(); // created 1
    assert_eq!(f.write(vec![2; 600]).await, Ok(600));
    assert_eq!(f.write(vec![2; 401]).await, Err(E::FileTooLarge));
    assert_eq!(f.truncate(Some(1001)).await, Err(E::FileTooLarge));
    let (mut tx, rx) = aiofs::bindings::wit_stream::new::<u8>();
    let done = f.write_via_stream(rx);
    let _ = tx.write_all(vec![3; 500]).await;
    drop(tx);
    // The chunk may have been taken already (the host writes one chunk behind the
    // writer); either way the stream ends with the refusal and none of it reaches the file.
    assert_eq!(done.await, Err(E::FileTooLarge));
    assert_eq!(
        f.tell().await,
        Ok(600),
        "nothing of the refused chunk was written"
    );
    // The same refusal with nobody waiting for the stream's result: `close` reports it,
    // also when the chunk was accepted and refused behind the writer (a second handle on
    // the file, so `f` stays open for the rest).
    let g = files::open("/data/a.bin".into(), "r+b".into())
        .await
        .unwrap();
    assert_eq!(g.seek(0, Whence::End).await, Ok(600));
    let (mut tx, rx) = aiofs::bindings::wit_stream::new::<u8>();
    let done = g.write_via_stream(rx);
    let _ = tx.write_all(vec![3; 500]).await;
    drop(tx);
    drop(done);
    assert_eq!(g.close().await, Err(E::FileTooLarge));
    // Bytes written: 600 so far; 400 left after three more files of 1000.
    for i in 0..3 {
        let p = format!("/data/w{i}"); // created 2, 3, 4
        files::write_file(p, vec![4; 1000], true).await.unwrap();
    }
    assert_eq!(
        files::write_file("/data/w0".into(), vec![5; 401], false).await,
        Err(E::Quota)
    );
    files::write_file("/data/w0".into(), vec![5; 400], false)
        .await
        .unwrap();
    assert_eq!(f.write(vec![6]).await, Err(E::Quota));
    // Reads: 1024 bytes. read_file of 1000 fits; 24 left.
    assert_eq!(
        files::read_file("/data/w1".into(), 4096)
            .await
            .unwrap()
            .len(),
        1000
    );
    f.seek(0, Whence::Start).await.unwrap();
    assert_eq!(
        f.read(100).await.unwrap().len(),
        24,
        "clamped to the budget"
    );
    assert_eq!(f.read(1).await, Err(E::Quota));
    let (rx, result) = f.read_via_stream();
    assert!(rx.collect().await.is_empty());
    assert_eq!(result.await, Err(E::Quota));
    // Creations: 4 used (a.bin, w0, w1, w2); one left.
    os::mkdir("/data/d".into()).await.unwrap();
    assert_eq!(os::mkdir("/data/d2".into()).await, Err(E::Quota));
    assert_eq!(
        tempfile::temporary_file("".into(), opts("/data"))
            .await
            .map(drop),
        Err(E::Quota)
    );
    // /free has no budget.
    files::write_file("/free/x".into(), vec![0; 5000], false)
        .await
        .unwrap();
    assert_eq!(
        files::read_file("/free/x".into(), 1 << 20)
            .await
            .unwrap()
            .len(),
        5000
    );
}

/// Streams dropped half way, both directions; the files stay consistent.
async fn drop_streams(trap: bool) {
    let f = files::open("/data/src.bin".into(), "rb".into())
        .await
        .unwrap();
    let (mut rx, _result) = f.read_via_stream();
    let first = rx.read(Vec::with_capacity(4096)).await;
    assert!(!first.1.is_empty(), "some bytes arrived");
    drop(rx);
    let w = files::open("/data/dst.bin".into(), "wb".into())
        .await
        .unwrap();
    let (mut tx, rx) = aiofs::bindings::wit_stream::new::<u8>();
    let done = w.write_via_stream(rx);
    let _ = tx.write_all(vec![9; 100_000]).await;
    drop(done);
    drop(tx);
    // A second writer, abandoned with its result future and the stream both alive.
    let w2 = files::open("/data/dst2.bin".into(), "wb".into())
        .await
        .unwrap();
    let (mut tx2, rx2) = aiofs::bindings::wit_stream::new::<u8>();
    let done2 = w2.write_via_stream(rx2);
    let mut pending = Box::pin(tx2.write_all(vec![7; 3 << 20]));
    let _ = futures::poll!(&mut pending);
    if trap {
        panic!("deliberate trap with streams open");
    }
    drop(pending);
    drop((done2, tx2, w2, w, f));
}

/// A tiny deterministic generator (xorshift), so rounds are reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Start many operations and drop each after a random number of polls (0 = never
/// polled, large = probably finished). Atomic writes of `/data/atomic.bin` alternate two
/// contents of different sizes; whatever is cancelled, the target must always be one of
/// them (the host checks it at the end, and this guest checks it between rounds).
async fn cancel_storm(seed: u64, rounds: usize) {
    let mut rng = Rng(seed | 1);
    let a = vec![b'a'; 200_000];
    let b = vec![b'b'; 300_000];
    files::write_file("/data/atomic.bin".into(), a.clone(), true)
        .await
        .unwrap();
    for round in 0..rounds {
        let mut futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> = Vec::new();
        for i in 0..8 {
            let which = rng.below(6);
            let data = if rng.below(2) == 0 {
                a.clone()
            } else {
                b.clone()
            };
            futs.push(match which {
                0 => Box::pin(async move {
                    let _ = files::write_file("/data/atomic.bin".into(), data, true).await;
                }),
                1 => Box::pin(async move {
                    let _ = files::read_file("/data/atomic.bin".into(), 1 << 20).await;
                }),
                2 => Box::pin(async move {
                    if let Ok(f) = files::open(format!("/data/c{i}.bin"), "w+b".into()).await {
                        let _ = f.write(data).await;
                        let _ = f.seek(0, Whence::Start).await;
                        let _ = f.read(1000).await;
                    }
                }),
                3 => Box::pin(async move {
                    if let Ok(f) = files::open("/data/atomic.bin".into(), "rb".into()).await {
                        let (rx, _res) = f.read_via_stream();
                        let _ = rx.collect().await;
                    }
                }),
                4 => Box::pin(async move {
                    if let Ok(d) = tempfile::temporary_directory(opts("-")).await {
                        let _ = files::write_file(format!("{}/x", d.path()), data, false).await;
                    }
                }),
                _ => Box::pin(async move {
                    let _ = os::listdir("/data".into()).await;
                }),
            });
        }
        for mut fut in futs {
            let polls = rng.below(4);
            for _ in 0..polls {
                if futures::poll!(&mut fut).is_ready() {
                    break;
                }
                // Let the host make progress between polls.
                let _ = path::exists("/data".into()).await;
            }
            drop(fut);
        }
        let now = files::read_file("/data/atomic.bin".into(), 1 << 20)
            .await
            .unwrap();
        assert!(
            now == a || now == b,
            "round {round}: torn atomic target ({} bytes)",
            now.len()
        );
    }
    println!("cancel_storm rounds={rounds}");
}

/// Start an atomic write of 4 MiB over `/data/atomic.bin` and drop its future: at once
/// (the host keeps it queued), or with `wait` once the host has created `/data/go` (the
/// host does that when the write has started on the pool).
async fn cancel_atomic(wait: bool) {
    let mut w = Box::pin(files::write_file(
        "/data/atomic.bin".into(),
        vec![b'n'; 4 << 20],
        true,
    ));
    assert!(futures::poll!(&mut w).is_pending());
    while wait && !path::exists("/data/go".into()).await.unwrap() {}
    drop(w);
    // A later operation proves the guest goes on normally.
    assert!(path::exists("/data".into()).await.unwrap());
    println!("dropped");
}

/// Start an atomic write and trap while it is on the pool.
async fn trap_atomic() {
    let mut w = Box::pin(files::write_file(
        "/data/atomic.bin".into(),
        vec![b'n'; 4 << 20],
        true,
    ));
    assert!(futures::poll!(&mut w).is_pending());
    panic!("deliberate trap during an atomic write");
}

/// The content of generation `g`: a header naming it, then bytes derived from it, of a
/// size that varies with it (so a torn file is detectable by length and by content).
fn generation(g: u64) -> Vec<u8> {
    let len = 64 * 1024 + (g as usize % 7) * 9000;
    let mut out = format!("gen {g:016}\n").into_bytes();
    out.extend((out.len()..len).map(|i| (i as u64 ^ g.wrapping_mul(31)) as u8));
    out
}

/// `write-file(atomic)` forever from generation `start` on, printing each generation
/// once written.
async fn atomic_loop(path: &str, start: u64) {
    let mut out = std::io::stdout().lock();
    for g in start.. {
        files::write_file(path.to_string(), generation(g), true)
            .await
            .unwrap_or_else(|e| panic!("generation {g}: {e:?}"));
        writeln!(out, "{g}").unwrap();
        out.flush().unwrap();
    }
}

/// Write `chunk`-sized blocks until refused; print the error and the bytes written; then
/// try an atomic write that cannot fit and check it left nothing behind.
async fn fill(path: &str, chunk: usize) {
    let f = files::open(path.to_string(), "wb".into()).await.unwrap();
    let mut total = 0u64;
    let err = loop {
        match f.write(vec![0x42; chunk]).await {
            Ok(n) => total += n,
            Err(e) => break e,
        }
        assert!(total < 1 << 34, "the disk never filled");
    };
    println!("fill err={} written={total}", err.name());
    f.close().await.unwrap();
    let dir = path.rsplit_once('/').map_or("/", |(d, _)| d).to_string();
    let before = os::listdir(dir.clone()).await.unwrap();
    let atomic = files::write_file(format!("{dir}/atomic.bin"), vec![1; 4 << 20], true).await;
    println!("atomic err={}", atomic.err().map_or("none", |e| e.name()));
    let mut after = os::listdir(dir).await.unwrap();
    after.sort();
    let mut before = before;
    before.sort();
    assert_eq!(
        before, after,
        "the failed atomic write left something behind"
    );
}

/// A mixed workload in `dir`, checked against its own model of what is there.
async fn soak(seed: u64, ops: usize, dir: &str) {
    let mut rng = Rng(seed | 1);
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    os::makedirs(dir.to_string(), true).await.unwrap();
    let mut done = 0;
    while done < ops {
        // A batch of concurrent operations on distinct files, then a check.
        let batch = 1 + rng.below(8) as usize;
        let mut futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> = Vec::new();
        let mut touched = std::collections::BTreeSet::new();
        for _ in 0..batch {
            let name = format!("{dir}/f{}", rng.below(12));
            if !touched.insert(name.clone()) {
                continue;
            }
            let len = rng.below(20_000) as usize;
            let byte = rng.below(256) as u8;
            let data = vec![byte; len];
            match rng.below(7) {
                0 | 1 => {
                    model.insert(name.clone(), data.clone());
                    let atomic = rng.below(2) == 0;
                    futs.push(Box::pin(async move {
                        files::write_file(name, data, atomic).await.unwrap();
                    }));
                }
                2 => {
                    let want = model.get(&name).cloned();
                    futs.push(Box::pin(async move {
                        match (files::read_file(name.clone(), 1 << 20).await, want) {
                            (Ok(got), Some(want)) => assert!(got == want, "{name} differs"),
                            (Err(E::NoEntry), None) => {}
                            (got, want) => {
                                panic!("{name}: {:?} vs {:?}", got.err(), want.map(|w| w.len()))
                            }
                        }
                    }));
                }
                3 => {
                    let existed = model.remove(&name).is_some();
                    futs.push(Box::pin(async move {
                        let r = os::remove(name).await;
                        assert_eq!(r.is_ok(), existed, "{r:?}");
                    }));
                }
                4 => {
                    let mut content = model.get(&name).cloned().unwrap_or_default();
                    content.extend_from_slice(&data);
                    model.insert(name.clone(), content);
                    futs.push(Box::pin(async move {
                        let f = files::open(name, "ab".into()).await.unwrap();
                        f.write(data).await.unwrap();
                        f.close().await.unwrap();
                    }));
                }
                5 => {
                    let want = model.get(&name).map(|c| c.len() as u64);
                    futs.push(Box::pin(async move {
                        match (os::stat(name).await, want) {
                            (Ok(st), Some(len)) => assert_eq!(st.size, len),
                            (Err(E::NoEntry), None) => {}
                            (got, want) => panic!("stat: {got:?} vs {want:?}"),
                        }
                    }));
                }
                _ => {
                    let want = model.get(&name).cloned();
                    futs.push(Box::pin(async move {
                        if let Some(want) = want {
                            let f = files::open(name, "rb".into()).await.unwrap();
                            let (rx, result) = f.read_via_stream();
                            let got = rx.collect().await;
                            assert_eq!(result.await, Ok(()));
                            assert!(got == want, "stream read differs");
                        }
                    }));
                }
            }
        }
        done += futs.len();
        join_all(futs).await;
    }
    let mut names = os::listdir(dir.to_string()).await.unwrap();
    names.sort();
    let want: Vec<String> = model
        .keys()
        .map(|k| k.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(names, want);
    println!("soak ops={done}");
}

/// Spin forever without calling the host (a `--timeout` must stop it).
fn spin() {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Grow linear memory without end (a `--max-memory` must stop it).
fn hog() {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        held.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&held);
    }
}

/// `n` whole-file writes of `size` bytes at once, to `n` files: the host holds at most its
/// budget; the writes that do not fit are refused with `quota` at once.
async fn write_flood(n: usize, size: usize) {
    let writes =
        (0..n).map(|i| files::write_file(format!("/data/flood{i}.bin"), vec![7; size], false));
    let results: Vec<_> = join_all(writes).await;
    println!("{}", count(&results));
}

/// Read streams on one file until one is refused: each stream holds an open-handle slot.
/// Prints how many were open at once, then shows the slots come back.
async fn stream_slots() {
    let f = files::open("/data/src.bin".into(), "rb".into())
        .await
        .unwrap();
    let mut open = Vec::new();
    loop {
        let (mut rx, result) = f.read_via_stream();
        let (_, got) = rx.read(Vec::with_capacity(4096)).await;
        if got.is_empty() {
            assert_eq!(
                result.await,
                Err(E::Quota),
                "a refused stream reports quota"
            );
            break;
        }
        open.push((rx, result));
        assert!(open.len() <= 100_000, "no limit on streams");
    }
    println!("streams={}", open.len());
    drop(open);
    // The slots are back: a new stream reads again.
    let (mut rx, _result) = f.read_via_stream();
    let (_, got) = rx.read(Vec::with_capacity(4096)).await;
    println!("again={}", got.len());
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let num = |i: usize, default: u64| {
        args.get(i)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let text = |i: usize| args.get(i).cloned().unwrap_or_default();
    match mode {
        "cases" => cases(&args[2..]).await,
        "race" => race(num(2, 1000) as usize).await,
        "open_loop" => open_loop().await,
        "temp_loop" => temp_loop().await,
        "ops_loop" => ops_loop(num(2, 64) as usize).await,
        "quota_io" => quota_io().await,
        "drop_streams" => drop_streams(false).await,
        "trap_streams" => drop_streams(true).await,
        "cancel_storm" => cancel_storm(num(2, 1), num(3, 20) as usize).await,
        "cancel_atomic" => cancel_atomic(text(2) == "wait").await,
        "trap_atomic" => trap_atomic().await,
        "atomic_loop" => atomic_loop(&text(2), num(3, 0)).await,
        "fill" => fill(&text(2), num(3, 65536) as usize).await,
        "soak" => soak(num(2, 1), num(3, 100) as usize, &text(4)).await,
        "stream_slots" => stream_slots().await,
        "spin" => spin(),
        "hog" => hog(),
        "write_flood" => write_flood(num(2, 64) as usize, num(3, 1 << 20) as usize).await,
        other => return Err(format!("unknown mode {other:?}")),
    }
    Ok(())
}

aiofs::main!(run);

/// Run `items` (`OP:PATH[:DATA]`: stat, exists, read, write, mkdir, remove) in one batch.
async fn batch(items: &[String]) -> Result<String, E> {
    use aiofs::bindings::aiofs::fs::batch::{Op, Outcome, run};
    let ops = items
        .iter()
        .map(|item| {
            let mut parts = item.splitn(3, ':');
            let (op, path) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or("").to_string(),
            );
            match op {
                "stat" => Op::Stat(path),
                "exists" => Op::Exists(path),
                "read" => Op::ReadFile((path, 1 << 20)),
                "write" => Op::WriteFile((path, parts.next().unwrap_or("").as_bytes().to_vec())),
                "mkdir" => Op::Mkdir(path),
                "remove" => Op::Remove(path),
                other => panic!("unknown batch op {other:?}"),
            }
        })
        .collect();
    let results = run(ops).await?;
    Ok(results
        .into_iter()
        .map(|r| match r {
            Ok(Outcome::Stat(st)) => format!("ok {}", st.size),
            Ok(Outcome::Flag(b)) => format!("ok {b}"),
            Ok(Outcome::Data(d)) => format!("ok {}", show(&d)),
            Ok(Outcome::Done) => "ok".to_string(),
            Err(e) => format!("err {}", e.name()),
        })
        .collect::<Vec<_>>()
        .join(";"))
}
