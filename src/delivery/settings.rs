//! `[delivery]` as written (and its `KLAXON_*` variables), validated into
//! [`DeliverySettings`]: the retry schedule and how many attempts run at once.

use std::time::Duration;

use serde::Deserialize;

use super::DeliverySettings;
use crate::config::values::parse_duration;
use crate::config::{Origin, Reader};

/// Delays before retries 1..=7: about a day of trying in all, as Svix does.
pub const DEFAULT_RETRY_SCHEDULE: &[Duration] = &[
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];
/// Outbound requests in flight at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// `[delivery]`: outbound delivery and its retries.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    /// Delays before each retry, e.g. `["5s", "5m", "30m"]`.
    pub retry_schedule: Option<Vec<String>>,
    pub max_in_flight: Option<usize>,
}

/// Validates `[delivery]` overlaid by its variables.
pub fn resolve(raw: RawDelivery, r: &mut Reader<'_>) -> DeliverySettings {
    let schedule = match r.var("KLAXON_RETRY_SCHEDULE") {
        Some(list) => Some((
            list.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>(),
            Origin::Env("KLAXON_RETRY_SCHEDULE"),
        )),
        None => raw.retry_schedule.map(|v| (v, r.file().clone())),
    };
    let retry_schedule = schedule
        .and_then(|(list, o)| {
            let parsed: Result<Vec<Duration>, String> =
                list.iter().map(|s| parse_duration(s)).collect();
            r.check("delivery.retry_schedule", o, parsed)
        })
        .unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE.to_vec());
    let max_in_flight = r
        .ranged(
            "KLAXON_MAX_IN_FLIGHT",
            "delivery.max_in_flight",
            raw.max_in_flight,
            1,
            10_000,
        )
        .unwrap_or(DEFAULT_MAX_IN_FLIGHT);

    DeliverySettings {
        retry_schedule,
        max_in_flight,
    }
}
