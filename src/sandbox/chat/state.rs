//! The sandbox's memory, per service: accepted messages and requests (the last
//! `log_capacity` of each), the request count, the scripted failures still to play, and the
//! sequence that numbers messages.
//!
//! One `std::sync::Mutex` guards it all; every critical section is a few deque operations and
//! never awaits.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::{AcceptedMessage, ChatConfig, Failure, RecordedRequest, Service};

#[derive(Debug, Default)]
pub(crate) struct Log {
    pub messages: VecDeque<AcceptedMessage>,
    pub requests: VecDeque<RecordedRequest>,
    /// Every request ever received, including those no longer in `requests`.
    pub count: u64,
    pub script: VecDeque<Failure>,
    /// Last number handed out by [`Inner::next_sequence`].
    pub sequence: u64,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    logs: [Log; 4],
}

impl State {
    pub(crate) fn log(&self, service: Service) -> &Log {
        &self.logs[service as usize]
    }

    pub(crate) fn log_mut(&mut self, service: Service) -> &mut Log {
        &mut self.logs[service as usize]
    }
}

pub(crate) struct Inner {
    pub config: ChatConfig,
    state: Mutex<State>,
    /// Bumped after every observable change; [`super::SandboxChat::wait_until`] watches it.
    pub changed: watch::Sender<u64>,
    /// Set when the sandbox shuts down, so scripted hangs end and let the server drain.
    pub stopping: watch::Sender<bool>,
}

impl Inner {
    pub(crate) fn new(config: ChatConfig) -> Inner {
        Inner {
            config,
            state: Mutex::new(State::default()),
            changed: watch::Sender::new(0),
            stopping: watch::Sender::new(false),
        }
    }

    /// The state. A panic while it was held cannot leave it half-updated in a way that
    /// matters to a simulator, so poisoning is ignored rather than spread to every request.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn touch(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Counts a request that just arrived and takes the next scripted failure, if any.
    pub(crate) fn arrive(&self, service: Service) -> Option<Failure> {
        let mut state = self.lock();
        let log = state.log_mut(service);
        log.count += 1;
        log.script.pop_front()
    }

    /// A number unique within the service, from 1: Telegram's `message_id`, the low digits of
    /// Slack's `ts` and Discord's snowflakes.
    pub(crate) fn next_sequence(&self, service: Service) -> u64 {
        let mut state = self.lock();
        let log = state.log_mut(service);
        log.sequence += 1;
        log.sequence
    }

    /// Records how a request ended and, if it was accepted, its message.
    pub(crate) fn record(&self, request: RecordedRequest, accepted: Option<AcceptedMessage>) {
        let capacity = self.config.log_capacity.max(1);
        {
            let mut state = self.lock();
            let log = state.log_mut(request.service);
            if let Some(message) = accepted {
                push_bounded(&mut log.messages, message, capacity);
            }
            push_bounded(&mut log.requests, request, capacity);
        }
        self.touch();
    }

    pub(crate) fn script(&self, service: Service, failure: Failure, times: usize) {
        {
            let mut state = self.lock();
            let log = state.log_mut(service);
            log.script.extend(std::iter::repeat_n(failure, times));
        }
        self.touch();
    }

    pub(crate) fn reset(&self) {
        *self.lock() = State::default();
        self.touch();
    }

    /// Resolves once the sandbox is shutting down.
    pub(crate) async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }
}

fn push_bounded<T>(deque: &mut VecDeque<T>, item: T, capacity: usize) {
    while deque.len() >= capacity {
        deque.pop_front();
    }
    deque.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_keep_the_newest_entries() {
        let mut deque = VecDeque::new();
        for n in 0..5 {
            push_bounded(&mut deque, n, 3);
        }
        assert_eq!(deque, [2, 3, 4]);
    }
}
