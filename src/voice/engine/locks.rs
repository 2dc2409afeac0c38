//! The per-escalation lock within this process: one task steps an escalation at a time
//! (across nodes the store's lease does the same).

use std::sync::Arc;

use super::EngineHandle;
use crate::store::EscalationId;

impl EngineHandle {
    pub(super) fn lock_for(&self, id: EscalationId) -> Arc<tokio::sync::Mutex<()>> {
        match self.shared.locks.lock() {
            Ok(mut locks) => locks.entry(id).or_default().clone(),
            // A poisoned map only means another task panicked while inserting; a fresh
            // lock is still correct for this step.
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}
