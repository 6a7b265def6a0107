//! A WASI 0.3 program using `wasi:filesystem@0.3` directly (component-model async
//! functions, `stream<u8>` reads and writes, `stream<directory-entry>` listings). Run as
//! `p3fs` under the `Sandbox` fixture (`/data` read-write, `/ro` read-only); it panics on
//! any unexpected result and the host test checks the disk.

mod bindings {
    wit_bindgen::generate!({
        path: [
            "../../host/wit-wasi/p3/deps/clocks.wit",
            "../../host/wit-wasi/p3/deps/filesystem.wit",
            "../../wit/deps/cli/run.wit",
            "wit-p3",
        ],
        world: "aiofs:p3fs-test/p3fs",
        additional_derives: [PartialEq],
        generate_all,
    });
}

use bindings::wasi::filesystem::preopens::get_directories;
use bindings::wasi::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, OpenFlags, PathFlags,
};
use bindings::wit_stream;

struct Command;

bindings::export!(Command with_types_in bindings);

fn preopen(name: &str) -> Descriptor {
    get_directories()
        .into_iter()
        .find(|(_, n)| n == name)
        .unwrap_or_else(|| panic!("no preopen {name}"))
        .0
}

async fn write(dir: &Descriptor, path: &str, data: &[u8]) -> Result<(), ErrorCode> {
    let f = dir
        .open_at(
            PathFlags::empty(),
            path.to_string(),
            OpenFlags::CREATE | OpenFlags::TRUNCATE,
            DescriptorFlags::WRITE,
        )
        .await?;
    let (mut tx, rx) = wit_stream::new::<u8>();
    let done = f.write_via_stream(rx, 0);
    let rest = tx.write_all(data.to_vec()).await;
    assert!(rest.is_empty(), "{} bytes not taken", rest.len());
    drop(tx);
    done.await
}

async fn read(dir: &Descriptor, path: &str) -> Result<Vec<u8>, ErrorCode> {
    let f = dir
        .open_at(
            PathFlags::SYMLINK_FOLLOW,
            path.to_string(),
            OpenFlags::empty(),
            DescriptorFlags::READ,
        )
        .await?;
    let (rx, done) = f.read_via_stream(0);
    let data = rx.collect().await;
    done.await?;
    Ok(data)
}

async fn run() {
    let data = preopen("/data");
    let ro = preopen("/ro");
    assert_eq!(
        data.get_flags().await,
        Ok(DescriptorFlags::READ | DescriptorFlags::MUTATE_DIRECTORY)
    );
    assert_eq!(ro.get_flags().await, Ok(DescriptorFlags::READ));
    // Read what the host put there, through a stream.
    assert_eq!(read(&data, "hello.txt").await.unwrap(), b"hello\nworld\n");
    // Write 3 MiB through a stream (several chunks), read it back.
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    write(&data, "p3/big.bin", &big).await.unwrap_err();
    data.create_directory_at("p3".to_string()).await.unwrap();
    write(&data, "p3/big.bin", &big).await.unwrap();
    assert_eq!(read(&data, "p3/big.bin").await.unwrap(), big);
    // Append.
    write(&data, "p3/log.txt", b"one\n").await.unwrap();
    let f = data
        .open_at(
            PathFlags::empty(),
            "p3/log.txt".into(),
            OpenFlags::empty(),
            DescriptorFlags::WRITE,
        )
        .await
        .unwrap();
    let (mut tx, rx) = wit_stream::new::<u8>();
    let done = f.append_via_stream(rx);
    tx.write_all(b"two\n".to_vec()).await;
    drop(tx);
    done.await.unwrap();
    assert_eq!(read(&data, "p3/log.txt").await.unwrap(), b"one\ntwo\n");
    // Stat and list.
    let st = data
        .stat_at(PathFlags::empty(), "p3/big.bin".into())
        .await
        .unwrap();
    assert_eq!(st.size, 3 << 20);
    assert_eq!(st.type_, DescriptorType::RegularFile);
    let (entries, done) = data.read_directory();
    let mut names: Vec<String> = entries
        .collect()
        .await
        .into_iter()
        .map(|e| e.name)
        .collect();
    done.await.unwrap();
    names.sort();
    assert!(names.contains(&"p3".to_string()) && names.contains(&"hello.txt".to_string()));
    // Rename, unlink, rmdir.
    data.rename_at("p3/log.txt".into(), &data, "p3/renamed.txt".into())
        .await
        .unwrap();
    data.unlink_file_at("p3/renamed.txt".into()).await.unwrap();
    assert_eq!(
        data.remove_directory_at("p3".into()).await,
        Err(ErrorCode::NotEmpty)
    );
    // Refusals: read-only grant, escapes, absolute paths.
    assert_eq!(write(&ro, "new.txt", b"x").await, Err(ErrorCode::ReadOnly));
    assert_eq!(
        ro.create_directory_at("d".into()).await,
        Err(ErrorCode::ReadOnly)
    );
    assert_eq!(
        read(&data, "../outside/canary.txt").await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        read(&data, "escape-link").await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(
        read(&data, "/etc/passwd").await,
        Err(ErrorCode::NotPermitted)
    );
    assert_eq!(read(&data, "nope").await, Err(ErrorCode::NoEntry));
    println!("p3fs: ok");
}

impl bindings::exports::wasi::cli::run::Guest for Command {
    async fn run() -> Result<(), ()> {
        run().await;
        Ok(())
    }
}

fn main() {
    unreachable!("the 0.3 run export is the entry point");
}
