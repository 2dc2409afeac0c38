//! One attempt at Telegram's `sendMessage`, and what Telegram's answer means for the
//! delivery. The token is part of the URL path, so it is scrubbed from everything kept.

use std::time::Duration;

use serde_json::Value;

use super::TelegramSettings;
use crate::destinations::Providers;
use crate::destinations::http_post::{self, Answer};
use crate::destinations::report::{Report, Verdict};
use crate::destinations::sandbox_contract as sandbox;

/// One attempt.
pub async fn send(settings: &TelegramSettings, providers: &Providers, body: &str) -> Report {
    let (origin, token) = match &settings.token {
        Some(token) => (settings.api_base.clone(), token.expose()),
        None => match &providers.sandbox {
            Some(base) => (
                format!("{base}/{}", sandbox::Service::Telegram.as_str()),
                sandbox::TELEGRAM_BOT_TOKEN,
            ),
            None => {
                return Report::failed(
                    Verdict::Dead,
                    None,
                    "no bot token and no sandbox: set the destination's token_env variable",
                );
            }
        },
    };
    // Telegram's limit is per bot and chat; the bot's id (before the `:`) is public.
    let bot = token.split(':').next().unwrap_or_default();
    let key = format!("telegram:{bot}:{}", settings.chat);
    if let Err(wait) = providers.pace.wait(&key, settings.pace).await {
        return Report::postponed(wait, "chat");
    }
    let url = format!("{origin}/bot{token}/sendMessage");
    let report =
        match http_post::post_json(&providers.http, &url, &[], body, settings.timeout).await {
            Ok(answer) => judge(answer),
            Err(error) => Report::failed(Verdict::Retry { after: None }, None, error.to_string()),
        };
    report.without_secret(token)
}

/// What the answer means.
fn judge(answer: Answer) -> Report {
    let status = Some(answer.status);
    let snippet = Some(answer.body.chars().take(512).collect::<String>());
    let json = answer.json().unwrap_or(Value::Null);
    let description = json["description"].as_str().unwrap_or("no description");
    let said = format!("Telegram said {description}");
    match answer.status {
        // The Bot API answers errors with their own status, so a 2xx is a sent message even
        // when its body does not parse: the answer echoes the whole text and is kept only up
        // to 4 KiB, so a long message's answer is cut mid-JSON. Sending it again on that
        // account would post it twice.
        200..=299 if json["ok"] != false => Report::delivered(status, snippet),
        429 => {
            let after = json["parameters"]["retry_after"]
                .as_u64()
                .map(|s| Duration::from_secs(s.min(86_400)))
                .or(answer.retry_after)
                .unwrap_or(Duration::from_secs(1));
            Report::failed(Verdict::Retry { after: Some(after) }, status, said)
                .with_response(snippet)
        }
        401 => Report::failed(
            Verdict::Disable,
            status,
            format!("{said}: the bot token is wrong or was revoked"),
        )
        .with_response(snippet),
        403 => Report::failed(
            Verdict::Disable,
            status,
            format!("{said}: the bot cannot post to this chat"),
        )
        .with_response(snippet),
        400..=499 => {
            let error = match json["parameters"]["migrate_to_chat_id"].as_i64() {
                Some(moved) => format!("{said}: the group is now chat {moved}; update chat_id"),
                None => said,
            };
            Report::failed(Verdict::Dead, status, error).with_response(snippet)
        }
        _ => Report::failed(
            Verdict::Retry { after: None },
            status,
            format!("HTTP {}: {said}", answer.status),
        )
        .with_response(snippet),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: body.to_string(),
        }
    }

    #[test]
    fn answers_are_judged_as_telegram_means_them() {
        assert_eq!(
            judge(answer(
                200,
                json!({"ok": true, "result": {"message_id": 1}})
            ))
            .verdict,
            Verdict::Delivered
        );
        // A long message's answer, cut at 4 KiB: still a message sent, not one to send again.
        let cut = Answer {
            status: 200,
            retry_after: None,
            body: r#"{"ok":true,"result":{"message_id":1,"text":"xxxx"#.into(),
        };
        assert_eq!(judge(cut).verdict, Verdict::Delivered);
        let limited = judge(answer(
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}}),
        ));
        assert_eq!(
            limited.verdict,
            Verdict::Retry {
                after: Some(Duration::from_secs(7))
            }
        );
        let missing = judge(answer(
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
        ));
        assert_eq!(missing.verdict, Verdict::Dead);
        assert_eq!(
            missing.error.as_deref(),
            Some("Telegram said Bad Request: chat not found")
        );
        let moved = judge(answer(
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat", "parameters": {"migrate_to_chat_id": -1_009_876}}),
        ));
        assert!(
            moved
                .error
                .unwrap()
                .ends_with("the group is now chat -1009876; update chat_id")
        );
        assert_eq!(
            judge(answer(
                401,
                json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
            ))
            .verdict,
            Verdict::Disable
        );
        let blocked = judge(answer(
            403,
            json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was kicked from the supergroup chat"}),
        ));
        assert_eq!(blocked.verdict, Verdict::Disable);
        assert_eq!(
            judge(answer(
                502,
                json!({"ok": false, "error_code": 502, "description": "Bad Gateway"})
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
            format!(
                "error sending request for url (https://api.telegram.org/bot{TOKEN}/sendMessage)"
            ),
        );
        let report = report.without_secret(TOKEN);
        assert_eq!(
            report.error.as_deref(),
            Some(
                "error sending request for url (https://api.telegram.org/bot[redacted]/sendMessage)"
            )
        );
    }

    #[tokio::test]
    async fn a_send_whose_turn_is_far_off_is_postponed_before_anything_is_sent() {
        // Nothing listens on port 1: the first send books the chat's slot and fails to
        // connect; the second would wait 10 s in line, so it is held back unsent.
        let providers = Providers::unreachable();
        let settings = TelegramSettings {
            token: None,
            chat: super::super::ChatId::Id(-100),
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
