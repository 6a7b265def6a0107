//! Crash consistency and full disks, in child processes (`fault_child`): a process doing
//! `write-file(atomic)` in a loop is SIGKILLed at random points again and again, and the
//! target is always exactly one whole generation; a full disk gives its error code and
//! the host keeps serving other guests.

use aiofs_tests::{HOSTILE, component};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const CHILD: &str = env!("CARGO_BIN_EXE_fault_child");

/// The content of generation `g`, exactly as the `hostile` guest's `atomic_loop` makes it.
fn generation(g: u64) -> Vec<u8> {
    let len = 64 * 1024 + (g as usize % 7) * 9000;
    let mut out = format!("gen {g:016}\n").into_bytes();
    out.extend((out.len()..len).map(|i| (i as u64 ^ g.wrapping_mul(31)) as u8));
    out
}

/// The generation a file's header names.
fn header(content: &[u8]) -> Option<u64> {
    let line = content.get(..21)?;
    std::str::from_utf8(line.strip_prefix(b"gen ")?.strip_suffix(b"\n")?)
        .ok()?
        .parse()
        .ok()
}

/// Temporary files an interrupted atomic write left in `dir` (`.target.bin.*.tmp`).
fn leftovers(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".target.bin.") && n.ends_with(".tmp"))
        })
        .collect()
}

/// xorshift: reproducible kill schedules (the kill points still vary with timing).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// SIGKILL a writer of atomic generations `CRASH_KILLS` times (default 50), after a
/// random number of completed generations plus a random spin, so the kill lands anywhere
/// in a write: creating the temporary file, writing it, syncing, renaming. After each
/// kill the target must be exactly the last reported generation or the next one (never a
/// mix, never short), and at most one temporary file may be left behind per kill (the
/// documented cost of a crash mid-write).
#[test]
fn atomic_write_survives_sigkill() {
    component(HOSTILE); // compile once, so every child loads it from the disk cache
    let kills: u64 = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let target = dir.join("target.bin");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut on_disk: Option<u64> = None;
    let (mut mid_write, mut landed_next) = (0, 0);
    for round in 0..kills {
        let start = on_disk.map_or(0, |g| g + 1);
        let mut child = Command::new(CHILD)
            .args(["atomic-loop", dir.to_str().unwrap(), &start.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fault_child");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut last: Option<u64> = None;
        for _ in 0..rng.below(5) {
            match lines.next() {
                Some(Ok(l)) => last = Some(l.parse().unwrap()),
                other => panic!("round {round}: child ended early: {other:?}"),
            }
        }
        // A random extra delay moves the kill point within the next write.
        for _ in 0..rng.below(400_000) {
            std::hint::spin_loop();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Generations reported before the kill landed.
        for l in lines {
            last = Some(l.unwrap().parse().unwrap());
        }
        let Ok(content) = std::fs::read(&target) else {
            assert!(
                on_disk.is_none() && last.is_none(),
                "round {round}: target gone"
            );
            continue;
        };
        let g = header(&content)
            .unwrap_or_else(|| panic!("round {round}: torn header ({} bytes)", content.len()));
        assert!(
            content == generation(g),
            "round {round}: generation {g} is torn ({} bytes)",
            content.len()
        );
        let allowed = match last {
            Some(l) => g == l || g == l + 1,
            None => Some(g) == on_disk || g == start,
        };
        assert!(
            allowed,
            "round {round}: found {g}, last reported {last:?}, before {on_disk:?}"
        );
        if last.is_some_and(|l| g == l + 1) || (last.is_none() && g == start) {
            landed_next += 1;
        }
        on_disk = Some(g);
        let left = leftovers(dir);
        assert!(left.len() <= 1, "round {round}: {left:?}");
        mid_write += left.len();
        for p in left {
            std::fs::remove_file(p).unwrap();
        }
    }
    println!(
        "crash: {kills} SIGKILLs, final generation {on_disk:?}, {mid_write} killed between \
         creating and renaming the temporary file, {landed_next} killed after a write \
         landed but before it was reported; no torn target"
    );
}

/// Run `fault_child full-disk` (forcing the file-size limit when `rlimit`) and check:
/// the full grant answers `insufficient-space` (tmpfs) or `file-too-large` (rlimit), the
/// failed atomic write leaves nothing, a second guest on the same pool finishes its
/// workload, and the full grant can still be read.
fn full_disk(force_rlimit: bool) -> String {
    component(HOSTILE);
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(CHILD);
    cmd.args(["full-disk", tmp.path().to_str().unwrap()]);
    if force_rlimit {
        cmd.env("FAULT_CHILD_NO_TMPFS", "1");
    }
    let out = cmd.output().expect("spawn fault_child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mechanism = stdout
        .lines()
        .find_map(|l| l.strip_prefix("mechanism="))
        .unwrap()
        .to_string();
    let code = match mechanism.as_str() {
        "Tmpfs" => "insufficient-space",
        "Rlimit" => "file-too-large",
        other => panic!("{other}"),
    };
    let want = [
        format!("fill err={code} written=1048576"),
        format!("atomic err={code}"),
        "fill exit=0".to_string(),
        "soak ops=400".to_string(),
        "soak exit=0".to_string(),
        "0 ok 1048576".to_string(),
        "1 ok false".to_string(),
        "reader exit=0".to_string(),
    ];
    for line in &want {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?}:\n{stdout}"
        );
    }
    if mechanism == "Tmpfs" {
        // The tmpfs lived in the child's own mount namespace: nothing is mounted here.
        assert_eq!(
            std::fs::read_dir(tmp.path().join("small")).unwrap().count(),
            0
        );
    }
    mechanism
}

#[test]
fn full_disk_tmpfs_or_rlimit() {
    let mechanism = full_disk(false);
    println!("full disk via {mechanism}");
}

#[test]
fn full_disk_file_size_limit() {
    assert_eq!(full_disk(true), "Rlimit");
}
