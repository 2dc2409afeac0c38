//! A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) pages through Klaxon:
//! the test starts it on loopback with its own configuration (free ports, a temporary
//! storage directory, short group timers, a `webhook_configs` receiver pointing at Klaxon
//! with the integration key as a bearer credential), posts alerts to its API
//! (`POST /api/v2/alerts`), and watches the sandbox carrier: firing → exactly one escalation,
//! ringing; resolved (an `endsAt` in the past) → that escalation ended by the resolve.
//!
//! Without the binary the test prints a notice and passes, except under CI (`CI` set), where
//! it fails: CI must not pass by skipping (`.ci/run` installs the package).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use klaxon::clock;
use klaxon::sandbox::carrier::Timing;
use serde_json::{Value, json};

use crate::support::eventually;
use crate::support::voice_rig::{Rig, RigConfig};

const BINARY: &str = "prometheus-alertmanager";
const KEY: &str = "am-integration-key-0123456789";
const WAIT: Duration = Duration::from_secs(30);

/// The running Alertmanager; killed when dropped.
struct Alertmanager {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The binary's path, or `None` with a notice (a failure under CI).
fn binary() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(BINARY))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        let notice = format!(
            "{BINARY} is not installed (Debian package prometheus-alertmanager); skipping the real Alertmanager test"
        );
        assert!(std::env::var_os("CI").is_none(), "CI is set, so: {notice}");
        eprintln!("{notice}");
    }
    found
}

/// Starts Alertmanager sending every alert, grouped by name, to `webhook` with the key.
async fn start(binary: &std::path::Path, webhook: &str) -> Alertmanager {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            r#"route:
  receiver: klaxon
  group_by: ['alertname']
  group_wait: 100ms
  group_interval: 500ms
  repeat_interval: 1h
receivers:
  - name: klaxon
    webhook_configs:
      - url: '{webhook}'
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: '{KEY}'
"#
        ),
    )
    .expect("config written");
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // No gossip: a lone instance on loopback.
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("alertmanager starts");
    let alertmanager = Alertmanager {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let http = reqwest::Client::new();
    let ready = format!("{}/-/ready", alertmanager.base);
    eventually(WAIT, || async {
        let answer = http.get(&ready).send().await.ok()?;
        answer.status().is_success().then_some(())
    })
    .await;
    alertmanager
}

/// Posts one alert to Alertmanager's API.
async fn post_alert(alertmanager: &Alertmanager, alert: Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v2/alerts", alertmanager.base))
        .json(&json!([alert]))
        .send()
        .await
        .expect("alertmanager answers");
    assert!(
        answer.status().is_success(),
        "alertmanager took the alert: {}",
        answer.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_rings_once_while_firing_and_its_resolve_ends_the_escalation() {
    let Some(binary) = binary() else {
        return;
    };
    let toml = r#"
[[policies]]
name = "oncall"
[[policies.steps]]
targets = ["+15551000004"]
ring_timeout_secs = 300

[[alert_sources]]
name = "prom"
kind = "alertmanager"
key_env = "PROM_KEY"
policy = "oncall"
"#;
    let rig = Rig::start_with(RigConfig {
        toml,
        env: &[("PROM_KEY", KEY)],
        // A never-answering number rings for 300 carrier seconds, 30 s here: the escalation
        // stays active until the resolve ends it.
        timing: Timing {
            second: Duration::from_millis(100),
            ..Timing::fast()
        },
        ..RigConfig::default()
    })
    .await;
    let alertmanager = start(&binary, &rig.server.url("/webhooks/alerts/prom")).await;

    let labels = json!({"alertname": "DiskFull", "instance": "db1:9100", "severity": "critical"});
    let annotations = json!({"summary": "Disk full on db1"});
    let started = clock::ms_to_rfc3339(clock::now_ms() - 60_000);
    post_alert(
        &alertmanager,
        json!({"labels": labels, "annotations": annotations, "startsAt": started}),
    )
    .await;

    let escalation = eventually(WAIT, || async {
        let (_, page) = rig.server.get("/v1/escalations").await;
        page["data"].get(0)?["id"].as_str().map(str::to_owned)
    })
    .await;
    eventually(WAIT, || async {
        (!rig.carrier.legs().is_empty()).then_some(())
    })
    .await;
    let (_, firing) = rig.server.get("/v1/events?type=alert.firing").await;
    let firing = firing["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(firing.len(), 1, "{firing:?}");
    let payload = &firing[0]["payload"];
    assert_eq!(payload["summary"], "Disk full on db1");
    assert_eq!(payload["labels"]["instance"], "db1:9100");
    assert!(
        payload["dedup_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("prom:") && k.len() > "prom:".len()),
        "Alertmanager's fingerprint is the key: {payload}"
    );
    assert!(
        payload["details"]["group_key"].is_string()
            && payload["details"]["external_url"].is_string(),
        "{payload}"
    );

    // Sent again (a re-sent alert, as Prometheus does every evaluation): no second one.
    post_alert(
        &alertmanager,
        json!({"labels": labels, "annotations": annotations, "startsAt": started}),
    )
    .await;

    let ended = clock::ms_to_rfc3339(clock::now_ms() - 1_000);
    post_alert(
        &alertmanager,
        json!({"labels": labels, "annotations": annotations, "startsAt": started, "endsAt": ended}),
    )
    .await;
    let outcome = eventually(WAIT, || async {
        let (_, e) = rig
            .server
            .get(&format!("/v1/escalations/{escalation}"))
            .await;
        (e["status"] != "active").then_some(e)
    })
    .await;
    assert_eq!(
        outcome["status"], "resolved",
        "ended by the resolve: {outcome}"
    );
    assert!(
        outcome["timeline"]
            .to_string()
            .contains("prom (Alertmanager)"),
        "{outcome}"
    );
    let (_, resolved) = rig.server.get("/v1/events?type=alert.resolved").await;
    assert_eq!(
        resolved["data"].as_array().map(Vec::len),
        Some(1),
        "{resolved}"
    );
    assert_eq!(
        resolved["data"][0]["payload"]["dedup_key"],
        payload["dedup_key"]
    );
    let (_, all) = rig.server.get("/v1/escalations").await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1), "{all}");
    let (_, firing) = rig.server.get("/v1/events?type=alert.firing").await;
    assert_eq!(firing["data"].as_array().map(Vec::len), Some(1));
}
