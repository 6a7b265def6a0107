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

/// A flood at 100 000 operations a second for 5 s against 1000/s with a burst of 1000: in
/// every 1 s window at most burst + rate records and summaries are let through, every
/// operation is either recorded or suppressed, and the summaries add up to the suppressed.
#[test]
fn the_record_bucket_bounds_every_window() {
    let limit = rate::RecordLimit::new("s".into());
    let t0 = std::time::Instant::now();
    let (rate, burst) = (1000u32, 1000u32);
    let mut emitted = Vec::new();
    let (mut records, mut summarised) = (0u64, 0u64);
    let calls = 500_000u64;
    for i in 0..calls {
        let now = t0 + Duration::from_micros(10 * i);
        let a = limit.admit(now, rate, burst);
        if let Some(n) = a.summary {
            summarised += n;
            emitted.push(now);
        }
        if a.record {
            records += 1;
            emitted.push(now);
        }
    }
    assert_eq!(records + limit.suppressed(), calls);
    assert_eq!(
        summarised + limit.take_pending().unwrap_or(0),
        limit.suppressed()
    );
    // The burst at once (the first 10 ms), then the rate: a summary and a record every 2 ms.
    let first = t0 + Duration::from_millis(10);
    assert_eq!(emitted.iter().filter(|t| **t < first).count(), 1000);
    assert!(emitted.len() as u64 <= 1000 + 5 * 1000, "{}", emitted.len());
    assert!(
        emitted.len() as u64 >= 1000 + 5 * 1000 - 2,
        "{}",
        emitted.len()
    );
    let second = Duration::from_secs(1);
    for (i, start) in emitted.iter().enumerate() {
        let inside = emitted[i..]
            .iter()
            .take_while(|t| **t - *start < second)
            .count();
        assert!(inside <= (burst + rate) as usize, "{inside} from {start:?}");
    }
}

/// Tokens come back at the rate and never past the burst, however long the bucket idles;
/// a rate of 0 never refills; a burst of 0 lets nothing through.
#[test]
fn the_record_bucket_refills_up_to_its_burst() {
    let t0 = std::time::Instant::now();
    let through = |limit: &rate::RecordLimit, now, rate, burst, n| {
        (0..n)
            .filter(|_| limit.admit(now, rate, burst).record)
            .count()
    };
    let limit = rate::RecordLimit::new("s".into());
    assert_eq!(through(&limit, t0, 10, 5, 8), 5);
    // 0.3 s at 10/s: three tokens, two of them for a summary and a record, one for the next.
    let later = t0 + Duration::from_millis(300);
    let a = limit.admit(later, 10, 5);
    assert_eq!((a.summary, a.record), (Some(3), true));
    assert_eq!(limit.admit(later, 10, 5), admit(None, true));
    assert_eq!(limit.admit(later, 10, 5), admit(None, false));
    // An hour idle holds five tokens, not 36 000.
    let hour = t0 + Duration::from_secs(3600);
    let a = limit.admit(hour, 10, 5);
    assert_eq!((a.summary, a.record), (Some(1), true));
    assert_eq!(through(&limit, hour, 10, 5, 10), 3);
    assert_eq!(limit.suppressed(), 3 + 1 + 7);
    assert_eq!(limit.take_pending(), Some(7));
    assert_eq!(limit.take_pending(), None);

    let never = rate::RecordLimit::new("s".into());
    assert_eq!(through(&never, t0, 0, 3, 10), 3);
    assert_eq!(through(&never, hour, 0, 3, 10), 0);
    assert_eq!((never.suppressed(), never.take_pending()), (17, Some(17)));

    let none = rate::RecordLimit::new("s".into());
    assert_eq!(through(&none, t0, 1000, 0, 10), 0);
    assert_eq!(through(&none, hour, 1000, 0, 10), 0);

    // A bucket of one token never holds two: each token goes to a summary.
    let one = rate::RecordLimit::new("s".into());
    let s = Duration::from_secs(1);
    assert_eq!(one.admit(t0, 1, 1), admit(None, true));
    assert_eq!(one.admit(t0, 1, 1), admit(None, false));
    assert_eq!(one.admit(t0 + s, 1, 1), admit(Some(1), false));
    assert_eq!(one.admit(t0 + 2 * s, 1, 1), admit(Some(1), false));
    assert_eq!((one.suppressed(), one.take_pending()), (3, Some(1)));
}

fn admit(summary: Option<u64>, record: bool) -> rate::Admit {
    rate::Admit { summary, record }
}
