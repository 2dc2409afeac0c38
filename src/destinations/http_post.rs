//! One JSON POST to a provider's API (Slack, Discord, Telegram, Notion), with what the kinds
//! need from the answer: the status, `Retry-After`, and the start of the body to judge and
//! to keep on the attempt record. The kinds differ only in headers and in how they read it.
//!
//! These go to the provider hosts named in settings (or the sandbox on loopback), so they use
//! a plain client; the SSRF guard is for webhooks, whose URLs are arbitrary.

use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};

pub use super::webhook::send::SendError;
use crate::retry_timing;

/// Bytes of an answer kept: enough for any provider's error object.
const ANSWER_BYTES: usize = 4 * 1024;

/// What came back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// The start of the body, as text.
    pub body: String,
}

impl Answer {
    /// The body as JSON, when it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// The client the chat kinds share: no redirects (a redirect would carry the token
/// elsewhere), no proxy, pooled connections.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(256)
        .connect_timeout(Duration::from_secs(5))
        .build()
}

/// POSTs `body` (JSON) to `url` with `headers`.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: &str,
    timeout: Duration,
) -> Result<Answer, SendError> {
    let mut request = client
        .post(url)
        .timeout(timeout)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header(USER_AGENT, concat!("klaxon/", env!("CARGO_PKG_VERSION")));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = request
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| super::webhook::send::classify_error(e, timeout))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_timing::retry_after(v, SystemTime::now()));
    let mut bytes = Vec::new();
    while bytes.len() < ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(ANSWER_BYTES);
    Ok(Answer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// `Authorization: Bearer <token>`; `None` when the token cannot be a header value.
pub fn bearer(token: &str) -> Option<(HeaderName, HeaderValue)> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some((reqwest::header::AUTHORIZATION, value))
}
