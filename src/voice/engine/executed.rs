//! What running one action produced, decided from the carrier's answer alone (no I/O here):
//! a timeline line, the leg a dial placed, and the inputs fed back to the machine.

use serde_json::json;

use crate::store::{ClaimedDial, Dialling, NewLeg, TimelineEntry};
use crate::voice::carrier::{CarrierError, CommandRef};
use crate::voice::escalation::machine::{Action, Input, Leg};
use crate::voice::timeline;

/// What executing an action produced.
#[derive(Debug)]
pub(super) struct Executed {
    /// In order: a schedule's resolution (when the slot named one), then the command's line.
    pub(super) timeline: Vec<TimelineEntry>,
    pub(super) leg: Option<NewLeg>,
    pub(super) feedback: Vec<Input>,
}

impl Executed {
    /// Nothing to record (an action recorded when it was decided).
    pub(super) fn none() -> Executed {
        Executed {
            timeline: Vec::new(),
            leg: None,
            feedback: Vec::new(),
        }
    }

    /// Only an input for the machine.
    pub(super) fn feedback(input: Input) -> Executed {
        Executed {
            feedback: vec![input],
            ..Executed::none()
        }
    }

    /// What a dial produced: the leg it placed, or the failure fed back to the machine.
    pub(super) fn dialled(
        action: &Action,
        command: &CommandRef,
        to: &str,
        result: Result<String, CarrierError>,
        attempt: u32,
    ) -> Executed {
        let leg = command.leg;
        match result {
            Ok(call_control_id) => Executed {
                timeline: vec![timeline::dial_line(action, command, to, Ok(()))],
                leg: Some(new_leg(command, attempt, &call_control_id)),
                feedback: vec![Input::Dialed {
                    attempt,
                    leg,
                    call_control_id,
                }],
            },
            Err(error) => Executed {
                timeline: vec![timeline::dial_line(action, command, to, Err(&error))],
                leg: None,
                feedback: vec![Input::DialFailed {
                    attempt,
                    leg,
                    reason: error.to_string(),
                }],
            },
        }
    }

    /// A command's result; a leg that is gone feeds a hang-up, since its webhook may be
    /// late or lost.
    pub(super) fn commanded(
        action: &Action,
        command: &CommandRef,
        result: Result<(), CarrierError>,
        attempt: u32,
    ) -> Executed {
        let gone = matches!(result, Err(CarrierError::Gone));
        Executed {
            timeline: vec![timeline::action_line(
                action,
                command,
                result.as_ref().map(|_| ()),
            )],
            leg: None,
            feedback: if gone {
                vec![Input::HungUp {
                    attempt,
                    leg: command.leg,
                    cause: "call already ended".into(),
                }]
            } else {
                Vec::new()
            },
        }
    }

    /// A dial that could not be claimed (the store failed) is not sent. Leg A's state still
    /// says it is due, so a resume (start-up, take-over, or the quiet check) claims and sends
    /// it; leg B fails now, so the person on the line hears so and may try again.
    pub(super) fn unclaimed(command: &CommandRef, attempt: u32, reason: String) -> Executed {
        let leg = command.leg;
        let line = timeline::dial_note(
            "dial not sent",
            leg,
            attempt,
            command,
            json!({ "error": reason }),
        );
        Executed {
            timeline: vec![line],
            leg: None,
            feedback: match leg {
                Leg::A => Vec::new(),
                Leg::B => vec![Input::DialFailed {
                    attempt,
                    leg,
                    reason,
                }],
            },
        }
    }

    /// A dial claimed before (by another node, or by the step a crash cut short) is not sent
    /// again. A recovery that finds the claimed dial's leg recorded picks that leg up rather
    /// than ringing again (the state that forgot it was overwritten).
    pub(super) fn already_claimed(
        command: &CommandRef,
        attempt: u32,
        claim: ClaimedDial,
        why: Dialling,
    ) -> Executed {
        let leg = command.leg;
        let line = timeline::dial_note(
            "dial already claimed; not sent again",
            leg,
            attempt,
            command,
            json!({ "claimed_by": claim.node, "claimed_as": claim.command_id }),
        );
        let feedback = match claim.placed {
            Some(call_control_id) if why == Dialling::Recovered => vec![Input::Dialed {
                attempt,
                leg,
                call_control_id,
            }],
            _ => Vec::new(),
        };
        Executed {
            timeline: vec![line],
            leg: None,
            feedback,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::escalation::machine::Slot;

    const ESCALATION: &str = "esc_0190c3a27d1e70008000000000000001";

    fn dial_a() -> (Action, CommandRef) {
        let slot = Slot {
            number: "+15551000001".into(),
            name: None,
            ring_timeout_secs: 30,
            group: None,
            sms: None,
            schedule: None,
        };
        let action = Action::DialA { attempt: 1, slot };
        (
            action,
            CommandRef::new(ESCALATION, 1, None, "dial_a", Leg::A),
        )
    }

    fn dial_b() -> CommandRef {
        CommandRef::new(ESCALATION, 1, Some(7), "dial_b", Leg::B)
    }

    #[test]
    fn a_placed_dial_records_its_leg_under_the_command_that_placed_it() {
        let (action, command) = dial_a();
        let placed = Executed::dialled(&action, &command, "+15551000001", Ok("v3:a".into()), 1);
        let leg = placed.leg.expect("a leg");
        assert_eq!((leg.call_control_id.as_str(), leg.leg), ("v3:a", "A"));
        assert_eq!(leg.command_id, command.command_id);
        assert_eq!(
            placed.feedback,
            vec![Input::Dialed {
                attempt: 1,
                leg: Leg::A,
                call_control_id: "v3:a".into()
            }]
        );
        assert!(!placed.timeline.is_empty());
    }

    #[test]
    fn a_failed_dial_places_no_leg_and_tells_the_machine_why() {
        let (action, command) = dial_a();
        let failed = Executed::dialled(
            &action,
            &command,
            "+15551000001",
            Err(CarrierError::Failed("busy".into())),
            1,
        );
        assert!(failed.leg.is_none());
        assert_eq!(
            failed.feedback,
            vec![Input::DialFailed {
                attempt: 1,
                leg: Leg::A,
                reason: "busy".into()
            }]
        );
    }

    #[test]
    fn a_command_to_a_call_that_is_gone_feeds_its_hang_up() {
        let speak = CommandRef::new(ESCALATION, 2, Some(3), "opening", Leg::A);
        let action = Action::Hangup {
            attempt: 2,
            leg: Leg::A,
            call: "v3:a".into(),
        };
        let gone = Executed::commanded(&action, &speak, Err(CarrierError::Gone), 2);
        assert_eq!(
            gone.feedback,
            vec![Input::HungUp {
                attempt: 2,
                leg: Leg::A,
                cause: "call already ended".into()
            }]
        );
        let failed = Executed::commanded(&action, &speak, Err(CarrierError::Failed("x".into())), 2);
        assert!(failed.feedback.is_empty(), "a failure is recorded, not fed");
        assert!(!failed.timeline.is_empty());
        assert!(
            Executed::commanded(&action, &speak, Ok(()), 2)
                .feedback
                .is_empty()
        );
    }

    #[test]
    fn an_unclaimed_dial_waits_for_a_resume_on_leg_a_and_fails_on_leg_b() {
        let (_, a) = dial_a();
        assert!(
            Executed::unclaimed(&a, 1, "store down".into())
                .feedback
                .is_empty()
        );
        assert_eq!(
            Executed::unclaimed(&dial_b(), 1, "store down".into()).feedback,
            vec![Input::DialFailed {
                attempt: 1,
                leg: Leg::B,
                reason: "store down".into()
            }]
        );
    }

    #[test]
    fn only_a_recovery_picks_up_the_leg_of_a_dial_claimed_before() {
        let (_, command) = dial_a();
        let claim = || ClaimedDial {
            command_id: command.command_id.clone(),
            node: "node-1".into(),
            placed: Some("v3:a".into()),
        };
        let recovered = Executed::already_claimed(&command, 1, claim(), Dialling::Recovered);
        assert_eq!(
            recovered.feedback,
            vec![Input::Dialed {
                attempt: 1,
                leg: Leg::A,
                call_control_id: "v3:a".into()
            }]
        );
        let decided = Executed::already_claimed(&command, 1, claim(), Dialling::Decided);
        assert!(
            decided.feedback.is_empty(),
            "another step placed it and drives it"
        );
        assert!(decided.leg.is_none() && !decided.timeline.is_empty());
    }
}
