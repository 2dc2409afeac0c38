//! Wall-clock times in a schedule's IANA time zone turned into instants, with the two DST
//! edge cases decided once, here: a hand-off time the clocks skip (02:30 on a spring-forward
//! night) happens as far after the skip as it was into it (03:30 summer time, the RFC 5545
//! and Temporal "compatible" rule), and one the clocks pass twice (01:30 on a fall-back
//! night) happens the first time.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// An instant: schedules answer in UTC and show local times only at the edges.
pub type Instant = DateTime<Utc>;

/// The instant at which clocks in `tz` show `local` (see the module doc for gaps and folds).
pub fn instant_of(tz: Tz, local: NaiveDateTime) -> Instant {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: read the wall time with the offset in force before the gap, which
            // puts it the gap's length later on the new clock. No gap lasts a day.
            let before = local - TimeDelta::days(1);
            let offset = match tz.from_local_datetime(&before) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.offset().fix(),
                LocalResult::None => Utc.fix(),
            };
            (local - TimeDelta::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, min, 0))
            .expect("valid test date")
    }

    #[test]
    fn a_skipped_wall_time_moves_forward_by_the_gap_and_a_repeated_one_takes_the_first() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08: 02:00 EST becomes 03:00 EDT.
        assert_eq!(
            instant_of(ny, local(2026, 3, 8, 2, 30)).to_rfc3339(),
            "2026-03-08T07:30:00+00:00"
        );
        // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
        assert_eq!(
            instant_of(ny, local(2026, 11, 1, 1, 30)).to_rfc3339(),
            "2026-11-01T05:30:00+00:00"
        );
        assert_eq!(
            instant_of(ny, local(2026, 11, 2, 9, 0)).to_rfc3339(),
            "2026-11-02T14:00:00+00:00"
        );
    }
}
