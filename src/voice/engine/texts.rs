//! Texts of a call slot (docs/sms.md §1): sent before its call, or instead of it.
//!
//! A text is claimed in the store before Telnyx is asked to send it ([`Store::claim_text`]),
//! so a step that runs again (a recovery, another node) does not text twice; its line goes on
//! the timeline with Telnyx's answer. A slot that texts *instead* of calling stays "ringing"
//! in the machine, with no call id, until a reply settles the escalation or
//! `ring_timeout_secs` pass: then a hang-up with cause [`NO_REPLY`] moves the escalation on,
//! exactly as an unanswered call would. The wait is a timer in this process; a restart
//! re-arms it when the recovery re-runs the slot (its text is then not sent again).

use std::time::Duration;

use serde_json::json;

use super::execute::Context;
use super::executed::Executed;
use super::{EngineHandle, Persisted};
use crate::store::{EscalationId, NewText, TextClaim};
use crate::voice::escalation::machine::{Input, Leg, Settlement, Slot};
use crate::voice::sms::words;
use crate::voice::timeline;

/// The hang-up cause fed when a texted person has not replied in time.
pub const NO_REPLY: &str = "no_reply";

/// Whether the text was sent (now or by an earlier step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Texted {
    Sent,
    Failed(String),
}

impl EngineHandle {
    /// A slot that texts instead of calling: the text, then the wait for a reply.
    pub(super) async fn text_instead(
        &self,
        at: &Context<'_>,
        attempt: u32,
        slot: &Slot,
    ) -> Executed {
        match self.text(at, attempt, slot, false).await {
            Texted::Sent => {
                self.wait_for_reply(at.id, attempt, slot.ring_timeout_secs);
                Executed::none()
            }
            Texted::Failed(reason) => Executed::feedback(Input::DialFailed {
                attempt,
                leg: Leg::A,
                reason,
            }),
        }
    }

    /// Sends the slot's text unless a step sent it before; its line goes on the timeline.
    pub(super) async fn text(
        &self,
        at: &Context<'_>,
        attempt: u32,
        slot: &Slot,
        calls_follow: bool,
    ) -> Texted {
        let store = &self.shared.store;
        let code = words::code(at.id);
        let claim = store
            .claim_text(NewText {
                escalation: at.id,
                attempt,
                to: slot.number.clone(),
                code: code.clone(),
                why: at.why,
            })
            .await;
        match claim {
            Ok(TextClaim::Claimed | TextClaim::Resend) => {}
            Ok(TextClaim::Refused { .. }) => return Texted::Sent,
            Err(error) => {
                tracing::warn!(%error, escalation = %at.id, attempt, "could not claim a text; not sent");
                return Texted::Failed(format!("the text could not be claimed: {error}"));
            }
        }
        let body = words::text(&at.plan.briefing, &code, calls_follow);
        let sent = self.shared.carrier.text(&slot.number, &body).await;
        let mut detail = json!({
            "attempt": attempt,
            "to": slot.number,
            "code": code,
            "chars": body.chars().count(),
        });
        let (message_id, status, texted) = match sent {
            Ok(message) => {
                detail["event"] = json!("text sent");
                detail["message_id"] = json!(message.id);
                detail["status"] = json!(message.status);
                (Some(message.id), message.status, Texted::Sent)
            }
            Err(error) => {
                detail["event"] = json!("text not sent");
                detail["error"] = json!(error.to_string());
                (None, "failed".to_owned(), Texted::Failed(error.to_string()))
            }
        };
        let line = timeline::entry("command", detail);
        if let Err(error) = store
            .text_sent(at.id, attempt, message_id, status, line)
            .await
        {
            tracing::warn!(%error, escalation = %at.id, attempt, "could not record a text's outcome");
        }
        texted
    }

    /// After `secs`, the slot counts as not reached, unless it ended meanwhile (a reply
    /// settled the escalation, or it was cancelled).
    fn wait_for_reply(&self, id: EscalationId, attempt: u32, secs: u32) {
        let engine = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(secs))).await;
            if engine.slot_waiting(id, attempt).await {
                engine
                    .feed(
                        id,
                        Input::HungUp {
                            attempt,
                            leg: Leg::A,
                            cause: NO_REPLY.into(),
                        },
                    )
                    .await;
            }
        });
    }

    /// Acknowledges an escalation for a text reply from `from` (docs/sms.md §3): settled as
    /// acknowledged, so a call still ringing is hung up and one on the menu hears why.
    pub async fn acknowledge_by_text(&self, id: EscalationId, from: String) {
        let settlement = Settlement::Acknowledged {
            by: format!("SMS from {from}"),
        };
        match self.settle(id, settlement).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(escalation = %id, "a text acknowledged an escalation that had already ended")
            }
            Err(error) => {
                tracing::error!(%error, escalation = %id, "could not settle an escalation acknowledged by text")
            }
        }
    }

    /// Whether the escalation is active and still has the slot's call open.
    async fn slot_waiting(&self, id: EscalationId, attempt: u32) -> bool {
        let Ok(Some(record)) = self.shared.store.load_escalation(id).await else {
            return false;
        };
        let Ok(persisted) = serde_json::from_str::<Persisted>(&record.state) else {
            return false;
        };
        record.status == "active" && persisted.machine.call(attempt).is_some()
    }
}
