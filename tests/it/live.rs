//! The live page at `/`: who may see it (token link → cookie, or loopback), that it escapes
//! customer data, and, in a real headless Chromium, that it shows events, a call timeline and
//! the dead letter queue, and that its replay button works.

use std::time::Duration;

use klaxon::http::auth::{SESSION_COOKIE, session_cookie};
use klaxon::settings::ApiToken;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::support::binary::KlaxonProcess;
use crate::support::browser::{Browser, artefact_path};
use crate::support::receiver::Receiver;
use crate::support::{TestServer, apply_toml, eventually};

const TOKEN: &str = "live-page-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);
const PAYLOAD: &str = "<script>alert('pwned')</script>";

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn with_a_token_the_page_needs_the_link_once_then_the_cookie() {
    let server = TestServer::start_with(|s| s.api_token = Some(ApiToken::new(TOKEN))).await;
    let http = no_redirects();

    let refused = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.text().await.unwrap().contains("?token="));
    let wrong = http
        .get(server.url("/?token=not-the-token-0123456789"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let panels = server.get("/live/panels").await;
    assert_eq!(panels.0, 401, "the panels answer JSON errors: {}", panels.1);

    let signed_in = http
        .get(server.url(&format!("/?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        signed_in.headers()[LOCATION],
        "/",
        "the token leaves the URL"
    );
    let set_cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains(TOKEN), "the cookie is not the token");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let page = http
        .get(server.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains(r#"id="dead-letters""#));
    // The cookie admits the script's requests: the panels and the API.
    for path in ["/live/panels", "/v1/deliveries?state=dead"] {
        let answer = http
            .get(server.url(path))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
    }
    // A bearer header works on the page too (curl), and a stale cookie does not.
    let bearer = http
        .get(server.url("/"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    let stale = http
        .get(server.url("/v1/events"))
        .header(COOKIE, "klaxon_session=0123abcd")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_a_token_loopback_sees_the_page_and_data_is_escaped() {
    let server = TestServer::start().await;
    let (status, _) = server
        .post_event(&json!({"type": "support.ticket.created", "payload": {"subject": PAYLOAD}}))
        .await;
    assert_eq!(status, 202);

    let page = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains(PAYLOAD), "the payload's markup is not live");
    assert!(!html.contains("<script>alert"), "{html}");
    let panels = server
        .http
        .get(server.url("/live/panels"))
        .send()
        .await
        .unwrap();
    assert!(!panels.text().await.unwrap().contains(PAYLOAD));
}

#[tokio::test]
async fn control_characters_in_event_data_reach_neither_the_page_nor_the_metrics() {
    let server = TestServer::start().await;
    // Types (the only event data that becomes a metric label) cannot carry them at all.
    let (status, body) = server
        .post_event(&json!({"type": "support.ticket.nul\u{0}", "payload": {}}))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = server
        .post_event(&json!({
            "type": "support.ticket.created",
            "payload": {"subject": "null\u{0}byte bell\u{7} esc\u{1b}[31m c1\u{85}"},
        }))
        .await;
    assert_eq!(status, 202, "{body}");
    let mut probes = 0;
    for path in ["/", "/live/panels", "/metrics"] {
        let answer = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let text = answer.text().await.unwrap();
        let raw: Vec<char> = text
            .chars()
            .filter(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        assert!(
            raw.is_empty(),
            "{path} carries raw control characters {raw:?}"
        );
        if path != "/metrics" {
            assert!(
                text.contains("null\u{fffd}byte bell\u{fffd} esc\u{fffd}[31m c1\u{fffd}"),
                "{path} shows the subject with replacement characters: {text}"
            );
        }
        probes += 1;
    }
    println!("control characters: 1 type refused, {probes} answers checked");
}

#[tokio::test]
async fn without_a_token_other_machines_are_refused_the_page() {
    // Reaching the server from a non-loopback address needs one on this machine.
    let Some(ip) = non_loopback_ip() else {
        eprintln!("NOTICE: skipped: this machine has no non-loopback address to test from");
        return;
    };
    let server = TestServer::start_on(&format!("{ip}:0"), |_| {}).await;
    let page = server
        .http
        .get(format!("http://{}/", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.unwrap().contains("KLAXON_API_TOKEN"));
    // Without a token configured, `?token=` opens nothing.
    let page = server
        .http
        .get(format!("http://{}/?token={TOKEN}", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
}

/// The address this machine would use to reach the outside; no packet is sent.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn the_page_and_its_assets_are_self_contained() {
    let server = TestServer::start().await;
    let mut everything = String::new();
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/live.js", "text/javascript"),
        ("/assets/live.css", "text/css"),
    ] {
        let answer = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let content_type = answer.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        everything.push_str(&answer.text().await.unwrap());
    }
    // Works offline: nothing is fetched from anywhere but Klaxon itself.
    assert!(!everything.contains("http://") && !everything.contains("https://"));
    assert!(!everything.contains("//cdn"));
}

/// Klaxon with: support tickets classified and sent to a webhook that is down (one retry,
/// then the dead letter queue), and `/escalate` ringing the sandbox carrier's "connect me"
/// callee.
async fn rig(hook_url: &str) -> TestServer {
    let toml = format!(
        r#"
[delivery]
retry_schedule = ["50ms"]

[[pipelines]]
name = "support"
on = "support.ticket.*"
steps = [
  {{ classify = {{ field = "urgency", labels = ["low", "high", "critical"], input = ["subject", "customer_tier"] }} }},
]
[[pipelines.destinations]]
name = "helpdesk"
webhook = {{ url = "{hook_url}", signing = "none", secret_env = "HOOK_SECRET", allow_private = true }}

[[pipelines]]
name = "ticket-escalation"
on = "ticket.escalate"
[[pipelines.destinations]]
voice = {{ policy = "oncall", connect_to = "customer_phone" }}
"#
    );
    TestServer::start_with(|s| {
        apply_toml(
            s,
            &toml,
            &[
                ("HOOK_SECRET", "unused"),
                // The sandbox carrier's number plan: a number ending in 0 says "connect me".
                ("ONCALL_NUMBER", "+15551000000"),
                ("KLAXON_SANDBOX_TIMING", "fast"),
            ],
        );
        s.api_token = Some(ApiToken::new(TOKEN));
    })
    .await
}

async fn api(server: &TestServer, path: &str) -> Value {
    let (status, body) = server
        .send(server.http.get(server.url(path)).bearer_auth(TOKEN))
        .await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test]
async fn the_live_page_in_a_real_browser_shows_everything_and_replays_a_dead_letter() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut receiver = Receiver::start().await;
    let hook_url = receiver.url();
    receiver.stop().await;
    let server = rig(&hook_url).await;

    let (status, ticket) = server
        .send(server.http.post(server.url("/v1/events")).bearer_auth(TOKEN).json(&json!({
            "type": "support.ticket.created",
            "payload": {"subject": format!("Checkout down {PAYLOAD}"), "customer_tier": "enterprise"},
        })))
        .await;
    assert_eq!(status, 202, "{ticket}");
    let (status, escalated) = server
        .send(server.http.post(server.url("/escalate")).bearer_auth(TOKEN).json(&json!({
            "subject": "Payments failing", "description": "EU", "customer_phone": "+15552000001",
        })))
        .await;
    assert_eq!(status, 202, "{escalated}");

    // Wait (through the API) for the dead letter and the finished call.
    let dead = eventually(WAIT, || async {
        let page = api(&server, "/v1/deliveries?state=dead").await;
        page["data"].get(0).cloned()
    })
    .await;
    let dead_id = dead["id"].as_str().unwrap().to_owned();
    let escalation = eventually(WAIT, || async {
        let page = api(&server, "/v1/escalations").await;
        let first = page["data"].get(0)?.clone();
        (first["status"] != "active").then_some(first)
    })
    .await;
    assert_eq!(escalation["status"], "connected", "{escalation}");

    // Sign in through the token link; the cookie carries the rest.
    browser.goto(&server.url(&format!("/?token={TOKEN}"))).await;
    assert_eq!(browser.current_url().await, server.url("/"));
    browser.record_violations().await;
    // Everything the browser loads is fenced in by the security headers.
    assert_security_headers(&server).await;

    let event_row = format!(
        r#"tr.event[data-event-id="{}"]"#,
        ticket["id"].as_str().unwrap()
    );
    let row = browser
        .wait_for_text(&event_row, "support.ticket.created", WAIT)
        .await;
    assert!(row.contains("urgency:"), "the event shows its label: {row}");
    assert!(
        row.contains(PAYLOAD),
        "the payload shows as text, not markup: {row}"
    );

    let card = format!(
        r#"article[data-escalation-id="{}"]"#,
        escalation["id"].as_str().unwrap()
    );
    let timeline = browser.wait_for_text(&card, "+15551000000", WAIT).await;
    assert!(timeline.contains("rang leg A"), "{timeline}");
    assert!(timeline.contains("connected"), "{timeline}");

    let dead_row = format!(r#"#dead-letters tr[data-delivery-id="{dead_id}"]"#);
    let row = browser.wait_for_text(&dead_row, "dead", WAIT).await;
    assert!(row.contains("helpdesk"), "{row}");
    // The page's script runs: it marks itself live after its first refresh.
    browser.wait_for_text("#status", "updated", WAIT).await;
    // The attempt log opens on a click: both attempts were refused.
    browser.click(&format!("{dead_row} details summary")).await;
    let log = browser
        .wait_for_text(&format!("{dead_row} ol.attempts"), "#2", WAIT)
        .await;
    assert!(log.contains("refused"), "{log}");
    browser.screenshot(&artefact_path("live-page.png")).await;

    // Bring the receiver back, then replay from the page.
    receiver.restart().await;
    browser.click(&format!("{dead_row} button.replay")).await;
    let delivered = eventually(WAIT, || async {
        let detail = api(&server, &format!("/v1/deliveries/{dead_id}")).await;
        (detail["state"] == "succeeded").then_some(detail)
    })
    .await;
    assert_eq!(receiver.received().len(), 1, "{delivered}");
    browser.wait_for_none(&dead_row, WAIT).await;
    let row = browser
        .wait_for_text(
            &format!(r#"#deliveries tr[data-delivery-id="{dead_id}"]"#),
            "succeeded",
            WAIT,
        )
        .await;
    assert!(row.contains("helpdesk"), "{row}");
    let dlq = api(&server, "/v1/deliveries?state=dead").await;
    assert_eq!(dlq["data"], json!([]), "the dead letter queue is empty");
    browser
        .screenshot(&artefact_path("live-page-after-replay.png"))
        .await;

    // The page did all of that under its Content Security Policy without tripping it.
    let violations = browser.recorded_violations().await;
    assert!(violations.is_empty(), "CSP violations: {violations:?}");
    match browser.console().await {
        Some(console) => {
            let reported: Vec<&String> = console
                .iter()
                .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
                .collect();
            assert!(
                reported.is_empty(),
                "CSP violations in the console: {reported:?}"
            );
        }
        None => eprintln!(
            "NOTICE: chromedriver cannot read the browser console; checked the page's own violation events only"
        ),
    }
}

/// The live page, its panels and its assets carry the security headers (with the session
/// cookie, as the browser sends it).
async fn assert_security_headers(server: &TestServer) {
    let cookie = format!("{SESSION_COOKIE}={}", session_cookie(&ApiToken::new(TOKEN)));
    let mut probes = 0;
    for path in ["/", "/live/panels", "/assets/live.js", "/assets/live.css"] {
        let answer = server
            .http
            .get(server.url(path))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let headers = answer.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        probes += 1;
    }
    println!("live page: security headers checked on {probes} paths");
}

#[test]
fn serve_in_sandbox_mode_logs_the_page_address() {
    let dir = tempfile::tempdir().unwrap();
    let klaxon = KlaxonProcess::start(&dir.path().join("klaxon.db"), &[]);
    let wanted = format!("sandbox mode: open {}/ to watch it live", klaxon.url);
    loop {
        let line = klaxon
            .logs
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("klaxon logs {wanted:?} within 10 s"));
        let entry: Value = serde_json::from_str(&line).expect("json log line");
        if entry["fields"]["message"] == wanted.as_str() {
            break;
        }
    }
}
