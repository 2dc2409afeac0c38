//! One attempt at a Discord webhook, and what Discord's answer means for the delivery.

use std::time::Duration;

use serde_json::Value;

use super::DiscordSettings;
use crate::destinations::Providers;
use crate::destinations::http_post::{self, Answer};
use crate::destinations::report::{Report, Verdict};
use crate::destinations::sandbox_contract as sandbox;

/// One attempt.
pub async fn send(settings: &DiscordSettings, providers: &Providers, body: &str) -> Report {
    let (origin, id, token) = match &settings.webhook {
        Some(webhook) => (
            settings.api_base.clone(),
            webhook.id.as_str(),
            webhook.token.expose(),
        ),
        None => match &providers.sandbox {
            Some(base) => (
                format!("{base}/{}", sandbox::Service::Discord.as_str()),
                sandbox::DISCORD_WEBHOOK_ID,
                sandbox::DISCORD_WEBHOOK_TOKEN,
            ),
            None => {
                return Report::failed(
                    Verdict::Dead,
                    None,
                    "no webhook URL and no sandbox: set the destination's webhook_url_env variable",
                );
            }
        },
    };
    if let Err(wait) = providers
        .pace
        .wait(&format!("discord:{id}"), settings.pace)
        .await
    {
        return Report::postponed(wait, "webhook");
    }
    let url = format!("{origin}/api/v10/webhooks/{id}/{token}?wait=true");
    let report =
        match http_post::post_json(&providers.http, &url, &[], body, settings.timeout).await {
            Ok(answer) => judge(answer),
            Err(error) => Report::failed(Verdict::Retry { after: None }, None, error.to_string()),
        };
    // The sandbox's token is no secret (and a common word): only a real one is scrubbed.
    match &settings.webhook {
        Some(webhook) => report.without_secret(webhook.token.expose()),
        None => report,
    }
}

/// What the answer means.
fn judge(answer: Answer) -> Report {
    let status = Some(answer.status);
    let snippet = Some(answer.body.chars().take(512).collect::<String>());
    let json = answer.json().unwrap_or(Value::Null);
    match answer.status {
        200..=299 => Report::delivered(status, snippet),
        429 => {
            // The body's value is exact (fractional seconds); the header is rounded up.
            let after = json["retry_after"]
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
                .or(answer.retry_after)
                .unwrap_or(Duration::from_secs(1));
            let scope = if json["global"] == true {
                " (global)"
            } else {
                ""
            };
            Report::failed(
                Verdict::Retry { after: Some(after) },
                status,
                format!(
                    "rate limited by Discord{scope}: retry after {:.3} s",
                    after.as_secs_f64()
                ),
            )
            .with_response(snippet)
        }
        401 => Report::failed(
            Verdict::Disable,
            status,
            format!("{}: the webhook's token is no longer valid", said(&json)),
        )
        .with_response(snippet),
        404 if json["code"] == 10015 => Report::failed(
            Verdict::Disable,
            status,
            format!("{}: the webhook was deleted", said(&json)),
        )
        .with_response(snippet),
        400..=499 => Report::failed(Verdict::Dead, status, said(&json)).with_response(snippet),
        _ => Report::failed(
            Verdict::Retry { after: None },
            status,
            format!("HTTP {}: {}", answer.status, said(&json)),
        )
        .with_response(snippet),
    }
}

/// `Discord said 50035 Invalid Form Body (embeds.0.title: Must be 256 or fewer in length.)`
fn said(json: &Value) -> String {
    let message = json["message"].as_str().unwrap_or("no message");
    let mut out = match json["code"].as_u64() {
        Some(code) if code != 0 => format!("Discord said {code} {message}"),
        _ => format!("Discord said {message}"),
    };
    if let Some((path, detail)) = first_form_error(&json["errors"], String::new()) {
        out.push_str(&format!(" ({path}: {detail})"));
    }
    out
}

/// The first `{"_errors": [{"message"}]}` below `errors`, with its dotted path.
fn first_form_error(errors: &Value, path: String) -> Option<(String, String)> {
    let object = errors.as_object()?;
    if let Some(message) = object
        .get("_errors")
        .and_then(|e| e.get(0))
        .and_then(|e| e["message"].as_str())
    {
        return Some((path, message.to_owned()));
    }
    object.iter().find_map(|(key, inner)| {
        let below = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        first_form_error(inner, below)
    })
}
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: body.to_string(),
        }
    }

    #[test]
    fn answers_are_judged_as_discord_means_them() {
        assert_eq!(
            judge(answer(200, json!({"id": "1"}))).verdict,
            Verdict::Delivered
        );
        assert_eq!(
            judge(Answer {
                status: 204,
                retry_after: None,
                body: String::new()
            })
            .verdict,
            Verdict::Delivered
        );
        let limited = judge(Answer {
            status: 429,
            retry_after: Some(Duration::from_secs(2)),
            body: json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false}).to_string(),
        });
        assert_eq!(
            limited.verdict,
            Verdict::Retry {
                after: Some(Duration::from_millis(1500))
            }
        );
        let header_only = judge(Answer {
            status: 429,
            retry_after: Some(Duration::from_secs(3)),
            body: String::new(),
        });
        assert_eq!(
            header_only.verdict,
            Verdict::Retry {
                after: Some(Duration::from_secs(3))
            }
        );
        let gone = judge(answer(
            404,
            json!({"code": 10015, "message": "Unknown Webhook"}),
        ));
        assert_eq!(gone.verdict, Verdict::Disable);
        assert_eq!(
            gone.error.as_deref(),
            Some("Discord said 10015 Unknown Webhook: the webhook was deleted")
        );
        assert_eq!(
            judge(answer(
                401,
                json!({"code": 50027, "message": "Invalid Webhook Token"})
            ))
            .verdict,
            Verdict::Disable
        );
        let invalid = judge(answer(
            400,
            json!({"code": 50035, "message": "Invalid Form Body", "errors": {"embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}]}}}}}),
        ));
        assert_eq!(invalid.verdict, Verdict::Dead);
        assert_eq!(
            invalid.error.as_deref(),
            Some(
                "Discord said 50035 Invalid Form Body (embeds.0.title: Must be 256 or fewer in length.)"
            )
        );
        assert_eq!(
            judge(answer(404, json!({"code": 0, "message": "404: Not Found"}))).verdict,
            Verdict::Dead
        );
        assert_eq!(
            judge(answer(
                502,
                json!({"code": 0, "message": "502: Bad Gateway"})
            ))
            .verdict,
            Verdict::Retry { after: None }
        );
    }

    #[test]
    fn reports_never_carry_the_token() {
        let report = Report::failed(
            Verdict::Retry { after: None },
            None,
            "error sending request for url (https://discord.com/api/v10/webhooks/1/tok-en?wait=true)",
        )
        .with_response(Some("echo tok-en".into()));
        let report = report.without_secret("tok-en");
        assert_eq!(
            report.error.as_deref(),
            Some(
                "error sending request for url (https://discord.com/api/v10/webhooks/1/[redacted]?wait=true)"
            )
        );
        assert_eq!(report.response.as_deref(), Some("echo [redacted]"));
    }

    #[tokio::test]
    async fn a_send_whose_turn_is_far_off_is_postponed_before_anything_is_sent() {
        // Nothing listens on port 1: the first send books the webhook's slot and fails to
        // connect; the second would wait 10 s in line, so it is held back unsent.
        let providers = Providers::unreachable();
        let settings = DiscordSettings {
            webhook: None,
            username: None,
            pace: Some(0.1),
            timeout: Duration::from_secs(1),
            api_base: String::new(),
        };
        let first = send(&settings, &providers, "{}").await;
        assert_eq!(first.verdict, Verdict::Retry { after: None }, "{first:?}");
        let second = send(&settings, &providers, "{}").await;
        assert!(
            matches!(second.verdict, Verdict::Postpone { after } if after > Duration::from_secs(5)),
            "{second:?}"
        );
    }
}
