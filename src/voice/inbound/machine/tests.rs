//! The inbound call machine as a list of phone calls.

use super::*;

/// Runs `inputs` from a new call; returns the state and every action, in order.
fn call(inputs: Vec<Input>) -> (State, Vec<Action>) {
    let mut state = State::new();
    let mut actions = handle(&mut state, Input::Arrived);
    assert_eq!(actions, [Action::Answer]);
    actions.clear();
    for input in inputs {
        actions.extend(handle(&mut state, input));
    }
    (state, actions)
}

fn pressed(digits: &str) -> Input {
    Input::Pressed(digits.to_owned())
}

#[test]
fn pressing_1_starts_the_escalation_and_holds_until_the_bridge() {
    let (state, actions) = call(vec![
        Input::Answered,
        pressed("1"),
        Input::SpeechEnded,
        Input::Bridged,
        Input::SpeechEnded,
        Input::EscalationEnded(Outcome::Connected),
    ]);
    assert_eq!(
        actions,
        [
            Action::Greet,
            Action::StartEscalation,
            Action::Say(Say::Hold { first: true }),
            Action::Say(Say::Hold { first: false }),
        ]
    );
    assert_eq!(state.phase, Phase::Connected);
    assert_eq!(state.outcome, Some(Outcome::Connected));
}

#[test]
fn nobody_reached_means_the_caller_is_told_and_leaves_a_message() {
    let (state, actions) = call(vec![
        Input::Answered,
        pressed("1"),
        Input::EscalationEnded(Outcome::Unreached),
        // The hold message, then the news.
        Input::SpeechEnded,
        Input::SpeechEnded,
        Input::RecordingSaved {
            url: Some("https://rec/1.mp3".into()),
        },
        Input::Transcribed("Call me back please".into()),
        Input::SpeechEnded,
    ]);
    assert_eq!(
        actions[3..],
        [
            Action::Say(Say::NobodyReached),
            Action::Record,
            Action::Say(Say::Thanks),
            Action::RecordMessage,
            Action::Hangup,
        ]
    );
    assert_eq!(state.reason, Some(Reason::Unreached));
    assert_eq!(state.transcript.as_deref(), Some("Call me back please"));
    assert_eq!(state.recording_url.as_deref(), Some("https://rec/1.mp3"));
}

#[test]
fn pressing_2_or_nothing_takes_a_message() {
    for (digits, reason) in [("2", Reason::Chose), ("", Reason::NoChoice)] {
        let (state, actions) = call(vec![Input::Answered, pressed(digits), Input::SpeechEnded]);
        assert_eq!(
            actions,
            [
                Action::Greet,
                Action::Say(Say::LeaveMessage),
                Action::Record
            ]
        );
        assert_eq!(state.reason, Some(reason));
        assert_eq!(state.phase, Phase::Recording);
    }
}

#[test]
fn hanging_up_while_it_rings_cancels_the_escalation_and_in_a_conversation_ends_it() {
    let (state, actions) = call(vec![Input::Answered, pressed("1"), Input::HungUp]);
    assert_eq!(actions.last(), Some(&Action::CancelEscalation));
    assert_eq!(state.status(), "hung_up");
    let (state, actions) = call(vec![
        Input::Answered,
        pressed("1"),
        Input::Bridged,
        Input::HungUp,
        Input::EscalationEnded(Outcome::Connected),
    ]);
    assert_eq!(actions.last(), Some(&Action::EndConversation));
    assert_eq!(state.status(), "connected");
}

#[test]
fn a_message_left_by_a_caller_who_hangs_up_is_kept() {
    let (state, actions) = call(vec![
        Input::Answered,
        pressed("2"),
        Input::SpeechEnded,
        Input::HungUp,
        Input::RecordingSaved { url: None },
        Input::Transcribed("It is down again".into()),
    ]);
    assert_eq!(actions.last(), Some(&Action::RecordMessage));
    assert_eq!(state.status(), "message");
}

#[test]
fn repeated_and_late_inputs_change_nothing() {
    let (once, _) = call(vec![Input::Answered, pressed("1")]);
    let (twice, actions) = call(vec![
        Input::Arrived,
        Input::Answered,
        Input::Answered,
        pressed("1"),
        pressed("1"),
        Input::Transcribed("not recording".into()),
        Input::RecordingSaved { url: None },
    ]);
    assert_eq!(once, twice);
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == Action::StartEscalation)
            .count(),
        1
    );
    let (state, actions) = call(vec![
        Input::Answered,
        pressed("2"),
        Input::SpeechEnded,
        Input::RecordingSaved { url: None },
        Input::Transcribed("first".into()),
        Input::Transcribed("second".into()),
        Input::HungUp,
        Input::HungUp,
    ]);
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == Action::RecordMessage)
            .count(),
        1
    );
    assert_eq!(state.transcript.as_deref(), Some("first"));
}

#[test]
fn hold_messages_are_bounded() {
    let mut inputs = vec![Input::Answered, pressed("1")];
    inputs.extend((0..MAX_HOLD_MESSAGES * 2).map(|_| Input::SpeechEnded));
    let (state, actions) = call(inputs);
    let holds = actions
        .iter()
        .filter(|a| matches!(a, Action::Say(Say::Hold { .. })))
        .count();
    assert_eq!(holds, MAX_HOLD_MESSAGES as usize);
    assert_eq!(state.phase, Phase::Waiting);
}

#[test]
fn an_acknowledgement_instead_of_a_connect_is_said_and_a_message_offered() {
    let (state, actions) = call(vec![
        Input::Answered,
        pressed("1"),
        Input::EscalationEnded(Outcome::Acknowledged),
    ]);
    assert_eq!(actions.last(), Some(&Action::Say(Say::Acknowledged)));
    assert_eq!(state.reason, Some(Reason::Acknowledged));
}
