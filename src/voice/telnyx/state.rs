//! The two Klaxon conventions for what we attach to a Telnyx command (docs/telnyx.md §2).
//!
//! [`ClientState`] is a *hint* Telnyx echoes on the leg's later webhooks: compact JSON of
//! opaque ids (`{"e":"<escalation>","a":<attempt>,"l":"A"}`), base64-encoded. It must never
//! carry phone numbers, names or ticket text, so the escalation id is restricted to an id-like
//! alphabet, which also bounds the encoded size well under [`MAX_ENCODED_LEN`]. The store,
//! keyed by `call_control_id`, stays the authority; the hint only helps route a webhook that
//! races the dial response.
//!
//! [`CommandId`] is `"{escalation}:{attempt}:{step}"`, deterministic so that a replayed webhook
//! or a retried job produces the same id and Telnyx drops the duplicate (within its 60-second
//! window; longer-lived idempotency is the store's job).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize, Serializer};

/// Our ceiling for an encoded `client_state`. Telnyx documents no maximum; staying small keeps
/// every webhook small and leaves no room for anything but ids.
pub const MAX_ENCODED_LEN: usize = 256;
/// Longest escalation id accepted. With the rest of the JSON the encoded state is then at
/// most 128 bytes.
pub const MAX_ESCALATION_LEN: usize = 64;

/// Which side of a warm transfer a leg is: A is the responder we rang first, B the party
/// they asked to be connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LegRole {
    A,
    B,
}

/// The `client_state` Klaxon attaches to every command. Built only through [`ClientState::new`]
/// or [`ClientState::decode`], so every value encodes within 256 bytes (`MAX_ENCODED_LEN`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientState {
    escalation: String,
    attempt: u32,
    leg: LegRole,
}

/// Why a [`ClientState`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientStateError {
    #[error("the escalation id must be 1 to {MAX_ESCALATION_LEN} characters")]
    EscalationLength,
    /// Restricting the alphabet is what keeps phone numbers (`+1…`), names and free text out.
    #[error("the escalation id may only hold ASCII letters, digits, `_`, `-` and `.`")]
    EscalationCharacters,
    #[error("client_state is not base64 of a Klaxon state object")]
    Undecodable,
}

/// The JSON inside the base64: one-letter keys, because it travels on every webhook.
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    #[serde(rename = "e", borrow)]
    escalation: std::borrow::Cow<'a, str>,
    #[serde(rename = "a")]
    attempt: u32,
    #[serde(rename = "l")]
    leg: LegRole,
}

impl ClientState {
    pub fn new(
        escalation: impl Into<String>,
        attempt: u32,
        leg: LegRole,
    ) -> Result<Self, ClientStateError> {
        let escalation = escalation.into();
        if escalation.is_empty() || escalation.len() > MAX_ESCALATION_LEN {
            return Err(ClientStateError::EscalationLength);
        }
        if !escalation.bytes().all(is_id_byte) {
            return Err(ClientStateError::EscalationCharacters);
        }
        Ok(ClientState {
            escalation,
            attempt,
            leg,
        })
    }

    pub fn escalation(&self) -> &str {
        &self.escalation
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    pub fn leg(&self) -> LegRole {
        self.leg
    }

    /// The same escalation and attempt, for the other leg: what a warm transfer puts on B.
    pub fn with_leg(&self, leg: LegRole) -> Self {
        ClientState {
            leg,
            ..self.clone()
        }
    }

    /// Standard base64 of the compact JSON, as sent in `client_state`.
    pub fn encode(&self) -> String {
        let wire = Wire {
            escalation: self.escalation.as_str().into(),
            attempt: self.attempt,
            leg: self.leg,
        };
        // A struct of a string, an integer and a unit enum always serializes; the fallback
        // keeps the function total without a panic path.
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        STANDARD.encode(json)
    }

    /// Reads a `client_state` back. Anything that is not our convention (someone else's state,
    /// a truncated value, a phone number smuggled into the id) is refused.
    pub fn decode(encoded: &str) -> Result<Self, ClientStateError> {
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(ClientStateError::Undecodable);
        }
        let json = STANDARD
            .decode(encoded.trim())
            .map_err(|_| ClientStateError::Undecodable)?;
        let wire: Wire<'_> =
            serde_json::from_slice(&json).map_err(|_| ClientStateError::Undecodable)?;
        ClientState::new(wire.escalation.into_owned(), wire.attempt, wire.leg)
    }
}

impl Serialize for ClientState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The `command_id` of one command. Telnyx ignores a second command with the same id on the
/// same leg (and a second dial with the same id) for 60 seconds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CommandId(String);

impl CommandId {
    /// `"{escalation}:{attempt}:{step}"`, e.g. `esc_01J…:2:gather`. `step` names the command's
    /// place in the escalation (`dial`, `brief`, `gather`, `dial_b`, `bridge`, …) and must be
    /// unique within one attempt.
    pub fn new(escalation: &str, attempt: u32, step: &str) -> Self {
        CommandId(format!("{escalation}:{attempt}:{step}"))
    }

    /// An id built some other way, used as is.
    pub fn from_raw(id: impl Into<String>) -> Self {
        CommandId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_doc_example_round_trips() {
        let state = ClientState::new("esc_1", 1, LegRole::A).unwrap();
        // The value shown in docs/telnyx.md §3.1.
        assert_eq!(state.encode(), "eyJlIjoiZXNjXzEiLCJhIjoxLCJsIjoiQSJ9");
        assert_eq!(ClientState::decode(&state.encode()), Ok(state.clone()));
        let b = state.with_leg(LegRole::B);
        assert_eq!(ClientState::decode(&b.encode()).unwrap().leg(), LegRole::B);
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::Value::String(b.encode())
        );
    }

    #[test]
    fn the_largest_state_stays_under_the_ceiling() {
        let longest = "e".repeat(MAX_ESCALATION_LEN);
        let state = ClientState::new(longest, u32::MAX, LegRole::B).unwrap();
        let encoded = state.encode();
        assert!(encoded.len() <= 128, "{} bytes", encoded.len());
        assert!(encoded.len() <= MAX_ENCODED_LEN);
        assert_eq!(ClientState::decode(&encoded), Ok(state));
    }

    #[test]
    fn phone_numbers_names_and_long_ids_are_refused() {
        for bad in [
            "+15551230001",
            "Jane Doe",
            "ticket: db down",
            "esc/1",
            "ésc",
        ] {
            assert_eq!(
                ClientState::new(bad, 1, LegRole::A),
                Err(ClientStateError::EscalationCharacters),
                "{bad}"
            );
        }
        assert_eq!(
            ClientState::new("", 1, LegRole::A),
            Err(ClientStateError::EscalationLength)
        );
        assert_eq!(
            ClientState::new("e".repeat(MAX_ESCALATION_LEN + 1), 1, LegRole::A),
            Err(ClientStateError::EscalationLength)
        );
    }

    #[test]
    fn foreign_or_damaged_states_do_not_decode() {
        let other_app = STANDARD.encode(br#"{"step":"menu"}"#);
        let smuggled = STANDARD.encode(br#"{"e":"+15551230001","a":1,"l":"A"}"#);
        let unknown_leg = STANDARD.encode(br#"{"e":"esc_1","a":1,"l":"C"}"#);
        let telnyx_example = "aGF2ZSBhIG5pY2UgZGF5ID1d"; // "have a nice day =]"
        for bad in [
            "",
            "not base64!",
            "eyJlIjoiZXNjXzEiLCJhIjoxLCJsIjoiQSJ",
            telnyx_example,
            &other_app,
            &smuggled,
            &unknown_leg,
        ] {
            assert!(ClientState::decode(bad).is_err(), "{bad}");
        }
        assert!(ClientState::decode(&"A".repeat(MAX_ENCODED_LEN + 4)).is_err());
    }

    #[test]
    fn command_ids_are_deterministic() {
        let id = CommandId::new("esc_01J9", 2, "gather");
        assert_eq!(id.as_str(), "esc_01J9:2:gather");
        assert_eq!(id, CommandId::new("esc_01J9", 2, "gather"));
        assert_ne!(id, CommandId::new("esc_01J9", 3, "gather"));
        assert_eq!(serde_json::to_value(&id).unwrap(), "esc_01J9:2:gather");
    }
}
