//! Each escalation path as a script of inputs and the actions it must produce. The rule
//! every script ends on: no call Klaxon placed is left up by it.

use super::*;

fn slot(number: &str, group: Option<u32>) -> Slot {
    Slot {
        number: number.to_owned(),
        name: None,
        ring_timeout_secs: 30,
        group,
        sms: None,
        schedule: None,
    }
}

struct Run {
    slots: Vec<Slot>,
    can_connect: bool,
    rules: CallRules,
    state: State,
}

impl Run {
    /// Each number rung alone, in order.
    fn new(numbers: &[&str]) -> Run {
        Run::with_slots(numbers.iter().map(|n| slot(n, None)).collect())
    }

    /// All numbers rung at once, as one group.
    fn parallel(numbers: &[&str]) -> Run {
        Run::with_slots(numbers.iter().map(|n| slot(n, Some(1))).collect())
    }

    fn with_slots(slots: Vec<Slot>) -> Run {
        Run {
            slots,
            can_connect: true,
            rules: CallRules::default(),
            state: State::new(),
        }
    }

    fn send(&mut self, input: Input) -> Vec<Action> {
        let machine = Machine {
            slots: &self.slots,
            can_connect: self.can_connect,
            rules: &self.rules,
        };
        machine.handle(&mut self.state, input)
    }

    /// Start, dial succeeds, A answers and AMD says human: the menu is on.
    fn reach_menu(&mut self) {
        self.send(Input::Start);
        self.answer(1);
        let menu = self.human(1);
        assert_eq!(menu, vec![menu_round(1, 1, Heard::Template)]);
        assert_eq!(self.speech_ended(1), vec![], "the opening was heard");
    }

    fn dialed(&mut self, attempt: u32) -> Vec<Action> {
        self.send(Input::Dialed {
            attempt,
            leg: Leg::A,
            call_control_id: call(attempt),
        })
    }

    /// The dial answers and the opening is spoken at once.
    fn answer(&mut self, attempt: u32) {
        self.dialed(attempt);
        let opening = self.send(Input::Answered {
            attempt,
            leg: Leg::A,
        });
        assert_eq!(opening, vec![speak(attempt, "opening", Speech::Opening)]);
    }

    fn human(&mut self, attempt: u32) -> Vec<Action> {
        self.amd(attempt, Amd::Human)
    }

    fn amd(&mut self, attempt: u32, result: Amd) -> Vec<Action> {
        self.send(Input::MachineDetection {
            attempt,
            leg: Leg::A,
            result,
        })
    }

    fn press(&mut self, attempt: u32, key: &str) -> Vec<Action> {
        self.send(Input::Chose {
            attempt,
            choice: Choice::from_digit(key).expect("a menu key"),
            by: ChoiceBy::Key(key.to_owned()),
        })
    }

    fn speech_ended(&mut self, attempt: u32) -> Vec<Action> {
        self.send(Input::SpeechEnded {
            attempt,
            leg: Leg::A,
        })
    }

    fn hung_up(&mut self, attempt: u32, leg: Leg, cause: &str) -> Vec<Action> {
        self.send(Input::HungUp {
            attempt,
            leg,
            cause: cause.into(),
        })
    }

    fn assert_nothing_left_up(&self) {
        assert!(
            !self.state.has_live_legs(),
            "calls left up: {:?}",
            self.state
        );
    }
}

fn call(attempt: u32) -> String {
    format!("a{attempt}")
}

fn dial(attempt: u32, number: &str) -> Action {
    dial_in(attempt, number, None)
}

fn dial_in(attempt: u32, number: &str, group: Option<u32>) -> Action {
    Action::DialA {
        attempt,
        slot: slot(number, group),
    }
}

fn speak(attempt: u32, tag: &'static str, text: Speech) -> Action {
    Action::Speak {
        attempt,
        leg: Leg::A,
        call: call(attempt),
        tag,
        text,
    }
}

fn hangup(attempt: u32) -> Action {
    Action::Hangup {
        attempt,
        leg: Leg::A,
        call: call(attempt),
    }
}

fn menu_round(attempt: u32, round: u32, briefing: Heard) -> Action {
    Action::Menu {
        attempt,
        call: call(attempt),
        round,
        briefing,
    }
}

#[test]
fn start_dials_the_first_slot_once() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    assert_eq!(run.send(Input::Start), vec![dial(1, "+15550001")]);
    assert_eq!(
        run.send(Input::Start),
        vec![],
        "a repeated start does nothing"
    );
}

#[test]
fn connect_me_is_a_warm_transfer_and_the_end_of_the_call_hangs_up_the_other_side() {
    let mut run = Run::new(&["+15550001"]);
    run.reach_menu();
    let actions = run.press(1, "1");
    assert_eq!(
        actions,
        vec![
            speak(1, "connecting", Speech::Connecting),
            Action::DialB {
                attempt: 1,
                connect: 1,
                link_to: call(1)
            },
        ]
    );
    run.send(Input::Dialed {
        attempt: 1,
        leg: Leg::B,
        call_control_id: "b1".into(),
    });
    let whisper = run.send(Input::Answered {
        attempt: 1,
        leg: Leg::B,
    });
    assert!(matches!(
        whisper[..],
        [Action::Speak {
            leg: Leg::B,
            text: Speech::Whisper,
            ..
        }]
    ));
    let bridge = run.send(Input::SpeechEnded {
        attempt: 1,
        leg: Leg::B,
    });
    assert_eq!(
        bridge,
        vec![Action::Bridge {
            attempt: 1,
            a: call(1),
            b: "b1".into()
        }]
    );
    assert_eq!(
        run.send(Input::Bridged { attempt: 1 }),
        vec![Action::Finish(Outcome::Connected)],
        "connected is decided when the bridge is made"
    );
    assert_eq!(run.state.outcome(), Some(Outcome::Connected));
    assert_eq!(run.send(Input::Bridged { attempt: 1 }), vec![], "once");
    // The customer hangs up: the engineer's leg is hung up too and the length written.
    let end = run.hung_up(1, Leg::B, "normal_clearing");
    assert_eq!(end, vec![hangup(1), Action::CallEnded { attempt: 1 }]);
    run.assert_nothing_left_up();
    assert_eq!(
        run.state.phase,
        Phase::Done {
            outcome: Outcome::Connected
        }
    );
}

#[test]
fn the_engineer_hanging_up_after_the_bridge_hangs_up_the_customer() {
    let mut run = Run::new(&["+15550001"]);
    run.reach_menu();
    run.press(1, "1");
    run.send(Input::Dialed {
        attempt: 1,
        leg: Leg::B,
        call_control_id: "b1".into(),
    });
    run.send(Input::Answered {
        attempt: 1,
        leg: Leg::B,
    });
    run.send(Input::SpeechEnded {
        attempt: 1,
        leg: Leg::B,
    });
    run.send(Input::Bridged { attempt: 1 });
    let end = run.hung_up(1, Leg::A, "normal_clearing");
    assert_eq!(
        end,
        vec![
            Action::Hangup {
                attempt: 1,
                leg: Leg::B,
                call: "b1".into()
            },
            Action::CallEnded { attempt: 1 }
        ]
    );
    run.assert_nothing_left_up();
}

#[test]
fn press_two_acknowledges_says_goodbye_and_hangs_up_when_it_was_heard() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    run.reach_menu();
    assert_eq!(
        run.press(1, "2"),
        vec![
            speak(1, "ack_goodbye", Speech::AcknowledgedGoodbye),
            Action::Finish(Outcome::Acknowledged),
        ]
    );
    assert_eq!(run.state.outcome(), Some(Outcome::Acknowledged));
    assert_eq!(run.speech_ended(1), vec![hangup(1)]);
    run.assert_nothing_left_up();
    assert_eq!(run.press(1, "1"), vec![], "nothing after the end");
}

#[test]
fn every_kind_of_not_reached_moves_on_and_ends_the_call_by_our_hand() {
    // (name, inputs after the dial, the actions that must include a hang-up of leg A)
    type Script = fn(&mut Run) -> Vec<Action>;
    let cases: [(&str, Script, bool); 5] = [
        ("no answer", |r| r.hung_up(1, Leg::A, "timeout"), false),
        ("busy", |r| r.hung_up(1, Leg::A, "user_busy"), false),
        ("declined", |r| r.hung_up(1, Leg::A, "call_rejected"), false),
        (
            "voicemail",
            |r| {
                r.answer(1);
                r.amd(1, Amd::Machine)
            },
            true,
        ),
        (
            "hung up during the opening",
            |r| {
                r.answer(1);
                r.hung_up(1, Leg::A, "normal_clearing")
            },
            false,
        ),
    ];
    for (name, script, we_hang_up) in cases {
        let mut run = Run::new(&["+15550001", "+15550002"]);
        run.send(Input::Start);
        run.dialed(1);
        let actions = script(&mut run);
        assert!(
            actions.contains(&dial(2, "+15550002")),
            "{name}: the next slot is dialled: {actions:?}"
        );
        assert_eq!(
            actions.contains(&hangup(1)),
            we_hang_up,
            "{name}: {actions:?}"
        );
        assert!(!actions.contains(&Action::Finish(Outcome::Acknowledged)));
        assert_eq!(run.state.calls.len(), 1, "{name}: only the new call is up");
    }
}

#[test]
fn silence_for_every_menu_round_says_goodbye_hangs_up_and_moves_on() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    run.reach_menu();
    assert_eq!(
        run.send(Input::MenuTimedOut { attempt: 1 }),
        vec![menu_round(1, 2, Heard::Template)]
    );
    assert_eq!(
        run.send(Input::MenuTimedOut { attempt: 1 }),
        vec![menu_round(1, 3, Heard::Template)]
    );
    let last = run.send(Input::MenuTimedOut { attempt: 1 });
    assert_eq!(
        last,
        vec![
            speak(1, "no_choice_goodbye", Speech::NoChoiceGoodbye),
            dial(2, "+15550002"),
        ]
    );
    // A late "connect me" after the last round changes nothing: the goodbye is under way.
    assert_eq!(run.press(1, "1"), vec![]);
    assert_eq!(run.speech_ended(1), vec![hangup(1)]);
    assert_eq!(run.state.calls.len(), 1);
}

#[test]
fn menu_rounds_are_bounded_even_for_a_callee_who_keeps_asking_to_repeat() {
    let mut run = Run::new(&["+15550001"]);
    run.rules.max_menu_rounds = 2;
    run.reach_menu();
    assert_eq!(run.press(1, "*"), vec![menu_round(1, 2, Heard::Template)]);
    let actions = run.press(1, "*");
    assert_eq!(
        actions,
        vec![
            speak(1, "no_choice_goodbye", Speech::NoChoiceGoodbye),
            Action::Finish(Outcome::Unreached),
        ]
    );
}

#[test]
fn without_a_connect_target_pressing_one_is_explained_once_and_the_loop_ends() {
    let mut run = Run::new(&["+15550001"]);
    run.can_connect = false;
    run.reach_menu();
    assert_eq!(
        run.press(1, "1"),
        vec![
            speak(1, "no_target", Speech::NoConnectTarget),
            menu_round(1, 2, Heard::Template),
        ]
    );
    assert_eq!(
        run.press(1, "1"),
        vec![menu_round(1, 3, Heard::Template)],
        "said once"
    );
    let end = run.press(1, "1");
    assert_eq!(
        end,
        vec![
            speak(1, "no_choice_goodbye", Speech::NoChoiceGoodbye),
            Action::Finish(Outcome::Unreached),
        ]
    );
    assert_eq!(
        run.speech_ended(1),
        vec![],
        "\"no one to connect\" was heard"
    );
    assert_eq!(run.speech_ended(1), vec![hangup(1)], "then the goodbye");
    run.assert_nothing_left_up();
}

#[test]
fn an_exhausted_chain_ends_unreached() {
    let mut run = Run::new(&["+15550001"]);
    run.send(Input::Start);
    run.dialed(1);
    assert_eq!(
        run.hung_up(1, Leg::A, "timeout"),
        vec![Action::Finish(Outcome::Unreached)]
    );
    run.assert_nothing_left_up();
}

#[test]
fn a_voicemail_gets_a_message_after_its_greeting_when_the_policy_says_so() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    run.rules.voicemail = Voicemail::LeaveMessage;
    run.send(Input::Start);
    run.answer(1);
    let actions = run.amd(1, Amd::Machine);
    assert_eq!(
        actions,
        vec![dial(2, "+15550002")],
        "the chain moves on at once; the box is not hung up yet"
    );
    assert_eq!(
        run.speech_ended(1),
        vec![],
        "the opening ended; still waiting"
    );
    assert_eq!(
        run.send(Input::GreetingEnded { attempt: 1 }),
        vec![speak(1, "voicemail", Speech::VoicemailMessage)]
    );
    assert_eq!(run.speech_ended(1), vec![hangup(1)]);
    assert_eq!(run.state.calls.len(), 1, "only the second call is up");
}

#[test]
fn late_and_duplicate_events_change_nothing() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    run.send(Input::Start);
    run.dialed(1);
    run.hung_up(1, Leg::A, "user_busy");
    // Attempt 1's events arriving after attempt 2 was dialled.
    let before = run.state.clone();
    assert_eq!(
        run.send(Input::Answered {
            attempt: 1,
            leg: Leg::A
        }),
        vec![]
    );
    assert_eq!(run.hung_up(1, Leg::A, "user_busy"), vec![]);
    assert_eq!(run.press(1, "2"), vec![]);
    assert_eq!(run.state, before);
    // A duplicate answer of the live call speaks no second opening.
    run.answer(2);
    assert_eq!(
        run.send(Input::Answered {
            attempt: 2,
            leg: Leg::A
        }),
        vec![]
    );
}

#[test]
fn a_failed_connect_tells_the_engineer_and_offers_the_menu_again() {
    let mut run = Run::new(&["+15550001"]);
    run.reach_menu();
    run.press(1, "1");
    let actions = run.send(Input::DialFailed {
        attempt: 1,
        leg: Leg::B,
        reason: "bad number".into(),
    });
    assert_eq!(
        actions,
        vec![
            speak(1, "connect_failed", Speech::ConnectFailed),
            menu_round(1, 2, Heard::Template),
        ]
    );
    // A voicemail at the connect target is hung up, never bridged.
    run.press(1, "1");
    run.send(Input::Dialed {
        attempt: 1,
        leg: Leg::B,
        call_control_id: "b2".into(),
    });
    let actions = run.send(Input::MachineDetection {
        attempt: 1,
        leg: Leg::B,
        result: Amd::Machine,
    });
    assert_eq!(
        actions[0],
        Action::Hangup {
            attempt: 1,
            leg: Leg::B,
            call: "b2".into()
        }
    );
    assert!(actions.contains(&menu_round(1, 3, Heard::Template)));
}

#[test]
fn a_briefing_that_arrives_after_the_menu_started_is_spoken_on_the_next_round() {
    let mut run = Run::new(&["+15550001"]);
    run.reach_menu();
    run.send(Input::BriefingReady("Checkout is down for Acme.".into()));
    assert_eq!(
        run.send(Input::MenuTimedOut { attempt: 1 }),
        vec![menu_round(1, 2, Heard::Model)]
    );
    assert_eq!(run.state.heard, Some(Heard::Model));
}

#[test]
fn cancel_hangs_up_ringing_calls_and_says_goodbye_to_answered_ones() {
    let mut run = Run::parallel(&["+15550001", "+15550002"]);
    run.send(Input::Start);
    run.dialed(1);
    run.answer(2);
    run.speech_ended(2);
    let actions = run.send(Input::Cancel);
    assert_eq!(
        actions,
        vec![
            hangup(1),
            speak(2, "cancel_goodbye", Speech::CancelledGoodbye),
            Action::Finish(Outcome::Cancelled),
        ]
    );
    assert_eq!(run.speech_ended(2), vec![hangup(2)]);
    run.assert_nothing_left_up();
}

#[test]
fn an_alert_resolved_at_its_source_ends_the_escalation_as_resolved() {
    let mut run = Run::parallel(&["+15550001", "+15550002"]);
    run.send(Input::Start);
    run.dialed(1);
    run.answer(2);
    run.speech_ended(2);
    let actions = run.send(Input::Settle(Settlement::Resolved {
        source: "alertmanager".into(),
    }));
    assert_eq!(
        actions,
        vec![
            hangup(1),
            speak(2, "resolved_goodbye", Speech::ResolvedGoodbye),
            Action::Finish(Outcome::Resolved),
        ]
    );
    assert_eq!(run.speech_ended(2), vec![hangup(2)]);
    run.assert_nothing_left_up();
}

#[test]
fn an_acknowledgement_elsewhere_stops_the_ringing_and_tells_whoever_is_on_the_menu() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    run.reach_menu();
    let actions = run.send(Input::Settle(Settlement::Acknowledged {
        by: "SMS from +15550002".into(),
    }));
    assert_eq!(
        actions,
        vec![
            speak(1, "acknowledged_elsewhere", Speech::AcknowledgedElsewhere),
            Action::Finish(Outcome::Acknowledged),
        ]
    );
    assert_eq!(run.state.outcome(), Some(Outcome::Acknowledged));
    // Settled once: a second settlement, or a cancel, changes nothing.
    let again = Input::Settle(Settlement::Resolved {
        source: "pagerduty".into(),
    });
    assert_eq!(run.send(again), vec![]);
    assert_eq!(run.send(Input::Cancel), vec![]);
    assert_eq!(run.state.outcome(), Some(Outcome::Acknowledged));
}

#[test]
fn a_parallel_step_rings_everyone_and_the_first_person_takes_it() {
    let mut run = Run::parallel(&["+15550001", "+15550002", "+15550003"]);
    assert_eq!(
        run.send(Input::Start),
        vec![
            dial_in(1, "+15550001", Some(1)),
            dial_in(2, "+15550002", Some(1)),
            dial_in(3, "+15550003", Some(1)),
        ]
    );
    run.dialed(3);
    // Two answer within milliseconds: both hear the opening; the first person verdict wins.
    run.answer(1);
    run.answer(2);
    let actions = run.human(2);
    assert_eq!(
        actions,
        vec![
            speak(1, "taken", Speech::TakenElsewhere),
            hangup(3),
            menu_round(2, 1, Heard::Template),
        ]
    );
    assert_eq!(
        run.human(1),
        vec![],
        "the loser is saying goodbye, not briefed"
    );
    assert_eq!(run.press(1, "1"), vec![], "and cannot choose");
    // The loser's opening ends first, then its goodbye: hung up after the goodbye.
    assert_eq!(run.speech_ended(1), vec![]);
    assert_eq!(run.speech_ended(1), vec![hangup(1)]);
    assert_eq!(run.state.calls.len(), 1);
    assert_eq!(run.state.taken().map(|c| c.attempt), Some(2));
}

#[test]
fn a_parallel_step_waits_for_its_last_call_before_moving_on() {
    let mut run = Run::with_slots(vec![
        slot("+15550001", Some(1)),
        slot("+15550002", Some(1)),
        slot("+15550003", Some(1)),
        slot("+15550009", None),
    ]);
    run.send(Input::Start);
    run.dialed(1);
    run.dialed(2);
    run.answer(3);
    assert_eq!(run.hung_up(1, Leg::A, "user_busy"), vec![]);
    assert_eq!(run.amd(3, Amd::Machine), vec![hangup(3)]);
    assert_eq!(
        run.hung_up(2, Leg::A, "timeout"),
        vec![dial(4, "+15550009")],
        "the last call of the group out: the next group rings"
    );
}

#[test]
fn a_choice_during_the_opening_takes_the_escalation() {
    let mut run = Run::parallel(&["+15550001", "+15550002"]);
    run.send(Input::Start);
    run.dialed(2);
    run.answer(1);
    let actions = run.press(1, "2");
    assert_eq!(
        actions,
        vec![
            hangup(2),
            speak(1, "ack_goodbye", Speech::AcknowledgedGoodbye),
            Action::Finish(Outcome::Acknowledged),
        ]
    );
}

#[test]
fn speech_and_digits_map_to_choices() {
    assert_eq!(
        Choice::from_speech("Yes, connect me please"),
        Some(Choice::Connect)
    );
    assert_eq!(Choice::from_speech("got it"), Some(Choice::Acknowledge));
    assert_eq!(Choice::from_speech("pass"), Some(Choice::Pass));
    assert_eq!(Choice::from_speech("hello?"), None);
    assert_eq!(Choice::from_digit("1"), Some(Choice::Connect));
    assert_eq!(Choice::from_digit("9"), None);
}

#[test]
fn with_a_caller_on_the_line_connect_bridges_their_leg_without_a_dial() {
    let mut run = Run::new(&["+15550001"]);
    run.can_connect = false;
    run.state.caller = Some("caller".into());
    run.reach_menu();
    let connect = run.press(1, "1");
    assert_eq!(
        connect,
        vec![
            speak(1, "connecting", Speech::Connecting),
            Action::Bridge {
                attempt: 1,
                a: call(1),
                b: "caller".into()
            }
        ],
        "no DialB: the caller's own leg is bridged"
    );
    assert_eq!(
        run.send(Input::Bridged { attempt: 1 }),
        vec![Action::Finish(Outcome::Connected)]
    );
    // The engineer hangs up: the conversation is over, the caller's leg too.
    let end = run.hung_up(1, Leg::A, "normal_clearing");
    assert_eq!(
        end,
        vec![
            Action::Hangup {
                attempt: 1,
                leg: Leg::B,
                call: "caller".into()
            },
            Action::CallEnded { attempt: 1 }
        ]
    );
    run.assert_nothing_left_up();
}

#[test]
fn a_cancel_before_the_bridge_leaves_the_waiting_caller_to_their_call() {
    let mut run = Run::new(&["+15550001"]);
    run.state.caller = Some("caller".into());
    run.reach_menu();
    run.press(1, "1");
    let cancel = run.send(Input::Cancel);
    assert!(
        !cancel
            .iter()
            .any(|a| matches!(a, Action::Hangup { leg: Leg::B, .. })),
        "the caller is not hung up by the escalation: {cancel:?}"
    );
    assert_eq!(cancel.last(), Some(&Action::Finish(Outcome::Cancelled)));
}

#[test]
fn a_cancel_that_overtakes_the_start_dials_nobody() {
    let mut run = Run::new(&["+15550001"]);
    assert_eq!(
        run.send(Input::Cancel),
        vec![Action::Finish(Outcome::Cancelled)]
    );
    assert_eq!(run.send(Input::Start), vec![]);
    run.assert_nothing_left_up();
}
