//! The reference apps' endpoints, end to end over the built-in sandbox carrier: `/escalate`
//! and `/alert` ring the people of `ONCALL_NUMBER` and `VP_SALES_NUMBER` with no other
//! settings, and connect them.

use std::time::Duration;

use serde_json::{Value, json};

use klaxon::sandbox::merge::sample;

use crate::support::receiver::Receiver;
use crate::support::{TestServer, assert_error, eventually};

async fn ended_escalation(server: &TestServer, policy: &str) -> Value {
    eventually(Duration::from_secs(15), || async {
        let (_, page) = server.get("/v1/escalations").await;
        page["data"]
            .as_array()?
            .iter()
            .find(|e| e["policy"] == policy && e["status"] != "active")
            .cloned()
    })
    .await
}

#[tokio::test]
async fn escalate_and_alert_ring_and_connect_with_only_the_reference_variables() {
    let server = TestServer::start_with_toml(
        "",
        &[
            // The sandbox carrier's number plan: ...0 says "connect me", ...1 presses 1.
            ("ONCALL_NUMBER", "+15551000000"),
            ("VP_SALES_NUMBER", "+15551000001"),
            ("KLAXON_SANDBOX_TIMING", "fast"),
        ],
    )
    .await;
    let post =
        |path: &str, body: Value| server.send(server.http.post(server.url(path)).json(&body));

    let answer = post(
        "/escalate",
        json!({"subject": "Checkout down", "description": "EU customers", "customer_phone": "+15552000001"}),
    )
    .await;
    assert_eq!(answer.0, 202, "{}", answer.1);
    assert_eq!(answer.1["status"], "ok");
    let escalation = ended_escalation(&server, "oncall").await;
    assert_eq!(escalation["status"], "connected", "{escalation:#}");

    let answer = post(
        "/alert",
        json!({"deal_name": "Acme renewal", "amount": 80000, "stage": "negotiation", "owner_phone": "+15552000001"}),
    )
    .await;
    assert_eq!(answer.0, 202, "{}", answer.1);
    let alert = ended_escalation(&server, "vp_sales").await;
    assert_eq!(alert["status"], "connected", "{alert:#}");

    let (_, alerts) = server.get("/alerts").await;
    assert_eq!(alerts["alerts"][0]["id"], alert["id"]);

    assert_error(
        &post("/escalate", json!({"description": "no subject"})).await,
        422,
        "missing_field",
    );
    assert_error(&post("/alert", json!([1, 2])).await, 422, "invalid_payload");
}

#[tokio::test]
async fn without_the_reference_variables_nobody_is_rung() {
    let server = TestServer::start().await;
    let answer = server
        .send(
            server
                .http
                .post(server.url("/escalate"))
                .json(&json!({"subject": "Down", "description": "x"})),
        )
        .await;
    assert_eq!(answer.0, 202);
    let id = answer.1["event_id"].as_str().unwrap().to_owned();
    // It is triaged like any ticket, but nobody is rung.
    let event = eventually(Duration::from_secs(10), || async {
        let (_, event) = server.get(&format!("/v1/events/{id}")).await;
        (event["pipeline_state"] == "done").then_some(event)
    })
    .await;
    let runs: Vec<&str> = event["pipeline"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pipeline"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["support-escalations"], "{event:#}");
    let (_, escalations) = server.get("/v1/escalations").await;
    assert_eq!(escalations["data"], json!([]));
}

#[tokio::test]
async fn tickets_and_deals_list_the_sandbox_merge() {
    // No MERGE_API_KEY: the built-in sandbox Merge, with its Zendesk and HubSpot accounts.
    let server = TestServer::start().await;
    let (status, tickets) = server.get("/tickets").await;
    assert_eq!(status, 200, "{tickets:#}");
    assert_eq!(tickets["status"], "ok");
    assert_eq!(tickets["service"], "klaxon");
    assert_eq!(tickets["source"], "merge", "{tickets:#}");
    let listed = tickets["tickets"].as_array().unwrap();
    let ids: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
    for id in [
        sample::TICKET_URGENT,
        sample::TICKET_HIGH,
        sample::TICKET_LOW,
        sample::TICKET_CLOSED,
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let urgent = listed
        .iter()
        .find(|t| t["id"] == sample::TICKET_URGENT)
        .unwrap();
    assert_eq!(urgent["priority"], "URGENT");
    assert_eq!(
        urgent["contact_phone"], "+15552000001",
        "expanded: {urgent:#}"
    );
    assert_eq!(urgent["linked_account_id"], sample::LINKED_ZENDESK);

    let (_, deals) = server.get("/deals").await;
    assert_eq!(deals["source"], "merge", "{deals:#}");
    let listed = deals["deals"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{deals:#}");
    let negotiation = listed
        .iter()
        .find(|d| d["id"] == sample::OPPORTUNITY_NEGOTIATION)
        .unwrap();
    assert_eq!(negotiation["stage_name"], "negotiation");
    assert_eq!(negotiation["amount"], 80000);
    assert_eq!(negotiation["owner_email"], "ae@example.com");
    assert_eq!(negotiation["linked_account_id"], sample::LINKED_HUBSPOT);
}

#[tokio::test]
async fn when_merge_fails_tickets_and_deals_show_what_klaxon_has_seen() {
    // A Merge that refuses the credentials.
    let refusing = Receiver::start().await;
    refusing.answer(401);
    let base = format!("http://{}/api", refusing.addr);
    let server = TestServer::start_with_toml(
        "",
        &[
            ("MERGE_API_KEY", "test-key"),
            ("MERGE_API_BASE", &base),
            ("MERGE_ACCOUNT_TOKEN", "a-token"),
        ],
    )
    .await;
    let post =
        |path: &str, body: Value| server.send(server.http.post(server.url(path)).json(&body));
    let answer = post(
        "/escalate",
        json!({"subject": "Checkout down", "description": "EU customers"}),
    )
    .await;
    assert_eq!(answer.0, 202, "{}", answer.1);
    let answer = post(
        "/alert",
        json!({"deal_name": "Acme renewal", "amount": 80000}),
    )
    .await;
    assert_eq!(answer.0, 202, "{}", answer.1);

    let (status, tickets) = server.get("/tickets").await;
    assert_eq!(status, 200, "{tickets:#}");
    assert_eq!(tickets["status"], "ok");
    assert_eq!(tickets["source"], "klaxon", "{tickets:#}");
    assert!(
        tickets["merge_error"]
            .as_str()
            .is_some_and(|e| e.contains("credentials") && !e.contains("a-token")),
        "{tickets:#}"
    );
    assert_eq!(tickets["tickets"][0]["data"]["subject"], "Checkout down");
    let (_, deals) = server.get("/deals").await;
    assert_eq!(deals["source"], "klaxon", "{deals:#}");
    assert_eq!(deals["deals"][0]["data"]["deal_name"], "Acme renewal");
}
