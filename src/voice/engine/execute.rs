//! Turning the machine's actions into carrier commands, one named piece per action: each
//! dial claimed in the store just before it is sent ([`super::claim`]), and what every
//! command produced judged by [`Executed`]. The words said are decided by the pure helpers
//! at the end.

use super::EngineHandle;
use super::executed::Executed;
use crate::store::{Dialling, EscalationId};
use crate::voice::carrier::{CarrierError, CommandRef, Detection};
use crate::voice::escalation::machine::{Action, Heard, Input, Leg, Slot, Speech, State};
use crate::voice::escalation::plan::Plan;
use crate::voice::settings::Voicemail;
use crate::voice::sms::Texting;
use crate::voice::{script, spoken};

/// How long a connect target's phone rings.
const CONNECT_RING_SECS: u32 = 30;

/// What an action runs with: the escalation, its plan and state, and the action's command
/// number and why it runs.
pub(super) struct Context<'a> {
    pub(super) id: EscalationId,
    pub(super) plan: &'a Plan,
    pub(super) state: &'a State,
    pub(super) seq: u32,
    pub(super) why: Dialling,
}

impl Context<'_> {
    /// The command of `tag` on `attempt`'s `leg`. Leg A's dial has no sequence number: one
    /// per attempt, so a re-send after a crash is the same command.
    fn command(&self, attempt: u32, tag: &str, leg: Leg) -> CommandRef {
        let seq = (tag != "dial_a").then_some(self.seq);
        CommandRef::new(&self.id.to_string(), attempt, seq, tag, leg)
    }
}

impl EngineHandle {
    pub(super) async fn execute(&self, at: &Context<'_>, action: &Action) -> Executed {
        match action {
            Action::DialA { attempt, slot } => self.dial_a(at, action, *attempt, slot).await,
            Action::DialB {
                attempt,
                connect,
                link_to,
            } => self.dial_b(at, action, (*attempt, *connect), link_to).await,
            Action::Speak {
                attempt,
                leg,
                call,
                tag,
                text,
            } => {
                let command = at.command(*attempt, tag, *leg);
                let words = speech_words(at.plan, *text);
                let result = self.shared.carrier.speak(&command, call, &words).await;
                Executed::commanded(action, &command, result, *attempt)
            }
            Action::Menu {
                attempt,
                call,
                round,
                briefing,
            } => {
                self.menu(at, action, (*attempt, *round), call, *briefing)
                    .await
            }
            Action::Bridge { attempt, a, b } => {
                let command = at.command(*attempt, "bridge", Leg::A);
                let result = self.shared.carrier.bridge(&command, a, b).await;
                Executed::commanded(action, &command, result, *attempt)
            }
            Action::Hangup { attempt, leg, call } => {
                let command = at.command(*attempt, "hangup", *leg);
                let result = match self.shared.carrier.hangup(&command, call).await {
                    // Already gone is what a hang-up wants.
                    Err(CarrierError::Gone) => Ok(()),
                    other => other,
                };
                Executed::commanded(action, &command, result, *attempt)
            }
            // Recorded when decided, in `step::decide`.
            Action::Finish(_) | Action::CallEnded { .. } => Executed::none(),
        }
    }

    /// Rings the slot of `attempt`, once claimed; texts first, or instead, when its step
    /// says so.
    async fn dial_a(
        &self,
        at: &Context<'_>,
        action: &Action,
        attempt: u32,
        slot: &Slot,
    ) -> Executed {
        // A `schedule:` slot is resolved first: its text and its call go to whoever is on
        // call now.
        let (number, resolved) = match self.ring_now(slot, attempt) {
            Ok(ring) => ring,
            Err(nobody) => {
                return Executed {
                    timeline: vec![nobody.line],
                    leg: None,
                    feedback: vec![Input::DialFailed {
                        attempt,
                        leg: Leg::A,
                        reason: nobody.reason,
                    }],
                };
            }
        };
        let resolved_slot;
        let slot = if slot.number == number {
            slot
        } else {
            resolved_slot = Slot {
                number: number.clone(),
                ..slot.clone()
            };
            &resolved_slot
        };
        match slot.sms {
            Some(Texting::Instead) => {
                let mut executed = self.text_instead(at, attempt, slot).await;
                if let Some(line) = resolved {
                    executed.timeline.insert(0, line);
                }
                return executed;
            }
            // The call goes ahead whatever became of the text; its line says.
            Some(Texting::Before) => {
                let _texted = self.text(at, attempt, slot, true).await;
            }
            None => {}
        }
        let command = at.command(attempt, "dial_a", Leg::A);
        let mut executed = match self.claim(at.id, (attempt, 1), &command, at.why).await {
            Err(refused) => refused,
            Ok(()) => {
                let detection = detection(at.plan.rules.voicemail);
                let dialled = self
                    .shared
                    .carrier
                    .dial(&command, &number, slot.ring_timeout_secs, None, detection)
                    .await;
                Executed::dialled(action, &command, &number, dialled, attempt)
            }
        };
        if let Some(line) = resolved {
            executed.timeline.insert(0, line);
        }
        executed
    }

    /// Rings the connect target, linked to leg A, once claimed (`connect`: which try).
    async fn dial_b(
        &self,
        at: &Context<'_>,
        action: &Action,
        (attempt, connect): (u32, u32),
        link_to: &str,
    ) -> Executed {
        let command = at.command(attempt, "dial_b", Leg::B);
        let Some(to) = connect_target(at.plan, at.state) else {
            return Executed::feedback(Input::DialFailed {
                attempt,
                leg: Leg::B,
                reason: "no connect target".into(),
            });
        };
        if let Err(refused) = self
            .claim(at.id, (attempt, connect), &command, at.why)
            .await
        {
            return refused;
        }
        let dialled = self
            .shared
            .carrier
            .dial(
                &command,
                to,
                CONNECT_RING_SECS,
                Some(link_to),
                Detection::Verdict,
            )
            .await;
        Executed::dialled(action, &command, to, dialled, attempt)
    }

    /// Plays the menu with the briefing; on its first round, also listens for "connect me"
    /// (the keypad works regardless).
    async fn menu(
        &self,
        at: &Context<'_>,
        action: &Action,
        (attempt, round): (u32, u32),
        call: &str,
        heard: Heard,
    ) -> Executed {
        let carrier = &self.shared.carrier;
        if round == 1 {
            let command = at.command(attempt, "listen", Leg::A);
            if let Err(error) = carrier.listen(&command, call).await {
                tracing::warn!(%error, escalation = %at.id, "speech recognition could not start; keypad only");
            }
        }
        let command = at.command(attempt, "menu", Leg::A);
        let words = menu_words(at.plan, at.state, heard);
        let result = carrier.menu(&command, call, &words).await;
        Executed::commanded(action, &command, result, attempt)
    }
}

/// What the carrier listens for on leg A: a voicemail rule that leaves a message also waits
/// for the greeting's beep.
fn detection(voicemail: Voicemail) -> Detection {
    match voicemail {
        Voicemail::HangUp => Detection::Verdict,
        Voicemail::LeaveMessage => Detection::VerdictAndBeep,
    }
}

/// Who "connect me" reaches: the plan's target, else the one found while the phone rang.
fn connect_target<'a>(plan: &'a Plan, state: &'a State) -> Option<&'a str> {
    plan.connect_to.as_deref().or(state.connect_to.as_deref())
}

/// A line of the script, with the policy's role and the event's headline, made speakable.
fn speech_words(plan: &Plan, text: Speech) -> String {
    let subject = plan.briefing.headline();
    let words = script::Words {
        role: &plan.rules.role,
        subject: &subject,
    };
    spoken::speakable(&script::speech(text, words))
}

/// The menu: the briefing the person hears (the model's when it was written and chosen,
/// else the template), and "connect" only when there is someone to connect to.
fn menu_words(plan: &Plan, state: &State, heard: Heard) -> String {
    let briefing = match (heard, &state.briefing) {
        (Heard::Model, Some(text)) => text.clone(),
        _ => plan.briefing.template_with(state.found.as_ref()),
    };
    let can_connect = connect_target(plan, state).is_some() || state.caller.is_some();
    spoken::speakable(&script::menu(&briefing, can_connect))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::escalation::machine::CallRules;
    use crate::voice::escalation::plan::BriefingContext;

    fn plan(connect_to: Option<&str>) -> Plan {
        Plan {
            slots: Vec::new(),
            rules: CallRules::default(),
            connect_to: connect_to.map(str::to_owned),
            briefing: BriefingContext {
                event_type: "support.ticket.created".into(),
                prompt: "Brief the engineer.".into(),
                title: Some("Checkout down".into()),
                customer: None,
                facts: Vec::new(),
            },
            merge_ticket: None,
            merge_deal: None,
        }
    }

    #[test]
    fn leaving_a_message_also_waits_for_the_beep() {
        assert_eq!(detection(Voicemail::HangUp), Detection::Verdict);
        assert_eq!(
            detection(Voicemail::LeaveMessage),
            Detection::VerdictAndBeep
        );
    }

    #[test]
    fn the_plans_connect_target_comes_before_the_one_found_while_ringing() {
        let found = State {
            connect_to: Some("+15552000002".into()),
            ..State::new()
        };
        assert_eq!(
            connect_target(&plan(Some("+15552000001")), &found),
            Some("+15552000001")
        );
        assert_eq!(connect_target(&plan(None), &found), Some("+15552000002"));
        assert_eq!(connect_target(&plan(None), &State::new()), None);
    }

    #[test]
    fn the_menu_reads_the_models_briefing_only_when_chosen_and_offers_connect_when_possible() {
        let state = State {
            briefing: Some("The checkout is down for everyone.".into()),
            ..State::new()
        };
        let model = menu_words(&plan(None), &state, Heard::Model);
        assert!(
            model.starts_with("The checkout is down for everyone."),
            "{model}"
        );
        assert!(!model.contains("connect me"), "{model}");
        let template = menu_words(&plan(Some("+15552000001")), &state, Heard::Template);
        assert!(!template.contains("for everyone"), "{template}");
        assert!(template.contains("Say connect me"), "{template}");
        let unwritten = menu_words(&plan(None), &State::new(), Heard::Model);
        assert_eq!(
            unwritten,
            menu_words(&plan(None), &State::new(), Heard::Template)
        );
    }

    #[test]
    fn only_leg_as_dial_is_numbered_by_attempt_alone() {
        let at = Context {
            id: EscalationId::new(),
            plan: &plan(None),
            state: &State::new(),
            seq: 7,
            why: Dialling::Decided,
        };
        let dial = at.command(1, "dial_a", Leg::A).command_id;
        let menu = at.command(1, "menu", Leg::A).command_id;
        assert_eq!(dial, format!("{}:1:dial_a", at.id));
        assert_eq!(menu, format!("{}:1:7:menu", at.id));
    }
}
