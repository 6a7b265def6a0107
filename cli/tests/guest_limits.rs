//! The guest's own limits ([`GuestLimits`]) hold for the component as a whole, however its
//! memories and tables are split among core instances.

use aiofs_cli::{GuestLimits, MemoryLimitExceeded, RunIo, Runner, RunnerOptions};
use aiofs_host::AioFsCtx;

/// A `wasi:cli/run@0.2.0` command whose core module declares `tables` funcref tables of
/// `elements` elements each, instantiated `instances` times; its `run` returns `ok`.
fn component_with_tables(tables: usize, elements: u32, instances: usize) -> Vec<u8> {
    let decls = format!("(table {elements} funcref)\n").repeat(tables);
    let mut extra = String::new();
    for _ in 1..instances {
        extra.push_str("(core instance (instantiate $m))\n");
    }
    let text = format!(
        r#"(component
            (core module $m {decls} (func (export "run") (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            {extra}
            (func $run (result (result)) (canon lift (core func $i "run")))
            (instance $cli (export "run" (func $run)))
            (export "wasi:cli/run@0.2.0" (instance $cli)))"#
    );
    wat::parse_str(text).expect("valid component text")
}

fn run(wasm: &[u8], limits: &GuestLimits) -> wasmtime::Result<i32> {
    let runner = Runner::new(RunnerOptions::default()).unwrap();
    let component = runner.load_bytes(wasm, "tables.wasm")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let io = RunIo {
        capture_output: true,
        ..RunIo::default()
    };
    let outcome =
        rt.block_on(runner.run_limited(&component, AioFsCtx::builder().build(), io, limits))?;
    Ok(outcome.exit_code)
}

/// Every table was checked on its own: 64 tables of 1,000 elements passed a limit of
/// 1,000 elements (a component may hold 10,000 tables, so 10,000 times the limit).
#[test]
fn table_elements_are_limited_across_all_tables() {
    let limits = GuestLimits {
        max_table_elements: 1000,
        ..GuestLimits::default()
    };
    assert_eq!(run(&component_with_tables(1, 1000, 1), &limits).unwrap(), 0);
    for (tables, instances) in [(2, 1), (64, 1), (1, 2), (8, 8)] {
        let err = run(&component_with_tables(tables, 1000, instances), &limits).unwrap_err();
        let exceeded = err
            .downcast_ref::<MemoryLimitExceeded>()
            .unwrap_or_else(|| panic!("{tables}x{instances}: {err:?}"));
        assert_eq!((exceeded.what, exceeded.limit), ("table", 1000));
    }
    // Within the limit together: fine.
    assert_eq!(run(&component_with_tables(4, 250, 1), &limits).unwrap(), 0);
}
