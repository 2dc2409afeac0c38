//! A `schedule:<name>` slot resolved to a person when its call is placed, not when the
//! escalation was created: a hand-off or an override made while earlier slots rang is
//! honoured, and a take-over after a crash resolves again (its re-sent dial keeps its
//! `command_id`, so the carrier still places it only once). Who it resolved to, and why,
//! goes on the timeline; nobody on call is a note and a failed dial, so the next slot rings.

use chrono::Utc;
use serde_json::json;

use super::EngineHandle;
use crate::oncall::{Reason, WhoIsOnCall};
use crate::store::TimelineEntry;
use crate::voice::escalation::machine::Slot;
use crate::voice::timeline;

/// Why a schedule slot rings nobody: the timeline note, and the dial failure's reason.
pub(super) struct NobodyOnCall {
    pub(super) line: TimelineEntry,
    pub(super) reason: String,
}

impl EngineHandle {
    /// The number `slot` rings now, with the line saying whom its schedule resolved to.
    pub(super) fn ring_now(
        &self,
        slot: &Slot,
        attempt: u32,
    ) -> Result<(String, Option<TimelineEntry>), NobodyOnCall> {
        let Some(schedule) = &slot.schedule else {
            return Ok((slot.number.clone(), None));
        };
        let nobody = |why: String| {
            let line = timeline::entry(
                "note",
                json!({
                    "event": format!("schedule {schedule}: {why}; the next in line is rung"),
                    "schedule": schedule,
                    "attempt": attempt,
                }),
            );
            NobodyOnCall {
                line,
                reason: format!("schedule {schedule}: {why}"),
            }
        };
        let Some(oncall) = &self.shared.oncall else {
            return Err(nobody("schedules are not available here".into()));
        };
        let found = oncall
            .who(schedule, Utc::now())
            .map_err(|e| nobody(e.to_string()))?;
        let Some(person) = found.person.as_ref().filter(|p| !p.phone.is_empty()) else {
            return Err(nobody("nobody is on call".into()));
        };
        let line = timeline::entry(
            "note",
            json!({
                "event": resolved_words(&found),
                "schedule": schedule,
                "attempt": attempt,
                "person": person.key,
                "reason": found.reason,
                "until": found.until.map(|u| u.to_rfc3339()),
            }),
        );
        Ok((person.phone.clone(), Some(line)))
    }
}

/// "schedule primary: Alice is on call (layer weekly, shift 12)".
fn resolved_words(found: &WhoIsOnCall) -> String {
    let who = found
        .person
        .as_ref()
        .map(|p| p.name.clone().unwrap_or_else(|| p.key.clone()))
        .unwrap_or_default();
    let why = match &found.reason {
        Reason::Override {
            note: Some(note), ..
        } => format!("override: {note}"),
        Reason::Override { .. } => "override".to_owned(),
        Reason::Layer {
            layer,
            shift: Some(n),
            ..
        } => format!("layer {layer}, shift {n}"),
        Reason::Layer {
            layer,
            event: Some(event),
            ..
        } => format!("layer {layer}, event {event}"),
        Reason::Layer { layer, .. } => format!("layer {layer}"),
        Reason::Nobody => "nobody".to_owned(),
    };
    format!("schedule {}: {who} is on call ({why})", found.schedule)
}
