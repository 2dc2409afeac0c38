//! The Merge client against a fake Merge on loopback.
//!
//! The fake is a real axum server that records every request (method, path, raw query,
//! headers, body, arrival time) and answers from a per-test script. Every body the client sends
//! is checked against the official request schemas with the strict validator, so "the write
//! envelope Merge wants" is proven on the bytes that leave the process.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use klaxon::merge::{
    AccountTokens, MergeClient, MergeConfig, MergeError, MergeSecret, Related, RetryPolicy,
    TicketPriority, TicketStatus,
};
use serde_json::{Value, json};
use time::macros::datetime;

use crate::support::merge_spec::{assert_valid, validate};

const KEY: &str = "merge-test-api-key-0123";
const TOKEN: &str = "account-token-zendesk-4567";
const ACCOUNT: &str = "a1b2c3d4-0000-4000-8000-000000000001";
const TICKET: &str = "b7e1f3a2-1111-4222-8333-444455556666";
const OPPORTUNITY: &str = "0f9c8e7d-2222-4333-8444-555566667777";

#[derive(Clone)]
struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, &'static str)>,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        body,
        headers: Vec::new(),
    }
}

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    /// Raw, as received.
    query: String,
    headers: HeaderMap,
    body: Option<Value>,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Decoded query pairs.
    fn param(&self, name: &str) -> Option<String> {
        url_pairs(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x/?{query}")).expect("query parses");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

struct FakeMerge {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeMerge {
    async fn start(script: Vec<Reply>) -> FakeMerge {
        let shared = Arc::new(Shared::default());
        shared.script.lock().unwrap().extend(script);
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port 0 is always bindable");
        let addr = listener.local_addr().expect("listener bound above");
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeMerge { addr, shared }
    }

    fn client(&self) -> MergeClient {
        let mut tokens = AccountTokens::default();
        tokens
            .by_account
            .insert(ACCOUNT.to_owned(), MergeSecret::new(TOKEN));
        let mut config = MergeConfig::new(MergeSecret::new(KEY), tokens);
        config.api_base = format!("http://{}/api/", self.addr);
        config.request_timeout = Duration::from_secs(5);
        config.retry = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(5),
        };
        MergeClient::new(config).expect("valid test config")
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers,
        body: (!body.is_empty()).then(|| serde_json::from_slice(&body).expect("JSON body")),
        at: Instant::now(),
    });
    let next = shared.script.lock().unwrap().pop_front();
    let Some(reply) = next else {
        return (StatusCode::IM_A_TEAPOT, "script exhausted").into_response();
    };
    let mut response = (
        StatusCode::from_u16(reply.status).expect("scripted status"),
        axum::Json(reply.body),
    )
        .into_response();
    for (name, value) in reply.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("scripted header"));
    }
    response
}

/// A Zendesk ticket as Merge returns it with `expand=contact,account,assignees`.
fn expanded_ticket() -> Value {
    json!({
        "id": TICKET, "remote_id": "4812", "created_at": "2024-05-01T12:00:00Z",
        "modified_at": "2024-05-01T12:03:00Z", "name": "Site down",
        "description": "<p>Checkout returns 500 for every customer</p>",
        "status": "OPEN", "priority": "URGENT", "ticket_type": "incident",
        "creator": "17a54124-287f-494d-965e-3c5b330c9a68",
        "assignees": [{"id": "17a54124-287f-494d-965e-3c5b330c9a68", "name": "Bo Agent",
                       "email_address": "bo@acme-support.com", "is_active": true, "teams": []}],
        "assigned_teams": [], "collections": [], "tags": ["prod"],
        "contact": {"id": "c4f7a1b2-0000-4000-8000-00000000c0c0", "name": "Ada Customer",
                    "email_address": "ada@example.com", "phone_number": "+1 555 010 0001",
                    "details": null, "account": "a0a0a0a0-0000-4000-8000-00000000a0a0"},
        "account": {"id": "a0a0a0a0-0000-4000-8000-00000000a0a0", "name": "Acme Corp",
                    "domains": ["acme.com"]},
        "ticket_url": "https://acme.zendesk.com/agent/tickets/4812",
        "remote_was_deleted": false, "field_mappings": null
    })
}

fn expanded_opportunity() -> Value {
    json!({
        "id": OPPORTUNITY, "remote_id": "006xx", "name": "Acme renewal", "amount": 250000,
        "status": "OPEN", "last_activity_at": "2024-05-01T10:00:00Z", "close_date": null,
        "stage": {"id": "5b1e7c3d-0000-4000-8000-000000005555", "name": "Negotiation",
                  "remote_id": "7", "remote_was_deleted": false},
        "owner": {"id": "9e8d7c6b-0000-4000-8000-000000009999", "name": "Ann Exec",
                  "email": "ann@acme.com", "is_active": true, "user_url": null},
        "account": {"id": "a0a0a0a0-0000-4000-8000-00000000a0a0", "name": "Acme Corp"},
        "modified_at": "2024-05-01T10:05:00Z", "remote_was_deleted": false
    })
}

fn write_ok(model: Value) -> Value {
    json!({"model": model, "warnings": [], "errors": []})
}

fn assert_merge_headers(seen: &Seen) {
    assert_eq!(seen.header("authorization"), format!("Bearer {KEY}"));
    assert_eq!(seen.header("x-account-token"), TOKEN);
    assert_eq!(seen.header("accept"), "application/json");
}

#[tokio::test]
async fn get_ticket_expands_relations_and_sends_both_credentials() {
    let merge = FakeMerge::start(vec![reply(200, expanded_ticket())]).await;
    let ticket = merge.client().get_ticket(ACCOUNT, TICKET).await.unwrap();

    let seen = merge.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path, format!("/api/ticketing/v1/tickets/{TICKET}"));
    assert_eq!(seen[0].query, "expand=contact,account,assignees");
    assert_merge_headers(&seen[0]);
    assert!(seen[0].body.is_none());

    assert_eq!(ticket.priority, Some(TicketPriority::Urgent));
    let contact = ticket.contact.as_ref().and_then(Related::object).unwrap();
    assert_eq!(contact.phone_number.as_deref(), Some("+1 555 010 0001"));
    let account = ticket.account.as_ref().and_then(Related::object).unwrap();
    assert_eq!(account.name.as_deref(), Some("Acme Corp"));
    assert_eq!(
        ticket.assignees[0]
            .object()
            .unwrap()
            .email_address
            .as_deref(),
        Some("bo@acme-support.com")
    );
}

#[tokio::test]
async fn get_opportunity_expands_stage_owner_and_account() {
    let merge = FakeMerge::start(vec![reply(200, expanded_opportunity())]).await;
    let deal = merge
        .client()
        .get_opportunity(ACCOUNT, OPPORTUNITY)
        .await
        .unwrap();
    let seen = merge.seen();
    assert_eq!(
        seen[0].path,
        format!("/api/crm/v1/opportunities/{OPPORTUNITY}")
    );
    assert_eq!(
        seen[0].param("expand").as_deref(),
        Some("stage,owner,account")
    );
    assert_merge_headers(&seen[0]);
    assert_eq!(deal.amount, Some(250_000));
    let stage = deal.stage.as_ref().and_then(Related::object).unwrap();
    assert_eq!(stage.name.as_deref(), Some("Negotiation"));
    let owner = deal.owner.as_ref().and_then(Related::object).unwrap();
    assert_eq!(owner.email.as_deref(), Some("ann@acme.com"));
}

#[tokio::test]
async fn status_patch_sends_the_write_envelope_and_returns_warnings() {
    let mut answered = expanded_ticket();
    answered["status"] = json!("IN_PROGRESS");
    let merge = FakeMerge::start(vec![reply(
        200,
        json!({"model": answered, "errors": [],
               "warnings": [{"title": "Field ignored", "detail": "`ticket_type` is read-only",
                             "problem_type": "UNRECOGNIZED_FIELD"}]}),
    )])
    .await;
    let written = merge
        .client()
        .patch_ticket_status(ACCOUNT, TICKET, &TicketStatus::InProgress)
        .await
        .unwrap();

    let seen = merge.seen();
    assert_eq!(seen[0].method, Method::PATCH);
    assert_eq!(seen[0].path, format!("/api/ticketing/v1/tickets/{TICKET}"));
    assert_eq!(seen[0].query, "");
    assert_merge_headers(&seen[0]);
    assert_eq!(seen[0].header("content-type"), "application/json");
    let body = seen[0].body.clone().unwrap();
    assert_eq!(body, json!({"model": {"status": "IN_PROGRESS"}}));
    assert_valid("PatchedTicketEndpointRequest", &body);

    assert_eq!(
        written.model.and_then(|t| t.status),
        Some(TicketStatus::InProgress)
    );
    assert_eq!(written.warnings.len(), 1);
    assert_eq!(written.warnings[0].problem_type, "UNRECOGNIZED_FIELD");
}

#[tokio::test]
async fn a_comment_is_private_and_valid_against_the_spec() {
    let merge = FakeMerge::start(vec![reply(
        201,
        write_ok(
            json!({"id": "c0ffee00-0000-4000-8000-000000000001", "ticket": TICKET,
                        "is_private": true, "remote_id": "99"}),
        ),
    )])
    .await;
    let written = merge
        .client()
        .add_ticket_comment(
            ACCOUNT,
            TICKET,
            "Escalated by phone: Bo acknowledged at 14:02 UTC. [klaxon:esc_01J]",
            "<p>Escalated by phone: Bo acknowledged at 14:02 UTC. [klaxon:esc_01J]</p>",
        )
        .await
        .unwrap();
    let seen = merge.seen();
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].path, "/api/ticketing/v1/comments");
    assert_merge_headers(&seen[0]);
    let body = seen[0].body.clone().unwrap();
    assert_valid("CommentEndpointRequest", &body);
    assert_eq!(body["model"]["ticket"], TICKET);
    assert_eq!(body["model"]["is_private"], true);
    assert!(
        body["model"]["html_body"]
            .as_str()
            .unwrap()
            .starts_with("<p>")
    );
    assert_eq!(
        written.model.and_then(|c| c.remote_id).as_deref(),
        Some("99")
    );
    assert!(written.warnings.is_empty());
}

#[tokio::test]
async fn a_note_targets_the_opportunity_and_is_valid_against_the_spec() {
    let merge = FakeMerge::start(vec![reply(
        201,
        write_ok(json!({"id": "d0d0d0d0-0000-4000-8000-000000000002",
                        "opportunity": OPPORTUNITY, "content": "x"})),
    )])
    .await;
    let written = merge
        .client()
        .add_opportunity_note(
            ACCOUNT,
            json!({"content": "Deal desk alert: VP connected to AE.", "opportunity": OPPORTUNITY,
                   "integration_params": {"title": "Klaxon escalation"}}),
        )
        .await
        .unwrap();
    let seen = merge.seen();
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].path, "/api/crm/v1/notes");
    assert_merge_headers(&seen[0]);
    let body = seen[0].body.clone().unwrap();
    assert_valid("NoteEndpointRequest", &body);
    assert_eq!(
        body,
        json!({"model": {"content": "Deal desk alert: VP connected to AE.", "opportunity": OPPORTUNITY,
                         "integration_params": {"title": "Klaxon escalation"}}})
    );
    assert_eq!(
        written.model.and_then(|n| n.opportunity).as_deref(),
        Some(OPPORTUNITY)
    );
}

#[tokio::test]
async fn the_validator_catches_what_merge_would_silently_drop() {
    let typo = json!({"model": {"ticket": TICKET, "body": "x", "is_privat": true}});
    assert!(validate("CommentEndpointRequest", &typo).is_err());
    let not_uuid = json!({"model": {"ticket": "4812", "body": "x"}});
    assert!(validate("CommentEndpointRequest", &not_uuid).is_err());
    let critical = json!({"model": {"priority": "CRITICAL"}});
    assert!(validate("PatchedTicketEndpointRequest", &critical).is_err());
    assert!(validate("NoteEndpointRequest", &json!({"content": "no envelope"})).is_err());
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_request() {
    let merge = FakeMerge::start(vec![
        reply(500, json!({"detail": "boom"})),
        reply(200, expanded_ticket()),
    ])
    .await;
    let ticket = merge.client().get_ticket(ACCOUNT, TICKET).await.unwrap();
    assert_eq!(ticket.id, TICKET);
    let seen = merge.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (&seen[0].path, &seen[0].query),
        (&seen[1].path, &seen[1].query)
    );
    assert_merge_headers(&seen[1]);
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says() {
    let mut limited = reply(429, json!({"detail": "slow down"}));
    limited.headers.push(("retry-after", "1"));
    let merge = FakeMerge::start(vec![limited, reply(200, expanded_opportunity())]).await;
    merge
        .client()
        .get_opportunity(ACCOUNT, OPPORTUNITY)
        .await
        .unwrap();
    let seen = merge.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
}

#[tokio::test]
async fn a_429_on_a_comment_is_retried_but_a_500_is_not() {
    let ok = write_ok(json!({"id": "c0ffee00-0000-4000-8000-000000000001"}));
    let mut limited = reply(429, json!({}));
    limited.headers.push(("retry-after-ms", "50"));
    let merge = FakeMerge::start(vec![limited, reply(201, ok)]).await;
    let client = merge.client();
    client
        .add_ticket_comment(ACCOUNT, TICKET, "b", "<p>b</p>")
        .await
        .unwrap();
    assert_eq!(merge.seen().len(), 2);

    // A 5xx may have posted the comment already: resending could duplicate it (docs/merge.md §5.1).
    let merge = FakeMerge::start(vec![reply(502, json!({})), reply(201, json!({}))]).await;
    let error = merge
        .client()
        .add_ticket_comment(ACCOUNT, TICKET, "b", "<p>b</p>")
        .await
        .unwrap_err();
    assert!(matches!(error, MergeError::Unavailable { status, .. } if status == 502));
    assert_eq!(merge.seen().len(), 1);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let merge = FakeMerge::start(vec![
        reply(400, json!({"detail": "bad expand"})),
        reply(200, expanded_ticket()),
    ])
    .await;
    let error = merge
        .client()
        .get_ticket(ACCOUNT, TICKET)
        .await
        .unwrap_err();
    match &error {
        MergeError::Rejected { status, body, .. } => {
            assert_eq!(status.as_u16(), 400);
            assert!(body.contains("bad expand"));
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert_eq!(merge.seen().len(), 1);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let merge = FakeMerge::start(vec![reply(503, json!({})); 5]).await;
    let error = merge
        .client()
        .get_ticket(ACCOUNT, TICKET)
        .await
        .unwrap_err();
    assert!(matches!(error, MergeError::Unavailable { .. }));
    assert_eq!(merge.seen().len(), 3);
}

#[tokio::test]
async fn write_errors_fail_the_call_whatever_the_status() {
    let merge = FakeMerge::start(vec![reply(
        200,
        json!({"model": null, "warnings": [],
               "errors": [{"title": "Model write disabled",
                           "detail": "Writes of Ticket are disabled for this linked account",
                           "problem_type": "DISABLED_MODEL_WRITE"}]}),
    )])
    .await;
    let error = merge
        .client()
        .patch_ticket_status(ACCOUNT, TICKET, &TicketStatus::Closed)
        .await
        .unwrap_err();
    assert!(error.is_disabled_write(), "{error:?}");
    assert!(!error.is_retryable());
    assert_eq!(merge.seen().len(), 1);
    assert!(error.to_string().contains("DISABLED_MODEL_WRITE"));
}

#[tokio::test]
async fn listing_follows_the_cursor_with_identical_parameters() {
    let mut second = expanded_ticket();
    second["id"] = json!("e3e3e3e3-0000-4000-8000-000000000003");
    let merge = FakeMerge::start(vec![
        reply(
            200,
            json!({"next": "cD0yMDI0LTA1LTAx", "previous": null, "results": [expanded_ticket()]}),
        ),
        reply(
            200,
            json!({"next": null, "previous": "cj0xJnA9MjAyNA==", "results": [second]}),
        ),
    ])
    .await;
    let tickets = merge
        .client()
        .list_tickets_modified_since(ACCOUNT, datetime!(2024-05-01 14:00 +02:00))
        .await
        .unwrap();
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[1].id, "e3e3e3e3-0000-4000-8000-000000000003");

    let seen = merge.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.path, "/api/ticketing/v1/tickets");
        assert_eq!(
            request.param("modified_after").as_deref(),
            Some("2024-05-01T12:00:00Z")
        );
        assert_eq!(
            request.param("expand").as_deref(),
            Some("contact,account,assignees")
        );
        assert_eq!(request.param("page_size").as_deref(), Some("100"));
        assert_merge_headers(request);
    }
    assert_eq!(seen[0].param("cursor"), None);
    // The cursor is opaque and may hold `=`; it must arrive exactly as given.
    assert_eq!(seen[1].param("cursor").as_deref(), Some("cD0yMDI0LTA1LTAx"));
}

#[tokio::test]
async fn opportunities_are_listed_across_pages() {
    let merge = FakeMerge::start(vec![
        reply(
            200,
            json!({"next": "bmV4dD0y==", "previous": null, "results": [expanded_opportunity()]}),
        ),
        reply(200, json!({"next": null, "previous": null, "results": []})),
    ])
    .await;
    let deals = merge
        .client()
        .list_opportunities_modified_since(ACCOUNT, datetime!(2024-05-01 12:00 UTC))
        .await
        .unwrap();
    assert_eq!(deals.len(), 1);
    let seen = merge.seen();
    assert_eq!(seen[1].path, "/api/crm/v1/opportunities");
    assert_eq!(seen[1].param("cursor").as_deref(), Some("bmV4dD0y=="));
    assert_eq!(
        seen[1].param("expand").as_deref(),
        Some("stage,owner,account")
    );
}

#[tokio::test]
async fn a_repeated_cursor_ends_the_listing_with_an_error() {
    let page = json!({"next": "same", "previous": null, "results": []});
    let merge = FakeMerge::start(vec![reply(200, page.clone()), reply(200, page)]).await;
    let error = merge
        .client()
        .list_tickets_modified_since(ACCOUNT, datetime!(2024-05-01 12:00 UTC))
        .await
        .unwrap_err();
    assert!(matches!(error, MergeError::EndlessPagination { .. }));
    assert_eq!(merge.seen().len(), 2);
}

#[tokio::test]
async fn an_unknown_account_sends_nothing() {
    let merge = FakeMerge::start(vec![]).await;
    let error = merge
        .client()
        .get_ticket("ffffffff-0000-4000-8000-00000000ffff", TICKET)
        .await
        .unwrap_err();
    assert!(matches!(error, MergeError::UnknownAccount { .. }));
    assert!(merge.seen().is_empty());
}

#[tokio::test]
async fn a_plain_listing_reads_one_page_with_the_spec_parameters() {
    let merge = FakeMerge::start(vec![
        reply(
            200,
            json!({"next": "bmV4dA==", "previous": null, "results": [expanded_ticket()]}),
        ),
        reply(
            200,
            json!({"next": "bmV4dA==", "previous": null, "results": [expanded_opportunity()]}),
        ),
    ])
    .await;
    let tickets = merge.client().list_tickets(ACCOUNT, 50).await.unwrap();
    assert_eq!(
        tickets.len(),
        1,
        "the first page only, though `next` is set"
    );
    let deals = merge
        .client()
        .list_opportunities(ACCOUNT, 500)
        .await
        .unwrap();
    assert_eq!(deals.len(), 1);

    let seen = merge.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/api/ticketing/v1/tickets");
    assert_eq!(
        seen[0].query,
        "expand=contact,account,assignees&page_size=50"
    );
    assert_eq!(seen[1].path, "/api/crm/v1/opportunities");
    // Merge's maximum page size is 100 (docs/merge.md §1.3).
    assert_eq!(seen[1].query, "expand=stage,owner,account&page_size=100");
    for request in &seen {
        assert_merge_headers(request);
        // Both are query parameters of the spec's list operations (`expand`: an array of
        // the relation names, sent comma-separated; `page_size`: an integer).
        for (name, _) in url_pairs(&request.query) {
            assert!(["expand", "page_size"].contains(&name.as_str()), "{name}");
        }
    }
}

fn deal_note(integration: Option<&str>) -> klaxon::merge::writeback::Job {
    klaxon::merge::writeback::Job::Note(klaxon::merge::writeback::DealNote {
        linked_account_id: ACCOUNT.into(),
        opportunity_id: OPPORTUNITY.into(),
        account_id: Some("c0c0c0c0-0000-4000-8000-000000000003".into()),
        integration: integration.map(str::to_owned),
        escalation_id: "esc_1".into(),
        outcome: "connected".into(),
        content: "Klaxon escalation esc_1: the VP was connected to the account executive.".into(),
    })
}

#[tokio::test]
async fn a_deal_note_for_salesforce_carries_the_title_it_requires() {
    let merge = FakeMerge::start(vec![reply(
        201,
        json!({"model": {"id": "d0d0d0d0-0000-4000-8000-000000000009"},
               "warnings": [{"title": "Ignored", "detail": "owner ignored", "problem_type": "IGNORED_FIELD"}],
               "errors": []}),
    )])
    .await;
    let done =
        klaxon::merge::writeback::perform(&merge.client(), &deal_note(Some("Salesforce")), false)
            .await
            .unwrap();
    assert_eq!(
        done, "CRM note (warnings: IGNORED_FIELD)",
        "warnings are recorded"
    );
    let body = merge.seen()[0].body.clone().unwrap();
    assert_valid("NoteEndpointRequest", &body);
    assert_eq!(
        body["model"]["integration_params"]["title"],
        "Klaxon escalation"
    );
    assert_eq!(
        body["model"]["account"],
        "c0c0c0c0-0000-4000-8000-000000000003"
    );
}

#[tokio::test]
async fn a_deal_note_is_skipped_for_a_crm_merge_cannot_write_notes_to() {
    let merge = FakeMerge::start(vec![]).await;
    let done = klaxon::merge::writeback::perform(&merge.client(), &deal_note(Some("Close")), false)
        .await
        .unwrap();
    assert!(done.starts_with("skipped:"), "{done}");
    assert!(merge.seen().is_empty(), "no request is sent to fail");
}

#[tokio::test]
async fn a_refused_write_reports_merges_problem_types() {
    let merge = FakeMerge::start(vec![reply(
        400,
        json!({"model": null, "warnings": [],
               "errors": [{"title": "Unsupported", "detail": "no notes", "problem_type": "UNSUPPORTED_MODEL"}]}),
    )])
    .await;
    let error = klaxon::merge::writeback::perform(&merge.client(), &deal_note(None), false)
        .await
        .unwrap_err();
    assert!(
        matches!(error, MergeError::WriteRejected { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("UNSUPPORTED_MODEL"), "{error}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_retried_write_back_does_not_post_a_comment_merge_already_has() {
    use klaxon::merge::writeback::{Job, TicketWriteback, marker, perform};
    let comment = format!(
        "{} nobody on the escalation policy could be reached",
        marker("esc_7")
    );
    let merge = FakeMerge::start(vec![reply(
        200,
        json!({"next": null, "previous": null, "results": [
            {"id": "c1c1c1c1-0000-4000-8000-000000000001", "ticket": TICKET, "body": comment}
        ]}),
    )])
    .await;
    let job = Job::Ticket(TicketWriteback {
        linked_account_id: ACCOUNT.into(),
        ticket_id: TICKET.into(),
        escalation_id: "esc_7".into(),
        outcome: "unreached".into(),
        comment,
    });
    let done = perform(&merge.client(), &job, true).await.unwrap();
    assert!(done.contains("already posted"), "{done}");
    let seen = merge.seen();
    assert_eq!(seen.len(), 1, "one look, no second POST: {seen:?}");
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path, "/api/ticketing/v1/comments");
    assert!(
        seen[0].query.contains(&format!("ticket_id={TICKET}")),
        "{}",
        seen[0].query
    );
}
