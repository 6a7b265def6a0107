//! Hostile-guest tests of name operations (listings, renames, views, temporaries, their
//! records): what a guest can make the host hold or reach, measured through the store's
//! own accounting on real files.

use super::held::allocated;
use super::tests::{Env, s};

/// `listdir` charges its list for what it allocates while it builds it: each name as the
/// allocator takes it (a one-letter name takes 32 bytes) and the list's slots, which
/// double as it grows. It charged each name's length and a `String` header, so 17
/// one-letter names (a list of 32 slots) were charged 425 bytes for 1312 allocated.
#[tokio::test]
async fn a_listdir_is_charged_for_what_it_allocates() {
    let env = Env::new();
    for c in 'a'..='q' {
        env.put(&format!("data/d/{c}"), "");
    }
    let names = env.fs.listdir(s("/data/d")).await.unwrap();
    assert_eq!(names.len(), 17);
    let slots = allocated((names.capacity() * size_of::<String>()) as u64);
    let each: u64 = names.iter().map(|n| allocated(n.capacity() as u64)).sum();
    assert!(
        env.fs.peak_held_bytes() >= slots + each,
        "charged {} for {slots} bytes of slots and {each} of names",
        env.fs.peak_held_bytes()
    );
    assert_eq!(env.fs.held_bytes(), 0);
}
