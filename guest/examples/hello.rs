//! Smallest aiofs guest: list the grants.
async fn run() -> Result<(), String> {
    for g in aiofs::bindings::aiofs::fs::grants::list_grants() {
        println!("{} {:?}", g.guest_path, g.permission);
    }
    let data = aiofs::bindings::aiofs::fs::files::read_file("hello.txt".into(), 1024)
        .await
        .map_err(|e| format!("{e:?}"))?;
    println!("{}", String::from_utf8_lossy(&data));
    Ok(())
}

aiofs::main!(run);
