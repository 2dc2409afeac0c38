//! Telnyx message webhooks, read for what Klaxon uses (docs/sms.md §3): the envelope's id (to
//! drop redeliveries), and per event type the reply's sender and words, or the receipt's
//! message id and status. Other event types are kept as [`MessageEventKind::Other`], never an
//! error.

use serde::Deserialize;

/// A message webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    /// `data.id`: the same on every redelivery.
    pub id: String,
    pub kind: MessageEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageEventKind {
    /// `message.received`: someone texted our number.
    Received {
        from: String,
        text: String,
    },
    /// `message.sent` or `message.finalized`: where a text of ours stands.
    Receipt {
        event_type: String,
        message_id: String,
        /// The recipient's status: `queued`, `sending`, `sent`, `delivered`,
        /// `sending_failed`, `delivery_failed`, `delivery_unconfirmed`.
        status: String,
        /// Telnyx's error titles for a failed delivery.
        errors: Vec<String>,
    },
    Other {
        event_type: String,
    },
}

/// Why a body is not a message webhook.
#[derive(Debug, thiserror::Error)]
#[error("not a Telnyx message webhook: {0}")]
pub struct MessageEventError(#[from] serde_json::Error);

#[derive(Deserialize)]
struct Envelope {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    id: String,
    event_type: String,
    #[serde(default)]
    payload: Payload,
}

#[derive(Deserialize, Default)]
struct Payload {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    from: Option<Party>,
    #[serde(default)]
    to: Vec<Party>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct Party {
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// Parses a verified body.
pub fn parse(body: &[u8]) -> Result<MessageEvent, MessageEventError> {
    let data = serde_json::from_slice::<Envelope>(body)?.data;
    let payload = data.payload;
    let kind = match data.event_type.as_str() {
        "message.received" => match payload.from.and_then(|p| p.phone_number) {
            Some(from) => MessageEventKind::Received {
                from,
                text: payload.text.unwrap_or_default(),
            },
            None => MessageEventKind::Other {
                event_type: data.event_type,
            },
        },
        "message.sent" | "message.finalized" => {
            let status = payload.to.iter().find_map(|p| p.status.clone());
            match (payload.id, status) {
                (Some(message_id), Some(status)) => MessageEventKind::Receipt {
                    event_type: data.event_type,
                    message_id,
                    status,
                    errors: payload
                        .errors
                        .into_iter()
                        .filter_map(|e| e.title.or(e.code))
                        .collect(),
                },
                _ => MessageEventKind::Other {
                    event_type: data.event_type,
                },
            }
        }
        _ => MessageEventKind::Other {
            event_type: data.event_type,
        },
    };
    Ok(MessageEvent { id: data.id, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_inbound_example_is_a_reply() {
        // InboundMessage's example in the official spec, trimmed.
        let body = br#"{"data":{"event_type":"message.received","id":"bf6307bd-884d-4c1f-b6ea-c62b8c495d3c",
            "occurred_at":"2019-01-23T18:10:02.574Z","record_type":"event","payload":{
            "direction":"inbound","from":{"carrier":"T-MOBILE USA, INC.","line_type":"Wireless","phone_number":"+18665550001"},
            "id":"7ee4241c-f127-47e5-9c34-3aac291f8058","text":"Hello, World!",
            "to":[{"phone_number":"+18445550001","status":"delivered"}],"type":"SMS"}}}"#;
        let event = parse(body).unwrap();
        assert_eq!(event.id, "bf6307bd-884d-4c1f-b6ea-c62b8c495d3c");
        assert_eq!(
            event.kind,
            MessageEventKind::Received {
                from: "+18665550001".into(),
                text: "Hello, World!".into()
            }
        );
    }

    #[test]
    fn a_finalized_message_gives_its_status_and_errors() {
        let body = br#"{"data":{"event_type":"message.finalized","id":"e1","payload":{
            "id":"40385f64","to":[{"phone_number":"+18665550001","status":"delivery_failed"}],
            "errors":[{"code":"40300","title":"Blocked as spam"}]}},"meta":{"attempt":1}}"#;
        assert_eq!(
            parse(body).unwrap().kind,
            MessageEventKind::Receipt {
                event_type: "message.finalized".into(),
                message_id: "40385f64".into(),
                status: "delivery_failed".into(),
                errors: vec!["Blocked as spam".into()],
            }
        );
    }

    #[test]
    fn other_events_are_kept_and_garbage_is_an_error() {
        let body = br#"{"data":{"event_type":"call.answered","id":"e2","payload":{}}}"#;
        assert_eq!(
            parse(body).unwrap().kind,
            MessageEventKind::Other {
                event_type: "call.answered".into()
            }
        );
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
