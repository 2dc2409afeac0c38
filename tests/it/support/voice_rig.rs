//! Klaxon with a Telnyx account that is a sandbox carrier the test can inspect: the rig every
//! phone-escalation test starts from. Every request Klaxon sends the carrier is validated
//! against the Telnyx spec when the test reads it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use klaxon::sandbox::carrier::{
    CarrierConfig, Delivery, LegSnapshot, LegState, RecordedRequest, SandboxCarrier, Script,
    SigningSeed, Timing,
};
use serde_json::{Value, json};

use super::telnyx_spec::assert_valid;
use super::{TestServer, apply_toml, eventually};

pub const WAIT: Duration = Duration::from_secs(15);
/// The customer a ticket's "connect me" reaches.
pub const CUSTOMER: &str = "+15552000001";

/// The default pipeline: support tickets ring policy `oncall`, connecting to the payload's
/// `customer_phone`.
pub const TICKETS: &str = r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = { policy = "oncall", connect_to = "customer_phone" }
"#;

pub struct Rig {
    pub server: TestServer,
    pub carrier: SandboxCarrier,
}

/// What a rig is started with.
pub struct RigConfig<'a> {
    /// `ONCALL_NUMBER`: the policy `oncall` when `toml` declares none.
    pub oncall: &'a [&'a str],
    pub delivery: Delivery,
    /// Pipelines and policies.
    pub toml: &'a str,
    /// Callees by number, instead of the default plan.
    pub scripts: HashMap<String, Script>,
    pub timing: Timing,
    /// More environment, e.g. a model's `AI_BASE_URL`.
    pub env: &'a [(&'a str, &'a str)],
}

impl Default for RigConfig<'_> {
    fn default() -> Self {
        RigConfig {
            oncall: &[],
            delivery: Delivery::InOrder,
            toml: TICKETS,
            scripts: HashMap::new(),
            timing: Timing::fast(),
            env: &[],
        }
    }
}

impl Rig {
    pub async fn start(oncall: &[&str], delivery: Delivery) -> Rig {
        Rig::start_with(RigConfig {
            oncall,
            delivery,
            ..RigConfig::default()
        })
        .await
    }

    pub async fn start_with(config: RigConfig<'_>) -> Rig {
        let seed = SigningSeed::generate();
        let key = seed.public_key_base64();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let carrier = SandboxCarrier::start(
            listener,
            CarrierConfig {
                signing_seed: seed,
                timing: config.timing,
                delivery: config.delivery,
                scripts: config.scripts,
                ..CarrierConfig::default()
            },
        )
        .expect("sandbox carrier starts");
        let api_base = carrier.base_url();
        let oncall = config.oncall.join(",");
        let dir = tempfile::tempdir().unwrap();
        let toml = config.toml;
        let extra = config.env;
        let server = TestServer::start_knowing_address(dir, "127.0.0.1:0", |settings, addr| {
            let public_url = format!("http://{addr}");
            let mut env = vec![
                ("TELNYX_API_KEY", "KEY_TEST"),
                ("TELNYX_API_BASE", api_base.as_str()),
                ("TELNYX_CONNECTION_ID", "1494404757140276705"),
                ("TELNYX_PHONE_NUMBER", "+15550100000"),
                ("TELNYX_PUBLIC_KEY", key.as_str()),
                ("PUBLIC_URL", public_url.as_str()),
                ("ONCALL_NUMBER", oncall.as_str()),
            ];
            env.extend_from_slice(extra);
            apply_toml(settings, toml, &env);
        })
        .await;
        Rig { server, carrier }
    }

    /// Sends a critical ticket; returns its escalation id.
    pub async fn send_ticket(&self, payload: Value) -> String {
        let (status, accepted) = self
            .server
            .post_event(&json!({ "type": "support.ticket.created", "payload": payload }))
            .await;
        assert_eq!(status, 202, "{accepted}");
        let event = accepted["id"].as_str().unwrap().to_owned();
        eventually(WAIT, || async {
            let (_, e) = self.server.get(&format!("/v1/events/{event}")).await;
            e["pipeline"]["runs"][0]["destinations"][0]["escalation_id"]
                .as_str()
                .map(String::from)
        })
        .await
    }

    /// Sends a critical ticket and returns its escalation once it has ended.
    pub async fn escalate(&self) -> Value {
        let id = self
            .send_ticket(json!({
                "subject": "Checkout down for EU customers",
                "customer": "Acme GmbH",
                "customer_phone": CUSTOMER,
            }))
            .await;
        self.ended(&id).await
    }

    /// The escalation once its outcome is decided.
    pub async fn ended(&self, id: &str) -> Value {
        eventually(WAIT, || async {
            let (_, e) = self.server.get(&format!("/v1/escalations/{id}")).await;
            (e["status"] != "active" && e["ended_at"].is_string()).then_some(e)
        })
        .await
    }

    /// The escalation once every call it placed has ended too.
    pub async fn settled(&self, id: &str) -> Value {
        let escalation = self.ended(id).await;
        eventually(WAIT, || async {
            self.carrier
                .legs()
                .iter()
                .all(|leg| leg.state == LegState::Ended)
                .then_some(())
        })
        .await;
        // The last hang-ups' events are recorded after the legs end.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, latest) = self.server.get(&format!("/v1/escalations/{id}")).await;
        if latest.is_object() {
            latest
        } else {
            escalation
        }
    }

    /// Every request Klaxon sent, each validated against the spec.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let requests = self.carrier.requests();
        for request in &requests {
            let schema = match request.path.rsplit('/').next().unwrap_or("") {
                "calls" => "CallRequest",
                "messages" => "CreateMessageRequest",
                "speak" => "SpeakRequest",
                "gather_using_speak" => "GatherUsingSpeakRequest",
                "transcription_start" => "TranscriptionStartRequest",
                "bridge" => "BridgeRequest",
                "hangup" => "HangupRequest",
                "answer" => "AnswerRequest",
                "record_start" => "StartRecordingRequest",
                other => panic!("unexpected request {other}: {request:?}"),
            };
            assert_valid(schema, &request.body);
        }
        requests
    }

    /// The texts spoken on calls: speaks and menu prompts, in order.
    pub fn spoken(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter_map(|r| r.body["payload"].as_str().map(str::to_owned))
            .collect()
    }
}

/// `dial +1555…`, `speak`, `hangup`, … for each request.
pub fn action(request: &RecordedRequest) -> String {
    let last = request.path.rsplit('/').next().unwrap_or("").to_owned();
    if last == "calls" {
        format!("dial {}", request.body["to"].as_str().unwrap_or("?"))
    } else {
        last
    }
}

pub fn actions(requests: &[RecordedRequest]) -> Vec<String> {
    requests.iter().map(action).collect()
}

/// How a leg ended, for the rule "every leg we start ends by our hand when we are done".
#[derive(Debug)]
pub struct Ending {
    pub to: String,
    /// Klaxon's hang-up command ended it.
    pub by_us: bool,
    pub cause: String,
    pub ended_at: Option<SystemTime>,
}

pub fn endings(legs: &[LegSnapshot]) -> Vec<Ending> {
    legs.iter()
        .map(|leg| Ending {
            to: leg.to.clone(),
            by_us: leg.commands.iter().any(|c| c == "hangup"),
            cause: leg
                .hangup_cause
                .map_or_else(|| "up".to_owned(), |c| c.as_str().to_owned()),
            ended_at: leg.ended_at,
        })
        .collect()
}
