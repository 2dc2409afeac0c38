//! How long one shift of a rotation lasts: `hourly`, `daily`, `weekly`, or a custom length
//! such as `36h`, `2d` or `2w`. Lengths in hours are elapsed time; lengths in days and weeks
//! are calendar days in the schedule's zone, so a daily 09:00 hand-off stays at 09:00 across
//! a DST change (that shift lasts 23 or 25 hours).

use std::fmt;
use std::str::FromStr;

/// One shift's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftLength {
    /// Elapsed hours.
    Hours(u32),
    /// Calendar days in the schedule's zone (a week is seven).
    Days(u32),
}

/// The longest shift accepted: a year of days, or of hours.
const MAX_DAYS: u32 = 366;

impl FromStr for ShiftLength {
    type Err = String;

    fn from_str(text: &str) -> Result<ShiftLength, String> {
        let text = text.trim();
        match text {
            "hourly" => return Ok(ShiftLength::Hours(1)),
            "daily" => return Ok(ShiftLength::Days(1)),
            "weekly" => return Ok(ShiftLength::Days(7)),
            _ => {}
        }
        let bad = || {
            format!(
                "{text:?} is not a shift length: use hourly, daily, weekly, or a number with h, d or w (e.g. 36h, 2d, 2w)"
            )
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let n: u32 = number.parse().map_err(|_| bad())?;
        let length = match unit {
            "h" => ShiftLength::Hours(n),
            "d" => ShiftLength::Days(n),
            "w" => ShiftLength::Days(n.saturating_mul(7)),
            _ => return Err(bad()),
        };
        let too_long = match length {
            ShiftLength::Hours(h) => h > MAX_DAYS * 24,
            ShiftLength::Days(d) => d > MAX_DAYS,
        };
        if n == 0 || too_long {
            return Err(format!(
                "{text:?}: a shift lasts at least an hour and at most {MAX_DAYS} days"
            ));
        }
        Ok(length)
    }
}

impl fmt::Display for ShiftLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShiftLength::Hours(h) => write!(f, "{h}h"),
            ShiftLength::Days(d) if d % 7 == 0 => write!(f, "{}w", d / 7),
            ShiftLength::Days(d) => write!(f, "{d}d"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_custom_lengths_parse_and_nonsense_is_refused() {
        assert_eq!("hourly".parse(), Ok(ShiftLength::Hours(1)));
        assert_eq!("daily".parse(), Ok(ShiftLength::Days(1)));
        assert_eq!("weekly".parse(), Ok(ShiftLength::Days(7)));
        assert_eq!("36h".parse(), Ok(ShiftLength::Hours(36)));
        assert_eq!("2w".parse(), Ok(ShiftLength::Days(14)));
        for bad in ["", "0h", "36", "3 days", "1y", "400d", "-2d"] {
            assert!(bad.parse::<ShiftLength>().is_err(), "{bad:?} accepted");
        }
    }
}
