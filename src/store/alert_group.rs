//! Alert groups: what the store remembers of each alert an alert source keeps sending
//! (`crate::ingress::alerts`), one row per (source, de-duplication key).
//!
//! Every notification goes through [`Store::note_alerts`], which decides in one transaction
//! (so two notifications racing for one key see each other) what it means for the alert:
//! the alert opens (a new *episode*, which the alert pipeline rings for), repeats (nothing
//! new), is acknowledged or resolved (its episode's escalations are then marked to be
//! settled), or names no open alert (dropped, as PagerDuty drops an acknowledge or a resolve
//! without an open alert). The decision itself is the pure [`next`], tested as a table.
//!
//! An episode's opening event is stored with the idempotency key [`opening_key`], so a repeat,
//! a re-sent notification, or a retry after a crash between the two writes stores nothing
//! new and never starts a second escalation. A repeat whose episode has no opening event yet
//! (that crash) is reported as `Opened` again, so the retry stores it. The escalations to settle are found through
//! that key too ([`Store::alert_escalations`]).

use serde::Serialize;

use super::{Backend, EscalationId, Store, StoreError};

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    /// The stored text back; `None` for anything else (a corrupt row).
    pub fn parse(text: &str) -> Option<AlertStatus> {
        match text {
            "firing" => Some(AlertStatus::Firing),
            "acknowledged" => Some(AlertStatus::Acknowledged),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// One alert of one notification, as the sender said it.
#[derive(Debug, Clone)]
pub struct AlertNotice {
    /// The alert source's name.
    pub source: String,
    /// The sender's key: a fingerprint, or a PagerDuty `dedup_key`.
    pub dedup_key: String,
    pub status: AlertStatus,
    pub summary: String,
    pub severity: Option<String>,
    /// RFC 3339, when Klaxon received it.
    pub at: String,
}

/// What a notice meant for its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    /// A new episode began: its opening event should be stored (and rings).
    Opened { episode: i64 },
    /// The alert was already open (firing or acknowledged) and its opening event is stored;
    /// nothing new to ring.
    Repeated { episode: i64 },
    /// The open alert was acknowledged now, or had been (a repeat).
    Acknowledged { episode: i64 },
    /// The open alert was resolved now, or had been (a repeat of the resolve).
    Resolved { episode: i64 },
    /// An acknowledge or resolve for no open alert: nothing to do.
    Dropped,
}

impl Noted {
    /// The episode the notice belongs to, unless dropped.
    pub fn episode(self) -> Option<i64> {
        match self {
            Noted::Opened { episode }
            | Noted::Repeated { episode }
            | Noted::Acknowledged { episode }
            | Noted::Resolved { episode } => Some(episode),
            Noted::Dropped => None,
        }
    }
}

/// The part of a stored group that [`next`] decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupState {
    pub status: AlertStatus,
    pub episode: i64,
}

/// What to write for a notice, given the group as stored (`None`: never seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub noted: Noted,
    /// The group's state afterwards; `None` leaves the row as it is (or absent).
    pub write: Option<GroupState>,
    /// Whether this starts a new episode (the notification count restarts).
    pub opens: bool,
    /// Mark the episode's escalations to be settled this way.
    pub settle: Option<AlertStatus>,
}

/// The decision, pure: how a notice changes its alert.
pub fn next(stored: Option<GroupState>, notice: AlertStatus) -> Decision {
    use AlertStatus::{Acknowledged, Firing, Resolved};
    let keep = |noted, state| Decision {
        noted,
        write: Some(state),
        opens: false,
        settle: None,
    };
    match (stored, notice) {
        (None, Firing) => open(1),
        (Some(s), Firing) if s.status == Resolved => open(s.episode + 1),
        (Some(s), Firing) => keep(Noted::Repeated { episode: s.episode }, s),
        (Some(s), Acknowledged) if s.status == Firing => Decision {
            noted: Noted::Acknowledged { episode: s.episode },
            write: Some(GroupState {
                status: Acknowledged,
                episode: s.episode,
            }),
            opens: false,
            settle: Some(Acknowledged),
        },
        (Some(s), Acknowledged) if s.status == Acknowledged => {
            keep(Noted::Acknowledged { episode: s.episode }, s)
        }
        (Some(s), Resolved) if s.status != Resolved => Decision {
            noted: Noted::Resolved { episode: s.episode },
            write: Some(GroupState {
                status: Resolved,
                episode: s.episode,
            }),
            opens: false,
            settle: Some(Resolved),
        },
        // Repeated resolves (Alertmanager sends a resolved alert for a while) keep their
        // episode, so a retry after a crash still records the resolve once.
        (Some(s), Resolved) => Decision {
            noted: Noted::Resolved { episode: s.episode },
            write: None,
            opens: false,
            settle: None,
        },
        (None, Acknowledged | Resolved) | (Some(_), Acknowledged) => Decision {
            noted: Noted::Dropped,
            write: None,
            opens: false,
            settle: None,
        },
    }
}

fn open(episode: i64) -> Decision {
    Decision {
        noted: Noted::Opened { episode },
        write: Some(GroupState {
            status: AlertStatus::Firing,
            episode,
        }),
        opens: true,
        settle: None,
    }
}

/// The idempotency key (within the `alerts` event source) of an episode's opening event;
/// the escalations of the episode are those of this event.
pub fn opening_key(source: &str, dedup_key: &str, episode: i64) -> String {
    format!("{source}:{dedup_key}#{episode}")
}

/// An alert group as listed (the live page's "open alert groups").
#[derive(Debug, Clone, Serialize)]
pub struct AlertGroup {
    pub source: String,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub episode: i64,
    pub summary: String,
    pub severity: Option<String>,
    /// Notifications recorded in this episode: the opening one and those that changed the
    /// alert (repeats are answered from reads and not counted).
    pub notifications: i64,
    pub opened_at: String,
    pub updated_at: String,
}

/// An episode whose escalations are still to be settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertToSettle {
    pub source: String,
    pub dedup_key: String,
    pub episode: i64,
    /// [`AlertStatus::Resolved`] or [`AlertStatus::Acknowledged`].
    pub how: AlertStatus,
}

/// The escalations of an episode's opening event, and whether that event is still waiting
/// for its pipeline (more may come).
#[derive(Debug, Clone, Default)]
pub struct EpisodeEscalations {
    /// `None` when no opening event was stored (a crash before it, never retried).
    pub pipeline_pending: Option<bool>,
    /// Each with its status (`active`, or how it ended).
    pub escalations: Vec<(EscalationId, String)>,
}

impl Store {
    /// Decides and records, in one transaction, what each notice means for its alert (see
    /// the module docs). Answers in the order given.
    ///
    /// A notification that only repeats open alerts whose opening events are stored (what an
    /// alert storm is made of) is answered from reads, with no commit to wait for: it changes
    /// nothing, so there is nothing to make durable. Were the alert resolved meanwhile, the
    /// repeat simply counts as having come first.
    pub async fn note_alerts(&self, notices: Vec<AlertNotice>) -> Result<Vec<Noted>, StoreError> {
        if let Some(repeats) = self.only_repeats(&notices).await? {
            return Ok(repeats);
        }
        let notices = notices
            .into_iter()
            .map(|n| AlertNotice {
                summary: crate::stored_text::without_nul(n.summary),
                severity: n.severity.map(crate::stored_text::without_nul),
                ..n
            })
            .collect();
        dispatch_write!(self, b => b.note_alerts(notices).await)
    }

    /// `Repeated` for each notice when every one fires an alert that is open with its opening
    /// event stored; `None` when some notice needs the write transaction.
    async fn only_repeats(
        &self,
        notices: &[AlertNotice],
    ) -> Result<Option<Vec<Noted>>, StoreError> {
        let mut repeats = Vec::with_capacity(notices.len());
        for notice in notices {
            if notice.status != AlertStatus::Firing {
                return Ok(None);
            }
            let group = self
                .alert_group(notice.source.clone(), notice.dedup_key.clone())
                .await?;
            let Some(group) = group.filter(|g| g.status != AlertStatus::Resolved) else {
                return Ok(None);
            };
            let opening = self
                .alert_escalations(
                    notice.source.clone(),
                    notice.dedup_key.clone(),
                    group.episode,
                )
                .await?;
            if opening.pipeline_pending.is_none() {
                return Ok(None);
            }
            repeats.push(Noted::Repeated {
                episode: group.episode,
            });
        }
        Ok(Some(repeats))
    }

    /// Alerts firing or acknowledged, most recently changed first, at most `limit`.
    pub async fn open_alert_groups(&self, limit: usize) -> Result<Vec<AlertGroup>, StoreError> {
        dispatch!(self, b => b.open_alert_groups(limit).await)
    }

    /// One alert group, whatever its status.
    pub async fn alert_group(
        &self,
        source: String,
        dedup_key: String,
    ) -> Result<Option<AlertGroup>, StoreError> {
        dispatch!(self, b => b.alert_group(source, dedup_key).await)
    }

    /// Episodes resolved or acknowledged whose escalations are still to be settled.
    pub async fn alerts_to_settle(&self, limit: usize) -> Result<Vec<AlertToSettle>, StoreError> {
        dispatch!(self, b => b.alerts_to_settle(limit).await)
    }

    /// The escalations started for an episode (through its opening event).
    pub async fn alert_escalations(
        &self,
        source: String,
        dedup_key: String,
        episode: i64,
    ) -> Result<EpisodeEscalations, StoreError> {
        let key = opening_key(&source, &dedup_key, episode);
        dispatch!(self, b => b.alert_escalations(key).await)
    }

    /// The episode's escalations are settled: clears the mark, unless a later resolve or
    /// acknowledge replaced it meanwhile.
    pub async fn alert_settled(&self, settled: AlertToSettle) -> Result<(), StoreError> {
        dispatch_write!(self, b => b.alert_settled(settled).await)
    }
}

#[cfg(test)]
mod tests {
    use super::AlertStatus::{Acknowledged, Firing, Resolved};
    use super::*;

    fn state(status: AlertStatus, episode: i64) -> Option<GroupState> {
        Some(GroupState { status, episode })
    }

    #[test]
    fn a_notice_changes_its_alert_as_pagerduty_would() {
        let cases = [
            // (stored, notice, noted, settle)
            (None, Firing, Noted::Opened { episode: 1 }, None),
            (
                state(Firing, 1),
                Firing,
                Noted::Repeated { episode: 1 },
                None,
            ),
            (
                state(Acknowledged, 1),
                Firing,
                Noted::Repeated { episode: 1 },
                None,
            ),
            (
                state(Resolved, 1),
                Firing,
                Noted::Opened { episode: 2 },
                None,
            ),
            (
                state(Firing, 3),
                Acknowledged,
                Noted::Acknowledged { episode: 3 },
                Some(Acknowledged),
            ),
            (
                state(Acknowledged, 3),
                Acknowledged,
                Noted::Acknowledged { episode: 3 },
                None,
            ),
            (state(Resolved, 3), Acknowledged, Noted::Dropped, None),
            (None, Acknowledged, Noted::Dropped, None),
            (None, Resolved, Noted::Dropped, None),
            (
                state(Firing, 2),
                Resolved,
                Noted::Resolved { episode: 2 },
                Some(Resolved),
            ),
            (
                state(Acknowledged, 2),
                Resolved,
                Noted::Resolved { episode: 2 },
                Some(Resolved),
            ),
            (
                state(Resolved, 2),
                Resolved,
                Noted::Resolved { episode: 2 },
                None,
            ),
        ];
        for (stored, notice, noted, settle) in cases {
            let decision = next(stored, notice);
            assert_eq!(decision.noted, noted, "{stored:?} + {notice:?}");
            assert_eq!(decision.settle, settle, "{stored:?} + {notice:?}");
            assert_eq!(
                decision.opens,
                matches!(noted, Noted::Opened { .. }),
                "{stored:?} + {notice:?}"
            );
        }
    }

    #[test]
    fn only_a_new_episode_has_a_new_opening_key() {
        let first = next(None, Firing).noted.episode().expect("opened");
        let again = next(state(Firing, first), Firing)
            .noted
            .episode()
            .expect("repeated");
        assert_eq!(
            opening_key("am", "f1", first),
            opening_key("am", "f1", again)
        );
        let reopened = next(state(Resolved, first), Firing)
            .noted
            .episode()
            .expect("opened");
        assert_ne!(
            opening_key("am", "f1", first),
            opening_key("am", "f1", reopened)
        );
    }
}
