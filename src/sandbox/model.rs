//! A deterministic OpenAI-compatible model: `POST /v1/chat/completions` (and
//! `/chat/completions`) on loopback, answered from the request alone, so `klaxon demo` and
//! tests get briefings and labels without an account, a GPU or any randomness.
//!
//! Klaxon asks a model two things (see `llm`): pick one label (`guided_choice` is set), or
//! write a two-sentence spoken briefing from `name: value` facts. [`answer`] does both with
//! plain rules, as a pure function:
//!
//! - **label**: a fact named `urgency`, `priority`, `severity` or `label` whose value is one of
//!   the labels wins; otherwise words such as "down", "outage", "500" or "urgent" choose the
//!   last label, "error", "slow" or "broken" the middle one, and anything else the first
//!   (labels are listed from least to most severe, as in the built-in pipelines).
//! - **briefing**: the headline (`subject`, `title`, `deal_name`, `name`), who is affected
//!   (`customer`, `account_name`, …) and the priority, or for a deal its amount and stage.
//!   Values that look like phone numbers or e-mail addresses are never spoken.
//!
//! It does not simulate latency, token limits, streaming or errors; the tests' own model
//! server (`tests/it/support/model.rs`) does failures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::background::BackgroundServer;
pub use super::background::StartError;

/// The model id the sandbox reports; any requested id is accepted.
pub const MODEL_ID: &str = "klaxon/sandbox-deterministic";

/// Words that make an event the most severe label.
const SEVERE_WORDS: &[&str] = &[
    "down",
    "outage",
    "500",
    "502",
    "503",
    "data loss",
    "breach",
    "urgent",
    "critical",
    "failing",
];
/// Words that make an event the middle label.
const MODERATE_WORDS: &[&str] = &["error", "broken", "slow", "high", "fails"];

/// The running model server. Dropping it stops the server.
pub struct SandboxModel {
    calls: Arc<AtomicU64>,
    server: BackgroundServer,
}

impl SandboxModel {
    /// Serves the model on `listener` in the background.
    pub fn start(listener: TcpListener) -> Result<SandboxModel, StartError> {
        let calls = Arc::new(AtomicU64::new(0));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/chat/completions", post(complete))
            .with_state(Arc::clone(&calls));
        let server = BackgroundServer::start(listener, app, "sandbox model")?;
        Ok(SandboxModel { calls, server })
    }

    /// The base URL to configure as `AI_BASE_URL`, e.g. `http://127.0.0.1:40123/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr())
    }

    /// Completions answered so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Stops serving, letting in-flight requests finish.
    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}

async fn complete(State(calls): State<Arc<AtomicU64>>, Json(request): Json<Value>) -> Response {
    let Some(content) = answer(&request) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "`messages` must hold a user message", "type": "invalid_request_error"}})),
        )
            .into_response();
    };
    let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
    Json(json!({
        "id": format!("chatcmpl-sandbox-{n}"),
        "object": "chat.completion",
        "model": request.get("model").cloned().unwrap_or_else(|| json!(MODEL_ID)),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
    }))
    .into_response()
}

/// The reply to a chat completion request: a label when `guided_choice` offers some, a
/// briefing otherwise. `None` when there is no user message to answer.
pub fn answer(request: &Value) -> Option<String> {
    let input = request["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] == "user")?["content"]
        .as_str()?;
    let labels: Vec<String> = request["guided_choice"]
        .as_array()
        .map(|choices| {
            choices
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Some(if labels.is_empty() {
        brief(input)
    } else {
        choose_label(&labels, input)
    })
}

/// One of `labels` for `input`, by the rules in the module docs.
pub fn choose_label(labels: &[String], input: &str) -> String {
    let facts = facts(input);
    let named = facts
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "urgency" | "priority" | "severity" | "label"))
        .find_map(|(_, v)| labels.iter().find(|l| l.eq_ignore_ascii_case(v.trim())));
    if let Some(label) = named {
        return label.clone();
    }
    let text = input.to_lowercase();
    let has_word = |words: &[&str]| words.iter().any(|w| contains_word(&text, w));
    let index = if has_word(SEVERE_WORDS) {
        labels.len().saturating_sub(1)
    } else if has_word(MODERATE_WORDS) {
        labels.len() / 2
    } else {
        0
    };
    labels.get(index).cloned().unwrap_or_default()
}

/// A spoken briefing from the `name: value` facts of `input`.
pub fn brief(input: &str) -> String {
    let facts = facts(input);
    let fact = |names: &[&str]| {
        names.iter().find_map(|name| {
            facts
                .iter()
                .find(|(k, v)| k == name && speakable(v))
                .map(|(_, v)| v.trim().to_owned())
        })
    };
    let event_type = fact(&["event type"]).unwrap_or_default();
    let title = fact(&["subject", "title", "deal_name", "name", "summary"]);
    let who = fact(&[
        "customer",
        "customer_name",
        "account_name",
        "account",
        "company",
    ]);
    if event_type.contains("opportunity") || event_type.contains("deal") {
        let mut text = format!("Deal {}", title.as_deref().unwrap_or("without a name"));
        if let Some(amount) = fact(&["amount"]) {
            text.push_str(&format!(", worth {amount},"));
        }
        match fact(&["stage_name"]) {
            Some(stage) => text.push_str(&format!(" has entered {stage}.")),
            None => text.push_str(" needs the deal desk."),
        }
        if let Some(who) = who {
            text.push_str(&format!(" Account: {who}."));
        }
        return text;
    }
    let kind = match fact(&["urgency", "priority", "severity"]) {
        Some(level) => format!("{} ticket", capitalised(&level.to_lowercase())),
        None => "Ticket".to_owned(),
    };
    let mut text = match title {
        Some(title) => format!("{kind}: {title}."),
        None => format!("{kind}: an event of type {event_type} needs you."),
    };
    if let Some(who) = who {
        text.push_str(&format!(" {who} is affected."));
    }
    text
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `name: value` lines, names lower-cased.
fn facts(input: &str) -> Vec<(String, String)> {
    input
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect()
}

/// Not a phone number, e-mail address or empty: fit to be read out.
fn speakable(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let looks_like_phone = value.starts_with('+') || (digits >= 7 && digits * 2 > value.len());
    !value.trim().is_empty() && !value.contains('@') && !looks_like_phone
}

/// `word` occurs in `text` with no letter or digit right before or after it.
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["low", "high", "critical"].map(String::from).to_vec()
    }

    #[test]
    fn a_named_label_wins_over_keywords() {
        let input = "Event type: support.ticket.created\nsubject: Site down\nurgency: low\n";
        assert_eq!(choose_label(&labels(), input), "low");
    }

    #[test]
    fn keywords_pick_by_severity_and_words_are_whole() {
        assert_eq!(
            choose_label(&labels(), "subject: Checkout is down"),
            "critical"
        );
        assert_eq!(choose_label(&labels(), "subject: Export is slow"), "high");
        assert_eq!(
            choose_label(&labels(), "subject: Downloads page typo"),
            "low"
        );
    }

    #[test]
    fn a_ticket_briefing_names_the_headline_and_who_is_affected_never_a_phone() {
        let input = "Event type: merge.ticket.changed\nname: Checkout API returns 500\npriority: URGENT\ncustomer_phone: +15552000001\naccount_name: Acme GmbH\n";
        let text = brief(input);
        assert_eq!(
            text,
            "Urgent ticket: Checkout API returns 500. Acme GmbH is affected."
        );
        assert!(!text.contains("+1555"));
    }

    #[test]
    fn a_deal_briefing_names_amount_and_stage() {
        let input = "Event type: merge.opportunity.changed\nname: Initech: starter plan\namount: 4000\nstage_name: Negotiation\nowner_email: sdr@example.com\n";
        assert_eq!(
            brief(input),
            "Deal Initech: starter plan, worth 4000, has entered Negotiation."
        );
        let input = "Event type: merge.opportunity.changed\nname: Renewal\nstage: 6c000000-0000\n";
        assert_eq!(brief(input), "Deal Renewal needs the deal desk.");
    }

    #[test]
    fn the_same_request_gets_the_same_answer() {
        let request = json!({
            "model": "m",
            "messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "subject: Site down"}],
        });
        assert_eq!(answer(&request), answer(&request));
        let choose = json!({
            "messages": [{"role": "user", "content": "subject: Site down"}],
            "guided_choice": ["low", "high", "critical"],
        });
        assert_eq!(answer(&choose).as_deref(), Some("critical"));
        assert_eq!(answer(&json!({"messages": []})), None);
    }
}
