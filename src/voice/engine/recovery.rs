//! Picking escalations up again: after a restart ([`EngineHandle::resume_all`]), when they
//! went quiet (a lost webhook), and on a shared store when the node driving them died
//! ([`EngineHandle::watch`]); and repairing what an interrupted step left half done.

use std::time::Duration;

use super::step::Recover;
use super::{EngineError, EngineHandle, Persisted};
use crate::clock;
use crate::store::{Dialling, EscalationId};
use crate::voice::escalation::machine::{Action, CallStatus, Input, Leg};
use crate::voice::escalation::plan::Plan;
use crate::voice::telnyx::events;

/// How often quiet escalations are checked.
const WATCH_INTERVAL: Duration = Duration::from_secs(30);
/// No change for this long (longer than any ring, prompt or menu) means something was lost.
const QUIET_AFTER: Duration = Duration::from_secs(11 * 60);
/// On a shared store, how often a node looks for escalations and call events left by a
/// node that died: a take-over happens at most this long after the dead node's lease ends.
const TAKEOVER_INTERVAL: Duration = Duration::from_millis(500);

impl EngineHandle {
    /// Picks up every escalation that was active when Klaxon stopped: re-sends a dial that
    /// may not have gone out (under its claim and its `command_id`, so Telnyx drops a
    /// duplicate), and checks legs that were live, feeding a hang-up for those that ended
    /// meanwhile.
    pub async fn resume_all(&self) -> Result<usize, EngineError> {
        // First the call events that arrived but were not acted on before the stop.
        self.replay_unprocessed().await?;
        if let Some(inbound) = self.inbound() {
            inbound.resume(self).await;
        }
        if self.shared.store.is_shared() {
            // Other nodes may be running these escalations right now; the ones a dead node
            // left are found by `watch` once its leases run out.
            return Ok(0);
        }
        self.resume_quiet_since(None).await
    }

    /// Checks escalations that have gone quiet, in case a carrier webhook was lost (a leg
    /// that ended without its `call.hangup` reaching us would otherwise hold the escalation
    /// forever). Runs until `shutdown`.
    pub async fn watch(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut quiet_check = tokio::time::Instant::now() + WATCH_INTERVAL;
        let tick = if self.shared.store.is_shared() {
            TAKEOVER_INTERVAL
        } else {
            WATCH_INTERVAL
        };
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            if self.shared.store.is_shared()
                && let Err(error) = self.take_over().await
            {
                tracing::warn!(%error, "could not look for escalations left by a dead node");
            }
            if tokio::time::Instant::now() < quiet_check {
                continue;
            }
            quiet_check = tokio::time::Instant::now() + WATCH_INTERVAL;
            let cutoff = clock::ms_to_rfc3339(
                clock::now_ms() - i64::try_from(QUIET_AFTER.as_millis()).unwrap_or(i64::MAX),
            );
            if let Err(error) = self.resume_quiet_since(Some(cutoff)).await {
                tracing::warn!(%error, "could not check quiet escalations");
            }
        }
    }

    /// Resumes escalations whose node died mid-step, and acts on call events that a dead
    /// node recorded but never acted on. The store hands each to one node only.
    async fn take_over(&self) -> Result<(), EngineError> {
        let store = &self.shared.store;
        for id in store.orphaned_escalations().await? {
            let engine = self.clone();
            tokio::spawn(async move {
                if let Err(error) = engine.resume(id).await {
                    tracing::error!(%error, escalation = %id, "could not resume an escalation");
                }
            });
        }
        self.replay_unprocessed().await
    }

    /// Acts on call events that arrived but were not acted on (a crash in between).
    async fn replay_unprocessed(&self) -> Result<(), EngineError> {
        for (id, body) in self.shared.store.unprocessed_webhooks().await? {
            match events::parse(body.as_bytes()) {
                Ok(event) => self.on_call_event(event).await,
                Err(error) => {
                    tracing::warn!(%error, event = %id, "a stored call event is unreadable; dropped");
                    let _ = self.shared.store.webhook_processed(id).await;
                }
            }
        }
        Ok(())
    }

    async fn resume_quiet_since(&self, before: Option<String>) -> Result<usize, EngineError> {
        let active = self.shared.store.active_escalations(before).await?;
        for id in &active {
            let engine = self.clone();
            let id = *id;
            tokio::spawn(async move {
                if let Err(error) = engine.resume(id).await {
                    tracing::error!(%error, escalation = %id, "could not resume an escalation");
                }
            });
        }
        Ok(active.len())
    }

    /// Picks an escalation up where its last step left it. Safe to run any number of times,
    /// on any node: what to do is decided under the hold, from the state just read.
    async fn resume(&self, id: EscalationId) -> Result<(), EngineError> {
        self.step(id, Vec::new(), Vec::new(), Recover::Always).await
    }

    /// Repairs what a step cut short (a crash, or a node that died mid-step): re-sends a dial
    /// that may not have gone out (same `command_id`, so the carrier returns the same call
    /// instead of ringing again; the store allows it only while the claimed dial's leg is
    /// unknown), starts an escalation that never started, and feeds a hang-up for a leg that
    /// ended meanwhile. Runs under the hold.
    pub(super) async fn recover_held(&self, id: EscalationId) -> Result<(), EngineError> {
        let Some(record) = self.shared.store.load_escalation(id).await? else {
            return Ok(());
        };
        let persisted: Persisted =
            serde_json::from_str(&record.state).map_err(|e| EngineError::Corrupt(id, e))?;
        let state = persisted.machine;
        if record.status != "active" && !state.has_live_legs() {
            return Ok(());
        }
        if state.attempt == 0 {
            self.brief(id);
            return self
                .step_held(id, vec![Input::Start], Vec::new(), Dialling::Decided)
                .await;
        }
        // Calls whose dial may not have gone out: re-sent under their claim and command id,
        // so the carrier returns the same call rather than ringing again.
        let plan: Plan =
            serde_json::from_str(&record.plan).map_err(|e| EngineError::Corrupt(id, e))?;
        let undialled: Vec<(u32, Action)> = state
            .calls
            .iter()
            .filter(|c| c.call.is_none() && c.status == CallStatus::Ringing)
            .filter_map(|c| {
                let slot = plan.slots.get(c.attempt.checked_sub(1)? as usize)?;
                Some((
                    0,
                    Action::DialA {
                        attempt: c.attempt,
                        slot: slot.clone(),
                    },
                ))
            })
            .collect();
        if !undialled.is_empty() {
            return self
                .step_held(id, Vec::new(), undialled, Dialling::Recovered)
                .await;
        }
        let mut ended = Vec::new();
        for call in &state.calls {
            if let Some(leg) = &call.call
                && !self.shared.carrier.is_alive(leg).await
            {
                ended.push(Input::HungUp {
                    attempt: call.attempt,
                    leg: Leg::A,
                    cause: "ended while Klaxon was down".into(),
                });
            }
        }
        if let (Some(b_leg), Some(taken)) = (&state.b_leg, state.taken())
            && !self.shared.carrier.is_alive(b_leg).await
        {
            ended.push(Input::HungUp {
                attempt: taken.attempt,
                leg: Leg::B,
                cause: "ended while Klaxon was down".into(),
            });
        }
        if !ended.is_empty() {
            return self
                .step_held(id, ended, Vec::new(), Dialling::Decided)
                .await;
        }
        Ok(())
    }
}
