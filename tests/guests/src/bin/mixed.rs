//! One guest, two surfaces: `std::fs` (wasi:filesystem) and aiofs (`aiofs:fs`) on the
//! same grants must see one filesystem under one set of rules. Run as `mixed` under the
//! `Sandbox` fixture; the host test checks the disk and the grant's budget afterwards.

use aiofs::ErrorCode;
use std::io::ErrorKind;

async fn run() -> Result<(), String> {
    // Written with std::fs, read with aiofs, and the other way round.
    std::fs::write("/data/from-std.txt", "written by std::fs").map_err(|e| e.to_string())?;
    let seen = aiofs::read_to_string("/data/from-std.txt")
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(seen, "written by std::fs");
    aiofs::write_file("/data/from-aiofs.txt", "written by aiofs")
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(
        std::fs::read_to_string("/data/from-aiofs.txt").unwrap(),
        "written by aiofs"
    );
    // A directory made by one is listed by the other.
    std::fs::create_dir("/data/both").unwrap();
    aiofs::write_file("/data/both/x", "x").await.unwrap();
    let listed: Vec<String> = std::fs::read_dir("/data/both")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(listed, ["x"]);
    // The same permission answer on both surfaces.
    let std_err = std::fs::write("/ro/nope.txt", "x").unwrap_err();
    assert_eq!(std_err.kind(), ErrorKind::ReadOnlyFilesystem);
    let aiofs_err = aiofs::write_file("/ro/nope.txt", "x").await.unwrap_err();
    assert_eq!(aiofs_err.code(), ErrorCode::ReadOnly);
    println!("mixed: ok");
    Ok(())
}

aiofs::main!(run);
