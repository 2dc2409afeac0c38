//! Live call routing: calls *to* Klaxon's number (docs/inbound-calls.md).
//!
//! Telnyx sends `call.initiated` with direction `incoming` to the Call Control app's webhook
//! (`/webhooks/voice`); Klaxon answers, greets, and on 1 starts an escalation under the
//! inbound policy whose "connect" bridges the caller's own leg to the person who takes it.
//! A message (2, silence, or nobody reached) is recorded and transcribed by Telnyx
//! (`record_start` with `transcription`, docs/telnyx.md §3.10) and becomes a `call.message`
//! event.
//!
//! - [`machine`]: the call's state machine (pure), tested as a table.
//! - [`words`]: what the caller hears.
//! - `calls`: the I/O around the machine: which webhook belongs to which call, one step at a
//!   time per call, each transition persisted (with the escalation or the message event it
//!   creates) before its commands are sent.
//!
//! Every call's state lives in the store (`inbound_calls`, migration 0015); a duplicate
//! webhook is dropped by its id, and a repeated one that got through is an input the
//! machine ignores. What it does not do: serialize one call's steps across nodes sharing a
//! PostgreSQL store (a per-call lock in this process does it on one node).

mod calls;
pub mod machine;
pub mod words;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::InboundId;
use crate::voice::settings::{Policy, VoiceSettings};

/// The policy a caller's 1 rings when the settings name none.
pub const DEFAULT_POLICY: &str = "oncall";

/// Answers calls to Klaxon's number; lives in the escalation engine, which hands it the
/// events of callers' legs.
pub struct Inbound {
    /// The policy's name, as escalations record it.
    policy_name: String,
    /// `None` when no such policy is configured: a caller's 1 then reaches nobody, and the
    /// caller is told so and may leave a message.
    policy: Option<Policy>,
    /// One step at a time per call within this process.
    locks: Mutex<HashMap<InboundId, Arc<tokio::sync::Mutex<()>>>>,
}

impl Inbound {
    pub fn new(policy_name: impl Into<String>, policy: Option<Policy>) -> Inbound {
        Inbound {
            policy_name: policy_name.into(),
            policy,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The inbound policy of the settings, resolved.
    pub fn from_settings(settings: &VoiceSettings) -> Inbound {
        let name = settings.inbound_policy.clone();
        let policy = settings.policies.get(&name).cloned();
        Inbound::new(name, policy)
    }
}
