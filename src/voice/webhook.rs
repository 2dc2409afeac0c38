//! Turns a Telnyx call event into an input of the escalation it belongs to.
//!
//! The escalation, attempt and leg come from `client_state` (our opaque id) when present,
//! else from the legs table by `call_control_id`: a webhook can arrive before the dial's
//! response, and `client_state` can be missing on some events.

use super::escalation::machine::{Amd, Choice, ChoiceBy, Input, Leg};
use super::telnyx::LegRole;
use super::telnyx::events::{CallEvent, CallEventKind, GatherStatus, SpeakStatus};
use crate::store::{EscalationId, Store};

/// The escalation and input for `event`, or `None` when it is not ours or means nothing to
/// the flow (e.g. `call.initiated`).
pub async fn route(store: &Store, event: &CallEvent) -> Option<(EscalationId, Input)> {
    let (escalation, attempt, leg) = owner(store, event).await?;
    let input = input(&event.kind, attempt, leg)?;
    Some((escalation, input))
}

async fn owner(store: &Store, event: &CallEvent) -> Option<(EscalationId, u32, Leg)> {
    if let Some(state) = &event.client_state
        && let Ok(id) = state.escalation().parse::<EscalationId>()
    {
        let leg = match state.leg() {
            LegRole::A => Leg::A,
            LegRole::B => Leg::B,
        };
        return Some((id, state.attempt(), leg));
    }
    let call = event.call_control_id.as_ref()?;
    let (id, attempt, leg) = store.find_leg(call.as_str().to_owned()).await.ok()??;
    Some((id, attempt, if leg == "B" { Leg::B } else { Leg::A }))
}

/// The machine's input for an event kind.
pub fn input(kind: &CallEventKind, attempt: u32, leg: Leg) -> Option<Input> {
    Some(match kind {
        CallEventKind::Answered => Input::Answered { attempt, leg },
        CallEventKind::MachineDetectionEnded { result }
        | CallEventKind::MachinePremiumDetectionEnded { result } => Input::MachineDetection {
            attempt,
            leg,
            result: if result.is_human() {
                Amd::Human
            } else if result.is_no_answer() {
                Amd::Machine
            } else {
                Amd::NotSure
            },
        },
        CallEventKind::Hangup { cause, .. } => Input::HungUp {
            attempt,
            leg,
            cause: cause.as_str().to_owned(),
        },
        // Heard to the end or cut short by detection: either way nothing more will play, so
        // a goodbye may hang up. A hang-up ends speeches too; its own event decides.
        CallEventKind::SpeakEnded { status } if *status != SpeakStatus::CallHangup => {
            Input::SpeechEnded { attempt, leg }
        }
        CallEventKind::GreetingEnded { .. } if leg == Leg::A => Input::GreetingEnded { attempt },
        CallEventKind::GatherEnded { digits, status } if leg == Leg::A => {
            let key = digits.get(..1).unwrap_or("");
            match Choice::from_digit(key) {
                Some(choice) => Input::Chose {
                    attempt,
                    choice,
                    by: ChoiceBy::Key(key.to_owned()),
                },
                // A hang-up ends the gather too; the hang-up event decides, not this one.
                None if *status == GatherStatus::CallHangup => return None,
                None => Input::MenuTimedOut { attempt },
            }
        }
        CallEventKind::Transcription {
            text,
            is_final: true,
            ..
        } if leg == Leg::A => Input::Chose {
            attempt,
            choice: Choice::from_speech(text)?,
            by: ChoiceBy::Speech(text.clone()),
        },
        CallEventKind::Bridged => Input::Bridged { attempt },
        _ => return None,
    })
}
