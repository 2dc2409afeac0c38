//! One step of an escalation: hold it, apply inputs to the state machine, persist each
//! decision before acting on it, run the actions (dials of one group together), and feed
//! what they produced back in until nothing is left.

use std::collections::VecDeque;

use super::execute::Context;
use super::published::{self, Stage};
use super::{EngineError, EngineHandle, Persisted};
use crate::store::{
    Dialling, EscalationId, EscalationUpdate, Hold, NewEvent, NewLeg, TimelineEntry,
};
use crate::voice::escalation::machine::{Action, Input, Leg, Machine, Outcome};
use crate::voice::escalation::plan::Plan;
use crate::voice::timeline;

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
        let Some(record) = self.shared.store.load_escalation(id).await? else {
            return Ok(());
        };
        let mut step = Step {
            id,
            event_id: record.event_id,
            plan: serde_json::from_str(&record.plan).map_err(|e| EngineError::Corrupt(id, e))?,
            persisted: serde_json::from_str(&record.state)
                .map_err(|e| EngineError::Corrupt(id, e))?,
            inputs: inputs.into(),
            actions: actions
                .into_iter()
                .map(|(seq, action)| (seq, action, given))
                .collect(),
            timeline: Vec::new(),
            legs: Vec::new(),
            answered: None,
        };
        let decided_before = step.persisted.machine.outcome().is_some();
        loop {
            if let Some(input) = step.inputs.pop_front() {
                self.decide(&mut step, input).await?;
            }
            if step.actions.is_empty() {
                if step.inputs.is_empty() {
                    break;
                }
                continue;
            }
            self.act(&mut step).await;
            if step.inputs.is_empty() {
                self.save(&mut step, Vec::new()).await?;
                break;
            }
        }
        self.forget_if_done(id, &step.persisted.machine);
        if let (false, Some(outcome)) = (decided_before, step.persisted.machine.outcome())
            && step.persisted.machine.caller.is_some()
        {
            self.tell_caller(id, outcome);
        }
        Ok(())
    }

    /// Applies one input to the machine and persists the decision, with the events it
    /// records, before anything acts on it; the actions decided wait in `step.actions`.
    async fn decide(&self, step: &mut Step, input: Input) -> Result<(), EngineError> {
        if matches!(input, Input::Answered { leg: Leg::A, .. }) {
            step.answered = Some(std::time::Instant::now());
        }
        step.timeline
            .push(timeline::input_line(&input, &step.persisted.machine));
        // "connect" is offered once there is someone to connect to, which a Merge lookup
        // may find while the phone rings.
        let machine = Machine {
            slots: &step.plan.slots,
            can_connect: step.plan.connect_to.is_some()
                || step.persisted.machine.connect_to.is_some()
                || step.persisted.machine.caller.is_some(),
            rules: &step.plan.rules,
        };
        let mut events = Vec::new();
        for action in machine.handle(&mut step.persisted.machine, input) {
            if let Some(stage) = Stage::of(&action) {
                events.push(self.report(step, stage).await);
            }
            step.persisted.commands += 1;
            step.actions
                .push((step.persisted.commands, action, Dialling::Decided));
        }
        self.save(step, events).await
    }

    /// The event recording `stage`. What it tells: the calls so far plus this step's (and,
    /// when the call ended, the line saying so, added to the timeline here).
    async fn report(&self, step: &mut Step, stage: Stage) -> NewEvent {
        let mut history = match self.shared.store.get_escalation(step.id).await {
            Ok(Some(escalation)) => escalation.timeline.unwrap_or_default(),
            _ => Vec::new(),
        };
        history.extend(step.timeline.iter().cloned());
        if stage == Stage::CallEnded {
            let line = timeline::call_ended_line(published::conversation_secs(&history));
            history.push(line.clone());
            step.timeline.push(line);
        }
        let report = published::report(
            (step.id, &step.event_id),
            &step.plan,
            &step.persisted.machine,
            &history,
            stage,
        );
        self.record(&report, stage)
    }

    /// Runs the decided actions: the dials of one group together (a parallel step rings
    /// everyone at once), the rest in order; what they produced is fed back as inputs.
    async fn act(&self, step: &mut Step) {
        let batch = std::mem::take(&mut step.actions);
        for (_, action, _) in &batch {
            if let Action::Finish(outcome) = action {
                crate::metrics::metrics()
                    .escalations
                    .inc(&[outcome.as_str()]);
                step.timeline.push(timeline::decision_line(*outcome));
            }
        }
        // Fields apart: the plan and state are read while the step's gatherings grow.
        let Step {
            id,
            plan,
            persisted,
            inputs,
            timeline,
            legs,
            answered,
            ..
        } = step;
        let at = |seq: u32, why: Dialling| Context {
            id: *id,
            plan,
            state: &persisted.machine,
            seq,
            why,
        };
        let dials = batch
            .iter()
            .filter(|(_, action, _)| matches!(action, Action::DialA { .. }))
            .map(|(seq, action, why)| async move { self.execute(&at(*seq, *why), action).await });
        let mut dialled = futures_util::future::join_all(dials).await.into_iter();
        for (seq, action, why) in &batch {
            let executed = match action {
                Action::DialA { .. } => dialled.next(),
                // Recorded when decided, in `decide`.
                Action::Finish(_) | Action::CallEnded { .. } => continue,
                _ => Some(self.execute(&at(*seq, *why), action).await),
            };
            let Some(executed) = executed else { continue };
            if matches!(
                action,
                Action::Speak { leg: Leg::A, .. } | Action::Menu { .. }
            ) && let Some(at) = answered.take()
            {
                crate::metrics::metrics()
                    .dead_air_seconds
                    .observe(at.elapsed());
            }
            timeline.extend(executed.timeline);
            legs.extend(executed.leg);
            inputs.extend(executed.feedback);
        }
    }

    /// Persists the state with the timeline lines and legs gathered since the last save,
    /// and the events the transition records; then hands the events created on to the
    /// pipelines.
    async fn save(&self, step: &mut Step, events: Vec<NewEvent>) -> Result<(), EngineError> {
        let outcome = step.persisted.machine.outcome();
        // Plain data: serializing cannot fail.
        let state = serde_json::to_string(&step.persisted).unwrap_or_default();
        let created = self
            .shared
            .store
            .save_escalation(EscalationUpdate {
                id: step.id,
                state,
                status: outcome.map_or("active", Outcome::as_str).to_owned(),
                ended: outcome.is_some(),
                timeline: std::mem::take(&mut step.timeline),
                new_legs: std::mem::take(&mut step.legs),
                events: events.clone(),
            })
            .await?;
        self.hand_on(events, &created);
        Ok(())
    }
}

/// What one step works on: the escalation as loaded, and what it gathered since its last
/// save.
struct Step {
    id: EscalationId,
    /// The event that started the escalation.
    event_id: String,
    plan: Plan,
    persisted: Persisted,
    inputs: VecDeque<Input>,
    /// Decided, not yet run: (command number, action, why it is run).
    actions: Vec<(u32, Action, Dialling)>,
    timeline: Vec<TimelineEntry>,
    legs: Vec<NewLeg>,
    /// When leg A answered in this step: dead air lasts until the first command on it.
    answered: Option<std::time::Instant>,
}

/// Whether a step first repairs what an interrupted step may have left half done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recover {
    /// Only when the hold was taken from a node that died mid-step.
    IfTakenOver,
    /// Always (a resume).
    Always,
}
