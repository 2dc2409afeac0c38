//! [`TelnyxClient`]: validated configuration, the three calls, and the retry loop.
//!
//! Every request is serialized once and the same bytes are resent on each attempt, so a retry
//! can never differ from the original, `command_id` included. Each attempt is cut to what is
//! left of the retry budget; a dial attempt first waits for the pacer.
//!
//! Three Telnyx answers are turned into success, because the state the command asked for
//! already holds (docs/telnyx.md §1.1, §3.8):
//!
//! - `hangup` on a leg that is gone (90018/90015): the leg is hung up.
//! - `transcription_start` answered 90054: a transcription is already running on the leg,
//!   typically ours from an attempt whose answer was lost, or from a re-run of the same step
//!   more than 60 s later, past the `command_id` window.
//! - `gather_using_ai` answered 90061: an AI gather is already running, for the same reason;
//!   its `call.ai_gather.ended` will still arrive.
//!
//! 90034 (not answered yet) is *not* retried here: only `call.answered` makes the command
//! valid, so the caller gets [`TelnyxError::NotAnsweredYet`] and acts again on that event.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;
use tokio::time::Instant;

use super::commands::{Command, Dial};
use super::errors::{self, TelnyxError, codes};
use super::messages::{self, Message, SentMessage};
use super::pacing::DialPacer;
use super::retry::{self, RetryPolicy};
use super::{
    CallControlId, CallLegId, CallSessionId, CallStatus, ClientState, CommandId, Leg, TelnyxConfig,
};

/// The shortest deadline an attempt is given, even when the budget is nearly spent: less
/// could not even complete a TLS handshake.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(100);

/// The longest retry budget accepted. Telnyx drops a duplicate `command_id` for 60 seconds
/// only; a retry sent later than that could execute the command (ring the person) twice.
const MAX_RETRY_BUDGET: Duration = Duration::from_secs(60);

/// A configured Telnyx Call Control client. Clones share one connection pool and one dial
/// pacer, so clone it rather than build another per task.
#[derive(Clone)]
pub struct TelnyxClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The API base without a trailing slash, checked to be an http(s) URL.
    base: String,
    /// Pre-built and marked sensitive, so hyper and reqwest never print it either.
    authorization: HeaderValue,
    connection_id: String,
    from_number: String,
    request_timeout: Duration,
    retry: RetryPolicy,
    pacer: DialPacer,
}

impl fmt::Debug for TelnyxClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxClient")
            .field("base", &self.inner.base)
            .field("connection_id", &self.inner.connection_id)
            .field("request_timeout", &self.inner.request_timeout)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// One request, ready to be sent as many times as the retry policy allows.
struct Request<'a> {
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
    /// Dials take a pacer token before every attempt.
    paced: bool,
    /// For logs: `dial`, `call_status` or the command's action.
    action: &'static str,
    command_id: Option<&'a CommandId>,
    /// Whether Telnyx recognises a resent copy (every Call Control request does, by
    /// `command_id` or by being a read); a message does not, so it is retried only when
    /// nothing was sent ([`super::messages`]).
    idempotent: bool,
}

impl TelnyxClient {
    /// Validates the configuration and builds the HTTP client.
    pub fn new(config: TelnyxConfig) -> Result<Self, TelnyxError> {
        let invalid = |field, reason| TelnyxError::InvalidConfig { field, reason };
        let base = config.api_base.trim().trim_end_matches('/').to_owned();
        let parsed = Url::parse(&base).map_err(|_| invalid("api_base", "is not a valid URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("api_base", "must be an http:// or https:// URL"));
        }
        if config.api_key.expose().is_empty() {
            return Err(invalid("api_key", "must not be empty"));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", config.api_key.expose()))
                .map_err(|_| invalid("api_key", "contains characters not allowed in a header"))?;
        authorization.set_sensitive(true);
        if config.connection_id.trim().is_empty() {
            return Err(invalid("connection_id", "must not be empty"));
        }
        if !is_e164(&config.from_number) {
            return Err(invalid("from_number", "must be a +E.164 number"));
        }
        if !(config.dials_per_second.is_finite() && config.dials_per_second > 0.0) {
            return Err(invalid("dials_per_second", "must be a positive number"));
        }
        if config.request_timeout.is_zero() {
            return Err(invalid("request_timeout", "must be greater than zero"));
        }
        if config.retry.max_attempts == 0 {
            return Err(invalid("retry.max_attempts", "must be at least 1"));
        }
        if config.retry.budget.is_zero() || config.retry.budget > MAX_RETRY_BUDGET {
            return Err(invalid(
                "retry.budget",
                "must be more than zero and at most 60 s (Telnyx's command_id window)",
            ));
        }
        let http = reqwest::Client::builder()
            // Telnyx has no reason to redirect an API call; following one could carry the
            // bearer key to another host. A 3xx becomes `TelnyxError::Rejected` instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("klaxon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(TelnyxError::HttpClient)?;
        let rate = config.dials_per_second;
        Ok(TelnyxClient {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                connection_id: config.connection_id,
                from_number: config.from_number,
                request_timeout: config.request_timeout,
                retry: config.retry,
                pacer: DialPacer::new(rate, DialPacer::burst_for(rate)),
            }),
        })
    }

    /// `POST /v2/calls`: starts ringing `dial.to` and returns the new leg's ids.
    ///
    /// Paced (see the module docs of `pacing`), so a call may wait for its turn before
    /// anything is sent. An error means the attempt failed; the person is not being rung,
    /// unless the error is a timeout or transport failure on the last try, in which case the
    /// dial may have gone through and its webhooks will tell (match them by `client_state`).
    pub async fn dial(&self, dial: &Dial) -> Result<Leg, TelnyxError> {
        dial.validate()
            .map_err(|reason| TelnyxError::InvalidRequest { reason })?;
        let body =
            serde_json::to_vec(&dial.body(&self.inner.connection_id, &self.inner.from_number))
                .map_err(|_| TelnyxError::InvalidRequest {
                    reason: "the dial cannot be serialized",
                })?;
        let bytes = self
            .send(Request {
                method: Method::POST,
                url: self.url("/calls")?,
                body: Some(body),
                paced: true,
                action: "dial",
                command_id: Some(&dial.command_id),
                idempotent: true,
            })
            .await?;
        let call = parse_call(&bytes)?;
        Ok(Leg {
            call_control_id: call.call_control_id,
            call_leg_id: call.call_leg_id,
            call_session_id: call.call_session_id,
        })
    }

    /// `POST /v2/calls/{call_control_id}/actions/{action}`. Not paced.
    ///
    /// `Ok` also covers the three "already in that state" answers listed in the module docs.
    pub async fn command(
        &self,
        call_control_id: &CallControlId,
        command: &Command,
    ) -> Result<(), TelnyxError> {
        command
            .validate()
            .map_err(|reason| TelnyxError::InvalidRequest { reason })?;
        let body =
            command
                .body(&self.inner.from_number)
                .map_err(|_| TelnyxError::InvalidRequest {
                    reason: "the command cannot be serialized",
                })?;
        let path = format!(
            "/calls/{}/actions/{}",
            path_segment(call_control_id)?,
            command.action()
        );
        let result = self
            .send(Request {
                method: Method::POST,
                url: self.url(&path)?,
                body: Some(body),
                paced: false,
                action: command.action(),
                command_id: Some(command.command_id()),
                idempotent: true,
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if already_done(command, &error) => {
                tracing::debug!(
                    action = command.action(),
                    command_id = %command.command_id(),
                    error = %error,
                    "Telnyx says the command's effect already holds"
                );
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// `GET /v2/calls/{call_control_id}`: whether a leg is still alive. Telnyx answers for
    /// 10 minutes after the call ends; after that, or for an id it never knew, expect
    /// [`TelnyxError::CallGone`] (90015) or a `Rejected` 404, both meaning "not alive".
    pub async fn call_status(
        &self,
        call_control_id: &CallControlId,
    ) -> Result<CallStatus, TelnyxError> {
        let path = format!("/calls/{}", path_segment(call_control_id)?);
        let bytes = self
            .send(Request {
                method: Method::GET,
                url: self.url(&path)?,
                body: None,
                paced: false,
                action: "call_status",
                command_id: None,
                idempotent: true,
            })
            .await?;
        let call = parse_call(&bytes)?;
        Ok(CallStatus {
            is_alive: call.is_alive.ok_or(TelnyxError::InvalidResponse {
                reason: "the call status has no `is_alive`",
                source: None,
            })?,
            call_control_id: call.call_control_id,
            call_leg_id: call.call_leg_id,
            call_session_id: call.call_session_id,
            client_state: call.client_state.and_then(|s| ClientState::decode(&s).ok()),
            start_time: call.start_time,
            end_time: call.end_time,
            call_duration_secs: call.call_duration,
        })
    }

    /// `POST /v2/messages`: sends a text (docs/sms.md §2). Not paced (messaging limits are
    /// per number and enforced by Telnyx's queue). Retried only when nothing went out.
    pub async fn send_message(&self, message: &Message) -> Result<SentMessage, TelnyxError> {
        message
            .validate()
            .map_err(|reason| TelnyxError::InvalidRequest { reason })?;
        let body = serde_json::to_vec(message).map_err(|_| TelnyxError::InvalidRequest {
            reason: "the message cannot be serialized",
        })?;
        let bytes = self
            .send(Request {
                method: Method::POST,
                url: self.url("/messages")?,
                body: Some(body),
                paced: false,
                action: "message",
                command_id: None,
                idempotent: false,
            })
            .await?;
        messages::parse_sent(&bytes)
    }

    fn url(&self, path: &str) -> Result<Url, TelnyxError> {
        Url::parse(&format!("{}{path}", self.inner.base)).map_err(|_| TelnyxError::InvalidRequest {
            reason: "the request URL is not valid",
        })
    }

    /// Sends `request` until it succeeds, fails for good, or the retry policy is spent.
    async fn send(&self, request: Request<'_>) -> Result<Vec<u8>, TelnyxError> {
        let policy = self.inner.retry;
        let mut first_started: Option<Instant> = None;
        let mut previous: Option<TelnyxError> = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if request.paced {
                self.inner.pacer.acquire().await;
            }
            // The budget runs from the first attempt, not from the pacer queue: a dial
            // waiting its turn in a burst has not used any of its retries yet.
            let started = *first_started.get_or_insert_with(Instant::now);
            // A retried dial may have queued behind a burst. Sent after the budget, it could
            // land outside Telnyx's 60 s `command_id` window and ring the person twice.
            if let Some(error) = previous.take()
                && started.elapsed() >= policy.budget
            {
                return Err(error);
            }
            let left = policy.budget.saturating_sub(started.elapsed());
            let timeout = self
                .inner
                .request_timeout
                .min(left.max(MIN_ATTEMPT_TIMEOUT));
            let (error, hint) = match self.attempt(&request, timeout).await {
                Ok(body) => {
                    tracing::debug!(
                        action = request.action,
                        command_id = request.command_id.map(CommandId::as_str),
                        attempt,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "Telnyx accepted the request"
                    );
                    return Ok(body);
                }
                Err(failure) => failure,
            };
            let retryable = if request.idempotent {
                error.is_retryable()
            } else {
                messages::surely_unsent(&error)
            };
            if !retryable || attempt >= policy.max_attempts {
                return Err(error);
            }
            let delay = policy.delay(attempt, hint, fastrand::f64());
            if started.elapsed() + delay + MIN_ATTEMPT_TIMEOUT > policy.budget {
                return Err(error);
            }
            tracing::warn!(
                action = request.action,
                command_id = request.command_id.map(CommandId::as_str),
                attempt,
                error = %error,
                delay_ms = delay.as_millis() as u64,
                "Telnyx request failed; retrying with the same body"
            );
            previous = Some(error);
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP exchange. On failure, also returns the wait the server asked for, if any.
    async fn attempt(
        &self,
        request: &Request<'_>,
        timeout: Duration,
    ) -> Result<Vec<u8>, (TelnyxError, Option<Duration>)> {
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), request.url.clone())
            .header(AUTHORIZATION, self.inner.authorization.clone())
            .header(ACCEPT, "application/json")
            .timeout(timeout);
        if let Some(body) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let transport = |error: reqwest::Error| {
            let error = if error.is_timeout() {
                TelnyxError::Timeout { after: timeout }
            } else {
                TelnyxError::Transport(error)
            };
            (error, None)
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let hint = if status.is_success() {
            None
        } else {
            retry::server_hint(response.headers(), SystemTime::now())
        };
        let body = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let error = errors::from_status(status, errors::parse_errors(&body), hint);
        tracing::debug!(
            action = request.action,
            status = status.as_u16(),
            code = first_code(&error),
            "Telnyx refused the request"
        );
        Err((error, hint))
    }
}

fn first_code(error: &TelnyxError) -> Option<&str> {
    match error {
        TelnyxError::CallGone { code } => Some(code),
        TelnyxError::NotAnsweredYet => Some(codes::NOT_ANSWERED_YET),
        TelnyxError::RateLimited { code, .. } => code.as_deref(),
        TelnyxError::Rejected { errors, .. } | TelnyxError::Server { errors, .. } => {
            errors.first().map(|e| e.code.as_str())
        }
        _ => None,
    }
}

/// Whether `error` means the command's effect already holds (see the module docs).
fn already_done(command: &Command, error: &TelnyxError) -> bool {
    let rejected_with =
        |code| matches!(error, TelnyxError::Rejected { .. }) && error.has_code(code);
    match command {
        Command::Hangup(_) => error.is_call_gone(),
        Command::TranscriptionStart(_) => rejected_with(codes::TRANSCRIPTION_ACTIVE),
        Command::GatherUsingAi(_) => rejected_with(codes::AI_ASSISTANT_ACTIVE),
        _ => false,
    }
}

/// `call_control_id` as one path segment. It is opaque and may hold `:`, `_`, `-` and `=`
/// (docs/telnyx.md §2), which are legal in a segment and sent as they are; anything else outside
/// the unreserved characters is percent-encoded, so a `/` or `?` could never change the path.
fn path_segment(id: &CallControlId) -> Result<String, TelnyxError> {
    let id = id.as_str();
    // "." and ".." would be resolved as relative path steps by any URL parser.
    if id.is_empty() || id == "." || id == ".." {
        return Err(TelnyxError::InvalidRequest {
            reason: "the call_control_id is empty or a dot segment",
        });
    }
    let mut segment = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:=".contains(&byte) {
            segment.push(char::from(byte));
        } else {
            segment.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(segment)
}

fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (1..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// The `data` of a dial response (`CallWithRecordingId`) or call status (`Call`).
#[derive(Deserialize)]
struct CallData {
    call_control_id: CallControlId,
    call_leg_id: CallLegId,
    call_session_id: CallSessionId,
    #[serde(default)]
    is_alive: Option<bool>,
    #[serde(default)]
    client_state: Option<String>,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
    #[serde(default)]
    call_duration: Option<u64>,
}

fn parse_call(body: &[u8]) -> Result<CallData, TelnyxError> {
    #[derive(Deserialize)]
    struct Envelope {
        data: CallData,
    }
    serde_json::from_slice::<Envelope>(body)
        .map(|e| e.data)
        .map_err(|source| TelnyxError::InvalidResponse {
            reason: "expected {\"data\":{call_control_id, call_leg_id, call_session_id, …}}",
            source: Some(source),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::telnyx::ApiKey;
    use reqwest::StatusCode;

    fn config() -> TelnyxConfig {
        TelnyxConfig::new(ApiKey::new("KEY0123"), "app-1", "+15557650000")
    }

    #[test]
    fn ids_keep_their_legal_characters_and_encode_the_rest() {
        let segment = |s: &str| path_segment(&CallControlId::new(s));
        assert_eq!(
            segment("v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg==").unwrap(),
            "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg=="
        );
        assert_eq!(segment("v2:a-b.c~d").unwrap(), "v2:a-b.c~d");
        assert_eq!(segment("a/b+c d?e#f%").unwrap(), "a%2Fb%2Bc%20d%3Fe%23f%25");
        assert_eq!(segment("é").unwrap(), "%C3%A9");
        for bad in ["", ".", ".."] {
            assert!(matches!(
                segment(bad),
                Err(TelnyxError::InvalidRequest { .. })
            ));
        }
    }

    #[test]
    fn configuration_is_checked_once() {
        assert!(TelnyxClient::new(config()).is_ok());
        let field = |change: fn(&mut TelnyxConfig)| {
            let mut c = config();
            change(&mut c);
            match TelnyxClient::new(c) {
                Err(TelnyxError::InvalidConfig { field, .. }) => field,
                other => panic!("expected a config error, got {other:?}"),
            }
        };
        assert_eq!(field(|c| c.api_base = "ftp://x".into()), "api_base");
        assert_eq!(field(|c| c.api_base = "not a url".into()), "api_base");
        assert_eq!(field(|c| c.api_key = ApiKey::new("")), "api_key");
        assert_eq!(field(|c| c.api_key = ApiKey::new("a\nb")), "api_key");
        assert_eq!(field(|c| c.connection_id = " ".into()), "connection_id");
        assert_eq!(
            field(|c| c.from_number = "15557650000".into()),
            "from_number"
        );
        assert_eq!(field(|c| c.from_number = "+1 555".into()), "from_number");
        assert_eq!(field(|c| c.dials_per_second = 0.0), "dials_per_second");
        assert_eq!(field(|c| c.dials_per_second = f64::NAN), "dials_per_second");
        assert_eq!(
            field(|c| c.request_timeout = Duration::ZERO),
            "request_timeout"
        );
        assert_eq!(field(|c| c.retry.max_attempts = 0), "retry.max_attempts");
        assert_eq!(
            field(|c| c.retry.budget = Duration::from_secs(61)),
            "retry.budget"
        );
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let client = TelnyxClient::new(config()).unwrap();
        let shown = format!("{client:?} {:?}", config());
        assert!(!shown.contains("KEY0123"), "{shown}");
        assert!(shown.contains("ApiKey([redacted])"));
    }

    #[test]
    fn already_active_answers_count_only_for_their_command() {
        use crate::voice::telnyx::commands::{GatherUsingAi, Hangup, Speak, TranscriptionStart};
        let id = || CommandId::from_raw("c");
        let rejected = |code: &str| TelnyxError::Rejected {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            errors: vec![errors::ApiError {
                code: code.to_owned(),
                title: String::new(),
                detail: None,
                source: None,
            }],
        };
        let gone = TelnyxError::CallGone {
            code: codes::CALL_ENDED.to_owned(),
        };
        let hangup = Command::from(Hangup::new(id()));
        let transcribe = Command::from(TranscriptionStart::new(id()));
        let ai = Command::from(GatherUsingAi::new(serde_json::json!({}), id()));
        let speak = Command::from(Speak::new("x", id()));
        assert!(already_done(&hangup, &gone));
        assert!(!already_done(&speak, &gone));
        assert!(already_done(&transcribe, &rejected("90054")));
        assert!(!already_done(&transcribe, &rejected("90061")));
        assert!(already_done(&ai, &rejected("90061")));
        assert!(!already_done(&speak, &rejected("90061")));
    }
}
