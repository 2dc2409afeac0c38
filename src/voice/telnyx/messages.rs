//! Telnyx Messaging: the `POST /v2/messages` request (`CreateMessageRequest`) and the
//! parts of its answer Klaxon keeps (docs/sms.md §2).
//!
//! Unlike Call Control commands, a message has no `command_id`: Telnyx cannot recognise a
//! resent request, so a retry after an attempt that may have reached it would text the
//! person twice. [`TelnyxClient::send_message`](super::TelnyxClient::send_message) therefore
//! retries only answers that prove nothing was sent (429, a refused connection); the store's
//! claim (`store::text`) keeps a step from sending the same text twice.

use serde::{Deserialize, Serialize};

use super::TelnyxError;

/// A text's longest body we send: 10 GSM-7 parts of 153 characters (Telnyx refuses more
/// than 10 parts).
pub const MAX_TEXT_CHARS: usize = 1530;

/// `CreateMessageRequest`, with the fields Klaxon sets; unset optional fields are left out
/// so Telnyx (and the messaging profile) apply their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// +E.164.
    pub to: String,
    /// Our number (+E.164); `None` sends with the messaging profile's number pool, which
    /// then needs `messaging_profile_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messaging_profile_id: Option<String>,
    /// Where `message.sent` and `message.finalized` go; the profile's URL when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Always `SMS`: Klaxon sends no media.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl Message {
    pub fn sms(to: impl Into<String>, text: impl Into<String>) -> Message {
        Message {
            to: to.into(),
            from: None,
            text: text.into(),
            messaging_profile_id: None,
            webhook_url: None,
            kind: "SMS",
        }
    }

    /// What Telnyx would refuse anyway, caught before any HTTP.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !crate::people::is_e164(&self.to) {
            return Err("`to` must be a +E.164 number");
        }
        if self
            .from
            .as_deref()
            .is_some_and(|f| !crate::people::is_e164(f))
        {
            return Err("`from` must be a +E.164 number");
        }
        if self.from.is_none() && self.messaging_profile_id.is_none() {
            return Err("a message needs `from` or `messaging_profile_id`");
        }
        if self.text.trim().is_empty() {
            return Err("an SMS needs a non-empty `text`");
        }
        if self.text.chars().count() > MAX_TEXT_CHARS {
            return Err("the text is longer than 10 parts");
        }
        Ok(())
    }
}

/// What Telnyx answered: the message's id and its status for our one recipient (`queued`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id: String,
    pub status: String,
}

/// `{"data": OutboundMessagePayload}`, read for the id and the recipient's status.
pub(super) fn parse_sent(body: &[u8]) -> Result<SentMessage, TelnyxError> {
    #[derive(Deserialize)]
    struct Envelope {
        data: Data,
    }
    #[derive(Deserialize)]
    struct Data {
        id: String,
        #[serde(default)]
        to: Vec<To>,
    }
    #[derive(Deserialize)]
    struct To {
        #[serde(default)]
        status: Option<String>,
    }
    let data = serde_json::from_slice::<Envelope>(body)
        .map_err(|source| TelnyxError::InvalidResponse {
            reason: "expected {\"data\":{id, to:[{status}], …}}",
            source: Some(source),
        })?
        .data;
    let status = data
        .to
        .into_iter()
        .find_map(|to| to.status)
        .unwrap_or_else(|| "queued".to_owned());
    Ok(SentMessage {
        id: data.id,
        status,
    })
}

/// Whether a failed `POST /v2/messages` surely sent nothing, so sending it again cannot make
/// a second copy: a 429, or a connection that was never made.
pub(super) fn surely_unsent(error: &TelnyxError) -> bool {
    match error {
        TelnyxError::RateLimited { .. } => true,
        TelnyxError::Transport(e) => e.is_connect(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_are_left_out_and_the_type_is_sms() {
        let mut message = Message::sms("+15551000002", "Checkout down. Reply 1 to acknowledge.");
        message.from = Some("+15550100000".into());
        let body = serde_json::to_value(&message).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "to": "+15551000002", "from": "+15550100000", "type": "SMS",
                "text": "Checkout down. Reply 1 to acknowledge.",
            })
        );
        assert_eq!(message.validate(), Ok(()));
    }

    #[test]
    fn requests_telnyx_would_refuse_are_caught_first() {
        let ok = || {
            let mut m = Message::sms("+15551000002", "x");
            m.from = Some("+15550100000".into());
            m
        };
        let broken = |change: fn(&mut Message)| {
            let mut m = ok();
            change(&mut m);
            m.validate().is_err()
        };
        assert!(broken(|m| m.to = "5551000002".into()));
        assert!(broken(|m| m.from = Some("Klaxon".into())));
        assert!(broken(|m| m.from = None));
        assert!(broken(|m| m.text = " ".into()));
        assert!(broken(|m| m.text = "x".repeat(MAX_TEXT_CHARS + 1)));
        let mut pooled = ok();
        pooled.from = None;
        pooled.messaging_profile_id = Some("abc".into());
        assert_eq!(pooled.validate(), Ok(()));
    }

    #[test]
    fn the_answer_gives_the_id_and_the_recipients_status() {
        let body =
            br#"{"data":{"id":"40385f64-5717-4562-b3fc-2c963f66afa6","record_type":"message",
            "to":[{"phone_number":"+15551000002","status":"queued"}]}}"#;
        assert_eq!(
            parse_sent(body).unwrap(),
            SentMessage {
                id: "40385f64-5717-4562-b3fc-2c963f66afa6".into(),
                status: "queued".into()
            }
        );
        assert!(parse_sent(br#"{"data":{}}"#).is_err());
    }

    #[test]
    fn only_answers_that_prove_nothing_went_out_may_be_retried() {
        assert!(surely_unsent(&TelnyxError::RateLimited {
            code: None,
            retry_after: None
        }));
        assert!(!surely_unsent(&TelnyxError::Timeout {
            after: std::time::Duration::from_secs(1)
        }));
        assert!(!surely_unsent(&TelnyxError::Server {
            status: reqwest::StatusCode::BAD_GATEWAY,
            errors: Vec::new()
        }));
    }
}
