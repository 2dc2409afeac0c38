//! One step of an escalation: hold it, apply inputs to the state machine, persist each
//! decision before acting on it, run the actions (dials of one group together), and feed
//! what they produced back in until nothing is left.

use std::collections::VecDeque;

use super::writeback::{Stage, conversation_secs};
use super::{EngineError, EngineHandle, Persisted};
use crate::clock;
use crate::store::{
    DeliveryId, DeliveryJob, Dialling, EscalationId, EscalationUpdate, Hold, NewDelivery, NewLeg,
    TimelineEntry,
};
use crate::voice::escalation::machine::{Action, Input, Leg, Machine, Outcome, Phase};
use crate::voice::escalation::plan::Plan;
use crate::voice::timeline;
use serde_json::json;

impl EngineHandle {
    /// Runs `first` and everything it leads to (dial results feed back as inputs).
    pub(super) async fn drive(&self, id: EscalationId, first: Input) -> Result<(), EngineError> {
        self.step(id, vec![first], Vec::new(), Recover::IfTakenOver)
            .await
    }

    /// Applies inputs and actions while holding the escalation: this task's lock in this
    /// process, and the store's lease across nodes (released however the step ends).
    pub(super) async fn step(
        &self,
        id: EscalationId,
        inputs: Vec<Input>,
        actions: Vec<(u32, Action)>,
        recover: Recover,
    ) -> Result<(), EngineError> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let store = &self.shared.store;
        let taken_over = match store.hold_escalation(id).await? {
            Hold::Missing => return Ok(()),
            Hold::Clean => false,
            Hold::TakenOver => {
                tracing::info!(escalation = %id, "took over an escalation whose node stopped mid-step");
                true
            }
        };
        let mut stepped = Ok(());
        if taken_over || recover == Recover::Always {
            stepped = self.recover_held(id).await;
        }
        if stepped.is_ok() && !(inputs.is_empty() && actions.is_empty()) {
            stepped = self.step_held(id, inputs, actions, Dialling::Decided).await;
        }
        if let Err(error) = store.release_escalation(id).await {
            tracing::warn!(%error, escalation = %id, "could not release an escalation; its lease will run out");
        }
        stepped
    }

    /// `given` says why the `actions` passed in are run (a recovery re-sends a dial already
    /// claimed); the actions this step decides are always [`Dialling::Decided`].
    pub(super) async fn step_held(
        &self,
        id: EscalationId,
        inputs: Vec<Input>,
        actions: Vec<(u32, Action)>,
        given: Dialling,
    ) -> Result<(), EngineError> {
        let store = &self.shared.store;
        let Some(record) = store.load_escalation(id).await? else {
            return Ok(());
        };
        let plan: Plan =
            serde_json::from_str(&record.plan).map_err(|e| EngineError::Corrupt(id, e))?;
        let mut persisted: Persisted =
            serde_json::from_str(&record.state).map_err(|e| EngineError::Corrupt(id, e))?;
        let mut inputs: VecDeque<Input> = inputs.into();
        let mut actions: Vec<(u32, Action, Dialling)> = actions
            .into_iter()
            .map(|(seq, action)| (seq, action, given))
            .collect();
        let mut timeline = Vec::new();
        let mut legs = Vec::new();
        // When leg A answered in this step: dead air lasts until the first command on it.
        let mut answered: Option<std::time::Instant> = None;
        loop {
            if let Some(input) = inputs.pop_front() {
                if matches!(input, Input::Answered { leg: Leg::A, .. }) {
                    answered = Some(std::time::Instant::now());
                }
                timeline.push(timeline::input_line(&input, &persisted.machine));
                // "connect" is offered once there is someone to connect to, which a Merge
                // lookup may find while the phone rings.
                let machine = Machine {
                    slots: &plan.slots,
                    can_connect: plan.connect_to.is_some()
                        || persisted.machine.connect_to.is_some(),
                    rules: &plan.rules,
                };
                let mut jobs = Vec::new();
                for action in machine.handle(&mut persisted.machine, input) {
                    let stage = match &action {
                        Action::Finish(outcome) => Some(Stage::Outcome(*outcome)),
                        Action::CallEnded { .. } => Some(Stage::CallEnded),
                        _ => None,
                    };
                    if let Some(stage) = stage {
                        // What the write-back tells: the calls so far plus this step's.
                        let mut history = match store.get_escalation(id).await {
                            Ok(Some(escalation)) => escalation.timeline.unwrap_or_default(),
                            _ => Vec::new(),
                        };
                        history.extend(timeline.iter().cloned());
                        if stage == Stage::CallEnded {
                            let line = timeline::call_ended_line(conversation_secs(&history));
                            history.push(line.clone());
                            timeline.push(line);
                        }
                        jobs.extend(self.write_back_job(
                            id,
                            &record.event_id,
                            &plan,
                            (&persisted.machine, &history),
                            stage,
                        ));
                    }
                    persisted.commands += 1;
                    actions.push((persisted.commands, action, Dialling::Decided));
                }
                // Persist the decision, and the jobs it implies, before acting on it.
                let created = self
                    .save_with_jobs(id, &persisted, &mut timeline, &mut legs, jobs.clone())
                    .await?;
                self.dispatch_jobs(jobs, &created).await;
            }
            if actions.is_empty() {
                if inputs.is_empty() {
                    break;
                }
                continue;
            }
            let batch = std::mem::take(&mut actions);
            for (_, action, _) in &batch {
                if let Action::Finish(outcome) = action {
                    crate::metrics::metrics()
                        .escalations
                        .inc(&[outcome.as_str()]);
                    self.publish(id, &record.event_id, *outcome).await;
                    timeline.push(timeline::decision_line(*outcome));
                }
            }
            // Dials of one group go out together: a parallel step rings everyone at once.
            let dials = batch
                .iter()
                .filter(|(_, action, _)| matches!(action, Action::DialA { .. }))
                .map(|(seq, action, why)| {
                    self.execute(id, &plan, &persisted.machine, (*seq, *why), action)
                });
            let mut results = futures_util::future::join_all(dials).await;
            for (seq, action, why) in &batch {
                let outcome = match action {
                    Action::DialA { .. } => results.remove(0),
                    Action::Finish(_) | Action::CallEnded { .. } => continue,
                    _ => {
                        self.execute(id, &plan, &persisted.machine, (*seq, *why), action)
                            .await
                    }
                };
                if matches!(
                    action,
                    Action::Speak { leg: Leg::A, .. } | Action::Menu { .. }
                ) && let Some(at) = answered.take()
                {
                    crate::metrics::metrics()
                        .dead_air_seconds
                        .observe(at.elapsed());
                }
                if let Some(line) = outcome.timeline {
                    timeline.push(line);
                }
                if let Some(leg) = outcome.leg {
                    legs.push(leg);
                }
                inputs.extend(outcome.feedback);
            }
            if inputs.is_empty() {
                self.save(id, &persisted, &mut timeline, &mut legs).await?;
                break;
            }
        }
        if matches!(persisted.machine.phase, Phase::Done { .. })
            && !persisted.machine.has_live_legs()
            && let Ok(mut locks) = self.shared.locks.lock()
        {
            // Nothing will drive it again (later inputs are ignored once done): forget its
            // lock so the map does not grow with every escalation ever run. A task already
            // waiting holds its own clone and still gets it.
            locks.remove(&id);
        }
        Ok(())
    }

    async fn save(
        &self,
        id: EscalationId,
        persisted: &Persisted,
        timeline: &mut Vec<TimelineEntry>,
        legs: &mut Vec<NewLeg>,
    ) -> Result<(), EngineError> {
        self.save_with_jobs(id, persisted, timeline, legs, Vec::new())
            .await
            .map(|_| ())
    }

    async fn save_with_jobs(
        &self,
        id: EscalationId,
        persisted: &Persisted,
        timeline: &mut Vec<TimelineEntry>,
        legs: &mut Vec<NewLeg>,
        jobs: Vec<NewDelivery>,
    ) -> Result<Vec<DeliveryId>, EngineError> {
        let outcome = persisted.machine.outcome();
        // Plain data: serializing cannot fail.
        let state = serde_json::to_string(persisted).unwrap_or_default();
        let lease_until = crate::delivery::worker::lease_until(clock::now_ms());
        Ok(self
            .shared
            .store
            .save_escalation(EscalationUpdate {
                id,
                state,
                status: outcome.map_or("active", Outcome::as_str).to_owned(),
                ended: outcome.is_some(),
                timeline: std::mem::take(timeline),
                new_legs: std::mem::take(legs),
                jobs,
                lease_until,
            })
            .await?)
    }

    /// Hands jobs created with a transition to the delivery worker.
    async fn dispatch_jobs(&self, jobs: Vec<NewDelivery>, created: &[DeliveryId]) {
        let Some(worker) = &self.shared.writebacks else {
            return;
        };
        for job in jobs.into_iter().filter(|j| created.contains(&j.id)) {
            worker.dispatch(DeliveryJob::fresh(job)).await;
        }
    }

    async fn publish(&self, id: EscalationId, event_id: &str, outcome: Outcome) {
        let Some(runner) = self.shared.outcomes.get() else {
            return;
        };
        let payload = json!({
            "escalation_id": id,
            "event_id": event_id,
            "outcome": outcome,
        });
        let event_type = format!("escalation.{}", outcome.as_str());
        if let Err(error) = runner.publish(&event_type, &payload, id.to_string()).await {
            tracing::error!(%error, escalation = %id, "could not publish the escalation's outcome");
        }
    }
}

/// Whether a step first repairs what an interrupted step may have left half done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recover {
    /// Only when the hold was taken from a node that died mid-step.
    IfTakenOver,
    /// Always (a resume).
    Always,
}
