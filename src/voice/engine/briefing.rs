//! The spoken briefing: written by the model in the background while the phone rings, fed
//! to the escalation when ready (the template is used until then, or if the model fails).

use super::EngineHandle;
use crate::store::EscalationId;
use crate::voice::escalation::machine::Input;
use crate::voice::spoken;

/// Longest spoken briefing, in model tokens (two sentences).
const BRIEFING_MAX_TOKENS: usize = 120;

impl EngineHandle {
    /// Generates the briefing in the background, if a model is configured.
    pub(super) fn brief(&self, id: EscalationId) {
        let Some(model) = self.shared.model.clone() else {
            return;
        };
        let engine = self.clone();
        tokio::spawn(async move {
            let Some(plan) = engine.stored_plan(id).await else {
                return;
            };
            let context = &plan.briefing;
            let written = model
                .write(&context.prompt, &context.model_input(), BRIEFING_MAX_TOKENS)
                .await;
            let result = if written.is_ok() { "ok" } else { "error" };
            crate::metrics::metrics()
                .model_calls
                .inc(&["briefing", result]);
            match written {
                // Whatever the model wrote, no id, address or number is read aloud.
                Ok(text) => {
                    let text = spoken::speakable(&text);
                    engine.feed(id, Input::BriefingReady(text)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, escalation = %id, "briefing model failed; the template is used");
                }
            }
        });
    }
}
