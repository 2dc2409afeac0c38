//! Merge webhooks end to end: the sandbox Merge signs and sends real envelopes to Klaxon.

use std::time::Duration;

use klaxon::sandbox::merge::{MergeSandboxConfig, SandboxMerge, sample};
use klaxon::signing::Secret;
use serde_json::{Value, json};

use crate::support::receiver::Receiver;
use crate::support::{TestServer, assert_error, eventually};

const SECRET: &str = "merge-webhook-signing-key";

async fn rig(pipelines: &str) -> (TestServer, SandboxMerge) {
    let merge = SandboxMerge::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        MergeSandboxConfig {
            webhook_secret: Some(Secret::new(SECRET)),
            ..MergeSandboxConfig::default()
        },
    )
    .unwrap();
    let server = TestServer::start_with_toml(pipelines, &[("MERGE_WEBHOOK_SECRET", SECRET)]).await;
    (server, merge)
}

async fn events_of(server: &TestServer, event_type: &str) -> Vec<Value> {
    let (_, page) = server
        .get(&format!("/v1/events?type={event_type}&limit=100"))
        .await;
    page["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_signed_ticket_change_is_stored_once_and_a_forgery_is_refused() {
    let (server, merge) = rig("").await;
    let url = server.url("/webhooks/merge");
    let status = merge
        .send_webhook(
            &url,
            "Ticket.changed",
            sample::TICKET_URGENT,
            sample::LINKED_ZENDESK,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    // Merge retries a delivery it thinks failed: the same bytes are stored once.
    let again = merge
        .send_webhook(
            &url,
            "Ticket.changed",
            sample::TICKET_URGENT,
            sample::LINKED_ZENDESK,
        )
        .await
        .unwrap();
    assert_eq!(again, 200);
    let stored = events_of(&server, "merge.ticket.changed").await;
    assert_eq!(stored.len(), 1, "{stored:#?}");
    let payload = &stored[0]["payload"];
    assert_eq!(stored[0]["source"], "merge");
    assert_eq!(payload["id"], sample::TICKET_URGENT);
    assert_eq!(payload["priority"], "URGENT");
    assert_eq!(payload["linked_account_id"], sample::LINKED_ZENDESK);

    // A body signed with another key, or not signed: 401, nothing stored.
    let body = json!({"hook": {"event": "Ticket.changed"}, "linked_account": {"id": "x"}, "data": {"id": "T-9"}}).to_string();
    let forged = klaxon::signing::merge::sign(&Secret::new("not-the-key"), body.as_bytes());
    for (signature, code) in [
        (Some(forged), "invalid_signature"),
        (None, "missing_signature"),
    ] {
        let mut request = server
            .http
            .post(url.clone())
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("x-merge-webhook-signature", signature);
        }
        assert_error(&server.send(request).await, 401, code);
    }
    assert_eq!(events_of(&server, "merge.ticket.changed").await.len(), 1);
}

#[tokio::test]
async fn bodies_that_are_not_merge_envelopes() {
    let merge_free = TestServer::start().await;
    // Not an envelope on the Merge path: 400.
    let answer = merge_free
        .send(
            merge_free
                .http
                .post(merge_free.url("/webhooks/merge"))
                .json(&json!({"id": 1, "subject": "plain"})),
        )
        .await;
    assert_error(&answer, 400, "invalid_merge_webhook");
    // The reference apps' plain ticket body still works on their path.
    let answer = merge_free
        .send(
            merge_free
                .http
                .post(merge_free.url("/webhooks/ticket"))
                .json(&json!({"subject": "Checkout down", "priority": "CRITICAL"})),
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(events_of(&merge_free, "ticket.created").await.len(), 1);
}

#[tokio::test]
async fn ten_changes_to_one_urgent_ticket_route_once() {
    let receiver = Receiver::start().await;
    let pipelines = format!(
        r#"
[[pipelines]]
name = "merge-tickets"
on = "merge.ticket.*"
steps = [{{ transition = {{ key = "id", when = 'priority in ["URGENT", "HIGH"] && status != "CLOSED"' }} }}]
[[pipelines.destinations]]
webhook = {{ url = "{}", signing = "none", allow_private = true }}
"#,
        receiver.url()
    );
    let (server, merge) = rig(&pipelines).await;
    let url = server.url("/webhooks/merge");
    for n in 0..10 {
        // Each change touches the ticket, so each delivery is a new body.
        merge
            .update_ticket(sample::TICKET_URGENT, |t| {
                t.description = Some(format!("update {n}"))
            })
            .unwrap();
        let status = merge
            .send_webhook(
                &url,
                "Ticket.changed",
                sample::TICKET_URGENT,
                sample::LINKED_ZENDESK,
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    eventually(Duration::from_secs(10), || async {
        let stored = events_of(&server, "merge.ticket.changed").await;
        (stored.len() == 10 && stored.iter().all(|e| e["pipeline_state"] == "done")).then_some(())
    })
    .await;
    assert_eq!(receiver.received().len(), 1, "one alert for ten changes");
}

#[tokio::test]
async fn an_urgent_merge_ticket_rings_once_and_connects_to_its_contact() {
    let merge = SandboxMerge::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        MergeSandboxConfig {
            webhook_secret: Some(Secret::new(SECRET)),
            ..MergeSandboxConfig::default()
        },
    )
    .unwrap();
    let base = merge.base_url();
    let server = TestServer::start_with_toml(
        "",
        &[
            ("MERGE_WEBHOOK_SECRET", SECRET),
            ("MERGE_API_KEY", "test-key"),
            ("MERGE_API_BASE", &base),
            ("MERGE_ACCOUNT_TOKEN", sample::ZENDESK_ACCOUNT_TOKEN),
            // The sandbox carrier: ...0 answers and says "connect me".
            ("ONCALL_NUMBER", "+15551000000"),
            ("KLAXON_SANDBOX_TIMING", "fast"),
        ],
    )
    .await;
    let url = server.url("/webhooks/merge");
    for _ in 0..3 {
        merge
            .update_ticket(sample::TICKET_URGENT, |t| {
                t.description = Some("still down".into())
            })
            .unwrap();
        let status = merge
            .send_webhook(
                &url,
                "Ticket.changed",
                sample::TICKET_URGENT,
                sample::LINKED_ZENDESK,
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    let escalation = server.ended_escalation(Duration::from_secs(15)).await;
    let (_, all) = server.get("/v1/escalations").await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        1,
        "three changes, one call"
    );
    // "connect me" reached the ticket's contact, whose phone came from Merge meanwhile.
    assert_eq!(escalation["status"], "connected", "{escalation:#}");
    let looked_up = merge.requests().iter().any(|r| {
        r.path.ends_with(sample::TICKET_URGENT)
            && r.query_param("expand")
                .is_some_and(|e| e.contains("contact"))
    });
    assert!(looked_up, "the contact was looked up with expand");

    // The ticket hears what happened: in progress, with a private comment.
    let writes = merge
        .wait_until(Duration::from_secs(10), |requests| {
            let writes: Vec<_> = requests
                .iter()
                .filter(|r| r.method != "GET")
                .cloned()
                .collect();
            (writes.len() >= 3).then_some(writes)
        })
        .await
        .expect("the write-back reaches Merge");
    // When the bridge is made: in progress, with a private comment.
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(writes[0].body["model"]["status"], "IN_PROGRESS");
    assert_eq!(writes[1].body["model"]["is_private"], true);
    let comment = writes[1].body["model"]["body"].as_str().unwrap();
    assert!(
        comment.contains("is connected to the customer"),
        "{comment}"
    );
    assert!(
        comment.contains("Timeline:") && comment.contains("rang (leg A)"),
        "the comment tells the call's time line: {comment}"
    );
    // When the call ends: one more comment with its length, and no other status change.
    let last = writes[2].body["model"]["body"].as_str().unwrap();
    assert!(
        last.contains("call ended:") && last.contains("ended after"),
        "{last}"
    );
    assert_eq!(
        writes.iter().filter(|w| w.method == "PATCH").count(),
        1,
        "{writes:?}"
    );
    crate::support::merge_spec::assert_valid("PatchedTicketEndpointRequest", &writes[0].body);
    crate::support::merge_spec::assert_valid("CommentEndpointRequest", &writes[1].body);
    crate::support::merge_spec::assert_valid("CommentEndpointRequest", &writes[2].body);
}

#[tokio::test]
async fn a_voicemail_leaves_the_ticket_status_alone_and_says_so() {
    let merge = SandboxMerge::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        MergeSandboxConfig::default(),
    )
    .unwrap();
    let base = merge.base_url();
    let server = TestServer::start_with_toml(
        "",
        &[
            ("MERGE_API_KEY", "test-key"),
            ("MERGE_API_BASE", &base),
            ("MERGE_ACCOUNT_TOKEN", sample::ZENDESK_ACCOUNT_TOKEN),
            // ...7 is a voicemail.
            ("ONCALL_NUMBER", "+15551000007"),
            ("KLAXON_SANDBOX_TIMING", "fast"),
        ],
    )
    .await;
    let status = merge
        .send_webhook(
            &server.url("/webhooks/merge"),
            "Ticket.changed",
            sample::TICKET_URGENT,
            sample::LINKED_ZENDESK,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let writes = merge
        .wait_until(Duration::from_secs(15), |requests| {
            let writes: Vec<_> = requests
                .iter()
                .filter(|r| r.method != "GET")
                .cloned()
                .collect();
            (!writes.is_empty()).then_some(writes)
        })
        .await
        .expect("an unreached comment reaches Merge");
    let (_, page) = server.get("/v1/escalations").await;
    assert_eq!(page["data"][0]["status"], "unreached");
    assert_eq!(writes.len(), 1, "no status change: {writes:?}");
    assert_eq!(writes[0].method, "POST");
    assert!(
        writes[0].body["model"]["body"]
            .as_str()
            .unwrap()
            .contains("could be reached")
    );
    // The write-back is a durable job like any delivery, recorded once Merge answered.
    eventually(Duration::from_secs(10), || async {
        let (_, deliveries) = server
            .get("/v1/deliveries?destination=merge.ticket-writeback")
            .await;
        (deliveries["data"][0]["state"] == "succeeded").then_some(())
    })
    .await;
}

/// A deal desk on the sandbox Merge: the VP (`...0` says "connect me"), the account
/// executives in `[people]` by their CRM e-mail, and a token per linked account.
async fn deal_desk_rig(merge_config: MergeSandboxConfig) -> (TestServer, SandboxMerge) {
    let merge = SandboxMerge::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        MergeSandboxConfig {
            webhook_secret: Some(Secret::new(SECRET)),
            ..merge_config
        },
    )
    .unwrap();
    let base = merge.base_url();
    let tokens = format!(
        "{}={},{}={}",
        sample::LINKED_ZENDESK,
        sample::ZENDESK_ACCOUNT_TOKEN,
        sample::LINKED_HUBSPOT,
        sample::HUBSPOT_ACCOUNT_TOKEN
    );
    let people = r#"
[people.sasha]
name = "Sasha Diaz"
phone = "+15552000001"
email = "SDR@example.com"
"#;
    let server = TestServer::start_with_toml(
        people,
        &[
            ("MERGE_WEBHOOK_SECRET", SECRET),
            ("MERGE_API_KEY", "test-key"),
            ("MERGE_API_BASE", &base),
            ("MERGE_ACCOUNT_TOKENS", &tokens),
            ("VP_SALES_NUMBER", "+15551000000"),
            ("KLAXON_SANDBOX_TIMING", "fast"),
        ],
    )
    .await;
    (server, merge)
}

#[tokio::test]
async fn a_deal_entering_negotiation_rings_the_vp_who_is_connected_to_the_owner() {
    let (server, merge) = deal_desk_rig(MergeSandboxConfig::default()).await;
    let url = server.url("/webhooks/crm");
    // In discovery and small: nothing rings.
    let status = merge
        .send_webhook(
            &url,
            "Opportunity.changed",
            sample::OPPORTUNITY_DISCOVERY,
            sample::LINKED_HUBSPOT,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    eventually(Duration::from_secs(10), || async {
        let stored = events_of(&server, "merge.opportunity.changed").await;
        let runs = &stored.first()?["pipeline"]["runs"];
        (runs[0]["outcome"] == "filtered").then_some(())
    })
    .await;

    // The deal moves to Negotiation; the webhook carries only the stage's id.
    merge
        .update_opportunity(sample::OPPORTUNITY_DISCOVERY, |o| {
            o.stage = Some(sample::STAGE_NEGOTIATION.into())
        })
        .unwrap();
    for _ in 0..2 {
        let status = merge
            .send_webhook(
                &url,
                "Opportunity.changed",
                sample::OPPORTUNITY_DISCOVERY,
                sample::LINKED_HUBSPOT,
            )
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    let escalation = server.ended_escalation(Duration::from_secs(15)).await;
    let (_, all) = server.get("/v1/escalations").await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        1,
        "one alert: {all:#}"
    );
    assert_eq!(escalation["policy"], "vp_sales");
    assert_eq!(escalation["status"], "connected", "{escalation:#}");
    let (_, detail) = server
        .get(&format!(
            "/v1/escalations/{}",
            escalation["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        detail.to_string().contains("+15552000001"),
        "the owner's phone from [people] was dialled: {detail:#}"
    );
    let looked_up = merge.requests().iter().any(|r| {
        r.path.ends_with(sample::OPPORTUNITY_DISCOVERY)
            && r.query_param("expand").is_some_and(|e| e.contains("stage"))
    });
    assert!(looked_up, "the stage's name was read with expand=stage");

    // The deal gets a note with the outcome, valid against Merge's spec.
    let note = merge
        .wait_until(Duration::from_secs(10), |requests| {
            requests
                .iter()
                .find(|r| r.method == "POST" && r.path.ends_with("/crm/v1/notes"))
                .cloned()
        })
        .await
        .expect("a CRM note reaches Merge");
    crate::support::merge_spec::assert_valid("NoteEndpointRequest", &note.body);
    assert_eq!(
        note.body["model"]["opportunity"],
        sample::OPPORTUNITY_DISCOVERY
    );
    let content = note.body["model"]["content"].as_str().unwrap();
    assert!(
        content.contains("connected to the account executive"),
        "{content}"
    );
    eventually(Duration::from_secs(10), || async {
        let (_, deliveries) = server
            .get("/v1/deliveries?destination=merge.opportunity-note")
            .await;
        (deliveries["data"][0]["state"] == "succeeded").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_crm_without_notes_gets_its_refusal_recorded_not_retried() {
    let (server, merge) = deal_desk_rig(MergeSandboxConfig {
        unsupported_notes_for: vec![sample::LINKED_HUBSPOT.into()],
        ..MergeSandboxConfig::default()
    })
    .await;
    // Big enough on its own: 80,000 ≥ DEAL_THRESHOLD.
    let status = merge
        .send_webhook(
            &server.url("/webhooks/merge"),
            "Opportunity.added",
            sample::OPPORTUNITY_NEGOTIATION,
            sample::LINKED_HUBSPOT,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let delivery = eventually(Duration::from_secs(15), || async {
        let (_, deliveries) = server
            .get("/v1/deliveries?destination=merge.opportunity-note")
            .await;
        let first = deliveries["data"].get(0)?.clone();
        (first["state"] == "dead").then_some(first)
    })
    .await;
    let (_, detail) = server
        .get(&format!(
            "/v1/deliveries/{}",
            delivery["id"].as_str().unwrap()
        ))
        .await;
    let attempts = detail["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "a refusal is final: {detail:#}");
    assert!(
        attempts[0]["error"].as_str().unwrap().contains("refused"),
        "{detail:#}"
    );
}
