//! The `wasi:filesystem` contender: the same workloads written with plain `std::fs`,
//! which Rust's `wasm32-wasip2` standard library implements over `wasi:filesystem`
//! 0.2 (run by wasmtime-wasi with the data directory preopened). See the crate docs for
//! the protocol.

use aiofs_bench_guests::{Args, CHUNK, chunk, many, path, report, small};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args = Args::from_env()?;
    for rep in 0..args.warmup + args.reps {
        let (elapsed, check) = once(&args).map_err(|e| format!("{}: {e}", args.workload))?;
        if rep >= args.warmup {
            report(elapsed, check);
        }
        if args.workload.starts_with("big_write") {
            fs::remove_file(path("out")).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Run the workload once; returns the time taken and the check count.
fn once(a: &Args) -> io::Result<(Duration, u64)> {
    let n = a.n;
    let buf = match a.workload.as_str() {
        "big_write" => chunk(),
        "big_write_whole" => chunk().repeat(n / CHUNK),
        _ => Vec::new(),
    };
    let t = Instant::now();
    let check = match a.workload.as_str() {
        "empty" => 0,
        "small_open_read" => {
            let mut total = 0;
            let mut data = Vec::new();
            for i in 0..n {
                data.clear();
                let mut f = File::open(small(i))?;
                total += f.read_to_end(&mut data)? as u64;
            }
            total
        }
        "small_read_file" => {
            let mut total = 0;
            for i in 0..n {
                total += fs::read(small(i))?.len() as u64;
            }
            total
        }
        "big_read" => {
            let mut f = File::open(path("big"))?;
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
        "big_read_whole" => fs::read(path("big"))?.len() as u64,
        "big_write" => {
            let mut f = File::create(path("out"))?;
            for _ in 0..n / CHUNK {
                f.write_all(&buf)?;
            }
            (n / CHUNK * CHUNK) as u64
        }
        "big_write_whole" => {
            fs::write(path("out"), &buf)?;
            buf.len() as u64
        }
        "lines" => BufReader::new(File::open(path("lines.txt"))?)
            .lines()
            .try_fold(0u64, |acc, l| l.map(|_| acc + 1))?,
        "listdir" => {
            let mut count = 0;
            for entry in fs::read_dir(path("many"))? {
                count += u64::from(!entry?.file_name().is_empty());
            }
            count
        }
        "scandir" => {
            let mut count = 0;
            for entry in fs::read_dir(path("many"))? {
                count += u64::from(entry?.file_type()?.is_file());
            }
            count
        }
        "stat" => {
            let mut total = 0;
            for i in 0..n {
                total += u64::from(fs::metadata(many(i))?.is_file());
            }
            total
        }
        "exists" => {
            let mut total = 0;
            for i in 0..n {
                total += u64::from(Path::new(&many(i)).exists());
            }
            total
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown workload {other}"),
            ));
        }
    };
    Ok((t.elapsed(), check))
}
