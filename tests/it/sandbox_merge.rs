//! The simulated Merge API, driven over real HTTP as Klaxon's Merge client drives Merge:
//! reads with `expand` and cursor pagination, polling with `modified_after`, the three
//! write-backs, and signed webhooks that Klaxon's own verifier accepts.

use std::time::Duration;

use klaxon::sandbox::merge::{MergeSandboxConfig, SandboxMerge, sample};
use klaxon::signing::Secret;
use klaxon::signing::merge::{HEADER, verify};
use serde_json::{Value, json};

use crate::support::receiver::Receiver;

const KEY: &str = "sandbox-merge-webhook-key";

struct Merge {
    sandbox: SandboxMerge,
    http: reqwest::Client,
}

impl Merge {
    async fn start() -> Merge {
        Merge::start_with(MergeSandboxConfig::default()).await
    }

    async fn start_with(config: MergeSandboxConfig) -> Merge {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox Merge");
        let sandbox = SandboxMerge::start(listener, config).expect("sandbox Merge starts");
        Merge {
            sandbox,
            http: reqwest::Client::new(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.sandbox.base_url()))
            .bearer_auth("test-merge-api-key")
            .header("X-Account-Token", token)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::GET, path, sample::ZENDESK_ACCOUNT_TOKEN)
            .send()
            .await
            .expect("GET answered");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    async fn write(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> (u16, Value) {
        let response = self
            .request(method, path, token)
            .json(&body)
            .send()
            .await
            .expect("write answered");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }
}

fn ids(page: &Value) -> Vec<&str> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|o| o["id"].as_str().expect("id"))
        .collect()
}

#[tokio::test]
async fn a_ticket_is_returned_with_ids_or_with_expanded_relations() {
    let merge = Merge::start().await;
    let (status, plain) = merge
        .get(&format!("/ticketing/v1/tickets/{}", sample::TICKET_URGENT))
        .await;
    assert_eq!(status, 200);
    assert_eq!(plain["priority"], "URGENT");
    assert_eq!(plain["status"], "OPEN");
    assert_eq!(plain["contact"], sample::CONTACT_ANNA);
    assert_eq!(plain["account"], sample::ACCOUNT_ACME);
    assert_eq!(plain["assignees"], json!([sample::AGENT_SAM]));

    let (_, expanded) = merge
        .get(&format!(
            "/ticketing/v1/tickets/{}?expand=contact,account,assignees",
            sample::TICKET_URGENT
        ))
        .await;
    assert_eq!(expanded["contact"]["phone_number"], "+15552000001");
    assert_eq!(expanded["account"]["name"], "Acme GmbH");
    assert_eq!(
        expanded["assignees"][0]["email_address"],
        "sam@support.example"
    );
    assert_eq!(expanded["creator"], sample::AGENT_SAM, "not asked for");

    let (_, contact) = merge
        .get(&format!("/ticketing/v1/contacts/{}", sample::CONTACT_ANNA))
        .await;
    assert_eq!(contact["name"], "Anna Schmidt");
    let (_, account) = merge
        .get(&format!("/ticketing/v1/accounts/{}", sample::ACCOUNT_ACME))
        .await;
    assert_eq!(account["domains"], json!(["acme.example"]));
    let (status, missing) = merge.get("/ticketing/v1/tickets/nope").await;
    assert_eq!((status, missing), (404, json!({"detail": "Not found."})));
}

#[tokio::test]
async fn an_opportunity_expands_stage_owner_and_account() {
    let merge = Merge::start().await;
    let path = format!("/crm/v1/opportunities/{}", sample::OPPORTUNITY_NEGOTIATION);
    let (_, plain) = merge.get(&path).await;
    assert_eq!(plain["amount"], 80000);
    assert_eq!(plain["stage"], sample::STAGE_NEGOTIATION);
    // Repeated `expand=` is accepted as well as a comma list.
    let (_, expanded) = merge
        .get(&format!("{path}?expand=stage&expand=owner,account"))
        .await;
    assert_eq!(expanded["stage"]["name"], "Negotiation");
    assert_eq!(expanded["owner"]["email"], "ae@example.com");
    assert_eq!(expanded["account"]["name"], "Acme GmbH");
    let (_, stage) = merge
        .get(&format!("/crm/v1/stages/{}", sample::STAGE_DISCOVERY))
        .await;
    assert_eq!(stage["name"], "Discovery");
    let (_, user) = merge
        .get(&format!("/crm/v1/users/{}", sample::CRM_USER_VP))
        .await;
    assert_eq!(user["email"], "vp@example.com");
}

#[tokio::test]
async fn lists_page_with_opaque_cursors() {
    let merge = Merge::start().await;
    let (_, first) = merge.get("/ticketing/v1/tickets?page_size=3").await;
    assert_eq!(
        ids(&first),
        [
            sample::TICKET_URGENT,
            sample::TICKET_HIGH,
            sample::TICKET_LOW
        ]
    );
    assert_eq!(first["previous"], Value::Null);
    let next = first["next"].as_str().expect("a next cursor");
    let (_, second) = merge
        .get(&format!("/ticketing/v1/tickets?page_size=3&cursor={next}"))
        .await;
    assert_eq!(ids(&second), [sample::TICKET_CLOSED]);
    assert_eq!(second["next"], Value::Null);
    assert!(second["previous"].is_string());

    let (_, expanded) = merge.get("/crm/v1/opportunities?expand=stage").await;
    assert_eq!(expanded["results"][0]["stage"]["name"], "Negotiation");
    assert_eq!(expanded["results"][1]["stage"]["name"], "Discovery");

    let (status, _) = merge.get("/ticketing/v1/tickets?cursor=garbage!").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn modified_after_sees_changes_made_in_the_source_and_through_the_api() {
    let merge = Merge::start().await;
    let watermark = "2026-01-05T10:00:00Z";
    let (_, none) = merge
        .get(&format!("/ticketing/v1/tickets?modified_after={watermark}"))
        .await;
    assert_eq!(ids(&none), Vec::<&str>::new());

    merge
        .sandbox
        .update_ticket(sample::TICKET_LOW, |t| t.priority = Some("URGENT".into()))
        .expect("sample ticket exists");
    let (_, changed) = merge
        .get(&format!("/ticketing/v1/tickets?modified_after={watermark}"))
        .await;
    assert_eq!(ids(&changed), [sample::TICKET_LOW]);
    assert_eq!(changed["results"][0]["priority"], "URGENT");

    // Polling from the last seen `modified_at` returns only later changes.
    let seen = changed["results"][0]["modified_at"]
        .as_str()
        .unwrap()
        .to_owned();
    merge
        .sandbox
        .update_opportunity(sample::OPPORTUNITY_DISCOVERY, |o| {
            o.stage = Some(sample::STAGE_NEGOTIATION.into())
        })
        .expect("sample opportunity exists");
    let (_, deals) = merge
        .get(&format!("/crm/v1/opportunities?modified_after={watermark}"))
        .await;
    assert_eq!(ids(&deals), [sample::OPPORTUNITY_DISCOVERY]);
    let (_, after) = merge
        .get(&format!("/ticketing/v1/tickets?modified_after={seen}"))
        .await;
    assert_eq!(ids(&after), Vec::<&str>::new());
    let (status, _) = merge
        .get("/ticketing/v1/tickets?modified_after=yesterday")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn writes_are_recorded_and_reflected() {
    let merge = Merge::start().await;
    let token = sample::ZENDESK_ACCOUNT_TOKEN;
    let path = format!("/ticketing/v1/tickets/{}", sample::TICKET_URGENT);
    let (status, patched) = merge
        .write(
            reqwest::Method::PATCH,
            &path,
            token,
            json!({"model": {"status": "IN_PROGRESS", "mood": "calm"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["model"]["status"], "IN_PROGRESS");
    assert_eq!(patched["errors"], json!([]));
    assert_eq!(patched["warnings"][0]["source"]["pointer"], "/model/mood");
    let (_, read) = merge.get(&path).await;
    assert_eq!(read["status"], "IN_PROGRESS");
    let (_, polled) = merge
        .get("/ticketing/v1/tickets?modified_after=2026-01-05T10:00:00Z")
        .await;
    assert_eq!(ids(&polled), [sample::TICKET_URGENT]);

    let (status, comment) = merge
        .write(
            reqwest::Method::POST,
            "/ticketing/v1/comments",
            token,
            json!({"model": {"ticket": sample::TICKET_URGENT, "body": "Escalated [klaxon:esc_1]",
                             "html_body": "<p>Escalated</p>", "is_private": true}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(comment["model"]["ticket"], sample::TICKET_URGENT);
    let (_, comments) = merge
        .get(&format!(
            "/ticketing/v1/comments?ticket_id={}",
            sample::TICKET_URGENT
        ))
        .await;
    assert_eq!(comments["results"][0]["body"], "Escalated [klaxon:esc_1]");

    let (status, note) = merge
        .write(
            reqwest::Method::POST,
            "/crm/v1/notes",
            sample::HUBSPOT_ACCOUNT_TOKEN,
            json!({"model": {"content": "VP connected to AE",
                             "opportunity": sample::OPPORTUNITY_NEGOTIATION}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(note["model"]["content"], "VP connected to AE");
    assert_eq!(merge.sandbox.notes().len(), 1);

    let writes = merge.sandbox.writes();
    let made: Vec<_> = writes
        .iter()
        .map(|w| (w.method.as_str(), w.status))
        .collect();
    assert_eq!(made, [("PATCH", 200), ("POST", 201), ("POST", 201)]);
    assert_eq!(writes[0].body["model"]["status"], "IN_PROGRESS");
    assert_eq!(
        writes[2].linked_account.as_deref(),
        Some(sample::LINKED_HUBSPOT)
    );
    let recorded = &writes[0].headers;
    assert!(recorded.bearer);
    assert_eq!(
        recorded.account_token.as_ref().map(|t| t.expose()),
        Some(token)
    );
    assert!(!format!("{writes:?}").contains(token), "tokens never print");
}

#[tokio::test]
async fn bad_write_bodies_are_refused_like_merge_refuses_them() {
    let merge = Merge::start().await;
    let token = sample::ZENDESK_ACCOUNT_TOKEN;
    let path = format!("/ticketing/v1/tickets/{}", sample::TICKET_HIGH);
    let (status, body) = merge
        .write(
            reqwest::Method::PATCH,
            &path,
            token,
            json!({"status": "OPEN"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["problem_type"], "MISSING_REQUIRED_FIELD");
    assert_eq!(body["errors"][0]["source"]["pointer"], "/model");
    let (status, body) = merge
        .write(
            reqwest::Method::PATCH,
            &path,
            token,
            json!({"model": {"priority": "CRITICAL"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["source"]["pointer"], "/model/priority");
    assert_eq!(
        merge
            .sandbox
            .ticket(sample::TICKET_HIGH)
            .unwrap()
            .priority
            .as_deref(),
        Some("HIGH")
    );
    let (status, body) = merge
        .write(
            reqwest::Method::POST,
            "/ticketing/v1/comments",
            token,
            json!({"model": {"body": "hi"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["source"]["pointer"], "/model/ticket");
}

#[tokio::test]
async fn notes_fail_with_an_errors_entry_where_the_crm_cannot_create_them() {
    let merge = Merge::start_with(MergeSandboxConfig {
        unsupported_notes_for: vec![sample::LINKED_HUBSPOT.into()],
        ..MergeSandboxConfig::default()
    })
    .await;
    let (status, body) = merge
        .write(
            reqwest::Method::POST,
            "/crm/v1/notes",
            sample::HUBSPOT_ACCOUNT_TOKEN,
            json!({"model": {"content": "VP connected to AE"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["model"], Value::Null);
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1);
    assert!(errors[0]["detail"].as_str().unwrap().contains("HubSpot"));
    assert!(merge.sandbox.notes().is_empty());
}

#[tokio::test]
async fn requests_without_credentials_are_refused() {
    let merge = Merge::start().await;
    let url = format!("{}/ticketing/v1/tickets", merge.sandbox.base_url());
    let no_key = merge
        .http
        .get(&url)
        .header("X-Account-Token", sample::ZENDESK_ACCOUNT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let body: Value = no_key.json().await.unwrap();
    assert!(body["detail"].is_string());
    let no_token = merge
        .http
        .get(&url)
        .bearer_auth("key")
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let empty_key = merge
        .http
        .get(&url)
        .header("Authorization", "Bearer ")
        .header("X-Account-Token", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(empty_key.status(), 401);
    let recorded = merge.sandbox.requests();
    assert_eq!(
        recorded.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 401, 401]
    );
    assert!(!recorded[0].headers.bearer);
}

#[tokio::test]
async fn webhooks_carry_the_full_object_and_a_signature_klaxon_accepts() {
    let merge = Merge::start_with(MergeSandboxConfig {
        webhook_secret: Some(Secret::new(KEY)),
        ..MergeSandboxConfig::default()
    })
    .await;
    let receiver = Receiver::start().await;
    merge
        .sandbox
        .update_ticket(sample::TICKET_HIGH, |t| t.priority = Some("URGENT".into()))
        .unwrap();
    let status = merge
        .sandbox
        .send_webhook(
            &receiver.url(),
            "Ticket.changed",
            sample::TICKET_HIGH,
            sample::LINKED_ZENDESK,
        )
        .await
        .expect("delivered");
    assert_eq!(status, 200);
    let received = receiver.wait_for(1, Duration::from_secs(5)).await;
    let delivery = &received[0];
    verify(delivery.header(HEADER), &delivery.body, &[Secret::new(KEY)])
        .expect("Klaxon's verifier accepts the signature");
    assert_eq!(delivery.header("user-agent"), "Merge/Webhooks");
    let body = delivery.json();
    assert_eq!(body["hook"]["event"], "Ticket.changed");
    assert_eq!(body["hook"]["target"], receiver.url());
    assert_eq!(body["linked_account"]["id"], sample::LINKED_ZENDESK);
    assert_eq!(body["linked_account"]["integration"], "Zendesk");
    assert_eq!(body["linked_account"]["category"], "ticketing");
    assert_eq!(body["data"]["id"], sample::TICKET_HIGH);
    assert_eq!(body["data"]["priority"], "URGENT");
    assert_eq!(
        body["data"]["contact"],
        sample::CONTACT_BEN,
        "relations stay ids"
    );
    assert!(body.get("id").is_none());

    receiver.answer(500);
    let status = merge
        .sandbox
        .send_webhook(
            &receiver.url(),
            "Opportunity.changed",
            sample::OPPORTUNITY_NEGOTIATION,
            sample::LINKED_HUBSPOT,
        )
        .await
        .expect("delivered");
    assert_eq!(status, 500);
    let received = receiver.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(received[1].json()["data"]["amount"], 80000);
    assert_eq!(received[1].json()["linked_account"]["category"], "crm");
    assert_eq!(merge.sandbox.webhooks_sent().len(), 2);

    let unknown = merge
        .sandbox
        .send_webhook(
            &receiver.url(),
            "Ticket.changed",
            "nope",
            sample::LINKED_ZENDESK,
        )
        .await;
    assert!(unknown.is_err());
}
