//! Phone escalation over Telnyx Call Control.
//!
//! - [`settings`]: the carrier account, policies and people, validated.
//! - [`sms`]: steps that text before or instead of calling, and replies that acknowledge.
//! - [`destination`]: a pipeline's `voice` destination, as declared.
//! - [`escalation`]: who to ring next and what to do with what they say (pure).
//! - [`engine`]: runs escalations, persisting each transition before acting on it.
//! - [`carrier`]: the call operations the engine needs, as Telnyx commands.
//! - [`telnyx`]: the Telnyx Call Control client and webhook events.
//! - [`inbound`]: calls to Klaxon's number: greeting, press 1 to reach on-call (bridged),
//!   or leave a transcribed message.
//! - [`enrich`]: what is looked up while the phone rings (the contact to connect, names).
//! - [`script`]: the words said on a call.
//! - [`spoken`]: the last check on every spoken text: no ids, addresses or numbers.
//! - [`timeline`]: what happened on the calls, in words a person reads.
//! - [`webhook`]: call events → escalation inputs.

pub mod carrier;
pub mod destination;
pub mod engine;
pub mod enrich;
pub mod escalation;
pub mod inbound;
pub mod script;
pub mod settings;
pub mod sms;
pub mod spoken;
pub mod telnyx;
pub mod timeline;
pub mod webhook;

pub use engine::EngineHandle;
