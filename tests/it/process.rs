//! The real binary: durability across SIGKILL, clean exit on SIGTERM, `check`, `events`.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::binary::{KlaxonProcess, command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("klaxon.db");
    let mut server = KlaxonProcess::start(&db, &[]);
    let http = reqwest::Client::new();
    let url = Arc::new(format!("{}/v1/events", server.url));

    // 16 concurrent senders, 1,000 events in all, so commits are grouped as in production.
    let senders = (0..16).map(|worker| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in (worker..1000).step_by(16) {
                let body = json!({"type": "durability", "payload": {"n": n}});
                let response = http
                    .post(url.as_str())
                    .json(&body)
                    .send()
                    .await
                    .expect("server up");
                assert_eq!(response.status(), 202);
                let answer: Value = response.json().await.expect("json");
                acked.push(answer["id"].as_str().expect("id").to_owned());
            }
            acked
        })
    });
    let mut acked = Vec::new();
    for sender in senders.collect::<Vec<_>>() {
        acked.extend(sender.await.expect("sender finished"));
    }
    // Straight after the last 202: no chance for a graceful flush.
    server.kill_hard();
    assert_eq!(acked.len(), 1000);

    let server = KlaxonProcess::start(&db, &[]);
    let mut stored = HashSet::new();
    let mut after = String::new();
    loop {
        let page: Value = http
            .get(format!("{}/v1/events?limit=500&after={after}", server.url))
            .send()
            .await
            .expect("restarted server up")
            .json()
            .await
            .expect("json");
        for event in page["data"].as_array().expect("data") {
            stored.insert(event["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => after = cursor.to_owned(),
            None => break,
        }
    }
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    assert_eq!(stored.len(), 1000, "each event stored once");
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("klaxon.db");
    let mut server = KlaxonProcess::start(&db, &[]);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/events", server.url))
        .json(&json!({"type": "t"}))
        .send()
        .await
        .expect("server up");
    assert_eq!(response.status(), 202);

    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    let logs: Vec<String> = server.logs.try_iter().collect();
    assert!(
        logs.iter().any(|l| l.contains("committing queued writes")),
        "logs the drain: {logs:?}"
    );
}

#[test]
fn check_accepts_good_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("klaxon.toml");
    std::fs::write(
        &file,
        "port = 8080\n[ingest]\nsignature_tolerance_secs = 120\n",
    )
    .expect("write");
    let output = command()
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("127.0.0.1:8080"), "{stdout}");
}

#[test]
fn check_names_the_file_key_and_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("klaxon.toml");
    let cases = [
        ("port = \"five thousand\"\n", "port"),
        ("prot = 5000\n", "prot"),
        ("database_url = \"mysql://x\"\n", "database_url"),
        (
            "[ingest]\nsignature_tolerance_secs = 0\n",
            "ingest.signature_tolerance_secs",
        ),
        ("log_format = \"xml\"\n", "log_format"),
    ];
    for (text, key) in cases {
        std::fs::write(&file, text).expect("write");
        let output = command()
            .args(["check", "--config"])
            .arg(&file)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("klaxon.toml"), "names the file: {stderr}");
        assert!(stderr.contains(key), "names the key {key}: {stderr}");
    }
}

#[test]
fn check_reports_every_bad_environment_variable() {
    let output = command()
        .arg("check")
        .env("PORT", "eighty")
        .env("HOST", "my host")
        .env("KLAXON_API_TOKEN", "short")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for var in ["PORT", "HOST", "KLAXON_API_TOKEN"] {
        assert!(
            stderr.contains(&format!("environment variable {var}")),
            "{var}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("short"),
        "the token's value is never printed: {stderr}"
    );
}

#[test]
fn a_missing_settings_file_is_a_clear_error() {
    let output = command()
        .args(["check", "--config", "/nonexistent/klaxon.toml"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/klaxon.toml") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

#[test]
fn events_send_and_list_talk_to_a_running_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = KlaxonProcess::start(&dir.path().join("klaxon.db"), &[]);
    let run = |args: &[&str]| {
        let output = command()
            .arg("events")
            .args(args)
            .env("KLAXON_URL", &server.url)
            .output()
            .expect("run");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (code, stdout, stderr) = run(&[
        "send",
        "--type",
        "cli.test",
        "--data",
        r#"{"hello":"world"}"#,
        "--key",
        "cli-1",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let sent: Value = serde_json::from_str(&stdout).expect("send prints JSON");
    assert_eq!(sent["duplicate"], false);

    let (code, stdout, _) = run(&["list", "--type", "cli.test"]);
    assert_eq!(code, Some(0));
    let page: Value = serde_json::from_str(&stdout).expect("list prints JSON");
    assert_eq!(page["data"][0]["id"], sent["id"]);
    assert_eq!(page["data"][0]["payload"]["hello"], "world");

    let (code, _, stderr) = run(&["send", "--type", "bad type"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("invalid_type"), "{stderr}");
    let (code, _, stderr) = run(&["send", "--type", "t", "--data", "{nope"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--data"), "{stderr}");
}

#[test]
fn events_commands_explain_an_unreachable_server() {
    let output = command()
        .args(["events", "list", "--url", "http://127.0.0.1:9"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach Klaxon") && stderr.contains("klaxon serve"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_event_is_delivered_after_sigkill() {
    use crate::support::receiver::Receiver;
    use std::time::Duration;

    let receiver = Receiver::start().await;
    receiver.answer(500);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("klaxon.db");
    let config = dir.path().join("klaxon.toml");
    // Retries every 200 ms for 20 s: none may run out before the kill, however slowly a busy
    // machine sends the 300 events (a dead letter is not redelivered, rightly).
    let retries = vec!["\"200ms\""; 100].join(", ");
    std::fs::write(
        &config,
        format!(
            r#"
[delivery]
retry_schedule = [{retries}]
[[pipelines]]
name = "orders"
on = "order.*"
[[pipelines.destinations]]
webhook = {{ url = "{}", signing = "none", allow_private = true }}
"#,
            receiver.url()
        ),
    )
    .expect("write settings");
    let config = config.display().to_string();
    let env = [("KLAXON_CONFIG", config.as_str())];
    let mut server = KlaxonProcess::start(&db, &env);
    let http = reqwest::Client::new();
    let url = Arc::new(format!("{}/v1/events", server.url));

    // The receiver fails every attempt; Klaxon is killed while events are still in their
    // pipelines and deliveries are waiting for retries.
    let senders = (0..8).map(|worker| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in (worker..300).step_by(8) {
                let body = json!({"type": "order.created", "payload": {"n": n}});
                let response = http.post(url.as_str()).json(&body).send().await.unwrap();
                assert_eq!(response.status(), 202);
                let answer: Value = response.json().await.unwrap();
                acked.push(answer["id"].as_str().unwrap().to_owned());
            }
            acked
        })
    });
    let mut acked = HashSet::new();
    for sender in senders.collect::<Vec<_>>() {
        acked.extend(sender.await.expect("sender finished"));
    }
    server.kill_hard();
    assert_eq!(acked.len(), 300);

    // Only what arrives from now on counts, all of it answered 200.
    receiver.answer(200);
    receiver.clear();
    let _server = KlaxonProcess::start(&db, &env);
    let delivered = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let ok: HashSet<String> = receiver
                .received()
                .iter()
                .filter_map(|r| r.json()["id"].as_str().map(String::from))
                .collect();
            if acked.iter().all(|id| ok.contains(id)) {
                return ok;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every acknowledged event reaches the receiver after the restart");
    assert_eq!(delivered.len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_and_replay_from_the_command_line() {
    use crate::support::receiver::Receiver;
    use std::time::Duration;

    let mut receiver = Receiver::start().await;
    let hook = receiver.url();
    receiver.stop().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("klaxon.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[delivery]
retry_schedule = ["50ms"]
[[pipelines]]
name = "orders"
on = "order.*"
[[pipelines.destinations]]
name = "shop"
webhook = {{ url = "{hook}", signing = "none", allow_private = true }}
"#
        ),
    )
    .expect("write settings");
    let config = config.display().to_string();
    let server = KlaxonProcess::start(
        &dir.path().join("klaxon.db"),
        &[("KLAXON_CONFIG", config.as_str())],
    );
    let dlq = |args: &[&str]| {
        let output = command()
            .arg("dlq")
            .args(args)
            .env("KLAXON_URL", &server.url)
            .output()
            .expect("run klaxon dlq");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).expect("dlq prints JSON")
    };

    let http = reqwest::Client::new();
    for n in 0..2 {
        let response = http
            .post(format!("{}/v1/events", server.url))
            .json(&json!({"type": "order.created", "payload": {"n": n}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    // Both deliveries fail twice (refused) and land in the dead letter queue.
    let listed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let listed = dlq(&["list", "--destination", "orders.shop"]);
            if listed["data"].as_array().unwrap().len() == 2 {
                return listed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("two dead deliveries");
    assert_eq!(listed["data"][0]["state"], "dead");
    assert_eq!(listed["data"][0]["attempts"], 2);

    receiver.restart().await;
    let replayed = dlq(&["replay", "--all"]);
    assert_eq!(replayed["replayed"], 2);
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let remaining = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let listed = dlq(&["list"]);
            if listed["data"].as_array().unwrap().is_empty() {
                return listed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the queue empties after the replay");
    assert_eq!(remaining["next_cursor"], Value::Null);
}

/// A `klaxon sandbox carrier` child process; killed when dropped.
struct CarrierProcess {
    child: std::process::Child,
    api_base: String,
    /// Kept open: a closed pipe would fail the carrier's next write to stdout.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for CarrierProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_survives_sigkill_mid_call() {
    use std::io::{BufRead, BufReader};
    use std::time::Duration;

    // The carrier runs in its own process, so the call outlives Klaxon.
    let seed = [42u8; 32];
    let public_key = klaxon::sandbox::carrier::SigningSeed::from_bytes(seed).public_key_base64();
    let mut child = command()
        .args([
            "sandbox",
            "carrier",
            "--timing",
            "realistic",
            "--seed",
            &hex::encode(seed),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the sandbox carrier");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut api_base = None;
    for _ in 0..2 {
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the carrier prints its settings");
        if let Some(url) = line.trim().strip_prefix("TELNYX_API_BASE=") {
            api_base = Some(url.to_owned());
        }
    }
    let carrier = CarrierProcess {
        child,
        api_base: api_base.expect("the carrier prints its URL"),
        _stdout: stdout,
    };

    // Klaxon on a fixed port, so the carrier's webhooks find the restarted process too.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("klaxon.db");
    let config = dir.path().join("klaxon.toml");
    std::fs::write(
        &config,
        r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = { policy = "oncall" }
"#,
    )
    .unwrap();
    let public_url = format!("http://127.0.0.1:{port}");
    let config = config.display().to_string();
    let env = [
        ("KLAXON_CONFIG", config.as_str()),
        ("PORT", port.as_str()),
        ("TELNYX_API_KEY", "KEY_TEST"),
        ("TELNYX_API_BASE", carrier.api_base.as_str()),
        ("TELNYX_CONNECTION_ID", "1494404757140276705"),
        ("TELNYX_PHONE_NUMBER", "+15550100000"),
        ("TELNYX_PUBLIC_KEY", public_key.as_str()),
        ("PUBLIC_URL", public_url.as_str()),
        // Presses 2 (acknowledge) after the menu.
        ("ONCALL_NUMBER", "+15551000002"),
    ];
    let mut server = KlaxonProcess::start(&db, &env);
    let http = reqwest::Client::new();
    let accepted: Value = http
        .post(format!("{}/v1/events", server.url))
        .json(&json!({"type": "support.ticket.created", "payload": {"subject": "Checkout down"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = accepted["id"].as_str().unwrap().to_owned();

    // Wait until the menu is playing, then kill Klaxon without warning.
    let last = std::sync::Arc::new(std::sync::Mutex::new(Value::Null));
    let seen = last.clone();
    let (poll, url) = (http.clone(), server.url.clone());
    let escalation = tokio::time::timeout(Duration::from_secs(30), async move {
        let http = poll;
        let server_url = url;
        loop {
            let e: Value = http
                .get(format!("{}/v1/events/{event}", server_url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            *seen.lock().unwrap() = e.clone();
            if let Some(id) = e["pipeline"]["runs"][0]["destinations"][0]["escalation_id"].as_str()
            {
                let esc: Value = http
                    .get(format!("{}/v1/escalations/{id}", server_url))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let menu = esc["timeline"].as_array().is_some_and(|t| {
                    t.iter()
                        .any(|l| l["detail"]["command"] == "gather_using_speak")
                });
                *seen.lock().unwrap() = esc.clone();
                if menu {
                    return id.to_owned();
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the menu starts: {:#}", last.lock().unwrap()));
    server.kill_hard();

    // Restarted on the same database and port, it carries on from the persisted state.
    let server = KlaxonProcess::start(&db, &env);
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let esc: Value = http
                .get(format!("{}/v1/escalations/{escalation}", server.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if esc["status"] != "active" {
                return esc;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the escalation finishes after the restart");
    assert_eq!(done["status"], "acknowledged", "{done:#}");
    let dials = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["detail"]["command"] == "dial")
        .count();
    assert_eq!(dials, 1, "the restart rang nobody twice: {done:#}");
}

#[test]
fn a_dotenv_file_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# as in the reference apps\nPORT=notaport\nONCALL_NUMBER=+12125551234\n",
    )
    .unwrap();
    let output = command()
        .arg("check")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PORT"), "{stderr}");

    let output = command()
        .arg("check")
        .env("PORT", "5055")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(":5055"), "the environment wins: {stdout}");
    assert!(
        stdout.contains("policy oncall: 1 step(s)"),
        ".env values apply: {stdout}"
    );
}

#[tokio::test]
async fn the_sandbox_merge_runs_on_its_own() {
    use std::io::{BufRead, BufReader};

    let mut child = command()
        .args(["sandbox", "merge"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the sandbox merge");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("MERGE_API_BASE=")
        .expect("prints its URL")
        .to_owned();
    let tickets: Value = reqwest::Client::new()
        .get(format!("{base}/ticketing/v1/tickets"))
        .bearer_auth("any-key")
        .header("X-Account-Token", "ZENDESK_ACCOUNT_TOKEN")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        tickets["results"].as_array().is_some_and(|r| r.len() >= 4),
        "sample tickets: {tickets:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_event_reaches_slack_discord_and_telegram_after_sigkill() {
    use klaxon::sandbox::chat::{ChatConfig, Failure, SandboxChat, Service};
    use std::time::Duration;

    const EVENTS: usize = 60;
    let chat_config = ChatConfig {
        log_capacity: 4 * EVENTS,
        ..ChatConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let chat = SandboxChat::start(listener, chat_config).expect("sandbox chat starts");
    let services = [Service::Slack, Service::Discord, Service::Telegram];
    for service in services {
        chat.script(service, Failure::ServerError { status: 503 }, 100_000)
            .unwrap();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("klaxon.db");
    let config = dir.path().join("klaxon.toml");
    // Retries every 200 ms for 20 s: none may run out before the kill.
    let retries = vec!["\"200ms\""; 100].join(", ");
    let base = |service| chat.service_base(service);
    std::fs::write(
        &config,
        format!(
            r#"
[delivery]
retry_schedule = [{retries}]
[[pipelines]]
name = "orders"
on = "order.*"
[[pipelines.destinations]]
name = "slack"
slack = {{ token_env = "SLACK_BOT_TOKEN", channel = "C0SANDBOX", max_per_second = 0, api_base = "{}" }}
[[pipelines.destinations]]
name = "discord"
discord = {{ webhook_url_env = "DISCORD_WEBHOOK_URL", max_per_second = 0, api_base = "{}" }}
[[pipelines.destinations]]
name = "telegram"
telegram = {{ token_env = "TELEGRAM_BOT_TOKEN", chat_id = -1001, max_per_second = 0, api_base = "{}" }}
"#,
            base(Service::Slack),
            base(Service::Discord),
            base(Service::Telegram),
        ),
    )
    .expect("write settings");
    let config = config.display().to_string();
    let env = [
        ("KLAXON_CONFIG", config.as_str()),
        ("SLACK_BOT_TOKEN", "xoxb-sandbox"),
        (
            "DISCORD_WEBHOOK_URL",
            "https://discord.com/api/webhooks/1/sandbox",
        ),
        ("TELEGRAM_BOT_TOKEN", "123456:sandbox"),
    ];
    let mut server = KlaxonProcess::start(&db, &env);
    let http = reqwest::Client::new();
    for n in 0..EVENTS {
        let body =
            json!({"type": "order.created", "payload": {"subject": format!("order {n} end")}});
        let response = http
            .post(format!("{}/v1/events", server.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    // Every service is failing: the deliveries are waiting for retries when Klaxon dies.
    chat.wait_until(Duration::from_secs(20), |observed| {
        services
            .iter()
            .all(|s| observed.requests(*s).len() >= 3)
            .then_some(())
    })
    .await
    .expect("each service was tried before the kill");
    server.kill_hard();

    // Only what arrives from now on counts, all of it accepted.
    chat.reset();
    let _server = KlaxonProcess::start(&db, &env);
    let arrived = |service| -> HashSet<usize> {
        chat.messages(service)
            .iter()
            .filter_map(|m| {
                let text = m.body.to_string();
                let at = text.find("order ")?;
                let rest = &text[at + 6..];
                rest[..rest.find(" end")?].parse().ok()
            })
            .collect()
    };
    tokio::time::timeout(Duration::from_secs(30), async {
        while services.iter().any(|s| arrived(*s).len() < EVENTS) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "every accepted event reaches every service after the restart: {:?}",
            services.map(|s| arrived(s).len())
        )
    });
}
