//! Scenario 4: a billing event posted to `/v1/events`, routed by the demo's
//! `billing-alerts` pipeline to finance's webhook. The receiver answers 503 twice, then 200;
//! Klaxon retries on its (shortened) schedule, with the same `webhook-id` and a fresh
//! Standard Webhooks signature each time.

use serde_json::{Value, json};

use crate::demo::api::delivery_of;
use crate::demo::settings::WEBHOOK_PIPELINE;
use crate::demo::timeline::Tone;

use super::{Failed, Reporter, Verdict};

pub async fn run(reporter: &Reporter<'_>) -> Result<Verdict, Failed> {
    let stage = reporter.stage;
    reporter.say(
        "api",
        None,
        "POST /v1/events billing.invoice.payment_failed → finance's webhook (503 twice, then 200)",
        Tone::Plain,
    );
    let event = stage
        .klaxon
        .send_event(&json!({
            "type": "billing.invoice.payment_failed",
            "idempotency_key": "demo-invoice-INV-1042",
            "payload": {"invoice": "INV-1042", "customer": "Initech", "amount": 1200, "currency": "USD"},
        }))
        .await?;
    // Its own pipeline's delivery: with `--table-url` the event has a table row's too.
    let (event, _) = reporter.decision(&event).await?;
    let delivery_id = delivery_of(&event, WEBHOOK_PIPELINE)
        .ok_or_else(|| Failed::Other("no webhook delivery was created".into()))?;

    let path = format!("/v1/deliveries/{delivery_id}");
    let mut shown = 0;
    let deadline = tokio::time::Instant::now() + stage.pace.scenario_timeout();
    let delivery = loop {
        let delivery = stage.klaxon.get(&path).await?;
        let attempts = delivery["attempt_log"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for attempt in attempts.iter().skip(shown) {
            let (text, tone) = describe_attempt(attempt);
            reporter.say(&delivery_id, None, &text, tone);
        }
        shown = shown.max(attempts.len());
        if matches!(delivery["state"].as_str(), Some("succeeded" | "dead")) {
            break delivery;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failed::Timeout("the delivery to finish"));
        }
        tokio::time::sleep(stage.pace.poll_interval()).await;
    };

    let state = delivery["state"].as_str().unwrap_or("?");
    let attempts = delivery["attempts"].as_u64().unwrap_or(0);
    let received = stage.receiver.received();
    let verified = received
        .iter()
        .filter(|r| r.webhook_id == delivery_id)
        .all(|r| r.signature_valid);
    if verified && !received.is_empty() {
        reporter.say(
            &delivery_id,
            None,
            &format!(
                "the receiver verified all {} signatures; one webhook-id throughout",
                received.len()
            ),
            Tone::Plain,
        );
    }
    Ok(Verdict {
        passed: state == "succeeded" && attempts >= 2 && verified,
        got: format!("{state} after {attempts} attempts"),
    })
}

/// "attempt 1: 503, will retry" / "attempt 3: 200, delivered".
fn describe_attempt(attempt: &Value) -> (String, Tone) {
    let number = attempt["number"].as_u64().unwrap_or(0);
    match attempt["status"].as_u64() {
        Some(status) if (200..300).contains(&status) => {
            (format!("attempt {number}: {status}, delivered"), Tone::Good)
        }
        Some(status) => (format!("attempt {number}: {status}, will retry"), Tone::Bad),
        None => (
            format!(
                "attempt {number}: {}",
                attempt["error"].as_str().unwrap_or("no answer")
            ),
            Tone::Bad,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_read_as_retries_then_delivery() {
        assert_eq!(
            describe_attempt(&json!({"number": 1, "status": 503})),
            ("attempt 1: 503, will retry".into(), Tone::Bad)
        );
        assert_eq!(
            describe_attempt(&json!({"number": 3, "status": 200})),
            ("attempt 3: 200, delivered".into(), Tone::Good)
        );
        assert_eq!(
            describe_attempt(&json!({"number": 2, "error": "connection refused"})).0,
            "attempt 2: connection refused"
        );
    }
}
