//! A child process for the crash and full-disk tests (`tests/all/crash.rs`), so that a
//! SIGKILL, a private mount or a file-size rlimit never touches the test process itself.
//!
//! * `fault_child atomic-loop DIR START` — run the `hostile` guest's `atomic_loop` on
//!   `/data/target.bin` (DIR granted at `/data`) from generation START, with the guest's
//!   stdout inherited so the parent sees each generation as it lands. Runs until killed.
//! * `fault_child full-disk DIR` — make `DIR/small` a full disk: a 1 MiB tmpfs in a private
//!   mount namespace where the machine allows it, else a 1 MiB `RLIMIT_FSIZE` (SIGXFSZ
//!   ignored; `FAULT_CHILD_NO_TMPFS` forces this). Then, on one shared pool, one guest fills `DIR/small` while another runs a
//!   mixed workload on `DIR/other`, and a third reads what the first wrote. Prints
//!   `mechanism=...` and each guest's output.

use aiofs_cli::RunIo;
use aiofs_host::{AioFsCtx, Perms, Pool};
use aiofs_tests::{HOSTILE, component, runner};
use std::ffi::CString;
use std::path::{Path, PathBuf};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("atomic-loop") => atomic_loop(Path::new(&args[2]), &args[3]),
        Some("full-disk") => full_disk(Path::new(&args[2])),
        other => {
            eprintln!("fault_child: unknown mode {other:?}");
            std::process::exit(2);
        }
    }
}

fn ctx(dir: &Path, pool: &Pool) -> AioFsCtx {
    AioFsCtx::builder()
        .grant(dir, "/data", Perms::ReadWrite)
        .expect("grant")
        .pool(pool.clone())
        .build()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn io(args: &[&str], capture: bool) -> RunIo {
    RunIo {
        args: std::iter::once("hostile")
            .chain(args.iter().copied())
            .map(String::from)
            .collect(),
        env: Vec::new(),
        capture_output: capture,
    }
}

fn atomic_loop(dir: &Path, start: &str) {
    let pool = Pool::new(2);
    let result = runtime().block_on(runner().run(
        &component(HOSTILE),
        ctx(dir, &pool),
        io(&["atomic_loop", "/data/target.bin", start], false),
    ));
    // The loop only ends by a kill; getting here is a failure either way.
    eprintln!("fault_child: atomic loop ended: {result:?}");
    std::process::exit(1);
}

/// How `DIR/small` was made to run out of room.
#[derive(Debug)]
enum Mechanism {
    Tmpfs,
    Rlimit,
}

fn full_disk(dir: &Path) {
    let small = dir.join("small");
    let other = dir.join("other");
    std::fs::create_dir_all(&small).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    // Before any thread exists: unshare needs a single-threaded process.
    let tmpfs = std::env::var_os("FAULT_CHILD_NO_TMPFS").is_none() && private_tmpfs(&small);
    // Loaded before a file-size limit could stop the compiled-component cache.
    let hostile = component(HOSTILE);
    let mechanism = if tmpfs {
        Mechanism::Tmpfs
    } else {
        file_size_limit(1 << 20);
        Mechanism::Rlimit
    };
    println!("mechanism={mechanism:?}");
    let pool = Pool::new(4);
    let rt = runtime();
    let (fill, soak) = rt.block_on(async {
        let fill = runner().run(
            &hostile,
            ctx(&small, &pool),
            io(&["fill", "/data/fill.bin", "65536"], true),
        );
        let soak = runner().run(
            &hostile,
            ctx(&other, &pool),
            io(&["soak", "7", "400", "/data/soak"], true),
        );
        tokio::join!(fill, soak)
    });
    for (name, out) in [("fill", fill), ("soak", soak)] {
        let out = out.unwrap_or_else(|e| panic!("{name} trapped: {e:?}"));
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        println!("{name} exit={}", out.exit_code);
    }
    // The full grant is still served: its file can be read back.
    let read = rt
        .block_on(runner().run(
            &hostile,
            ctx(&small, &pool),
            io(
                &["cases", "size|/data/fill.bin", "exists|/data/atomic.bin"],
                true,
            ),
        ))
        .expect("reader trapped");
    print!("{}", String::from_utf8_lossy(&read.stdout));
    println!("reader exit={}", read.exit_code);
}

/// Mount a 1 MiB tmpfs on `at` in a mount namespace of this process only: as root with
/// `unshare(CLONE_NEWNS)`, else inside a new user namespace. False if the machine forbids
/// both (then nothing changed).
fn private_tmpfs(at: &Path) -> bool {
    // SAFETY: plain system calls on a single-threaded process, with valid C strings.
    #[allow(unsafe_code)]
    unsafe {
        let uid = libc::getuid();
        let gid = libc::getgid();
        let entered = libc::unshare(libc::CLONE_NEWNS) == 0
            || (libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) == 0 && {
                let _ = std::fs::write("/proc/self/setgroups", "deny");
                std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")).is_ok()
                    && std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")).is_ok()
            });
        if !entered {
            return false;
        }
        // Keep the mount to ourselves even where `/` propagates mounts (systemd's default).
        let root = CString::new("/").unwrap();
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return false;
        }
        let target = CString::new(path_bytes(at)).unwrap();
        let fstype = CString::new("tmpfs").unwrap();
        let opts = CString::new("size=1m").unwrap();
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            opts.as_ptr().cast(),
        ) == 0
    }
}

/// `RLIMIT_FSIZE` of `bytes` for this process, with SIGXFSZ ignored so that a write past
/// it fails with `EFBIG` instead of killing the process.
fn file_size_limit(bytes: u64) {
    // SAFETY: setting a signal disposition and a resource limit.
    #[allow(unsafe_code)]
    unsafe {
        assert_ne!(libc::signal(libc::SIGXFSZ, libc::SIG_IGN), libc::SIG_ERR);
        let lim = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

fn path_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(p).as_os_str().as_bytes().to_vec()
}
