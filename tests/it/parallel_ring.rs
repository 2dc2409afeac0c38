//! Issue 16, "every call ends well": a SIGKILL during a parallel ring resumes without ringing
//! anyone twice.
//!
//! The real `klaxon serve` binary runs on SQLite and a fixed port; its Telnyx account is a
//! sandbox carrier in this test process, reached through a [`Wire`] that the test controls.
//! A ticket rings a parallel step of three people; Klaxon is killed with SIGKILL in the
//! middle of the dials and restarted on the same database and port. The carrier then shows
//! what a person would have noticed: each number rang on exactly one leg, under one
//! `command_id` (a dial re-sent by the recovery reuses its `command_id`, so the carrier answers
//! it with the leg it already placed), the escalation reached its outcome, and no leg was left
//! up. A recovery that dialled a number again under a new `command_id` would ring a second
//! leg and fail these tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use klaxon::sandbox::carrier::{
    CarrierConfig, LegSnapshot, LegState, Observed, SandboxCarrier, SigningSeed, Timing,
};
use serde_json::{Value, json};

use crate::support::binary::KlaxonProcess;

const WAIT: Duration = Duration::from_secs(30);
/// The sandbox's number plan: a last digit 4 never answers, 2 answers and presses 2.
const NEVER_ANSWERS: [&str; 3] = ["+15551000004", "+15551000014", "+15551000024"];
const ACKNOWLEDGES: &str = "+15551000002";

/// The three never-answering people are rung at once; when all three ring out (60 Telnyx
/// seconds, 6 s at the test's pace: long enough to restart Klaxon meanwhile), the next step
/// rings someone who acknowledges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_after_the_parallel_dials_reached_the_carrier_rings_nobody_twice() {
    let scene = Scene::start(
        Timing {
            second: Duration::from_millis(100),
            ..Timing::fast()
        },
        &format!(
            r#"
[[policies]]
name = "oncall"
[[policies.steps]]
targets = {NEVER_ANSWERS:?}
ring = "parallel"
ring_timeout_secs = 60
[[policies.steps]]
targets = ["{ACKNOWLEDGES}"]
"#
        ),
    )
    .await;
    let mut klaxon = scene.klaxon().await;
    send_ticket(&klaxon.url).await;

    // Right after the carrier has received the three dials, before or while Klaxon records
    // the legs they placed.
    scene
        .carrier
        .wait_until(WAIT, |seen| (dials(seen).len() >= 3).then_some(()))
        .await
        .expect("the parallel step dials all three");
    klaxon.kill_hard();
    let before = dials(&scene.carrier.observe()).len();

    let klaxon = scene.klaxon().await;
    let escalation = ended(&klaxon.url).await;
    assert_eq!(escalation["status"], "acknowledged", "{escalation:#}");
    let seen = scene.settled().await;
    eprintln!(
        "dials at the carrier: {before} before the kill, {} in all",
        dials(&seen).len()
    );

    let rung = rung(&seen);
    for number in NEVER_ANSWERS.iter().chain([&ACKNOWLEDGES]) {
        rung.once(number);
    }
    assert_eq!(rung.0.len(), 4, "nobody else was rung: {rung:#?}");
    for number in NEVER_ANSWERS {
        let leg = leg_to(&seen, number);
        assert!(leg.answered_at.is_none(), "{leg:#?}");
    }
    let acknowledged = leg_to(&seen, ACKNOWLEDGES);
    assert!(
        acknowledged
            .commands
            .iter()
            .any(|c| c == "gather_using_speak"),
        "the second step heard the menu: {acknowledged:#?}"
    );
}

/// Klaxon is killed the moment the first of the three dials leaves it. That dial reaches the
/// carrier only once Klaxon is dead, so its answer is lost; the other two never leave (some
/// may have been claimed in the store, some not yet). After the restart the recovery sends
/// all three: the first under the same `command_id` (the carrier answers with the leg it
/// already rings), the others for the first time. The person who presses 2 answers after the
/// restart, takes the escalation, and the two others are hung up. They ring for 300 Telnyx
/// seconds (30 s here), so a slow restart cannot let one ring out before the taker answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_the_first_and_the_last_parallel_dial_rings_nobody_twice() {
    let parallel = [NEVER_ANSWERS[0], NEVER_ANSWERS[1], ACKNOWLEDGES];
    let scene = Scene::start(
        Timing {
            // Whoever answers does so after the restart.
            ring: Duration::from_secs(4),
            second: Duration::from_millis(100),
            ..Timing::fast()
        },
        &format!(
            r#"
[[policies]]
name = "oncall"
[[policies.steps]]
targets = {parallel:?}
ring = "parallel"
ring_timeout_secs = 300
"#
        ),
    )
    .await;
    scene.wire.hold_dials(true);
    let mut klaxon = scene.klaxon().await;
    send_ticket(&klaxon.url).await;

    scene.wire.dials_held(1).await;
    klaxon.kill_hard();
    let held = scene.wire.take_held();
    scene.wire.hold_dials(false);
    eprintln!("{} dial(s) had left Klaxon when it was killed", held.len());
    // The first dial reaches the carrier while Klaxon is dead; the rest never left.
    let first = scene.wire.deliver(&held[0]).await;
    let first_id = first["command_id"].as_str().unwrap().to_owned();

    let klaxon = scene.klaxon().await;
    let escalation = ended(&klaxon.url).await;
    assert_eq!(escalation["status"], "acknowledged", "{escalation:#}");
    let seen = scene.settled().await;

    let rung = rung(&seen);
    for number in parallel {
        rung.once(number);
    }
    assert_eq!(rung.0.len(), 3, "nobody else was rung: {rung:#?}");
    let resent = dials(&seen)
        .iter()
        .filter(|d| d["command_id"] == first_id.as_str())
        .count();
    assert_eq!(
        resent, 2,
        "the dial whose answer was lost is sent again, under the same command_id"
    );
    let taker = leg_to(&seen, ACKNOWLEDGES);
    assert!(taker.answered_at.is_some(), "{taker:#?}");
    for number in &NEVER_ANSWERS[..2] {
        let leg = leg_to(&seen, number);
        assert!(
            leg.commands.iter().any(|c| c == "hangup"),
            "someone else took it: Klaxon hung this one up: {leg:#?}"
        );
    }
}

/// The sandbox carrier, the [`Wire`] in front of it, and the settings, database and port
/// every start of the binary shares.
struct Scene {
    carrier: SandboxCarrier,
    wire: Arc<Wire>,
    db: PathBuf,
    env: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

impl Scene {
    /// Tickets ring policy `oncall`, declared in `policies`.
    async fn start(timing: Timing, policies: &str) -> Scene {
        let seed = SigningSeed::generate();
        let key = seed.public_key_base64();
        let carrier = SandboxCarrier::start(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            CarrierConfig {
                signing_seed: seed,
                timing,
                ..CarrierConfig::default()
            },
        )
        .expect("the sandbox carrier starts");
        let wire = Wire::start(carrier.base_url()).await;
        // A fixed port, so the carrier's webhooks find the restarted process too.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("klaxon.toml");
        let pipeline = r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = { policy = "oncall" }
"#;
        std::fs::write(&config, format!("{pipeline}{policies}")).unwrap();
        let env = vec![
            ("KLAXON_CONFIG", config.display().to_string()),
            ("PORT", port.to_string()),
            ("TELNYX_API_KEY", "KEY_TEST".to_owned()),
            ("TELNYX_API_BASE", wire.base_url.clone()),
            ("TELNYX_CONNECTION_ID", "1494404757140276705".to_owned()),
            ("TELNYX_PHONE_NUMBER", "+15550100000".to_owned()),
            ("TELNYX_PUBLIC_KEY", key),
            ("PUBLIC_URL", format!("http://127.0.0.1:{port}")),
        ];
        Scene {
            carrier,
            wire,
            db: dir.path().join("klaxon.db"),
            env,
            _dir: dir,
        }
    }

    /// Starts `klaxon serve` (again) on the scene's database and port.
    async fn klaxon(&self) -> KlaxonProcess {
        let (db, env) = (self.db.clone(), self.env.clone());
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            KlaxonProcess::start(&db, &env)
        })
        .await
        .expect("klaxon starts")
    }

    /// What the carrier saw once every leg has ended.
    async fn settled(&self) -> Observed {
        self.carrier
            .wait_until(WAIT, |seen| {
                let up = seen.legs.iter().any(|leg| leg.state != LegState::Ended);
                (!up).then(|| seen.clone())
            })
            .await
            .unwrap_or_else(|_| panic!("every leg ends: {:#?}", self.carrier.legs()))
    }
}

/// The Telnyx API as the binary reaches it: a pass-through to the sandbox carrier that, while
/// told to hold dials, keeps each `POST /v2/calls` to itself and never answers it. A held dial
/// has left Klaxon but not reached the carrier; the test decides what becomes of it.
struct Wire {
    base_url: String,
    carrier_base: String,
    http: reqwest::Client,
    holding: AtomicBool,
    held: Mutex<Vec<Held>>,
    /// How many dials were held so far.
    arrivals: tokio::sync::watch::Sender<usize>,
}

/// A dial request that left Klaxon and is held on the wire.
struct Held {
    authorization: String,
    body: Bytes,
}

impl Wire {
    async fn start(carrier_base: String) -> Arc<Wire> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let wire = Arc::new(Wire {
            base_url: format!("http://{}/v2", listener.local_addr().unwrap()),
            carrier_base,
            http: reqwest::Client::new(),
            holding: AtomicBool::new(false),
            held: Mutex::new(Vec::new()),
            arrivals: tokio::sync::watch::Sender::new(0),
        });
        let app = axum::Router::new()
            .fallback(pass)
            .with_state(Arc::clone(&wire));
        tokio::spawn(async move { axum::serve(listener, app).await });
        wire
    }

    fn hold_dials(&self, hold: bool) {
        self.holding.store(hold, Ordering::SeqCst);
    }

    /// Waits until `n` dials are held.
    async fn dials_held(&self, n: usize) {
        let mut arrivals = self.arrivals.subscribe();
        tokio::time::timeout(WAIT, arrivals.wait_for(|held| *held >= n))
            .await
            .expect("the dials leave Klaxon")
            .expect("the wire is up");
    }

    fn take_held(&self) -> Vec<Held> {
        std::mem::take(&mut *self.held.lock().unwrap())
    }

    /// Hands a held dial to the carrier (nobody hears the answer); returns its body.
    async fn deliver(&self, dial: &Held) -> Value {
        let response = self
            .http
            .post(format!("{}/calls", self.carrier_base))
            .header(AUTHORIZATION, &dial.authorization)
            .header(CONTENT_TYPE, "application/json")
            .body(dial.body.clone())
            .send()
            .await
            .expect("the carrier answers");
        assert_eq!(response.status(), 200, "the carrier places the held dial");
        serde_json::from_slice(&dial.body).expect("a dial is JSON")
    }
}

async fn pass(
    State(wire): State<Arc<Wire>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if method == Method::POST && uri.path() == "/v2/calls" && wire.holding.load(Ordering::SeqCst) {
        wire.held.lock().unwrap().push(Held {
            authorization,
            body,
        });
        wire.arrivals.send_modify(|n| *n += 1);
        // Never answered: Klaxon dies waiting.
        return std::future::pending().await;
    }
    let path = uri.path().strip_prefix("/v2").unwrap_or(uri.path());
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let forwarded = wire
        .http
        .request(method, format!("{}{path}{query}", wire.carrier_base))
        .header(AUTHORIZATION, authorization)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match forwarded {
        Ok(answer) => {
            let status = answer.status();
            let body = answer.bytes().await.unwrap_or_default();
            (status, [(CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

async fn send_ticket(url: &str) {
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/events"))
        .json(&json!({"type": "support.ticket.created",
                      "payload": {"subject": "Checkout down for EU customers"}}))
        .send()
        .await
        .expect("klaxon is up");
    assert_eq!(response.status(), 202);
}

/// The only escalation, once its outcome is decided.
async fn ended(url: &str) -> Value {
    let http = reqwest::Client::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let page: Value = http
                .get(format!("{url}/v1/escalations"))
                .send()
                .await
                .expect("klaxon is up")
                .json()
                .await
                .expect("json");
            if let Some(escalation) = page["data"].as_array().and_then(|all| all.first())
                && escalation["status"] != "active"
            {
                return escalation.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the escalation reaches its outcome after the restart")
}

/// The bodies of every dial (`POST /v2/calls`) the carrier received, in order.
fn dials(seen: &Observed) -> Vec<Value> {
    seen.requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v2/calls")
        .map(|r| r.body.clone())
        .collect()
}

/// Per number: the `command_id`s it was dialled under and the legs the carrier rang.
#[derive(Debug)]
struct Rung(BTreeMap<String, (BTreeSet<String>, usize)>);

impl Rung {
    /// `number` was dialled for one attempt only and rang on one leg.
    fn once(&self, number: &str) {
        let (command_ids, legs) = self
            .0
            .get(number)
            .unwrap_or_else(|| panic!("{number} was rung: {self:#?}"));
        assert_eq!(
            command_ids.len(),
            1,
            "{number}: one dial, however often sent"
        );
        assert_eq!(*legs, 1, "{number} rang once: {self:#?}");
    }
}

fn rung(seen: &Observed) -> Rung {
    let mut rung: BTreeMap<String, (BTreeSet<String>, usize)> = BTreeMap::new();
    for dial in dials(seen) {
        let to = dial["to"].as_str().unwrap_or_default().to_owned();
        let command_id = dial["command_id"].as_str().unwrap_or_default().to_owned();
        rung.entry(to).or_default().0.insert(command_id);
    }
    for leg in &seen.legs {
        rung.entry(leg.to.clone()).or_default().1 += 1;
    }
    Rung(rung)
}

fn leg_to<'a>(seen: &'a Observed, number: &str) -> &'a LegSnapshot {
    seen.legs
        .iter()
        .find(|leg| leg.to == number)
        .unwrap_or_else(|| panic!("a leg to {number}"))
}
