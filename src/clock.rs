//! Wall-clock time in the two forms Klaxon stores: unix milliseconds (for due times that the
//! database compares) and RFC 3339 text with millisecond precision (for humans and the API).

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Seconds since the unix epoch, now.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// `t` as RFC 3339 in UTC with millisecond precision, e.g. `2026-11-23T10:00:00.123Z`.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    // Formatting a UTC time within the years 0..=9999 cannot fail; the fallback keeps the
    // function total without a panic path.
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Unix milliseconds as RFC 3339 text.
pub fn ms_to_rfc3339(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format_rfc3339(t)
}

/// RFC 3339 text as unix milliseconds; `None` when it is not RFC 3339.
pub fn rfc3339_to_ms(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Now, as RFC 3339 text.
pub fn now_rfc3339() -> String {
    format_rfc3339(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_render_as_utc_text() {
        assert_eq!(ms_to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(ms_to_rfc3339(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }
}
