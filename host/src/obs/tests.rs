//! Unit tests of the counters' building blocks (end-to-end counting is tested in
//! `fs/obs_tests.rs` and `tests/all/observe.rs`).

use super::*;

#[test]
fn histogram_buckets_are_contiguous() {
    counters::bucket_bounds_hold();
}

#[test]
fn kinds_and_codes_index_their_tables() {
    for (i, k) in OpKind::ALL.iter().enumerate() {
        assert_eq!(*k as usize, i, "{k:?}");
    }
    for (i, c) in ErrorCode::ALL.iter().enumerate() {
        assert_eq!(*c as usize, i, "{c:?}");
    }
}
