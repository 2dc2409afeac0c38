//! Text messages (SMS) an escalation sent, and the message webhooks Telnyx sent back.
//!
//! A text is claimed before Telnyx is asked to send it, like a dial (`store::dial`): the key
//! (escalation, attempt) lets a call slot text its person once. Telnyx Messaging has no
//! `command_id`, so a retried or repeated request would be a second copy on the person's
//! phone; only a recovery whose claimed text has no Telnyx message id yet sends it again (a
//! crash between the claim and Telnyx's answer must not leave the person never told).
//!
//! Delivery receipts and replies are recorded with their webhook's id in one transaction, so
//! a redelivered webhook changes nothing, and a crash before the answer loses nothing (Telnyx
//! sends it again).

use super::{Backend, Dialling, EscalationId, StoreError, TimelineEntry};

/// A text about to be sent, to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewText {
    pub escalation: EscalationId,
    /// The call slot it belongs to (1-based).
    pub attempt: u32,
    /// +E.164.
    pub to: String,
    /// The short code a reply may quote.
    pub code: String,
    pub why: Dialling,
}

/// What the store answers to a text's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextClaim {
    /// The first claim: send it.
    Claimed,
    /// Claimed before and never accepted by Telnyx (no message id), and this is a recovery:
    /// send it again.
    Resend,
    /// Claimed before; sending would text a second time. The Telnyx id, if it was sent.
    Refused { message_id: Option<String> },
}

impl NewText {
    /// The rule both backends apply, given the message id of the claim the store held before
    /// this call (`None`: this call made the claim).
    pub fn decide(&self, existing: Option<Option<String>>) -> TextClaim {
        match existing {
            None => TextClaim::Claimed,
            Some(None) if self.why == Dialling::Recovered => TextClaim::Resend,
            Some(message_id) => TextClaim::Refused { message_id },
        }
    }
}

/// A text sent to a number for an escalation that is still active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenText {
    pub escalation: EscalationId,
    pub attempt: u32,
    pub code: String,
}

/// What recording a delivery receipt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// The webhook was handled before: nothing changed.
    Duplicate,
    /// No text of ours has this message id (another application's message): only its id
    /// was recorded.
    Unknown,
    /// The text's status and its escalation's timeline were updated.
    Recorded(EscalationId),
}

/// The statuses after which Telnyx sends nothing more for a message (`message.finalized`),
/// as an SQL list, the same in both dialects; a late `message.sent` never turns one back.
pub(crate) const FINAL_STATUSES_SQL: &str =
    "('delivered', 'sending_failed', 'delivery_failed', 'delivery_unconfirmed', 'failed')";

/// A text as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredText {
    pub attempt: u32,
    pub to: String,
    pub code: String,
    pub message_id: Option<String>,
    pub status: String,
}

impl super::Store {
    /// Claims a text just before Telnyx is asked to send it; [`NewText::decide`] says what an
    /// existing claim allows. Durable when this returns.
    pub async fn claim_text(&self, text: NewText) -> Result<TextClaim, StoreError> {
        let outcome = match &self.backend {
            Backend::Sqlite(b) => b.claim_text(text).await,
            Backend::Postgres(b) => b.claim_text(text).await,
        };
        self.watch.writes.record(&outcome);
        outcome
    }

    /// What Telnyx answered to a claimed text: its message id and status (`queued`), or no
    /// id and `failed` when it refused it; with the line saying so on the timeline.
    pub async fn text_sent(
        &self,
        escalation: EscalationId,
        attempt: u32,
        message_id: Option<String>,
        status: String,
        line: TimelineEntry,
    ) -> Result<(), StoreError> {
        let outcome = match &self.backend {
            Backend::Sqlite(b) => {
                b.text_sent(escalation, attempt, message_id, status, line)
                    .await
            }
            Backend::Postgres(b) => {
                b.text_sent(escalation, attempt, message_id, status, line)
                    .await
            }
        };
        self.watch.writes.record(&outcome);
        outcome
    }

    /// Texts sent to `number` (+E.164) for escalations still active, newest first.
    pub async fn open_texts_to(&self, number: String) -> Result<Vec<OpenText>, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.open_texts_to(number).await,
            Backend::Postgres(b) => b.open_texts_to(number).await,
        }
    }

    /// Every text of an escalation, by attempt.
    pub async fn texts_of(&self, escalation: EscalationId) -> Result<Vec<StoredText>, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.texts_of(escalation).await,
            Backend::Postgres(b) => b.texts_of(escalation).await,
        }
    }

    /// Records a delivery receipt (`message.sent`, `message.finalized`) under its webhook id:
    /// the text's status (never moved back from a final one) and a line on its escalation's
    /// timeline, in one transaction.
    pub async fn record_text_receipt(
        &self,
        webhook_id: String,
        message_id: String,
        status: String,
        line: TimelineEntry,
    ) -> Result<Receipt, StoreError> {
        let outcome = match &self.backend {
            Backend::Sqlite(b) => {
                b.record_text_receipt(webhook_id, message_id, status, line)
                    .await
            }
            Backend::Postgres(b) => {
                b.record_text_receipt(webhook_id, message_id, status, line)
                    .await
            }
        };
        self.watch.writes.record(&outcome);
        outcome
    }

    /// Records a reply (`message.received`) under its webhook id, with the timeline lines it
    /// adds to escalations, in one transaction; false when it was recorded before.
    pub async fn record_text_reply(
        &self,
        webhook_id: String,
        lines: Vec<(EscalationId, TimelineEntry)>,
    ) -> Result<bool, StoreError> {
        let outcome = match &self.backend {
            Backend::Sqlite(b) => b.record_text_reply(webhook_id, lines).await,
            Backend::Postgres(b) => b.record_text_reply(webhook_id, lines).await,
        };
        self.watch.writes.record(&outcome);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(why: Dialling) -> NewText {
        NewText {
            escalation: EscalationId::new(),
            attempt: 1,
            to: "+15551000002".into(),
            code: "k4q7".into(),
            why,
        }
    }

    #[test]
    fn a_text_is_sent_once_and_resent_only_by_a_recovery_that_never_heard_back() {
        let decided = text(Dialling::Decided);
        assert_eq!(decided.decide(None), TextClaim::Claimed);
        assert_eq!(
            decided.decide(Some(None)),
            TextClaim::Refused { message_id: None }
        );
        let recovered = text(Dialling::Recovered);
        assert_eq!(recovered.decide(Some(None)), TextClaim::Resend);
        assert_eq!(
            recovered.decide(Some(Some("m1".into()))),
            TextClaim::Refused {
                message_id: Some("m1".into())
            }
        );
    }
}
