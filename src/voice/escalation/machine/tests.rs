//! Each escalation outcome as a script of inputs and the actions it must produce.

use super::*;

fn slots(numbers: &[&str]) -> Vec<Slot> {
    numbers
        .iter()
        .map(|n| Slot {
            number: (*n).to_owned(),
            name: None,
            ring_timeout_secs: 30,
        })
        .collect()
}

struct Run {
    slots: Vec<Slot>,
    can_connect: bool,
    state: State,
}

impl Run {
    fn new(numbers: &[&str]) -> Run {
        Run {
            slots: slots(numbers),
            can_connect: true,
            state: State::new(),
        }
    }

    fn send(&mut self, input: Input) -> Vec<Action> {
        let machine = Machine {
            slots: &self.slots,
            can_connect: self.can_connect,
        };
        machine.handle(&mut self.state, input)
    }

    /// Start, dial succeeds, A answers and AMD says human: the menu is on.
    fn reach_menu(&mut self) {
        self.send(Input::Start);
        self.answer_human(1);
    }

    fn answer_human(&mut self, attempt: u32) {
        self.send(Input::Dialed {
            attempt,
            leg: Leg::A,
            call_control_id: format!("a{attempt}"),
        });
        let opening = self.send(Input::Answered {
            attempt,
            leg: Leg::A,
        });
        assert!(matches!(
            opening[0],
            Action::Speak {
                text: Speech::Opening,
                ..
            }
        ));
        let menu = self.send(Input::MachineDetection {
            attempt,
            leg: Leg::A,
            result: Amd::Human,
        });
        assert_eq!(menu, vec![Action::Menu { attempt, round: 1 }]);
    }
}

fn dial(attempt: u32, number: &str) -> Action {
    Action::DialA {
        attempt,
        slot: slots(&[number]).remove(0),
    }
}

#[test]
fn start_dials_the_first_slot_once() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    assert_eq!(run.send(Input::Start), vec![dial(1, "+15550001")]);
    assert_eq!(
        run.send(Input::Start),
        vec![],
        "a repeated start dials nobody"
    );
}

#[test]
fn connect_me_is_a_warm_transfer() {
    let mut run = Run::new(&["+15550001"]);
    run.reach_menu();
    let actions = run.send(Input::Chose {
        attempt: 1,
        choice: Choice::Connect,
    });
    assert_eq!(
        actions,
        vec![
            Action::Speak {
                attempt: 1,
                leg: Leg::A,
                tag: "connecting",
                text: Speech::Connecting
            },
            Action::DialB {
                attempt: 1,
                connect: 1
            },
        ]
    );
    let whisper = run.send(Input::Answered {
        attempt: 1,
        leg: Leg::B,
    });
    assert!(matches!(
        whisper[0],
        Action::Speak {
            leg: Leg::B,
            text: Speech::Whisper,
            ..
        }
    ));
    assert_eq!(
        run.send(Input::WhisperDone { attempt: 1 }),
        vec![Action::Bridge { attempt: 1 }]
    );
    assert_eq!(run.send(Input::Bridged { attempt: 1 }), vec![]);
    assert_eq!(
        run.send(Input::HungUp {
            attempt: 1,
            leg: Leg::A,
            cause: "normal_clearing".into()
        }),
        vec![Action::Finish(Outcome::Connected)]
    );
    assert_eq!(run.state.outcome(), Some(Outcome::Connected));
}

#[test]
fn press_two_acknowledges_and_says_goodbye() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    run.reach_menu();
    let actions = run.send(Input::Chose {
        attempt: 1,
        choice: Choice::Acknowledge,
    });
    assert_eq!(actions[1], Action::Finish(Outcome::Acknowledged));
    assert_eq!(run.state.outcome(), Some(Outcome::Acknowledged));
    assert_eq!(
        run.send(Input::GoodbyeDone { attempt: 1 }),
        vec![Action::Hangup {
            attempt: 1,
            leg: Leg::A
        }]
    );
    let hangup = run.send(Input::HungUp {
        attempt: 1,
        leg: Leg::A,
        cause: "normal_clearing".into(),
    });
    assert_eq!(hangup, vec![], "nobody else is rung");
    assert_eq!(
        run.state.phase,
        Phase::Done {
            outcome: Outcome::Acknowledged
        }
    );
}

#[test]
fn every_kind_of_not_reached_moves_to_the_next_slot_and_never_acknowledges() {
    type Script = fn(&mut Run) -> Vec<Action>;
    let cases: &[(&str, Script)] = &[
        ("no answer", |run| {
            run.send(Input::HungUp {
                attempt: 1,
                leg: Leg::A,
                cause: "timeout".into(),
            })
        }),
        ("busy", |run| {
            run.send(Input::HungUp {
                attempt: 1,
                leg: Leg::A,
                cause: "user_busy".into(),
            })
        }),
        ("rejected", |run| {
            run.send(Input::HungUp {
                attempt: 1,
                leg: Leg::A,
                cause: "call_rejected".into(),
            })
        }),
        ("dial failed", |run| {
            run.send(Input::DialFailed {
                attempt: 1,
                leg: Leg::A,
                reason: "422".into(),
            })
        }),
        ("voicemail", |run| {
            run.send(Input::Answered {
                attempt: 1,
                leg: Leg::A,
            });
            run.send(Input::MachineDetection {
                attempt: 1,
                leg: Leg::A,
                result: Amd::Machine,
            })
        }),
        ("hang-up during the briefing", |run| {
            run.answer_human(1);
            run.send(Input::HungUp {
                attempt: 1,
                leg: Leg::A,
                cause: "normal_clearing".into(),
            })
        }),
        ("silence after the menu", |run| {
            run.answer_human(1);
            let again = run.send(Input::MenuTimedOut { attempt: 1 });
            assert_eq!(
                again,
                vec![Action::Menu {
                    attempt: 1,
                    round: 2
                }],
                "offered twice"
            );
            run.send(Input::MenuTimedOut { attempt: 1 })
        }),
        ("pressed 3", |run| {
            run.answer_human(1);
            run.send(Input::Chose {
                attempt: 1,
                choice: Choice::Pass,
            });
            run.send(Input::HungUp {
                attempt: 1,
                leg: Leg::A,
                cause: "normal_clearing".into(),
            })
        }),
    ];
    for (name, script) in cases {
        let mut run = Run::new(&["+15550001", "+15550002"]);
        run.send(Input::Start);
        run.send(Input::Dialed {
            attempt: 1,
            leg: Leg::A,
            call_control_id: "a1".into(),
        });
        let actions = script(&mut run);
        assert!(
            actions.contains(&dial(2, "+15550002")),
            "{name}: the next slot is dialled: {actions:?}"
        );
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Finish(_))),
            "{name}: not finished: {actions:?}"
        );
        assert_eq!(run.state.attempt, 2, "{name}");
        assert_eq!(run.state.outcome(), None, "{name}");
    }
}

#[test]
fn an_exhausted_chain_ends_unreached() {
    let mut run = Run::new(&["+15550001"]);
    run.send(Input::Start);
    let actions = run.send(Input::HungUp {
        attempt: 1,
        leg: Leg::A,
        cause: "timeout".into(),
    });
    assert_eq!(actions, vec![Action::Finish(Outcome::Unreached)]);
    assert_eq!(run.state.outcome(), Some(Outcome::Unreached));
}

#[test]
fn voicemail_is_hung_up_not_briefed() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    run.send(Input::Start);
    run.send(Input::Dialed {
        attempt: 1,
        leg: Leg::A,
        call_control_id: "a1".into(),
    });
    run.send(Input::Answered {
        attempt: 1,
        leg: Leg::A,
    });
    let actions = run.send(Input::MachineDetection {
        attempt: 1,
        leg: Leg::A,
        result: Amd::Machine,
    });
    assert_eq!(
        actions,
        vec![
            Action::Hangup {
                attempt: 1,
                leg: Leg::A
            },
            dial(2, "+15550002")
        ]
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Menu { .. })));
}

#[test]
fn late_and_duplicate_events_change_nothing() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    run.send(Input::Start);
    run.send(Input::HungUp {
        attempt: 1,
        leg: Leg::A,
        cause: "timeout".into(),
    });
    let before = run.state.clone();
    // Attempt 1's events arriving after attempt 2 was dialled.
    for late in [
        Input::Answered {
            attempt: 1,
            leg: Leg::A,
        },
        Input::HungUp {
            attempt: 1,
            leg: Leg::A,
            cause: "timeout".into(),
        },
        Input::Chose {
            attempt: 1,
            choice: Choice::Acknowledge,
        },
    ] {
        assert_eq!(run.send(late), vec![]);
    }
    assert_eq!(run.state, before);

    // The same answer twice opens once.
    run.send(Input::Answered {
        attempt: 2,
        leg: Leg::A,
    });
    assert_eq!(
        run.send(Input::Answered {
            attempt: 2,
            leg: Leg::A
        }),
        vec![]
    );
    // A choice before the menu (a keypress during the opening) still counts.
    let actions = run.send(Input::Chose {
        attempt: 2,
        choice: Choice::Acknowledge,
    });
    assert!(actions.contains(&Action::Finish(Outcome::Acknowledged)));
    // After the end nothing moves.
    assert_eq!(run.send(Input::Start), vec![]);
    assert_eq!(run.send(Input::Cancel), vec![]);
}

#[test]
fn a_failed_connect_tells_the_engineer_and_offers_the_menu_again() {
    for failure in [
        Input::HungUp {
            attempt: 1,
            leg: Leg::B,
            cause: "timeout".into(),
        },
        Input::DialFailed {
            attempt: 1,
            leg: Leg::B,
            reason: "422 10016".into(),
        },
    ] {
        let mut run = Run::new(&["+15550001"]);
        run.reach_menu();
        run.send(Input::Chose {
            attempt: 1,
            choice: Choice::Connect,
        });
        let actions = run.send(failure);
        assert_eq!(
            actions,
            vec![
                Action::Speak {
                    attempt: 1,
                    leg: Leg::A,
                    tag: "connect_failed",
                    text: Speech::ConnectFailed
                },
                Action::Menu {
                    attempt: 1,
                    round: 2
                },
            ]
        );
        assert_eq!(run.state.phase, Phase::Menu);
    }
    // B's voicemail is hung up and treated the same.
    let mut run = Run::new(&["+15550001"]);
    run.reach_menu();
    run.send(Input::Chose {
        attempt: 1,
        choice: Choice::Connect,
    });
    run.send(Input::Answered {
        attempt: 1,
        leg: Leg::B,
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
            leg: Leg::B
        }
    );
    assert!(actions.contains(&Action::Menu {
        attempt: 1,
        round: 2
    }));
}

#[test]
fn each_connect_try_is_its_own_dial_and_a_new_attempt_counts_afresh() {
    let mut run = Run::new(&["+15550001", "+15550002"]);
    run.reach_menu();
    let connect = |run: &mut Run, attempt| {
        run.send(Input::Chose {
            attempt,
            choice: Choice::Connect,
        })
        .into_iter()
        .find(|a| matches!(a, Action::DialB { .. }))
    };
    assert_eq!(
        connect(&mut run, 1),
        Some(Action::DialB {
            attempt: 1,
            connect: 1
        })
    );
    run.send(Input::DialFailed {
        attempt: 1,
        leg: Leg::B,
        reason: "busy".into(),
    });
    assert_eq!(
        connect(&mut run, 1),
        Some(Action::DialB {
            attempt: 1,
            connect: 2
        }),
        "trying again is a second dial of leg B, claimed under its own number"
    );
    run.send(Input::HungUp {
        attempt: 1,
        leg: Leg::A,
        cause: "normal_clearing".into(),
    });
    run.answer_human(2);
    assert_eq!(
        connect(&mut run, 2),
        Some(Action::DialB {
            attempt: 2,
            connect: 1
        })
    );
}

#[test]
fn without_a_connect_target_connect_is_explained_not_attempted() {
    let mut run = Run::new(&["+15550001"]);
    run.can_connect = false;
    run.reach_menu();
    let actions = run.send(Input::Chose {
        attempt: 1,
        choice: Choice::Connect,
    });
    assert!(!actions.iter().any(|a| matches!(a, Action::DialB { .. })));
    assert!(actions.contains(&Action::Menu {
        attempt: 1,
        round: 2
    }));
}

#[test]
fn cancel_hangs_up_live_legs() {
    let mut run = Run::new(&["+15550001"]);
    run.reach_menu();
    assert_eq!(
        run.send(Input::Cancel),
        vec![
            Action::Hangup {
                attempt: 1,
                leg: Leg::A
            },
            Action::Finish(Outcome::Cancelled)
        ]
    );
}

#[test]
fn speech_and_digits_map_to_choices() {
    assert_eq!(
        Choice::from_speech("Connect me please"),
        Some(Choice::Connect)
    );
    assert_eq!(
        Choice::from_speech("OK, I acknowledge"),
        Some(Choice::Acknowledge)
    );
    assert_eq!(
        Choice::from_speech("give it to the next person"),
        Some(Choice::Pass)
    );
    assert_eq!(Choice::from_speech("say that again"), Some(Choice::Repeat));
    assert_eq!(Choice::from_speech("hello?"), None);
    assert_eq!(Choice::from_digit("1"), Some(Choice::Connect));
    assert_eq!(Choice::from_digit("2"), Some(Choice::Acknowledge));
    assert_eq!(Choice::from_digit("3"), Some(Choice::Pass));
    assert_eq!(Choice::from_digit("*"), Some(Choice::Repeat));
    assert_eq!(Choice::from_digit("9"), None);
}
