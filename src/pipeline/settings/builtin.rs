//! The built-in pipelines, used when the settings declare none (documented in the README):
//! parsed and validated like a user's, the Merge rules filled in, and the phone ones only
//! when their escalation policy exists.

use serde::Deserialize;

use super::{RawPipeline, resolve};
use crate::config::{Origin, Reader};
use crate::merge::settings::MergeRules;
use crate::pipeline::spec::{DestinationKind, PipelineSpec};
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
