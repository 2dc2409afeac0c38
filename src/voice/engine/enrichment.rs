//! Enrichment of an escalation while the phone rings (who "connect me" reaches, the names
//! the briefing says), through the [`Enricher`](crate::voice::enrich::Enricher) the engine
//! was built with; without one, nothing is looked up.

use super::EngineHandle;
use crate::store::EscalationId;
use crate::voice::enrich::Enriched;
use crate::voice::escalation::machine::Input;

impl EngineHandle {
    /// Looks up what the enricher can tell about the escalation's plan, in the background,
    /// and feeds it to the escalation.
    pub(super) fn enrich(&self, id: EscalationId) {
        let Some(enricher) = self.shared.enricher.clone() else {
            return;
        };
        let engine = self.clone();
        tokio::spawn(async move {
            let Some(plan) = engine.stored_plan(id).await else {
                return;
            };
            if let Some(Enriched { connect_to, found }) = enricher.enrich(&plan).await {
                engine.feed(id, Input::Enriched { connect_to, found }).await;
            }
        });
    }
}
