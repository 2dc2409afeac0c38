//! Ends the escalations of an alert the source resolved or acknowledged.
//!
//! The store marks an episode to settle in the same transaction that records the resolve or
//! acknowledge (`crate::store::alert_group`), so nothing is lost to a crash: this task reads
//! the marks, tells the engine about each escalation of the episode still running, and clears
//! a mark once the episode's opening event is through its pipeline (before that, its
//! escalation may not exist yet: a resolve can overtake the firing it resolves, even before
//! that firing's event is stored). It is poked right after a resolve or acknowledge is
//! stored, and also looks every [`IDLE_SWEEP`] for marks left by a crash or by another node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::AlertSource;
use crate::store::{AlertStatus, AlertToSettle, EscalationId, Store};
use crate::voice::EngineHandle;
use crate::voice::escalation::machine::Settlement;

/// How often marks are looked for while one waits on its firing's pipeline.
const BUSY_SWEEP: Duration = Duration::from_millis(200);
/// How often marks are looked for when nothing is known to wait.
pub const IDLE_SWEEP: Duration = Duration::from_secs(15);
/// Marks read per sweep.
const PAGE: usize = 256;

/// Wakes the settling task; cheap to clone.
#[derive(Clone, Default)]
pub struct Settler {
    wake: Arc<Notify>,
}

impl Settler {
    pub fn new() -> Settler {
        Settler::default()
    }

    /// Something was marked to settle: look now.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Runs the task until `shutdown`; `sources` name the senders in the timelines.
    pub fn spawn(
        &self,
        store: Store,
        engine: EngineHandle,
        sources: &[AlertSource],
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let wake = self.wake.clone();
        // "prod-am (Alertmanager)": what the timeline and the logs say ended the escalation.
        let names: Arc<HashMap<String, String>> = Arc::new(
            sources
                .iter()
                .map(|s| (s.name.clone(), format!("{} ({})", s.name, s.kind.title())))
                .collect(),
        );
        tokio::spawn(async move {
            let mut wait = Duration::ZERO;
            loop {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
                wait = match sweep(&store, &engine, &names).await {
                    Ok(Sweep::Waiting) => BUSY_SWEEP,
                    Ok(Sweep::Done) => IDLE_SWEEP,
                    Err(error) => {
                        tracing::warn!(%error, "could not settle resolved alerts; will retry");
                        BUSY_SWEEP * 5
                    }
                };
            }
        })
    }
}

enum Sweep {
    /// Every mark is cleared.
    Done,
    /// Some episode's firing is still on its way through its pipeline.
    Waiting,
}

async fn sweep(
    store: &Store,
    engine: &EngineHandle,
    names: &HashMap<String, String>,
) -> Result<Sweep, crate::store::StoreError> {
    let mut outcome = Sweep::Done;
    for mark in store.alerts_to_settle(PAGE).await? {
        let found = store
            .alert_escalations(mark.source.clone(), mark.dedup_key.clone(), mark.episode)
            .await?;
        let mut failed = false;
        for (id, status) in &found.escalations {
            let name = names.get(&mark.source).unwrap_or(&mark.source);
            if status == "active" && !settle(engine, *id, &mark, name).await {
                failed = true;
            }
        }
        match found.pipeline_pending {
            Some(false) if !failed => store.alert_settled(mark).await?,
            Some(_) => outcome = Sweep::Waiting,
            // No opening event yet: the firing that opened the episode may be between its two
            // writes, and would start an escalation after this sweep. The mark stays, looked
            // at again at the idle pace (it is only left for good by a sender that never
            // retried a notification lost to a crash).
            None => {}
        }
    }
    Ok(outcome)
}

/// Ends one escalation the way the source said; false when the engine could not be told.
async fn settle(engine: &EngineHandle, id: EscalationId, mark: &AlertToSettle, name: &str) -> bool {
    tracing::info!(escalation = %id, source = name, how = mark.how.as_str(),
        "the alert source ended the alert; ending its escalation");
    let settlement = match mark.how {
        AlertStatus::Acknowledged => Settlement::Acknowledged {
            by: name.to_owned(),
        },
        _ => Settlement::Resolved {
            source: name.to_owned(),
        },
    };
    match engine.settle(id, settlement).await {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%error, escalation = %id, "could not end an escalation");
            false
        }
    }
}
