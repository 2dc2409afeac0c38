//! Merge enrichment of a ticket escalation while the phone rings: who "connect me"
//! reaches, and the names the briefing says.

use super::EngineHandle;
use crate::store::EscalationId;
use crate::voice::enrich;
use crate::voice::escalation::machine::Input;
use crate::voice::escalation::plan::Plan;

impl EngineHandle {
    /// For a Merge ticket: the contact's phone (`expand=contact`), else `BRIDGE_NUMBER`, and
    /// the contact's and account's names for the briefing.
    pub(super) fn enrich(&self, id: EscalationId) {
        let engine = self.clone();
        tokio::spawn(async move {
            let Ok(Some(record)) = engine.shared.store.load_escalation(id).await else {
                return;
            };
            let Ok(plan) = serde_json::from_str::<Plan>(&record.plan) else {
                return;
            };
            let (Some(ticket), Some(merge)) = (&plan.merge_ticket, &engine.shared.merge) else {
                return;
            };
            let found = match enrich::ticket(merge, ticket).await {
                Ok(found) => Some(found),
                Err(error) => {
                    tracing::warn!(%error, escalation = %id, "could not look up the ticket's contact");
                    None
                }
            };
            let phone = found.as_ref().and_then(|f| f.phone.clone());
            let connect_to = phone.or_else(|| engine.shared.bridge_number.clone());
            if connect_to.is_some() || found.is_some() {
                engine.feed(id, Input::Enriched { connect_to, found }).await;
            }
        });
    }
}
