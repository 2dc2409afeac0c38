//! An escalation's plan, fixed when it is created: who to ring in which order, who "connect
//! me" reaches, and what the briefing talks about.
//!
//! The policy is flattened into call slots: for each pass (1 + `repeat`), each step in order,
//! each target of the step in order, `attempts` calls. The targets of a parallel step are
//! rung at once, `attempts` times: each round is one group of slots.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::machine::{CallRules, Slot};
use crate::people::is_e164;
use crate::voice::destination::{ConnectTo, VoiceSpec};
use crate::voice::enrich::Found;
use crate::voice::settings::{Policy, Ring};
use crate::voice::sms::Texting;
use crate::voice::spoken;

/// The built-in briefing instructions.
pub const DEFAULT_BRIEFING_PROMPT: &str = "You brief an on-call engineer on the phone. In at most two short sentences, say what is wrong and who is affected, using only the facts given. Name people, companies, amounts and stages; never read out ids, e-mail addresses, links or phone numbers. No greeting, no markdown.";

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
                group,
                first: bool| Slot {
        number: target.number.clone(),
        name: target.name.clone(),
        ring_timeout_secs: step.ring_timeout_secs,
        group,
        // A text before the calls goes with a person's first call of the step (one text per
        // pass, however many attempts); a text instead of calls is every attempt.
        sms: step.sms.filter(|t| first || *t == Texting::Instead),
        schedule: target.schedule.clone(),
    };
    for _pass in 0..=policy.repeat {
        for step in &policy.steps {
            match step.ring {
                Ring::Sequential => {
                    for target in &step.targets {
                        for attempt in 0..step.attempts {
                            slots.push(slot(target, step, None, attempt == 0));
                        }
                    }
                }
                Ring::Parallel => {
                    for attempt in 0..step.attempts {
                        groups += 1;
                        for target in &step.targets {
                            slots.push(slot(target, step, Some(groups), attempt == 0));
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
    let facts = briefing_facts(labels, outgoing);
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
            title: spoken_field(outgoing, TITLE_FIELDS),
            customer: spoken_field(outgoing, CUSTOMER_FIELDS),
            facts,
        },
    }
}

/// Where the headline is read from, best first.
const TITLE_FIELDS: &[&str] = &["subject", "title", "deal_name", "name", "summary"];
/// Where "who is affected" is read from, best first: names before the bare fields, which
/// in Merge objects are the related object's id.
const CUSTOMER_FIELDS: &[&str] = &[
    "customer_name",
    "account_name",
    "company_name",
    "contact_name",
    "customer",
    "account",
    "company",
];
/// Payload fields the template and the model need most, taken before the others so that
/// [`MAX_FACTS`] never crowds them out.
const KEY_FACTS: &[&str] = &[
    "subject",
    "title",
    "deal_name",
    "name",
    "priority",
    "severity",
    "urgency",
    "amount",
    "stage_label",
    "stage_name",
    "account_name",
    "customer_name",
    "contact_name",
    "status",
];

/// The first of `names` in the payload with something to say once ids, addresses and phone
/// numbers are taken out: a field that *is* an id (Merge's `account`) is passed over, a
/// subject that merely mentions an address is said without it.
fn spoken_field(payload: &Value, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| payload.get(*name).and_then(Value::as_str))
        .map(|text| truncate(&spoken::speakable(text), MAX_FACT_CHARS))
        .find(|text| !text.is_empty())
}

/// Labels, then the key payload fields, then the rest, bounded by [`MAX_FACTS`]. Values are
/// made [`spoken::speakable`]: what the model is never shown, it cannot read aloud.
fn briefing_facts(labels: &Map<String, Value>, payload: &Value) -> Vec<(String, String)> {
    let fields = payload.as_object();
    let key_fields = KEY_FACTS
        .iter()
        .filter_map(|name| fields?.get_key_value(*name));
    let other_fields = fields
        .into_iter()
        .flatten()
        .filter(|(name, _)| !KEY_FACTS.contains(&name.as_str()));
    let payload_facts = key_fields
        .chain(other_fields)
        .filter(|(name, value)| !is_bookkeeping(name, value));
    labels
        .iter()
        .chain(payload_facts)
        .filter_map(|(name, value)| Some((name.clone(), fact_text(value)?)))
        .take(MAX_FACTS)
        .collect()
}

/// A scalar as a fact's text; `None` for objects, lists, null and text that was all ids.
fn fact_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => truncate(&spoken::speakable(s), MAX_FACT_CHARS),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// What kind of thing an event is about, as said on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Ticket,
    Deal,
}

impl BriefingContext {
    /// The briefing when no model answers in time, from the event and what the enrichment
    /// `found` (whose names take precedence: the payload of a Merge webhook carries only ids).
    /// Reads like "Urgent support ticket: Checkout down, for Acme Retail (Dana Customer)." or
    /// "Deal Globex renewal, 120,000 dollars, now in negotiation, account Acme GmbH.".
    pub fn template_with(&self, found: Option<&Found>) -> String {
        let account = found
            .and_then(|f| f.account_name.clone())
            .or_else(|| self.customer.clone());
        let contact = found.and_then(|f| f.contact_name.clone());
        let text = match self.subject() {
            Some(Subject::Deal) => self.deal_sentence(account.as_deref()),
            _ => self.event_sentence(account.as_deref(), contact.as_deref()),
        };
        spoken::speakable(&text)
    }

    /// [`BriefingContext::template_with`] before (or without) an enrichment.
    pub fn template(&self) -> String {
        self.template_with(None)
    }

    /// The short subject said in whispers and voicemail messages: the title, else what kind
    /// of event it is ("the urgent support ticket").
    pub fn headline(&self) -> String {
        let title = self.title.as_deref().map(spoken::speakable);
        match title.filter(|t| !t.is_empty()) {
            Some(title) => title,
            None => {
                let urgency = self.urgency().map(|u| u.to_lowercase() + " ");
                format!("the {}{}", urgency.unwrap_or_default(), self.kind())
            }
        }
    }

    /// What the model reads.
    pub fn model_input(&self) -> String {
        let mut input = format!("Event type: {}\n", self.event_type);
        for (name, value) in &self.facts {
            input.push_str(&format!("{name}: {value}\n"));
        }
        input
    }

    /// "Urgent support ticket: Checkout down, for Acme Retail (Dana Customer)."
    fn event_sentence(&self, account: Option<&str>, contact: Option<&str>) -> String {
        let mut text = match self.urgency() {
            Some(urgency) => format!("{} {}", capitalised(&urgency.to_lowercase()), self.kind()),
            None => capitalised(&self.kind()),
        };
        if let Some(title) = &self.title {
            text.push_str(": ");
            text.push_str(title);
        }
        let who = match (account, contact) {
            (Some(account), Some(contact)) if account != contact => {
                Some(format!("{account} ({contact})"))
            }
            (Some(name), _) | (None, Some(name)) => Some(name.to_owned()),
            (None, None) => None,
        };
        if let Some(who) = who {
            text.push_str(if self.title.is_some() {
                ", for "
            } else {
                " for "
            });
            text.push_str(&who);
        }
        text.push('.');
        text
    }

    /// "Deal Globex renewal, 120,000 dollars, now in negotiation, account Acme GmbH."
    fn deal_sentence(&self, account: Option<&str>) -> String {
        let mut parts = vec![match &self.title {
            Some(title) => format!("Deal {title}"),
            None => "A deal".to_owned(),
        }];
        if let Some(amount) = self.fact(&["amount"]) {
            parts.push(spoken_amount(amount));
        }
        if let Some(stage) = self.fact(&["stage_label", "stage_name"]) {
            parts.push(format!("now in {}", stage.replace('_', " ").to_lowercase()));
        }
        if let Some(account) = account {
            parts.push(format!("account {account}"));
        }
        parts.join(", ") + "."
    }

    /// The event's kind as a listener would name it.
    fn kind(&self) -> String {
        match self.subject() {
            Some(Subject::Ticket) => "support ticket".to_owned(),
            Some(Subject::Deal) => "deal".to_owned(),
            None => self.event_type.replace(['.', '_'], " "),
        }
    }

    fn subject(&self) -> Option<Subject> {
        let mut parts = self.event_type.split('.');
        let (first, second) = (parts.next(), parts.next());
        match (first, second) {
            (Some("merge" | "support"), Some("ticket")) | (Some("ticket"), _) => {
                Some(Subject::Ticket)
            }
            (Some("merge"), Some("opportunity")) | (Some("deal" | "opportunity"), _) => {
                Some(Subject::Deal)
            }
            _ => None,
        }
    }

    fn urgency(&self) -> Option<&str> {
        self.fact(&["urgency", "priority", "severity"])
    }

    /// The first fact named one of `names`, in that order of preference.
    fn fact(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| {
            self.facts
                .iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.as_str())
        })
    }
}

/// "Urgent" from "urgent".
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "120,000 dollars" from "120000"; any other text as it is. Merge amounts carry no
/// currency; dollars is what the deal desk's users expect to hear.
fn spoken_amount(amount: &str) -> String {
    let Ok(value) = amount.parse::<i64>() else {
        return amount.to_owned();
    };
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if value < 0 { "minus " } else { "" };
    format!("{sign}{grouped} dollars")
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
impl Plan {
    /// A plan for the engine's unit tests: `slots` rung about "Checkout down", an escalation
    /// of Merge ticket `1c` in linked account `9c`.
    pub(crate) fn for_merge_ticket(slots: Vec<Slot>) -> Plan {
        Plan {
            slots,
            rules: CallRules::default(),
            connect_to: None,
            briefing: BriefingContext {
                event_type: "merge.ticket.changed".into(),
                prompt: "Brief the engineer.".into(),
                title: Some("Checkout down".into()),
                customer: None,
                facts: Vec::new(),
            },
            merge_ticket: Some(MergeTicketRef {
                linked_account_id: "9c".into(),
                ticket_id: "1c".into(),
            }),
            merge_deal: None,
        }
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
            schedule: None,
        }
    }

    #[test]
    fn policies_flatten_in_order_with_attempts_and_repeats() {
        let step = |targets: &[&str], attempts, ring| PolicyStep {
            targets: targets.iter().map(|n| target(n)).collect(),
            ring_timeout_secs: 20,
            attempts,
            ring,
            sms: None,
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
    fn a_text_before_goes_with_each_persons_first_call_and_instead_with_every_attempt() {
        let step = |sms| PolicyStep {
            targets: vec![target("+1555001"), target("+1555002")],
            ring_timeout_secs: 20,
            attempts: 2,
            ring: Ring::Sequential,
            sms: Some(sms),
        };
        let texts = |policy: &Policy| slots(policy).into_iter().map(|s| s.sms).collect::<Vec<_>>();
        let before = Some(Texting::Before);
        assert_eq!(
            texts(&Policy::new(vec![step(Texting::Before)], 1)),
            [before, None, before, None, before, None, before, None]
        );
        assert_eq!(
            texts(&Policy::new(vec![step(Texting::Instead)], 0)),
            [Some(Texting::Instead); 4]
        );
        let parallel = PolicyStep {
            ring: Ring::Parallel,
            ..step(Texting::Before)
        };
        assert_eq!(
            texts(&Policy::new(vec![parallel], 0)),
            [before, before, None, None]
        );
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
            "Critical support ticket: Checkout down, for Acme."
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

    fn no_policy() -> Policy {
        Policy::new(vec![], 0)
    }

    fn briefing_of(event_type: &str, payload: &Value) -> BriefingContext {
        let spec = VoiceSpec {
            policy: "oncall".into(),
            connect_to: None,
            briefing_prompt: None,
        };
        plan(
            &no_policy(),
            &spec,
            event_type,
            payload,
            payload,
            &Map::new(),
        )
        .briefing
    }

    /// A Merge `Ticket.changed` webhook's payload: relations are ids.
    fn merge_ticket_payload() -> Value {
        json!({
            "id": "1c000000-0000-4000-8000-000000000001", "name": "Checkout down for EU customers",
            "priority": "URGENT", "status": "OPEN",
            "account": "3c000000-0000-4000-8000-000000000001",
            "contact": "67700e7a-ce5f-4c62-8654-356618b655c1",
            "contact_email": "dana@acme.example",
            "linked_account_id": "9c000000-0000-4000-8000-000000000001",
            "ticket_url": "https://acme.zendesk.com/agent/tickets/4821",
        })
    }

    #[test]
    fn a_merge_ticket_template_never_reads_an_id_as_the_customer() {
        // Issue 16: "URGENT merge ticket changed: … Customer: 67700e7a-…".
        let briefing = briefing_of("merge.ticket.changed", &merge_ticket_payload());
        assert_eq!(briefing.customer, None, "the account field is an id");
        assert_eq!(
            briefing.template(),
            "Urgent support ticket: Checkout down for EU customers."
        );
        let found = Found {
            phone: Some("+15552000001".into()),
            contact_name: Some("Dana Customer".into()),
            account_name: Some("Acme Retail".into()),
        };
        assert_eq!(
            briefing.template_with(Some(&found)),
            "Urgent support ticket: Checkout down for EU customers, for Acme Retail (Dana Customer)."
        );
        let contact_only = Found {
            account_name: None,
            ..found
        };
        assert_eq!(
            briefing.template_with(Some(&contact_only)),
            "Urgent support ticket: Checkout down for EU customers, for Dana Customer."
        );
    }

    #[test]
    fn names_are_preferred_to_the_bare_fields_and_ids_passed_over() {
        let payload = json!({
            "title": "5c000000-0000-4000-8000-000000000001", "name": "Checkout down",
            "customer": "cus_9f8e7d6c", "account_name": "Acme Retail",
        });
        let briefing = briefing_of("support.ticket.created", &payload);
        assert_eq!(briefing.title.as_deref(), Some("Checkout down"));
        let mentions = briefing_of(
            "support.ticket.created",
            &json!({"subject": "Login fails for bob@acme.example since 09:00"}),
        );
        assert_eq!(
            mentions.title.as_deref(),
            Some("Login fails for since 09:00"),
            "said without the address"
        );
        assert_eq!(briefing.customer.as_deref(), Some("Acme Retail"));
        assert_eq!(
            briefing.template(),
            "Support ticket: Checkout down, for Acme Retail."
        );
    }

    #[test]
    fn a_deal_template_says_amount_stage_and_account() {
        let payload = json!({
            "id": "5c000000-0000-4000-8000-000000000001", "deal_name": "Globex platform renewal",
            "name": "Globex platform renewal", "amount": 120000,
            "stage": "6c000000-0000-4000-8000-000000000002", "stage_label": "Negotiation",
            "stage_name": "negotiation", "account": "8c000000-0000-4000-8000-000000000001",
            "account_name": "Acme GmbH", "owner_email": "ae@example.com",
        });
        let briefing = briefing_of("merge.opportunity.changed", &payload);
        assert_eq!(
            briefing.template(),
            "Deal Globex platform renewal, 120,000 dollars, now in negotiation, account Acme GmbH."
        );
        assert_eq!(briefing.headline(), "Globex platform renewal");
        let bare = briefing_of(
            "merge.opportunity.changed",
            &json!({"stage_name": "contract_sent"}),
        );
        assert_eq!(bare.template(), "A deal, now in contract sent.");
    }

    #[test]
    fn other_events_say_their_type_without_dots() {
        let briefing = briefing_of(
            "billing.invoice_failed",
            &json!({"subject": "Card declined"}),
        );
        assert_eq!(
            briefing.template(),
            "Billing invoice failed: Card declined."
        );
    }

    #[test]
    fn the_headline_is_the_title_else_what_kind_of_event_it_is() {
        let briefing = briefing_of("merge.ticket.changed", &json!({"priority": "URGENT"}));
        assert_eq!(briefing.headline(), "the urgent support ticket");
        let titled = briefing_of("merge.ticket.changed", &merge_ticket_payload());
        assert_eq!(titled.headline(), "Checkout down for EU customers");
    }

    #[test]
    fn the_model_is_shown_key_facts_first_and_no_ids_or_addresses() {
        let mut payload = merge_ticket_payload();
        payload["description"] = json!("Reported by dana@acme.example: checkout fails");
        let input = briefing_of("merge.ticket.changed", &payload).model_input();
        assert!(
            input.contains("description: Reported by: checkout fails"),
            "{input}"
        );
        assert!(
            !input.contains("contact_email"),
            "an address alone is dropped: {input}"
        );
        let ids: Vec<String> = input.lines().filter_map(spoken::contains_id).collect();
        assert!(ids.is_empty(), "{ids:?} in {input}");

        for letter in 'a'..='t' {
            payload[format!("extra_{letter}")] = json!("filler");
        }
        let briefing = briefing_of("merge.ticket.changed", &payload);
        let names: Vec<&str> = briefing.facts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..3], ["name", "priority", "status"], "{names:?}");
        assert_eq!(names.len(), MAX_FACTS);
    }

    #[test]
    fn amounts_are_grouped_in_thousands() {
        assert_eq!(spoken_amount("120000"), "120,000 dollars");
        assert_eq!(spoken_amount("999"), "999 dollars");
        assert_eq!(spoken_amount("1234567"), "1,234,567 dollars");
        assert_eq!(spoken_amount("-5000"), "minus 5,000 dollars");
        assert_eq!(spoken_amount("1.5M"), "1.5M");
    }
}
