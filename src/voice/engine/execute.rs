//! Turning the machine's actions into carrier commands: each dial claimed in the store just
//! before it is sent, and what every command produced (a leg, a timeline line, inputs fed
//! back to the machine).

use serde_json::json;

use super::EngineHandle;
use crate::store::{DialClaim, Dialling, EscalationId, NewDial, NewLeg, TimelineEntry};
use crate::voice::carrier::{CarrierError, CommandRef, Detection};
use crate::voice::escalation::machine::{Action, Heard, Input, Leg, State};
use crate::voice::escalation::plan::Plan;
use crate::voice::settings::Voicemail;
use crate::voice::{script, spoken, timeline};

impl EngineHandle {
    pub(super) async fn execute(
        &self,
        id: EscalationId,
        plan: &Plan,
        state: &State,
        (seq, why): (u32, Dialling),
        action: &Action,
    ) -> Executed {
        let carrier = &self.shared.carrier;
        let escalation = id.to_string();
        match action {
            Action::DialA { attempt, slot } => {
                let command = CommandRef::new(&escalation, *attempt, None, "dial_a", Leg::A);
                let claim = self.claim(id, (*attempt, Leg::A, 1), &command, why);
                if let Err(refused) = claim.await {
                    return refused;
                }
                let amd = match plan.rules.voicemail {
                    Voicemail::HangUp => Detection::Verdict,
                    Voicemail::LeaveMessage => Detection::VerdictAndBeep,
                };
                let dialled = carrier
                    .dial(&command, &slot.number, slot.ring_timeout_secs, None, amd)
                    .await;
                self.dialled(action, &command, &slot.number, dialled, (*attempt, Leg::A))
            }
            Action::DialB {
                attempt,
                connect,
                link_to,
            } => {
                let command = CommandRef::new(&escalation, *attempt, Some(seq), "dial_b", Leg::B);
                let target = plan.connect_to.as_deref().or(state.connect_to.as_deref());
                let Some(to) = target else {
                    return Executed::feedback(Input::DialFailed {
                        attempt: *attempt,
                        leg: Leg::B,
                        reason: "no connect target".into(),
                    });
                };
                let claim = self.claim(id, (*attempt, Leg::B, *connect), &command, why);
                if let Err(refused) = claim.await {
                    return refused;
                }
                let dialled = carrier
                    .dial(&command, to, 30, Some(link_to), Detection::Verdict)
                    .await;
                self.dialled(action, &command, to, dialled, (*attempt, Leg::B))
            }
            Action::Speak {
                attempt,
                leg,
                call,
                tag,
                text,
            } => {
                let command = CommandRef::new(&escalation, *attempt, Some(seq), tag, *leg);
                let subject = plan.briefing.headline();
                let words = script::Words {
                    role: &plan.rules.role,
                    subject: &subject,
                };
                let words = spoken::speakable(&script::speech(*text, words));
                let result = carrier.speak(&command, call, &words).await;
                self.after_command(action, &command, result, *attempt, *leg)
            }
            Action::Menu {
                attempt,
                call,
                round,
                briefing,
            } => {
                if *round == 1 {
                    // Listen for "connect me" while the menu plays; keypad works regardless.
                    let command =
                        CommandRef::new(&escalation, *attempt, Some(seq), "listen", Leg::A);
                    if let Err(error) = carrier.listen(&command, call).await {
                        tracing::warn!(%error, escalation = %id, "speech recognition could not start; keypad only");
                    }
                }
                let command = CommandRef::new(&escalation, *attempt, Some(seq), "menu", Leg::A);
                let briefing = match (briefing, &state.briefing) {
                    (Heard::Model, Some(text)) => text.clone(),
                    _ => plan.briefing.template_with(state.found.as_ref()),
                };
                let can_connect = plan.connect_to.is_some() || state.connect_to.is_some();
                let words = spoken::speakable(&script::menu(&briefing, can_connect));
                let result = carrier.menu(&command, call, &words).await;
                self.after_command(action, &command, result, *attempt, Leg::A)
            }
            Action::Bridge { attempt, a, b } => {
                let command = CommandRef::new(&escalation, *attempt, Some(seq), "bridge", Leg::A);
                let result = carrier.bridge(&command, a, b).await;
                self.after_command(action, &command, result, *attempt, Leg::A)
            }
            Action::Hangup { attempt, leg, call } => {
                let command = CommandRef::new(&escalation, *attempt, Some(seq), "hangup", *leg);
                let result = match carrier.hangup(&command, call).await {
                    // Already gone is what a hang-up wants.
                    Err(CarrierError::Gone) => Ok(()),
                    other => other,
                };
                Executed {
                    timeline: Some(timeline::action_line(
                        action,
                        &command,
                        result.as_ref().map(|_| ()),
                    )),
                    leg: None,
                    feedback: Vec::new(),
                }
            }
            // Recorded when decided, in `step_held`.
            Action::Finish(_) | Action::CallEnded { .. } => Executed::none(),
        }
    }

    /// What a dial produced: the leg it placed, or the failure fed back to the machine.
    fn dialled(
        &self,
        action: &Action,
        command: &CommandRef,
        to: &str,
        result: Result<String, CarrierError>,
        (attempt, leg): (u32, Leg),
    ) -> Executed {
        match result {
            Ok(call_control_id) => Executed {
                timeline: Some(timeline::dial_line(action, command, to, Ok(()))),
                leg: Some(new_leg(command, attempt, &call_control_id)),
                feedback: vec![Input::Dialed {
                    attempt,
                    leg,
                    call_control_id,
                }],
            },
            Err(error) => Executed {
                timeline: Some(timeline::dial_line(action, command, to, Err(&error))),
                leg: None,
                feedback: vec![Input::DialFailed {
                    attempt,
                    leg,
                    reason: error.to_string(),
                }],
            },
        }
    }

    /// Claims a dial in the store before it is sent; `Err` carries what to record instead
    /// when it must not be sent. A recovery that finds the claimed dial's leg recorded picks
    /// that leg up rather than ringing again (the state that forgot it was overwritten).
    async fn claim(
        &self,
        id: EscalationId,
        (attempt, leg, n): (u32, Leg, u32),
        command: &CommandRef,
        why: Dialling,
    ) -> Result<(), Executed> {
        let dial = NewDial {
            escalation: id,
            attempt,
            leg: timeline::leg_name(leg),
            n,
            command_id: command.command_id.clone(),
            why,
        };
        let note = |event: &str, detail: serde_json::Value| {
            timeline::dial_note(event, leg, attempt, command, detail)
        };
        let refused = match self.shared.store.claim_dial(dial).await {
            Ok(DialClaim::Claimed | DialClaim::Resend) => return Ok(()),
            Ok(DialClaim::Refused(claim)) => claim,
            Err(error) => {
                // Unclaimed, the dial may not go out. Leg A's state still says it is due, so
                // a resume (start-up, take-over, or the quiet check) claims and sends it;
                // leg B fails now, so the person on the line hears so and may try again.
                tracing::error!(%error, escalation = %id, attempt, ?leg, "could not claim a dial; not sent");
                let reason = format!("the dial could not be claimed: {error}");
                let line = note("dial not sent", json!({ "error": reason }));
                return Err(Executed {
                    timeline: Some(line),
                    leg: None,
                    feedback: match leg {
                        Leg::A => Vec::new(),
                        Leg::B => vec![Input::DialFailed {
                            attempt,
                            leg,
                            reason,
                        }],
                    },
                });
            }
        };
        tracing::warn!(escalation = %id, attempt, ?leg, claimed_by = %refused.node, "dial already claimed; not sent again");
        let line = note(
            "dial already claimed; not sent again",
            json!({ "claimed_by": refused.node, "claimed_as": refused.command_id }),
        );
        let feedback = match refused.placed {
            Some(call_control_id) if why == Dialling::Recovered => vec![Input::Dialed {
                attempt,
                leg,
                call_control_id,
            }],
            _ => Vec::new(),
        };
        Err(Executed {
            timeline: Some(line),
            leg: None,
            feedback,
        })
    }

    /// Records a command's result; a leg that is gone feeds a hang-up, since its webhook
    /// may be late or lost.
    fn after_command(
        &self,
        action: &Action,
        command: &CommandRef,
        result: Result<(), CarrierError>,
        attempt: u32,
        leg: Leg,
    ) -> Executed {
        let gone = matches!(result, Err(CarrierError::Gone));
        Executed {
            timeline: Some(timeline::action_line(
                action,
                command,
                result.as_ref().map(|_| ()),
            )),
            leg: None,
            feedback: if gone {
                vec![Input::HungUp {
                    attempt,
                    leg,
                    cause: "call already ended".into(),
                }]
            } else {
                Vec::new()
            },
        }
    }
}

/// What executing an action produced.
pub(super) struct Executed {
    pub(super) timeline: Option<TimelineEntry>,
    pub(super) leg: Option<NewLeg>,
    pub(super) feedback: Vec<Input>,
}

impl Executed {
    fn none() -> Executed {
        Executed {
            timeline: None,
            leg: None,
            feedback: Vec::new(),
        }
    }

    fn feedback(input: Input) -> Executed {
        Executed {
            timeline: None,
            leg: None,
            feedback: vec![input],
        }
    }
}

/// The leg a dial placed, tied to the command (and so the claim) that placed it.
fn new_leg(command: &CommandRef, attempt: u32, call_control_id: &str) -> NewLeg {
    NewLeg {
        call_control_id: call_control_id.to_owned(),
        attempt,
        leg: timeline::leg_name(command.leg),
        command_id: command.command_id.clone(),
    }
}
