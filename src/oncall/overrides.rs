//! Overrides: someone covers a schedule over `[start, end)`, whatever its layers say. When
//! two overlap, the one added later wins. Pure: which override covers an instant, and when
//! the next one starts.

use std::sync::Arc;

use serde::Serialize;

use super::zone::Instant;

/// One override, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Override {
    /// `ovr_…`, unique across schedules.
    pub id: String,
    pub schedule: String,
    /// The `[people]` key of who covers.
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Instant,
    #[schema(value_type = String, format = DateTime)]
    pub end: Instant,
    /// Why, for people reading the schedule ("swap with Bob, dentist").
    pub note: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Instant,
}

/// A schedule's overrides, sorted by start (then by when they were added), shared read-only
/// by every lookup until the next change replaces the whole list.
#[derive(Debug, Clone, Default)]
pub struct Overrides(Arc<[Override]>);

impl Overrides {
    pub fn new(mut list: Vec<Override>) -> Overrides {
        list.sort_by(|a, b| (a.start, a.created_at, &a.id).cmp(&(b.start, b.created_at, &b.id)));
        Overrides(list.into())
    }

    pub fn as_slice(&self) -> &[Override] {
        &self.0
    }

    /// The override in force at `at` (the latest added of those covering it), and until when
    /// it decides: its end, or the start of a later-added override that takes over first.
    pub fn at(&self, at: Instant) -> Option<(&Override, Instant)> {
        let started = self.0.partition_point(|o| o.start <= at);
        let winner = self.0[..started]
            .iter()
            .filter(|o| at < o.end)
            .max_by_key(|o| (o.created_at, &o.id))?;
        let taken_over = self.0[started..]
            .iter()
            .take_while(|o| o.start < winner.end)
            .filter(|o| (o.created_at, &o.id) > (winner.created_at, &winner.id))
            .map(|o| o.start)
            .next();
        Some((winner, taken_over.unwrap_or(winner.end)))
    }

    /// When the first override starting after `at` starts.
    pub fn next_start_after(&self, at: Instant) -> Option<Instant> {
        let started = self.0.partition_point(|o| o.start <= at);
        self.0.get(started).map(|o| o.start)
    }
}
