//! Issue 16, "Nothing spoken is an id": the fallback briefing read a customer's UUID aloud
//! ("… Customer: 67700e7a-ce5f-4c62-8654-356618b655c1"), although the contact's and the
//! account's names had been looked up before the answer, and the same text went into the
//! ticket comment.
//!
//! Here: the enrichment reads those names from the sandbox Merge over HTTP; the two
//! write-back stages (outcome, then call ended) each post their comment or note once; and a
//! Merge ticket escalation and a deal escalation, their payloads and Merge objects full of
//! UUIDs and e-mail addresses, are played against the sandbox carrier while every text the
//! carrier was asked to speak is scanned with `spoken::contains_id`.

use std::time::Duration;

use klaxon::merge::writeback::{
    self, CALL_ENDED, DealNote, Job, TicketWriteback, call_ended_text, marker,
};
use klaxon::merge::{AccountTokens, MergeClient, MergeConfig, MergeSecret, RetryPolicy};
use klaxon::sandbox::carrier::{CarrierConfig, Delivery, SandboxCarrier, SigningSeed, Timing};
use klaxon::sandbox::merge::{MergeSandboxConfig, SandboxMerge, sample};
use klaxon::signing::Secret;
use klaxon::voice::enrich::{self, Found};
use klaxon::voice::escalation::plan::MergeTicketRef;
use klaxon::voice::spoken::contains_id;
use serde_json::Value;

use crate::support::{TestServer, apply_toml, eventually};

const WAIT: Duration = Duration::from_secs(20);
const WEBHOOK_SECRET: &str = "merge-webhook-signing-key";
/// Says "connect me" (the sandbox carrier's callee behaviour is the number's last digit).
const ONCALL: &str = "+15551000000";
const VP_SALES: &str = "+15551000010";
/// The account executive, found from the deal owner's e-mail in `[people]`.
const AE: &str = "+15552000101";
/// Bodies fields the carrier reads aloud (Telnyx `speak`, `gather_using_speak`,
/// `gather_using_ai`).
const SPOKEN_FIELDS: [&str; 4] = [
    "payload",
    "invalid_payload",
    "greeting",
    "gather_ended_speech",
];

async fn sandbox_merge() -> SandboxMerge {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox Merge");
    SandboxMerge::start(
        listener,
        MergeSandboxConfig {
            webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
            ..MergeSandboxConfig::default()
        },
    )
    .expect("sandbox Merge starts")
}

/// A Merge client for the sandbox's two linked accounts.
fn merge_client(merge: &SandboxMerge) -> MergeClient {
    let mut tokens = AccountTokens::default();
    for (account, token) in [
        (sample::LINKED_ZENDESK, sample::ZENDESK_ACCOUNT_TOKEN),
        (sample::LINKED_HUBSPOT, sample::HUBSPOT_ACCOUNT_TOKEN),
    ] {
        tokens
            .by_account
            .insert(account.to_owned(), MergeSecret::new(token));
    }
    let mut config = MergeConfig::new(MergeSecret::new("sandbox"), tokens);
    config.api_base = merge.base_url();
    config.retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    MergeClient::new(config).expect("valid sandbox config")
}

#[tokio::test]
async fn the_enrichment_reads_the_contacts_phone_and_both_names_from_merge() {
    let merge = sandbox_merge().await;
    let ticket = MergeTicketRef {
        linked_account_id: sample::LINKED_ZENDESK.into(),
        ticket_id: sample::TICKET_URGENT.into(),
    };
    let found = enrich::ticket(&merge_client(&merge), &ticket)
        .await
        .expect("the ticket is read");
    assert_eq!(
        found,
        Found {
            phone: Some("+15552000001".into()),
            contact_name: Some("Anna Schmidt".into()),
            account_name: Some("Acme GmbH".into()),
        }
    );
    let read = merge.requests();
    assert_eq!(read.len(), 1, "one GET: {read:?}");
    let expand = read[0].query_param("expand").unwrap_or_default();
    assert!(
        expand.contains("contact") && expand.contains("account"),
        "{expand}"
    );
}

fn ticket_job(outcome: &str, comment: String) -> Job {
    Job::Ticket(TicketWriteback {
        linked_account_id: sample::LINKED_ZENDESK.into(),
        ticket_id: sample::TICKET_URGENT.into(),
        escalation_id: "esc_16".into(),
        outcome: outcome.into(),
        comment,
    })
}

fn note_job(outcome: &str, content: String) -> Job {
    Job::Note(DealNote {
        linked_account_id: sample::LINKED_HUBSPOT.into(),
        opportunity_id: sample::OPPORTUNITY_NEGOTIATION.into(),
        account_id: Some(sample::CRM_ACCOUNT_ACME.into()),
        integration: Some("HubSpot".into()),
        escalation_id: "esc_16".into(),
        outcome: outcome.into(),
        content,
    })
}

#[tokio::test]
async fn both_write_back_stages_post_their_comment_once_however_often_retried() {
    let merge = sandbox_merge().await;
    let client = merge_client(&merge);
    let outcome = ticket_job(
        "connected",
        format!("{} Riley answered and was connected.", marker("esc_16")),
    );
    let ended = ticket_job(
        CALL_ENDED,
        call_ended_text("esc_16", Duration::from_secs(252)),
    );
    writeback::perform(&client, &outcome, false)
        .await
        .expect("outcome written");
    // The final comment's retry must not take the outcome comment for its own.
    let first = writeback::perform(&client, &ended, true)
        .await
        .expect("final comment written");
    assert!(!first.contains("already posted"), "{first}");
    let again = writeback::perform(&client, &ended, true)
        .await
        .expect("retry answered");
    assert!(again.contains("already posted"), "{again}");
    let status_writes = merge
        .writes()
        .iter()
        .filter(|w| w.method == "PATCH")
        .count();
    assert_eq!(
        status_writes, 1,
        "the call-ended stage leaves the status alone"
    );
    let again = writeback::perform(&client, &outcome, true)
        .await
        .expect("retry answered");
    assert!(again.contains("already posted"), "{again}");

    let bodies: Vec<String> = merge
        .comments()
        .iter()
        .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    assert!(bodies[0].starts_with("Klaxon escalation esc_16: Riley"));
    assert!(
        bodies[1].starts_with("Klaxon escalation esc_16 call ended: the call lasted 4 min 12 s")
    );
}

#[tokio::test]
async fn both_deal_note_stages_post_their_note_once_however_often_retried() {
    let merge = sandbox_merge().await;
    let client = merge_client(&merge);
    let outcome = note_job(
        "connected",
        format!(
            "{} Morgan was connected to the account executive.",
            marker("esc_16")
        ),
    );
    let ended = note_job(CALL_ENDED, "the call lasted 42 s.".into());
    for (job, retrying) in [
        (&outcome, false),
        (&ended, true),
        (&ended, true),
        (&outcome, true),
    ] {
        writeback::perform(&client, job, retrying)
            .await
            .expect("note written or found");
    }
    let contents: Vec<String> = merge
        .notes()
        .iter()
        .map(|n| n["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        contents,
        [
            "Klaxon escalation esc_16: Morgan was connected to the account executive.",
            "Klaxon escalation esc_16 call ended: the call lasted 42 s.",
        ],
        "the marker is put in front of a text that lacks it"
    );
}

/// Klaxon with the built-in Merge pipelines, the sandbox Merge and a sandbox carrier.
struct Rig {
    server: TestServer,
    carrier: SandboxCarrier,
    merge: SandboxMerge,
}

impl Rig {
    /// `env`: more variables, e.g. a model's `AI_BASE_URL`.
    async fn start(env: &[(&str, &str)]) -> Rig {
        let merge = sandbox_merge().await;
        let seed = SigningSeed::generate();
        let key = seed.public_key_base64();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox carrier");
        let carrier = SandboxCarrier::start(
            listener,
            CarrierConfig {
                signing_seed: seed,
                timing: Timing::fast(),
                delivery: Delivery::InOrder,
                ..CarrierConfig::default()
            },
        )
        .expect("sandbox carrier starts");
        let api_base = carrier.base_url();
        let merge_base = merge.base_url();
        let tokens = format!(
            "{}={},{}={}",
            sample::LINKED_ZENDESK,
            sample::ZENDESK_ACCOUNT_TOKEN,
            sample::LINKED_HUBSPOT,
            sample::HUBSPOT_ACCOUNT_TOKEN
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let server = TestServer::start_knowing_address(dir, "127.0.0.1:0", |settings, addr| {
            let public_url = format!("http://{addr}");
            let people = format!(
                "[people.alex]\nname = \"Alex Evans\"\nphone = \"{AE}\"\nemail = \"ae@example.com\"\n"
            );
            let mut vars: Vec<(&str, &str)> = vec![
                ("TELNYX_API_KEY", "KEY_TEST"),
                ("TELNYX_API_BASE", &api_base),
                ("TELNYX_CONNECTION_ID", "1494404757140276705"),
                ("TELNYX_PHONE_NUMBER", "+15550100000"),
                ("TELNYX_PUBLIC_KEY", &key),
                ("PUBLIC_URL", &public_url),
                ("ONCALL_NUMBER", ONCALL),
                ("VP_SALES_NUMBER", VP_SALES),
                ("MERGE_API_KEY", "sandbox"),
                ("MERGE_API_BASE", &merge_base),
                ("MERGE_ACCOUNT_TOKENS", &tokens),
                ("MERGE_WEBHOOK_SECRET", WEBHOOK_SECRET),
                ("MERGE_POLL_INTERVAL", "0"),
            ];
            vars.extend_from_slice(env);
            apply_toml(settings, &people, &vars);
        })
        .await;
        Rig {
            server,
            carrier,
            merge,
        }
    }

    /// Sends the Merge webhook for `object` and returns its escalation once it has ended.
    async fn escalate(&self, event: &str, object: &str, linked_account: &str) -> Value {
        let status = self
            .merge
            .send_webhook(
                &self.server.url("/webhooks/merge"),
                event,
                object,
                linked_account,
            )
            .await
            .expect("webhook sent");
        assert_eq!(status, 200);
        let escalation = eventually(WAIT, || async {
            let (_, page) = self.server.get("/v1/events?limit=100").await;
            page["data"].as_array()?.iter().find_map(|e| {
                (e["payload"]["id"] == object).then_some(())?;
                e["pipeline"]["runs"][0]["destinations"][0]["escalation_id"]
                    .as_str()
                    .map(String::from)
            })
        })
        .await;
        eventually(WAIT, || async {
            let (_, e) = self
                .server
                .get(&format!("/v1/escalations/{escalation}"))
                .await;
            (e["status"] != "active" && e["ended_at"].is_string()).then_some(e)
        })
        .await
    }

    /// Every text the carrier was asked to say, in order.
    fn spoken(&self) -> Vec<String> {
        self.carrier
            .requests()
            .iter()
            .flat_map(|request| {
                SPOKEN_FIELDS
                    .iter()
                    .filter_map(|field| request.body[*field].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// `(text, the id in it)` for every spoken text that holds one.
fn ids_in(spoken: &[String]) -> Vec<(String, String)> {
    spoken
        .iter()
        .filter_map(|text| contains_id(text).map(|id| (text.clone(), id)))
        .collect()
}

#[tokio::test]
async fn no_id_or_address_is_spoken_in_a_merge_ticket_or_deal_escalation() {
    let rig = Rig::start(&[]).await;
    // The kind of ticket the issue reported: ids and addresses in the text fields too.
    rig.merge
        .update_ticket(sample::TICKET_URGENT, |ticket| {
            ticket.description = Some(
                "Reported by anna.schmidt@acme.example for order 67700e7a-ce5f-4c62-8654-356618b655c1, see https://status.acme.example/incidents/4821".into(),
            );
        })
        .expect("the sample ticket exists");

    let ticket = rig
        .escalate(
            "Ticket.changed",
            sample::TICKET_URGENT,
            sample::LINKED_ZENDESK,
        )
        .await;
    assert_eq!(ticket["status"], "connected", "{ticket:#}");
    let deal = rig
        .escalate(
            "Opportunity.changed",
            sample::OPPORTUNITY_NEGOTIATION,
            sample::LINKED_HUBSPOT,
        )
        .await;
    assert_eq!(deal["status"], "connected", "{deal:#}");

    let spoken = rig.spoken();
    assert!(spoken.len() >= 6, "both calls spoke: {spoken:#?}");
    assert_eq!(ids_in(&spoken), [], "spoken: {spoken:#?}");
    // Names, not ids: the briefing says who is affected.
    assert!(
        spoken.iter().any(|text| text.contains("Acme GmbH")),
        "{spoken:#?}"
    );

    // The same briefing goes into the ticket comment and the deal note.
    let written = eventually(WAIT, || async {
        let comments = rig.merge.comments();
        let notes = rig.merge.notes();
        (!comments.is_empty() && !notes.is_empty()).then_some((comments, notes))
    })
    .await;
    let texts = written
        .0
        .iter()
        .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
        .chain(
            written
                .1
                .iter()
                .map(|n| n["content"].as_str().unwrap_or_default().to_owned()),
        );
    for text in texts {
        let briefing = text
            .split("Briefing heard: ")
            .nth(1)
            .and_then(|rest| rest.split("\nTimeline").next())
            .unwrap_or_default();
        assert!(!briefing.is_empty(), "a briefing in {text:?}");
        assert_eq!(contains_id(briefing), None, "in {text:?}");
    }
}

#[tokio::test]
async fn the_ticket_briefing_names_the_account_and_contact_merge_found() {
    // The webhook carries only the contact's and the account's ids; the enrichment looks
    // their names up while the phone rings, and the template says them.
    let rig = Rig::start(&[]).await;
    rig.escalate(
        "Ticket.changed",
        sample::TICKET_URGENT,
        sample::LINKED_ZENDESK,
    )
    .await;
    let spoken = rig.spoken();
    assert!(
        spoken.iter().any(|text| text.starts_with(
            "Urgent support ticket: Checkout API returns 500 for all EU customers, for Acme GmbH (Anna Schmidt)."
        )),
        "{spoken:#?}"
    );
}

/// What a careless model might answer: everything it was not supposed to say.
const CARELESS_BRIEFING: &str = "Dana Customer (dana@acme.example, customer 67700e7a-ce5f-4c62-8654-356618b655c1) reports checkout down; call her on +1 415 555 0123 or see https://status.acme.example/4821.";

/// A model on loopback that answers every chat completion with [`CARELESS_BRIEFING`].
async fn careless_model() -> String {
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind model");
    let addr = listener.local_addr().expect("model address");
    let answer = || async {
        axum::Json(serde_json::json!({
            "id": "chatcmpl-careless",
            "object": "chat.completion",
            "model": "careless",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": CARELESS_BRIEFING}}],
        }))
    };
    let app = axum::Router::new().route("/v1/chat/completions", post(answer));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn a_model_briefing_full_of_ids_is_spoken_without_them() {
    let model = careless_model().await;
    let rig = Rig::start(&[("AI_BASE_URL", &model), ("AI_API_KEY", "test-key")]).await;
    let ticket = rig
        .escalate(
            "Ticket.changed",
            sample::TICKET_URGENT,
            sample::LINKED_ZENDESK,
        )
        .await;
    assert_eq!(ticket["status"], "connected", "{ticket:#}");
    let spoken = rig.spoken();
    assert!(
        spoken
            .iter()
            .any(|text| text.contains("reports checkout down")),
        "the model's briefing was said: {spoken:#?}"
    );
    assert_eq!(ids_in(&spoken), [], "spoken: {spoken:#?}");
}
