//! Descriptor accounting: a guest that traps with files and a temp dir open leaks nothing.
//! Its own test binary, so no other test opens descriptors while this one counts them.

use aiofs_cli::RunIo;
use aiofs_host::{Limits, Pool};
use aiofs_tests::{SCENARIOS, Sandbox, component, runner};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread")]
async fn trap_mid_write_leaks_no_descriptor() {
    component(SCENARIOS); // compile before counting
    let sb = Sandbox::new();
    // One pool thread: a job queued after the guest's closes runs after all of them.
    let pool = Pool::new(1);
    // Round 0 warms up what wasmtime creates once per component on first instantiation
    // (memory-image memfds); the baseline is taken after it.
    let mut before = 0;
    for round in 0..4 {
        let ctx = sb.ctx_with(Limits::default(), pool.clone());
        let fs = ctx.fs().clone();
        let io = RunIo {
            args: vec!["guest".into(), "trap_mid_write".into()],
            env: Vec::new(),
            capture_output: true,
        };
        match runner().run(&component(SCENARIOS), ctx, io).await {
            Err(trap) => assert!(format!("{trap:?}").contains("unreachable"), "{trap:?}"),
            Ok(out) => panic!(
                "round {round}: the guest must trap, got exit {}",
                out.exit_code
            ),
        }
        pool.run_for(fs.tenant(), || ()).await.unwrap();
        assert_eq!(fs.open_files(), 0, "round {round}");
        if round == 0 {
            before = open_fds();
        } else {
            assert_eq!(open_fds(), before, "round {round}: descriptors leaked");
        }
    }
    // The data written before the trap is on disk; the temp dirs are gone.
    assert_eq!(sb.read("data/t0.bin"), vec![7; 100]);
    assert!(!sb.tree("data").iter().any(|p| p.starts_with("tmp")));
}
