//! An escalation's plan, fixed when it is created: who to ring in which order, who "connect
//! me" reaches, and what the briefing talks about.
//!
//! The policy is flattened into call slots: for each pass (1 + `repeat`), each step in order,
//! each target of the step in order, `attempts` calls. The targets of a parallel step are
//! rung at once, `attempts` times: each round is one group of slots.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::machine::{CallRules, Slot};
use crate::pipeline::spec::{ConnectTo, VoiceSpec};
use crate::voice::settings::{Policy, Ring, is_e164};

/// The built-in briefing instructions.
pub const DEFAULT_BRIEFING_PROMPT: &str = "You brief an on-call engineer on the phone. In at most two short sentences, say what is wrong and who is affected, using only the facts given. No greeting, no markdown, no phone numbers.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub slots: Vec<Slot>,
    /// The connect target's number; `None` means "connect" is not offered (unless the
    /// Merge lookup below finds one while the phone rings).
    pub connect_to: Option<String>,
    pub briefing: BriefingContext,
    /// The Merge ticket behind the event, whose contact's phone becomes the connect target.
    #[serde(default)]
    pub merge_ticket: Option<MergeTicketRef>,
    /// The Merge deal behind the event, which gets a CRM note with the outcome.
    #[serde(default)]
    pub merge_deal: Option<MergeDealRef>,
    /// The policy's role, voicemail rule and menu bound.
    #[serde(default)]
    pub rules: CallRules,
}

/// A ticket in a Merge linked account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeTicketRef {
    pub linked_account_id: String,
    pub ticket_id: String,
}

/// An opportunity in a Merge linked account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeDealRef {
    pub linked_account_id: String,
    pub opportunity_id: String,
    /// The deal's CRM account id, sent with the note.
    pub account_id: Option<String>,
    /// The CRM integration, when the webhook named it: notes exist only for some.
    pub integration: Option<String>,
}

/// What the briefing is generated from: the event's type, labels and payload fields after
/// the pipeline's redaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BriefingContext {
    pub event_type: String,
    pub prompt: String,
    /// The headline: the payload's subject, title or name.
    pub title: Option<String>,
    /// Who is affected: customer, account or company.
    pub customer: Option<String>,
    /// Labels (e.g. urgency) and scalar payload fields, as `name: value` lines, bounded.
    pub facts: Vec<(String, String)>,
}

/// Facts passed to the model at most; a briefing needs the gist, not the whole ticket.
const MAX_FACTS: usize = 12;
const MAX_FACT_CHARS: usize = 300;

pub fn slots(policy: &Policy) -> Vec<Slot> {
    let mut slots = Vec::new();
    let mut groups = 0;
    let slot = |target: &crate::voice::settings::Target,
                step: &crate::voice::settings::PolicyStep,
                group| Slot {
        number: target.number.clone(),
        name: target.name.clone(),
        ring_timeout_secs: step.ring_timeout_secs,
        group,
    };
    for _pass in 0..=policy.repeat {
        for step in &policy.steps {
            match step.ring {
                Ring::Sequential => {
                    for target in &step.targets {
                        for _ in 0..step.attempts {
                            slots.push(slot(target, step, None));
                        }
                    }
                }
                Ring::Parallel => {
                    for _ in 0..step.attempts {
                        groups += 1;
                        for target in &step.targets {
                            slots.push(slot(target, step, Some(groups)));
                        }
                    }
                }
            }
        }
    }
    slots
}

/// The plan for one event. `payload` is the payload as it leaves Klaxon (redacted by the
/// pipeline's steps); the connect target is read from the original, since a redacted phone
/// number cannot be dialled.
pub fn plan(
    policy: &Policy,
    spec: &VoiceSpec,
    event_type: &str,
    original: &Value,
    outgoing: &Value,
    labels: &Map<String, Value>,
) -> Plan {
    let connect_to = spec.connect_to.as_ref().and_then(|c| match c {
        ConnectTo::Number(number) => Some(number.clone()),
        ConnectTo::Field(path) => path
            .split('.')
            .try_fold(original, |v, part| v.get(part))
            .and_then(Value::as_str)
            .map(|s| {
                s.chars()
                    .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
                    .collect::<String>()
            })
            .filter(|n| is_e164(n)),
    });
    let text = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| outgoing.get(*n).and_then(Value::as_str))
            .map(|s| truncate(s, MAX_FACT_CHARS))
    };
    let mut facts: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    if let Some(fields) = outgoing.as_object() {
        for (name, value) in fields {
            if is_bookkeeping(name, value) {
                continue;
            }
            let value = match value {
                Value::String(s) => truncate(s, MAX_FACT_CHARS),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            if facts.len() >= MAX_FACTS {
                break;
            }
            facts.push((name.clone(), value));
        }
    }
    // Events stored from Merge webhooks and polls carry the linked account next to the object.
    let field = |name: &str| original.get(name).and_then(Value::as_str);
    let (mut merge_ticket, mut merge_deal) = (None, None);
    if let (Some(account), Some(id)) = (field("linked_account_id"), field("id")) {
        if event_type.starts_with("merge.ticket.") {
            merge_ticket = Some(MergeTicketRef {
                linked_account_id: account.to_owned(),
                ticket_id: id.to_owned(),
            });
        } else if event_type.starts_with("merge.opportunity.") {
            merge_deal = Some(MergeDealRef {
                linked_account_id: account.to_owned(),
                opportunity_id: id.to_owned(),
                account_id: field("account").map(str::to_owned),
                integration: field("integration").map(str::to_owned),
            });
        }
    }
    Plan {
        slots: slots(policy),
        rules: CallRules {
            role: policy.role.clone(),
            voicemail: policy.voicemail,
            max_menu_rounds: policy.max_menu_rounds,
        },
        merge_ticket,
        merge_deal,
        connect_to,
        briefing: BriefingContext {
            event_type: event_type.to_owned(),
            prompt: spec
                .briefing_prompt
                .clone()
                .unwrap_or_else(|| DEFAULT_BRIEFING_PROMPT.to_owned()),
            title: text(&["subject", "title", "deal_name", "name", "summary"]),
            customer: text(&[
                "customer",
                "customer_name",
                "account",
                "account_name",
                "company",
            ]),
            facts,
        },
    }
}

impl BriefingContext {
    /// The briefing when no model answers in time: built from the event alone.
    pub fn template(&self) -> String {
        let kind = self.event_type.replace(['.', '_'], " ");
        let urgency = self
            .facts
            .iter()
            .find(|(k, _)| matches!(k.as_str(), "urgency" | "priority" | "severity"))
            .map(|(_, v)| format!("{v} "))
            .unwrap_or_default();
        let mut text = format!("{urgency}{kind}");
        if let Some(title) = &self.title {
            text.push_str(": ");
            text.push_str(title);
        }
        text.push('.');
        if let Some(customer) = &self.customer {
            text.push_str(&format!(" Customer: {customer}."));
        }
        text
    }

    /// What the model reads.
    pub fn model_input(&self) -> String {
        let mut input = format!("Event type: {}\n", self.event_type);
        for (name, value) in &self.facts {
            input.push_str(&format!("{name}: {value}\n"));
        }
        input
    }
}

/// Fields a briefing has no use for (ids, sync times, Merge's envelope), which would crowd
/// out the facts under [`MAX_FACTS`].
fn is_bookkeeping(name: &str, value: &Value) -> bool {
    let looks_like_uuid = value
        .as_str()
        .is_some_and(|s| s.len() == 36 && s.bytes().filter(|b| *b == b'-').count() == 4);
    name == "id"
        || name.ends_with("_id")
        || matches!(name, "merge_event" | "modified_at" | "integration")
        || looks_like_uuid
}

/// A phone number as dialled: spaces, dashes, dots and brackets removed; `None` unless the
/// result is +E.164.
pub fn normalise_phone(number: &str) -> Option<String> {
    let compact: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    is_e164(&compact).then_some(compact)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::voice::settings::{PolicyStep, Target};

    fn target(n: &str) -> Target {
        Target {
            number: n.into(),
            name: None,
        }
    }

    #[test]
    fn policies_flatten_in_order_with_attempts_and_repeats() {
        let step = |targets: &[&str], attempts, ring| PolicyStep {
            targets: targets.iter().map(|n| target(n)).collect(),
            ring_timeout_secs: 20,
            attempts,
            ring,
        };
        let policy = Policy::new(
            vec![
                step(&["+1555001", "+1555002"], 2, Ring::Sequential),
                step(&["+1555003"], 1, Ring::Sequential),
            ],
            1,
        );
        let numbers: Vec<String> = slots(&policy).into_iter().map(|s| s.number).collect();
        let pass = ["+1555001", "+1555001", "+1555002", "+1555002", "+1555003"];
        let expected: Vec<&str> = pass.iter().chain(pass.iter()).copied().collect();
        assert_eq!(numbers, expected);
        assert!(slots(&policy).iter().all(|s| s.group.is_none()));

        // A parallel step: each attempt is one group of all its targets.
        let policy = Policy::new(
            vec![
                step(&["+1555001", "+1555002"], 2, Ring::Parallel),
                step(&["+1555003"], 1, Ring::Sequential),
            ],
            0,
        );
        let groups: Vec<(String, Option<u32>)> = slots(&policy)
            .into_iter()
            .map(|s| (s.number, s.group))
            .collect();
        let expected = [
            ("+1555001", Some(1)),
            ("+1555002", Some(1)),
            ("+1555001", Some(2)),
            ("+1555002", Some(2)),
            ("+1555003", None),
        ];
        assert_eq!(groups, expected.map(|(n, g)| (n.to_owned(), g)).to_vec());
    }

    #[test]
    fn the_connect_target_is_read_from_the_original_payload_and_must_be_e164() {
        let policy = Policy::new(vec![], 0);
        let spec = |field: &str| VoiceSpec {
            policy: "oncall".into(),
            connect_to: Some(ConnectTo::Field(field.into())),
            briefing_prompt: None,
        };
        let original = json!({"contact": {"phone": "+1 (415) 555-0123"}, "bad": "555-0123"});
        let redacted = json!({"contact": {"phone": "[REDACTED:phone]"}});
        let labels = Map::new();
        let good = plan(
            &policy,
            &spec("contact.phone"),
            "t",
            &original,
            &redacted,
            &labels,
        );
        assert_eq!(good.connect_to.as_deref(), Some("+14155550123"));
        let bad = plan(&policy, &spec("bad"), "t", &original, &redacted, &labels);
        assert_eq!(bad.connect_to, None, "not E.164: connect is not offered");
    }

    #[test]
    fn the_template_briefing_uses_the_headline_customer_and_urgency() {
        let mut labels = Map::new();
        labels.insert("urgency".into(), json!("critical"));
        let payload =
            json!({"subject": "Checkout down", "customer": "Acme", "body": "All EU orders fail"});
        let spec = VoiceSpec {
            policy: "oncall".into(),
            connect_to: None,
            briefing_prompt: None,
        };
        let policy = Policy::new(vec![], 0);
        let plan = plan(
            &policy,
            &spec,
            "support.ticket.created",
            &payload,
            &payload,
            &labels,
        );
        assert_eq!(
            plan.briefing.template(),
            "critical support ticket created: Checkout down. Customer: Acme."
        );
        assert!(
            plan.briefing
                .model_input()
                .contains("body: All EU orders fail")
        );
    }

    #[test]
    fn a_merge_deal_briefing_keeps_its_stage_and_drops_ids() {
        let payload = json!({
            "account": "8c000000-0000-4000-8000-000000000001", "account_name": "Acme GmbH",
            "amount": 80000, "deal_name": "Acme renewal", "id": "5c000000-0000-4000-8000-000000000001",
            "integration": "HubSpot", "last_activity_at": "2026-11-20T10:00:00Z",
            "linked_account_id": "9c000000-0000-4000-8000-000000000002", "merge_event": "Opportunity.changed",
            "modified_at": "2026-11-23T10:00:00Z", "name": "Acme renewal",
            "owner": "7c000000-0000-4000-8000-000000000001", "owner_email": "ae@example.com",
            "owner_name": "Alex Evans", "remote_id": "deal-7001",
            "stage": "6c000000-0000-4000-8000-000000000002", "stage_label": "Negotiation",
            "stage_name": "negotiation", "status": "OPEN",
        });
        let spec = VoiceSpec {
            policy: "vp_sales".into(),
            connect_to: None,
            briefing_prompt: None,
        };
        let policy = Policy::new(vec![], 0);
        let plan = plan(
            &policy,
            &spec,
            "merge.opportunity.changed",
            &payload,
            &payload,
            &Map::new(),
        );
        let names: Vec<&str> = plan
            .briefing
            .facts
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(names.contains(&"stage_name"), "{names:?}");
        assert!(
            !names
                .iter()
                .any(|n| *n == "id" || n.ends_with("_id") || *n == "stage"),
            "{names:?}"
        );
    }
}
