//! The built-in pipelines, used when the settings declare none (documented in the README):
//! parsed and validated like a user's, the Merge rules filled in, and the phone ones only
//! when their escalation policy exists; and [`merge_writeback`], the route of escalation
//! events to their Merge ticket or deal, which runs whatever the settings declare.

use std::sync::Arc;

use serde::Deserialize;

use super::{RawPipeline, resolve};
use crate::config::{Origin, Reader};
use crate::destinations::Destination;
use crate::merge::settings::MergeRules;
use crate::pipeline::condition::Condition;
use crate::pipeline::spec::{DestinationKind, DestinationSpec, PipelineSpec, TypePattern};
use crate::voice::settings::VoiceSettings;

/// The pipelines Klaxon runs when the settings declare none (documented in the README).
pub const BUILTIN_PIPELINES: &str = include_str!("builtin_pipelines.toml");

/// The phone pipelines of the reference apps, built in when their policy exists (from
/// `ONCALL_NUMBER` / `VP_SALES_NUMBER` or the settings): `POST /escalate` rings `oncall`,
/// `POST /alert` rings `vp_sales`.
pub const BUILTIN_VOICE_PIPELINES: &str = include_str!("builtin_voice_pipelines.toml");

/// The built-in pipelines, parsed and validated like a user's; the phone ones only when
/// their policy exists.
pub fn builtin(voice: &VoiceSettings, rules: &MergeRules) -> Vec<PipelineSpec> {
    let mut specs = parse_builtin(BUILTIN_PIPELINES, voice);
    specs.extend(
        parse_builtin(&with_rules(BUILTIN_VOICE_PIPELINES, rules), voice)
            .into_iter()
            .filter(|p| {
                p.destinations.iter().all(|d| match &d.kind {
                    DestinationKind::Voice(v) => voice.policies.contains_key(&v.policy),
                    _ => true,
                })
            }),
    );
    specs
}

/// The name of the built-in route of escalation events to their Merge ticket or deal.
pub const MERGE_WRITEBACK: &str = "merge-writeback";

/// The built-in route that writes escalations back to Merge: every escalation event
/// (`escalation.<outcome>`, `escalation.call_ended`) whose payload names a Merge ticket or
/// deal becomes a delivery of a status and comment, or a CRM note, retried and
/// dead-lettered like any. Runs whatever pipelines the settings declare, when Merge is
/// configured (the server's Merge client, or the sandbox Merge). Its destinations keep the
/// names write-back deliveries always had; a ticket wins over a deal.
pub fn merge_writeback() -> PipelineSpec {
    use crate::destinations::merge_writeback::Object;
    use crate::voice::escalation::event::CALL_ENDED;
    let route = |name: &str, object: Object, call_ended: bool| {
        let has = match object {
            Object::Ticket => "has(payload.merge_ticket)",
            Object::Deal => "!has(payload.merge_ticket) && has(payload.merge_deal)",
        };
        let stage = if call_ended { "==" } else { "!=" };
        let when = format!("{has} && event_type {stage} \"{CALL_ENDED}\"");
        DestinationSpec {
            name: name.to_owned(),
            when: Some(Arc::new(
                Condition::compile(&when).expect("the write-back conditions compile"),
            )),
            kind: DestinationKind::Deliver(Destination::MergeWriteback(object)),
        }
    };
    use crate::merge::writeback as names;
    PipelineSpec {
        name: MERGE_WRITEBACK.to_owned(),
        on: vec![TypePattern::new("escalation.*")],
        steps: Vec::new(),
        destinations: vec![
            route(names::DESTINATION, Object::Ticket, false),
            route(names::CALL_ENDED_DESTINATION, Object::Ticket, true),
            route(names::NOTE_DESTINATION, Object::Deal, false),
            route(names::CALL_ENDED_NOTE_DESTINATION, Object::Deal, true),
        ],
        klaxon_events_only: true,
    }
}

/// Fills the `{{…}}` placeholders of the built-in pipelines with the Merge rules, as CEL
/// literals.
fn with_rules(text: &str, rules: &MergeRules) -> String {
    // A JSON list of strings is a CEL list literal; `'` would end the TOML literal string.
    let list = |items: &[String]| {
        serde_json::to_string(items)
            .unwrap_or_else(|_| "[]".into())
            .replace('\'', "\\u0027")
    };
    let mut priorities = rules.ticket_priorities.clone();
    // Merge has no CRITICAL, but other sources of `ticket.*` events do.
    if !priorities.iter().any(|p| p == "CRITICAL") {
        priorities.push("CRITICAL".into());
    }
    text.replace("{{ticket_priorities}}", &list(&priorities))
        .replace("{{alert_stages}}", &list(&rules.alert_stages))
        .replace("{{deal_threshold}}", &rules.deal_threshold.to_string())
}

fn parse_builtin(text: &str, voice: &VoiceSettings) -> Vec<PipelineSpec> {
    #[derive(Deserialize)]
    struct File {
        pipelines: Vec<RawPipeline>,
    }
    let file: File = toml::from_str(text).expect("the built-in pipelines parse");
    // Validated against every policy name they use, so a missing policy drops the pipeline
    // (above) instead of failing the settings.
    let mut with_policies = voice.clone();
    for name in ["oncall", "vp_sales"] {
        with_policies
            .policies
            .entry(name.to_owned())
            .or_insert_with(|| crate::voice::settings::Policy::new(Vec::new(), 0));
    }
    let mut reader = Reader::new(Origin::Default, &|_| None);
    let specs = resolve(file.pipelines, &with_policies, &mut reader);
    let errors = reader.into_errors();
    assert!(
        errors.is_empty(),
        "the built-in pipelines are valid: {errors:?}"
    );
    specs
}
