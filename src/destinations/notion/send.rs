//! One attempt: the stored body to `POST {origin}/v1/pages`, paced per integration, and
//! Notion's answer judged ("Status codes" in Notion's reference: every error is
//! `{"object":"error","status","code","message"}`).

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserializer as _;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{NOTION_VERSION, NotionSettings};
use crate::destinations::Providers;
use crate::destinations::http_post::{self, Answer};
use crate::destinations::report::{Report, Verdict};
use crate::destinations::sandbox_contract as sandbox;

/// Characters of Notion's error message kept in the attempt's error.
const MAX_REASON: usize = 300;

/// One attempt.
pub async fn send(settings: &NotionSettings, providers: &Providers, body: &str) -> Report {
    let (origin, token, pace_key) = match &settings.token {
        Some(token) => (
            settings.api_base.clone(),
            token.expose(),
            format!("notion:{}", fingerprint(token.expose())),
        ),
        None => match &providers.sandbox {
            Some(base) => (
                format!("{base}/{}", sandbox::Service::Notion.as_str()),
                sandbox::NOTION_TOKEN,
                "notion:sandbox".to_owned(),
            ),
            None => {
                return Report::failed(
                    Verdict::Dead,
                    None,
                    "no token and no sandbox: set the destination's token_env variable",
                );
            }
        },
    };
    let Some(auth) = http_post::bearer(token) else {
        return Report::failed(
            Verdict::Dead,
            None,
            "the integration token is not a valid header value",
        );
    };
    let headers = [
        auth,
        (
            HeaderName::from_static("notion-version"),
            HeaderValue::from_static(NOTION_VERSION),
        ),
    ];
    if let Err(wait) = providers.pace.wait(&pace_key, settings.pace).await {
        return Report::postponed(wait, "integration");
    }
    let url = format!("{origin}/v1/pages");
    match http_post::post_json(&providers.http, &url, &headers, body, settings.timeout).await {
        Ok(answer) => judge(answer),
        Err(error) => Report::failed(Verdict::Retry { after: None }, None, error.to_string()),
    }
}

/// The page object's top-level `id` and `url`, as far as the answer goes: only its start is
/// read, and a page with long properties does not end in it (Notion puts `url` after them).
fn page_ref(body: &str) -> (Option<String>, Option<String>) {
    let (mut id, mut url) = (None, None);
    let reader = PageRef {
        id: &mut id,
        url: &mut url,
    };
    // A cut-off answer ends in an error; what was read before it is kept.
    let _ = serde_json::Deserializer::from_str(body).deserialize_map(reader);
    (id, url)
}

struct PageRef<'a> {
    id: &'a mut Option<String>,
    url: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for PageRef<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a page object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "id" => *self.id = map.next_value()?,
                "url" => *self.url = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A pace key per integration that is not the token: the start of its SHA-256.
fn fingerprint(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes())[..8])
}

/// What Notion's answer means.
pub(super) fn judge(answer: Answer) -> Report {
    let status = Some(answer.status);
    if (200..300).contains(&answer.status) {
        // The page's id and URL are what anyone looking at the delivery wants; the rest of
        // the page object repeats the request.
        let response = match page_ref(&answer.body) {
            (Some(id), Some(url)) => json!({"id": id, "url": url}).to_string(),
            (Some(id), None) => json!({"id": id}).to_string(),
            _ => answer.body.chars().take(512).collect(),
        };
        return Report::delivered(status, Some(response));
    }
    let json = answer.json().unwrap_or(Value::Null);
    let snippet = Some(answer.body.chars().take(512).collect::<String>());
    let code = json["code"].as_str().unwrap_or_default();
    let reason = match json["message"].as_str() {
        Some(message) if !code.is_empty() => format!(
            "Notion said {code}: {}",
            message.chars().take(MAX_REASON).collect::<String>()
        ),
        _ => format!("HTTP {}", answer.status),
    };
    let verdict = match answer.status {
        429 => Verdict::Retry {
            after: answer.retry_after.or(Some(Duration::from_secs(1))),
        },
        // A conflict (two writes to one data source at once), a timeout, or Notion unwell.
        408 | 409 | 500..=599 => Verdict::Retry { after: None },
        // validation_error, unauthorized, restricted_resource, object_not_found, and any
        // other refusal of the request itself: sending it again cannot change the answer.
        _ => Verdict::Dead,
    };
    Report::failed(verdict, status, reason).with_response(snippet)
}
