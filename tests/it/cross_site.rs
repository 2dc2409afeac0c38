//! Issue 15, item 2: no cross-site writes. A page on another site can make a browser on this
//! machine send a `POST` (to loopback, where no token is needed, or with the live page's
//! cookie); Klaxon refuses it with 403 `cross_origin_request` before anything changes. Same-
//! origin requests from the live page, bearer-token clients and servers are unaffected.

use std::time::Duration;

use klaxon::http::auth::{SESSION_COOKIE, session_cookie};
use klaxon::settings::ApiToken;
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};

use crate::support::{TestServer, apply_toml, assert_error, eventually};

const TOKEN: &str = "cross-site-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);

/// Klaxon with a dead-lettered delivery and a running escalation (the callee never answers),
/// with or without an API token.
struct Rig {
    server: TestServer,
    token: bool,
    dead_delivery: String,
    escalation: String,
}

impl Rig {
    async fn start(token: bool) -> Rig {
        // A port with nobody listening: the webhook is refused, then dead-lettered.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hook_url = format!("http://{}/hook", closed.local_addr().unwrap());
        drop(closed);
        let toml = format!(
            r#"
[delivery]
retry_schedule = ["50ms"]

[[pipelines]]
name = "orders"
on = "order.*"
[[pipelines.destinations]]
name = "shop"
webhook = {{ url = "{hook_url}", signing = "none", secret_env = "HOOK_SECRET", allow_private = true }}

[[pipelines]]
name = "paging"
on = "page.oncall"
[[pipelines.destinations]]
voice = {{ policy = "oncall" }}
"#
        );
        let server = TestServer::start_with(|s| {
            apply_toml(
                s,
                &toml,
                &[
                    ("HOOK_SECRET", "unused"),
                    // The sandbox carrier's number plan: a number ending in 4 never answers.
                    ("ONCALL_NUMBER", "+15551000004"),
                ],
            );
            if token {
                s.api_token = Some(ApiToken::new(TOKEN));
            }
        })
        .await;
        let mut rig = Rig {
            server,
            token,
            dead_delivery: String::new(),
            escalation: String::new(),
        };
        rig.event("order.created").await;
        rig.dead_delivery = eventually(WAIT, || async {
            let page = rig.read("/v1/deliveries?state=dead").await;
            page["data"].get(0)?["id"].as_str().map(String::from)
        })
        .await;
        let page = rig.event("page.oncall").await;
        rig.escalation = eventually(WAIT, || async {
            let event = rig.read(&format!("/v1/events/{page}")).await;
            event["pipeline"]["runs"][0]["destinations"][0]["escalation_id"]
                .as_str()
                .map(String::from)
        })
        .await;
        assert_eq!(rig.escalation_status().await, "active");
        rig
    }

    /// A request as an API client makes it: the bearer token when there is one.
    fn api(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.token {
            request.bearer_auth(TOKEN)
        } else {
            request
        }
    }

    /// A request as the browser makes it: the live page's cookie when there is a token.
    fn browser(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.token {
            let cookie = session_cookie(&ApiToken::new(TOKEN));
            request.header(COOKIE, format!("{SESSION_COOKIE}={cookie}"))
        } else {
            request
        }
    }

    async fn read(&self, path: &str) -> Value {
        let server = &self.server;
        let (status, body) = server
            .send(self.api(server.http.get(server.url(path))))
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn event(&self, kind: &str) -> String {
        let server = &self.server;
        let (status, body) = server
            .send(
                self.api(server.http.post(server.url("/v1/events")))
                    .json(&json!({"type": kind, "payload": {"subject": "x"}})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn escalation_status(&self) -> Value {
        self.read(&format!("/v1/escalations/{}", self.escalation))
            .await["status"]
            .clone()
    }

    async fn delivery_state(&self) -> Value {
        self.read(&format!("/v1/deliveries/{}", self.dead_delivery))
            .await["state"]
            .clone()
    }

    /// The state-changing requests under test, ready for headers.
    fn writes(&self) -> Vec<(String, reqwest::RequestBuilder)> {
        let server = &self.server;
        let post = |path: String| (path.clone(), server.http.post(server.url(&path)));
        vec![
            post(format!("/v1/escalations/{}/cancel", self.escalation)),
            post(format!("/v1/deliveries/{}/replay", self.dead_delivery)),
            post("/v1/merge/poll".to_owned()),
            {
                let (path, request) = post("/v1/events".to_owned());
                (
                    path,
                    request.json(&json!({"type": "order.created", "payload": {}})),
                )
            },
        ]
    }

    /// Every write, from a browser, with each cross-site marker: all refused, nothing changed.
    async fn assert_cross_site_writes_refused(&self) -> usize {
        let other_port = format!("http://127.0.0.1:{}", self.server.addr.port() + 1);
        let markers: [(&str, &str); 6] = [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
            ("origin", "null"),
            ("origin", &other_port),
            ("origin", "http://localhost.evil.example"),
        ];
        let events_before = self.server.count_events().await;
        let mut probes = 0;
        for (name, value) in markers {
            for (path, request) in self.writes() {
                let answer = self
                    .server
                    .send(self.browser(request).header(name, value))
                    .await;
                assert_eq!(answer.0, 403, "{path} with {name}: {value}: {}", answer.1);
                assert_error(&answer, 403, "cross_origin_request");
                probes += 1;
            }
        }
        assert_eq!(self.escalation_status().await, "active", "not cancelled");
        assert_eq!(self.delivery_state().await, "dead", "not replayed");
        assert_eq!(
            self.server.count_events().await,
            events_before,
            "no event stored, none polled"
        );
        probes
    }

    /// Same-origin writes from the browser still work, and so do API clients from anywhere.
    async fn assert_same_origin_writes_work(&self) -> usize {
        let server = &self.server;
        let own_origin = format!("http://{}", server.addr);
        let writes = self.writes();
        let mut probes = 0;

        let (_, events) = &writes[3];
        let stored = server
            .send(
                self.browser(events.try_clone().unwrap())
                    .header(ORIGIN, &own_origin),
            )
            .await;
        assert_eq!(stored.0, 202, "same-origin ingest: {}", stored.1);
        let stored = server
            .send(
                self.api(events.try_clone().unwrap())
                    .header("sec-fetch-site", "none"),
            )
            .await;
        assert_eq!(stored.0, 202, "typed-in ingest: {}", stored.1);
        probes += 2;

        let (_, poll) = &writes[2];
        let polled = server
            .send(
                self.browser(poll.try_clone().unwrap())
                    .header("sec-fetch-site", "same-origin"),
            )
            .await;
        assert_ne!(polled.0, 403, "same-origin poll: {}", polled.1);
        probes += 1;

        let (_, replay) = &writes[1];
        let replayed = server
            .send(
                self.browser(replay.try_clone().unwrap())
                    .header("sec-fetch-site", "same-origin")
                    .header(ORIGIN, &own_origin),
            )
            .await;
        assert_eq!(replayed.0, 202, "same-origin replay: {}", replayed.1);
        probes += 1;

        let (_, cancel) = &writes[0];
        let cancel = cancel.try_clone().unwrap();
        let cancelled = if self.token {
            // A bearer client is not a browser's ambient credential: its origin does not matter.
            server
                .send(
                    self.api(cancel)
                        .header(ORIGIN, "https://evil.example")
                        .header("sec-fetch-site", "cross-site"),
                )
                .await
        } else {
            // curl: no Origin, no Sec-Fetch-Site.
            server.send(cancel).await
        };
        assert_eq!(cancelled.0, 200, "cancel: {}", cancelled.1);
        assert_eq!(self.escalation_status().await, "cancelled");
        probes += 1;
        probes
    }
}

#[tokio::test]
async fn without_a_token_cross_site_writes_to_loopback_are_refused() {
    let rig = Rig::start(false).await;
    let refused = rig.assert_cross_site_writes_refused().await;
    let allowed = rig.assert_same_origin_writes_work().await;
    println!(
        "cross_site (loopback mode): {refused} cross-site writes refused, {allowed} same-origin or API writes allowed"
    );
}

#[tokio::test]
async fn with_a_token_cross_site_writes_carrying_the_cookie_are_refused() {
    let rig = Rig::start(true).await;
    let refused = rig.assert_cross_site_writes_refused().await;
    let allowed = rig.assert_same_origin_writes_work().await;
    println!(
        "cross_site (token mode): {refused} cross-site writes refused, {allowed} same-origin or bearer writes allowed"
    );
}
