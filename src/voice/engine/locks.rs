//! The per-escalation lock within this process: one task steps an escalation at a time
//! (across nodes the store's lease does the same). Locks are made on first use and
//! forgotten once the escalation is over.

use std::sync::Arc;

use super::EngineHandle;
use crate::store::EscalationId;
use crate::voice::escalation::machine::{Phase, State};

impl EngineHandle {
    pub(super) fn lock_for(&self, id: EscalationId) -> Arc<tokio::sync::Mutex<()>> {
        match self.shared.locks.lock() {
            Ok(mut locks) => locks.entry(id).or_default().clone(),
            // A poisoned map only means another task panicked while inserting; a fresh
            // lock is still correct for this step.
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Forgets the lock of an escalation nothing will drive again (later inputs are ignored
    /// once it is done and its calls are over), so the map does not grow with every
    /// escalation ever run. A task already waiting holds its own clone and still gets it.
    pub(super) fn forget_if_done(&self, id: EscalationId, state: &State) {
        if is_over(state)
            && let Ok(mut locks) = self.shared.locks.lock()
        {
            locks.remove(&id);
        }
    }
}

/// Done, with no call still live.
fn is_over(state: &State) -> bool {
    matches!(state.phase, Phase::Done { .. }) && !state.has_live_legs()
}
