//! Alert sources (issue 20, item 2): Alertmanager, Grafana and PagerDuty Events v2 senders
//! ring the policy their source maps to, once per open alert, over real HTTP, with the
//! bodies from the senders' own documentation (tests/fixtures/alerts). A resolve or an
//! acknowledge at the source ends the escalation on the sandbox carrier; wrong keys and
//! malformed bodies change nothing.

use std::time::Duration;

use klaxon::sandbox::carrier::Timing;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::voice_rig::{Rig, RigConfig};
use crate::support::{assert_error, eventually};

const WAIT: Duration = Duration::from_secs(20);
const PROM_KEY: &str = "prom-key-0123456789abcdef";
const GRAFANA_KEY: &str = "grafana-key-0123456789abcdef";
const PD_KEY: &str = "pd0123456789abcdef0123456789abcd";

/// One source of each kind ringing `oncall`, whose one number never answers within the
/// test (a 120 s ring at 100 ms a carrier second): an escalation stays active until
/// something ends it.
fn settings() -> String {
    r#"
[[policies]]
name = "oncall"
[[policies.steps]]
targets = ["+15551000004"]
ring_timeout_secs = 120

[[alert_sources]]
name = "prom"
kind = "alertmanager"
key_env = "PROM_KEY"
policy = "oncall"

[[alert_sources]]
name = "grafana"
kind = "grafana"
key_env = "GRAFANA_KEY"
policy = "oncall"

[[alert_sources]]
name = "pd"
kind = "pagerduty"
key_env = "PD_KEY"
policy = "oncall"
"#
    .to_owned()
}

async fn rig() -> Rig {
    let toml = settings();
    Rig::start_with(RigConfig {
        toml: &toml,
        env: &[
            ("PROM_KEY", PROM_KEY),
            ("GRAFANA_KEY", GRAFANA_KEY),
            ("PD_KEY", PD_KEY),
        ],
        timing: Timing {
            second: Duration::from_millis(100),
            ..Timing::fast()
        },
        ..RigConfig::default()
    })
    .await
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/alerts/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn post(rig: &Rig, path: &str, body: &Value) -> (StatusCode, Value) {
    rig.server
        .send(rig.server.http.post(rig.server.url(path)).json(body))
        .await
}

async fn escalations(rig: &Rig) -> Vec<Value> {
    let (status, page) = rig.server.get("/v1/escalations?limit=100").await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().cloned().unwrap_or_default()
}

async fn events_of(rig: &Rig, event_type: &str) -> Vec<Value> {
    let (status, page) = rig
        .server
        .get(&format!("/v1/events?type={event_type}&limit=100"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().cloned().unwrap_or_default()
}

/// The escalation started for the `alert.firing` event `event`, once the pipeline ran.
async fn escalation_of(rig: &Rig, event: &str) -> String {
    eventually(WAIT, || async {
        let (_, e) = rig.server.get(&format!("/v1/events/{event}")).await;
        // Every source's pipeline takes `alert.firing`; only this source's passes its filter.
        e["pipeline"]["runs"]
            .as_array()?
            .iter()
            .flat_map(|run| run["destinations"].as_array().into_iter().flatten())
            .find_map(|d| d["escalation_id"].as_str().map(String::from))
    })
    .await
}

/// Waits until the carrier rings the escalation's first number.
async fn ringing(rig: &Rig) {
    eventually(WAIT, || async {
        (!rig.carrier.legs().is_empty()).then_some(())
    })
    .await;
}

fn outcomes(answer: &Value) -> Vec<&str> {
    answer["alerts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["outcome"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alertmanager_alert_sent_again_and_again_rings_once() {
    let rig = rig().await;
    let body = fixture("alertmanager-v4-firing.json");
    let path = format!("/webhooks/alerts/prom/{PROM_KEY}");
    let first = post(&rig, &path, &body).await;
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(outcomes(&first.1), ["opened"]);
    assert_eq!(first.1["alerts"][0]["dedup_key"], "prom:1a30ba71cca2921f");
    for _ in 0..4 {
        let again = post(&rig, &path, &body).await;
        assert_eq!(again.0, 200, "{}", again.1);
        assert_eq!(outcomes(&again.1), ["repeated"]);
        assert!(again.1["alerts"][0]["event_id"].is_null());
    }

    let firing = events_of(&rig, "alert.firing").await;
    assert_eq!(firing.len(), 1, "one event per open alert: {firing:?}");
    let payload = &firing[0]["payload"];
    assert_eq!(payload["dedup_key"], "prom:1a30ba71cca2921f");
    assert_eq!(payload["status"], "firing");
    assert_eq!(
        payload["summary"],
        "BlackBox Probe Failure: https://server.example.org"
    );
    assert_eq!(payload["severity"], "critical");
    assert_eq!(payload["labels"]["job"], "http_checks");
    assert_eq!(
        payload["details"]["external_url"],
        "http://prometheus.example.org:9093"
    );
    assert_eq!(payload["starts_at"], "2023-02-06T13:08:45.828Z");
    assert!(payload.get("ends_at").is_none(), "the zero time is no end");

    let event = firing[0]["id"].as_str().expect("event id");
    escalation_of(&rig, event).await;
    let all = escalations(&rig).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["policy"], "oncall");
    assert_eq!(all[0]["pipeline"], "alerts-prom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_alertmanager_alert_ends_its_escalation_and_a_new_firing_rings_again() {
    let rig = rig().await;
    let mut body = fixture("alertmanager-v4-firing.json");
    let path = format!("/webhooks/alerts/prom/{PROM_KEY}");
    let (status, answer) = post(&rig, &path, &body).await;
    assert_eq!(status, 200, "{answer}");
    let event = answer["alerts"][0]["event_id"].as_str().expect("stored");
    let escalation = escalation_of(&rig, event).await;
    ringing(&rig).await;

    body["status"] = json!("resolved");
    body["alerts"][0]["status"] = json!("resolved");
    body["alerts"][0]["endsAt"] = json!("2023-02-06T13:20:00Z");
    let (status, answer) = post(&rig, &path, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(outcomes(&answer), ["resolved"]);
    let ended = rig.ended(&escalation).await;
    assert_eq!(ended["status"], "resolved", "ended by the resolve: {ended}");
    let timeline = ended["timeline"].to_string();
    assert!(
        timeline.contains("prom (Alertmanager)"),
        "the timeline says who resolved it: {timeline}"
    );
    let resolved = events_of(&rig, "alert.resolved").await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["payload"]["ends_at"], "2023-02-06T13:20:00Z");

    // Alertmanager keeps sending the resolved alert for a while: nothing more happens.
    let (_, answer) = post(&rig, &path, &body).await;
    assert_eq!(outcomes(&answer), ["resolved"]);
    assert_eq!(events_of(&rig, "alert.resolved").await.len(), 1);

    // Firing again after the resolve is a new episode: a second escalation.
    body["status"] = json!("firing");
    body["alerts"][0]["status"] = json!("firing");
    body["alerts"][0]["endsAt"] = json!("0001-01-01T00:00:00Z");
    let (_, answer) = post(&rig, &path, &body).await;
    assert_eq!(outcomes(&answer), ["opened"]);
    let second = answer["alerts"][0]["event_id"].as_str().expect("stored");
    let next = escalation_of(&rig, second).await;
    assert_ne!(next, escalation);
    assert_eq!(escalations(&rig).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grafana_contact_point_rings_for_each_alert_of_its_group() {
    let rig = rig().await;
    let body = fixture("grafana-firing.json");
    let request = rig
        .server
        .http
        .post(rig.server.url("/webhooks/alerts/grafana"))
        .bearer_auth(GRAFANA_KEY)
        .json(&body);
    let (status, answer) = rig.server.send(request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(outcomes(&answer), ["opened", "opened"]);
    let firing = events_of(&rig, "alert.firing").await;
    assert_eq!(firing.len(), 2);
    let mut keys: Vec<&str> = firing
        .iter()
        .filter_map(|e| e["payload"]["dedup_key"].as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["grafana:bc97ff14869b13e3", "grafana:c6eadffa33fcdf37"]
    );
    let memory = firing
        .iter()
        .find(|e| e["payload"]["alert_key"] == "c6eadffa33fcdf37")
        .expect("the memory alert");
    assert_eq!(
        memory["payload"]["summary"],
        "This alert was triggered for zone us-1"
    );
    assert_eq!(
        memory["payload"]["details"]["values"]["B"],
        44.23943737541908
    );
    assert_eq!(memory["payload"]["kind"], "grafana");
    for event in &firing {
        escalation_of(&rig, event["id"].as_str().expect("id")).await;
    }
    assert_eq!(escalations(&rig).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_events_are_answered_as_pagerduty_does_and_acknowledge_stops_the_ringing() {
    let rig = rig().await;
    let mut trigger = fixture("pagerduty-trigger.json");
    trigger["routing_key"] = json!(PD_KEY);
    let (status, answer) = post(&rig, "/v2/enqueue", &trigger).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer,
        json!({"status": "success", "message": "Event processed", "dedup_key": "samplekeyhere"})
    );
    let firing = events_of(&rig, "alert.firing").await;
    assert_eq!(firing.len(), 1);
    let payload = &firing[0]["payload"];
    assert_eq!(payload["dedup_key"], "pd:samplekeyhere");
    assert_eq!(payload["summary"], "Example alert on host1.example.com");
    assert_eq!(payload["severity"], "info");
    assert_eq!(payload["details"]["custom_details"]["load avg"], 0.75);
    assert_eq!(payload["url"], "https://monitoring.example.com");
    let escalation = escalation_of(&rig, firing[0]["id"].as_str().expect("id")).await;
    ringing(&rig).await;

    // The same trigger again (the alias path some senders use): deduplicated.
    let (status, answer) = post(&rig, "/v2/events", &trigger).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(events_of(&rig, "alert.firing").await.len(), 1);

    let mut ack = fixture("pagerduty-acknowledge.json");
    ack["routing_key"] = json!(PD_KEY);
    ack["dedup_key"] = json!("samplekeyhere");
    let (status, answer) = post(&rig, "/v2/enqueue", &ack).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["dedup_key"], "samplekeyhere");
    let ended = rig.ended(&escalation).await;
    assert_eq!(
        ended["status"], "acknowledged",
        "ended by the acknowledge: {ended}"
    );
    assert!(
        ended["timeline"].to_string().contains("pd (PagerDuty)"),
        "the timeline says who acknowledged it: {ended}"
    );
    assert_eq!(events_of(&rig, "alert.acknowledged").await.len(), 1);
    // A trigger while acknowledged rings nobody (PagerDuty: no further notifications).
    let (status, _) = post(&rig, "/v2/enqueue", &trigger).await;
    assert_eq!(status, 202);
    assert_eq!(events_of(&rig, "alert.firing").await.len(), 1);

    let mut resolve = fixture("pagerduty-resolve.json");
    resolve["routing_key"] = json!(PD_KEY);
    resolve["dedup_key"] = json!("samplekeyhere");
    let (status, _) = post(&rig, "/v2/enqueue", &resolve).await;
    assert_eq!(status, 202);
    assert_eq!(events_of(&rig, "alert.resolved").await.len(), 1);
    // Acknowledging a resolved alert is dropped, still answered as accepted.
    let (status, _) = post(&rig, "/v2/enqueue", &ack).await;
    assert_eq!(status, 202);
    assert_eq!(events_of(&rig, "alert.acknowledged").await.len(), 1);

    // A trigger without a dedup_key gets one, which resolves it later.
    let mut fresh = trigger.clone();
    fresh.as_object_mut().expect("object").remove("dedup_key");
    let (status, answer) = post(&rig, "/v2/enqueue", &fresh).await;
    assert_eq!(status, 202, "{answer}");
    let generated = answer["dedup_key"].as_str().expect("generated").to_owned();
    assert_ne!(generated, "samplekeyhere");
    resolve["dedup_key"] = json!(generated);
    let (status, answer) = post(&rig, "/v2/enqueue", &resolve).await;
    assert_eq!(
        (status.as_u16(), &answer["dedup_key"]),
        (202, &json!(generated))
    );
    assert_eq!(events_of(&rig, "alert.resolved").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_and_malformed_bodies_change_nothing() {
    let rig = rig().await;
    let body = fixture("alertmanager-v4-firing.json");
    let wrong_path = post(&rig, "/webhooks/alerts/prom/not-the-key-0123456789", &body).await;
    assert_error(&wrong_path, 401, "invalid_integration_key");
    let other_sources_key =
        post(&rig, &format!("/webhooks/alerts/prom/{GRAFANA_KEY}"), &body).await;
    assert_error(&other_sources_key, 401, "invalid_integration_key");
    let no_key = post(&rig, "/webhooks/alerts/prom", &body).await;
    assert_error(&no_key, 401, "missing_integration_key");
    let wrong_bearer = rig
        .server
        .send(
            rig.server
                .http
                .post(rig.server.url("/webhooks/alerts/prom"))
                .bearer_auth("prom-key-0123456789abcdeX")
                .json(&body),
        )
        .await;
    assert_error(&wrong_bearer, 401, "invalid_integration_key");
    let unknown = post(&rig, &format!("/webhooks/alerts/nope/{PROM_KEY}"), &body).await;
    assert_error(&unknown, 404, "not_found");

    let mut pd = fixture("pagerduty-trigger.json");
    pd["routing_key"] = json!("ffffffffffffffffffffffffffffffff");
    let (status, answer) = post(&rig, "/v2/enqueue", &pd).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["status"], "invalid event");
    assert_eq!(answer["errors"], json!(["Invalid routing key"]));
    assert_eq!(answer["error"]["code"], "invalid_integration_key");
    // The Alertmanager source's key is not a PagerDuty routing key.
    pd["routing_key"] = json!(PROM_KEY);
    assert_eq!(post(&rig, "/v2/enqueue", &pd).await.0, 401);

    let path = format!("/webhooks/alerts/prom/{PROM_KEY}");
    let not_json = rig
        .server
        .send(
            rig.server
                .http
                .post(rig.server.url(&path))
                .header("content-type", "application/json")
                .body("{\"version\": \"4\", \"alerts\": ["),
        )
        .await;
    assert_error(&not_json, 400, "invalid_alert");
    let mut old = body.clone();
    old["version"] = json!("3");
    assert_error(&post(&rig, &path, &old).await, 400, "invalid_alert");
    let mut pending = body.clone();
    pending["alerts"][0]["status"] = json!("pending");
    assert_error(&post(&rig, &path, &pending).await, 400, "invalid_alert");
    let grafana_wants_an_alert_list = rig
        .server
        .send(
            rig.server
                .http
                .post(rig.server.url("/webhooks/alerts/grafana"))
                .bearer_auth(GRAFANA_KEY)
                .json(&json!({"receiver": "x", "alerts": "none"})),
        )
        .await;
    assert_error(&grafana_wants_an_alert_list, 400, "invalid_alert");

    let mut invalid = fixture("pagerduty-trigger.json");
    invalid["routing_key"] = json!(PD_KEY);
    invalid["payload"]
        .as_object_mut()
        .expect("payload")
        .remove("summary");
    invalid["payload"]["severity"] = json!("catastrophic");
    let (status, answer) = post(&rig, "/v2/enqueue", &invalid).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["status"], "invalid event");
    assert_eq!(answer["message"], "Event object is invalid");
    let errors = answer["errors"].to_string();
    assert!(
        errors.contains("payload.summary") && errors.contains("payload.severity"),
        "{errors}"
    );
    let resolve_without_key = json!({"routing_key": PD_KEY, "event_action": "resolve"});
    assert_eq!(post(&rig, "/v2/enqueue", &resolve_without_key).await.0, 400);

    assert_eq!(rig.server.count_events().await, 0, "nothing was stored");
    let (_, open) = rig.server.get("/v1/escalations").await;
    assert_eq!(open["data"], json!([]));
    assert!(rig.carrier.legs().is_empty(), "nobody was rung");
}

/// The live page's panels as the page's script fetches them.
async fn live_panels(server: &crate::support::TestServer) -> String {
    let response = reqwest::get(server.url("/live/panels"))
        .await
        .expect("live panels");
    assert_eq!(response.status(), 200);
    response.text().await.expect("panels text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_lists_an_open_alert_group_until_it_resolves() {
    let rig = rig().await;
    let quiet = live_panels(&rig.server).await;
    assert!(quiet.contains("No alert is firing."), "{quiet}");

    let mut body = fixture("alertmanager-v4-firing.json");
    let path = format!("/webhooks/alerts/prom/{PROM_KEY}");
    let (status, answer) = post(&rig, &path, &body).await;
    assert_eq!(status, 200, "{answer}");
    let firing = live_panels(&rig.server).await;
    assert!(
        firing.contains("BlackBox Probe Failure: https://server.example.org")
            && firing.contains("1a30ba71cca2921f")
            && firing.contains("status-firing"),
        "{firing}"
    );

    body["status"] = json!("resolved");
    body["alerts"][0]["status"] = json!("resolved");
    body["alerts"][0]["endsAt"] = json!("2023-02-06T13:20:00Z");
    let (status, answer) = post(&rig, &path, &body).await;
    assert_eq!(status, 200, "{answer}");
    let resolved = live_panels(&rig.server).await;
    assert!(resolved.contains("No alert is firing."), "{resolved}");
}
