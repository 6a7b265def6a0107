//! The aiofs contender: every workload through the `aiofs` guest crate (the WIT
//! imports `aiofs:fs/*`, run by an aiofs host). See the crate docs for the protocol.

use aiofs::Error;
use aiofs_bench_guests::{Args, CHUNK, chunk, many, path, report, small, small_payload, written};
use futures::{StreamExt, TryStreamExt, stream};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Error>;

async fn run() -> Result<(), String> {
    let args = Args::from_env()?;
    for rep in 0..args.warmup + args.reps {
        let (elapsed, check) = once(&args).await.map_err(|e| e.to_string())?;
        if rep >= args.warmup {
            report(elapsed, check);
        }
        if args.workload.starts_with("big_write") {
            aiofs::os::remove(path("out"))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Run the workload once; returns the time taken and the check count.
async fn once(a: &Args) -> Res<(Duration, u64)> {
    let n = a.n;
    // Inputs that are not part of the work are made before the clock starts.
    let buf = match a.workload.as_str() {
        "big_write" | "big_write_stream" => chunk(),
        "big_write_whole" => chunk().repeat(n / CHUNK),
        _ => Vec::new(),
    };
    let bufs: Vec<Vec<u8>> = match a.workload.as_str() {
        "small_write_concurrent" => (0..n).map(|_| small_payload()).collect(),
        _ => Vec::new(),
    };
    let t = Instant::now();
    let check = match a.workload.as_str() {
        "empty" => 0,
        "compute" => {
            // Pure guest work (a xorshift loop): only the epoch checks differ.
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            let mut hits = 0u64;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                hits += u64::from(std::hint::black_box(x) != 0);
            }
            hits
        }
        "call_sync" => {
            // A synchronous import: the cost of crossing into the host and back.
            let f = aiofs::open(small(0), "rb").await?;
            let mut total = 0;
            for _ in 0..n {
                total += u64::from(!f.name().is_empty());
            }
            f.close().await?;
            total
        }
        "call_async" => {
            // An async import that completes without a pool trip (`tell`).
            let f = aiofs::open(small(0), "rb").await?;
            let mut total = 0;
            for _ in 0..n {
                total += u64::from(f.tell().await? == 0);
            }
            f.close().await?;
            total
        }
        "small_open_read" => {
            let mut total = 0;
            for i in 0..n {
                let f = aiofs::open(small(i), "rb").await?;
                total += f.read_all().await?.len() as u64;
                f.close().await?;
            }
            total
        }
        "small_read_file" => {
            let mut total = 0;
            for i in 0..n {
                total += aiofs::read_file(small(i)).await?.len() as u64;
            }
            total
        }
        "big_read" => {
            let f = aiofs::open(path("big"), "rb").await?;
            let mut total = 0;
            loop {
                let got = f.read(CHUNK).await?.len();
                if got == 0 {
                    break;
                }
                total += got as u64;
            }
            f.close().await?;
            total
        }
        "big_read_stream" => {
            let f = aiofs::open(path("big"), "rb").await?;
            let total = f
                .chunks()
                .try_fold(0u64, |acc, c| async move { Ok(acc + c.len() as u64) })
                .await?;
            f.close().await?;
            total
        }
        "big_read_whole" => aiofs::read_file(path("big")).await?.len() as u64,
        "big_write" => {
            let f = aiofs::open(path("out"), "wb").await?;
            let mut total = 0;
            for _ in 0..n / CHUNK {
                total += f.write(buf.clone()).await?;
            }
            f.close().await?;
            total
        }
        "big_write_stream" => {
            let f = aiofs::open(path("out"), "wb").await?;
            let chunks = stream::iter((0..n / CHUNK).map(|_| Ok(buf.clone())));
            let total = f.write_from(chunks).await?;
            f.close().await?;
            total
        }
        "big_write_whole" => {
            let len = buf.len() as u64;
            aiofs::write_file(path("out"), buf).await?;
            len
        }
        "lines" | "lines_crlf" | "lines_cr" => {
            let file = match a.workload.as_str() {
                "lines_crlf" => "lines_crlf.txt",
                "lines_cr" => "lines_cr.txt",
                _ => "lines.txt",
            };
            let f = aiofs::open(path(file), "r").await?;
            let count = f
                .lines()
                .try_fold(0u64, |acc, _| async move { Ok(acc + 1) });
            let count = count.await?;
            f.close().await?;
            count
        }
        "lines_raw" => {
            // `read-lines-text` batches: the host returns a list<string>.
            let f = aiofs::open(path("lines.txt"), "r").await?;
            let mut count = 0u64;
            loop {
                let batch = f.read_lines_text(4096).await?;
                if batch.is_empty() {
                    break;
                }
                count += batch.len() as u64;
            }
            f.close().await?;
            count
        }
        "lines_each" => {
            let f = aiofs::open(path("lines.txt"), "r").await?;
            let mut count = 0;
            while !f.read_line_text().await?.is_empty() {
                count += 1;
            }
            f.close().await?;
            count
        }
        "listdir" => aiofs::os::listdir(path("many")).await?.len() as u64,
        "scandir" => aiofs::os::scandir(path("many"))
            .await?
            .iter()
            .filter(|e| e.type_ == aiofs::FileType::RegularFile)
            .count() as u64,
        "stat" => {
            let mut total = 0;
            for i in 0..n {
                total += u64::from(aiofs::os::stat(many(i)).await?.is_file());
            }
            total
        }
        "exists" => {
            let mut total = 0;
            for i in 0..n {
                total += u64::from(aiofs::path::exists(many(i)).await?);
            }
            total
        }
        "stat_batch" => aiofs::batch::stat_many((0..n).map(many))
            .await?
            .into_iter()
            .map(|st| st.map(|st| u64::from(st.is_file())))
            .sum::<Res<u64>>()?,
        "exists_batch" => aiofs::batch::exists_many((0..n).map(many))
            .await?
            .into_iter()
            .map(|e| e.map(u64::from))
            .sum::<Res<u64>>()?,
        "stat_concurrent" => {
            stream::iter(0..n)
                .map(|i| aiofs::os::stat(many(i)))
                .buffer_unordered(a.in_flight)
                .try_fold(
                    0u64,
                    |acc, m| async move { Ok(acc + u64::from(m.is_file())) },
                )
                .await?
        }
        "small_read_concurrent" => {
            stream::iter(0..n)
                .map(|i| aiofs::read_file(small(i)))
                .buffer_unordered(a.in_flight)
                .try_fold(0u64, |acc, d| async move { Ok(acc + d.len() as u64) })
                .await?
        }
        "small_write_concurrent" => {
            // `write-file` of 4 KiB each to `w/0` .. (object grants only), some in flight.
            stream::iter(bufs.into_iter().enumerate())
                .map(|(i, buf)| {
                    let len = buf.len() as u64;
                    async move { aiofs::write_file(written(i), buf).await.map(|()| len) }
                })
                .buffer_unordered(a.in_flight)
                .try_fold(0u64, |acc, len| async move { Ok(acc + len) })
                .await?
        }
        other => return Err(Error::new(unknown(other))),
    };
    Ok((t.elapsed(), check))
}

fn unknown(workload: &str) -> aiofs::ErrorCode {
    eprintln!("unknown workload {workload}");
    aiofs::ErrorCode::Invalid
}

aiofs::main!(run);
