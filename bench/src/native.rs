//! The native contenders: the same workloads with `std::fs` (blocking, on the calling
//! thread) and with `tokio::fs` (each call a trip to tokio's blocking pool), timed the
//! same way the guests time themselves: only the work, with the monotonic clock.

use crate::data::Data;
use crate::proto::CHUNK;
use futures::{StreamExt, TryStreamExt, stream};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// A `CHUNK` of the bytes the write workloads write (the guests write the same).
fn chunk() -> Vec<u8> {
    crate::proto::chunk()
}

fn unknown(workload: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("no native version of {workload}"),
    )
}

/// Run `workload` once with `std::fs`; returns the time and the check count.
pub fn std_once(workload: &str, d: &Data, n: usize) -> io::Result<(Duration, u64)> {
    let buf = match workload {
        "big_write" => chunk(),
        "big_write_whole" => chunk().repeat(n / CHUNK),
        _ => Vec::new(),
    };
    let t = Instant::now();
    let check = match workload {
        "small_open_read" => {
            let mut total = 0;
            let mut data = Vec::new();
            for i in 0..n {
                data.clear();
                total += File::open(d.small(i))?.read_to_end(&mut data)? as u64;
            }
            total
        }
        "small_read_file" => {
            let mut total = 0;
            for i in 0..n {
                total += fs::read(d.small(i))?.len() as u64;
            }
            total
        }
        "big_read" => {
            let mut f = File::open(d.path("big"))?;
            let mut chunk = vec![0; CHUNK];
            let mut total = 0;
            loop {
                let got = f.read(&mut chunk)?;
                if got == 0 {
                    break;
                }
                total += got as u64;
            }
            total
        }
        "big_read_whole" => fs::read(d.path("big"))?.len() as u64,
        "big_write" => {
            let mut f = File::create(d.path("out"))?;
            for _ in 0..n / CHUNK {
                f.write_all(&buf)?;
            }
            (n / CHUNK * CHUNK) as u64
        }
        "big_write_whole" => {
            fs::write(d.path("out"), &buf)?;
            buf.len() as u64
        }
        "lines" => BufReader::new(File::open(d.path("lines.txt"))?)
            .lines()
            .try_fold(0u64, |acc, l| l.map(|_| acc + 1))?,
        "listdir" => {
            let mut count = 0;
            for entry in fs::read_dir(d.path("many"))? {
                count += u64::from(!entry?.file_name().is_empty());
            }
            count
        }
        "scandir" => {
            let mut count = 0;
            for entry in fs::read_dir(d.path("many"))? {
                count += u64::from(entry?.file_type()?.is_file());
            }
            count
        }
        "stat" | "stat_batch" => {
            let mut total = 0;
            for i in 0..n {
                total += u64::from(fs::metadata(d.many(i))?.is_file());
            }
            total
        }
        "exists" | "exists_batch" => {
            let mut total = 0;
            for i in 0..n {
                total += u64::from(d.many(i).exists());
            }
            total
        }
        other => return Err(unknown(other)),
    };
    let elapsed = t.elapsed();
    if workload.starts_with("big_write") {
        fs::remove_file(d.path("out"))?;
    }
    Ok((elapsed, check))
}

/// Run `workload` once with `tokio::fs`; returns the time and the check count.
pub async fn tokio_once(
    workload: &str,
    d: &Data,
    n: usize,
    in_flight: usize,
) -> io::Result<(Duration, u64)> {
    let buf = match workload {
        "big_write" => chunk(),
        "big_write_whole" => chunk().repeat(n / CHUNK),
        _ => Vec::new(),
    };
    let t = Instant::now();
    let check = match workload {
        "small_open_read" => {
            let mut total = 0;
            let mut data = Vec::new();
            for i in 0..n {
                data.clear();
                let mut f = tokio::fs::File::open(d.small(i)).await?;
                total += f.read_to_end(&mut data).await? as u64;
            }
            total
        }
        "small_read_file" => {
            let mut total = 0;
            for i in 0..n {
                total += tokio::fs::read(d.small(i)).await?.len() as u64;
            }
            total
        }
        "small_read_concurrent" => {
            stream::iter(0..n)
                .map(|i| tokio::fs::read(d.small(i)))
                .buffer_unordered(in_flight)
                .try_fold(0u64, |acc, data| async move { Ok(acc + data.len() as u64) })
                .await?
        }
        "big_read" => {
            let mut f = tokio::fs::File::open(d.path("big")).await?;
            f.set_max_buf_size(CHUNK);
            let mut chunk = vec![0; CHUNK];
            let mut total = 0;
            loop {
                let got = f.read(&mut chunk).await?;
                if got == 0 {
                    break;
                }
                total += got as u64;
            }
            total
        }
        "big_read_whole" => tokio::fs::read(d.path("big")).await?.len() as u64,
        "big_write" => {
            let mut f = tokio::fs::File::create(d.path("out")).await?;
            f.set_max_buf_size(CHUNK);
            for _ in 0..n / CHUNK {
                f.write_all(&buf).await?;
            }
            f.flush().await?;
            (n / CHUNK * CHUNK) as u64
        }
        "big_write_whole" => {
            let len = buf.len() as u64;
            tokio::fs::write(d.path("out"), buf).await?;
            len
        }
        "lines" => {
            let f = tokio::fs::File::open(d.path("lines.txt")).await?;
            let mut lines = tokio::io::BufReader::new(f).lines();
            let mut count = 0;
            while lines.next_line().await?.is_some() {
                count += 1;
            }
            count
        }
        "listdir" => {
            let mut dir = tokio::fs::read_dir(d.path("many")).await?;
            let mut count = 0;
            while let Some(entry) = dir.next_entry().await? {
                count += u64::from(!entry.file_name().is_empty());
            }
            count
        }
        "scandir" => {
            let mut dir = tokio::fs::read_dir(d.path("many")).await?;
            let mut count = 0;
            while let Some(entry) = dir.next_entry().await? {
                count += u64::from(entry.file_type().await?.is_file());
            }
            count
        }
        "stat" => {
            let mut total = 0;
            for i in 0..n {
                total += u64::from(tokio::fs::metadata(d.many(i)).await?.is_file());
            }
            total
        }
        "exists" => {
            let mut total = 0;
            for i in 0..n {
                total += u64::from(tokio::fs::try_exists(d.many(i)).await?);
            }
            total
        }
        other => return Err(unknown(other)),
    };
    let elapsed = t.elapsed();
    if workload.starts_with("big_write") {
        tokio::fs::remove_file(d.path("out")).await?;
    }
    Ok((elapsed, check))
}
