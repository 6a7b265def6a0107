//! Exporting aiofs' metrics as Prometheus text: install a recorder before building
//! stores, let guests (here, the host itself) work, and serve `handle.render()` from
//! your `/metrics` endpoint. Run: `cargo run -p aiofs-host --example prometheus`.

use aiofs_host::{AioFsCtx, Perms, Pool};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    // Any `metrics` recorder works; this one renders the Prometheus text format.
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(std::io::Error::other)?;

    let dir = tempfile::tempdir()?;
    let plugin = AioFsCtx::builder()
        .grant(dir.path(), "/data", Perms::ReadWrite)?
        .label("plugin-a")
        .pool(Pool::new(2))
        .build();
    let fs = plugin.fs();
    fs.write_file("/data/hello.txt".into(), b"hello".to_vec(), false)
        .await
        .map_err(std::io::Error::other)?;
    let _ = fs.read_file("/data/hello.txt".into(), 1 << 20).await;
    let _ = fs.stat("/elsewhere".into(), true).await; // not-permitted: a refusal

    print!("{}", handle.render());
    Ok(())
}
