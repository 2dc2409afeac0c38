//! The language-model client: one OpenAI-compatible chat call that picks one label.
//!
//! Klaxon uses a model for a single narrow job here: given instructions, some (already
//! redacted) input text and a fixed list of labels, answer with exactly one label. The default
//! endpoint is Telnyx AI Inference (`https://api.telnyx.com/v2/ai/openai`, see
//! `docs/telnyx.md` §6), but any server that speaks `POST {base}/chat/completions` works; the
//! sandbox's fake model and vLLM both do.
//!
//! How a label is chosen, and why it is checked twice:
//!
//! - The request asks for `temperature: 0`, a small `max_tokens`, `enable_thinking: false`
//!   (reasoning models would otherwise spend the timeout thinking) and `guided_choice: labels`,
//!   the Telnyx/vLLM extension that constrains decoding to one of the strings.
//! - Guided decoding is not available on every model, so the reply is still validated here
//!   ([`match_label`]): trimmed of whitespace, quotes and punctuation, then matched
//!   case-insensitively. Anything else is [`LlmError::InvalidLabel`], never a guess.
//!
//! What this module deliberately does not do: retry, cache, fall back or redact. Those are
//! the caller's (the pipeline's) decisions; [`LlmError::is_retryable`] and [`cache_key`] give it
//! what it needs. It knows nothing of the store or axum; its own settings (`[ai]`) are
//! validated in [`settings`]. It never logs the API key or the input text.

mod label;
pub mod settings;
mod wire;

#[cfg(test)]
mod tests;

use crate::redacted::redacted_string;
use std::fmt;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};

pub use label::match_label;

/// Telnyx AI Inference's OpenAI-compatible base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.telnyx.com/v2/ai/openai";
/// The model used when none is configured; ids use the Hugging Face `org/name` form.
pub const DEFAULT_MODEL: &str = "moonshotai/Kimi-K2.6";
/// Whole-request deadline (connect, send, wait, read). A classification that takes longer is
/// worth less than the fallback classifier's answer now.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an error body [`LlmError::Status`] keeps: enough to read the provider's
/// message, not enough to copy a whole HTML error page into an event.
pub const MAX_ERROR_BODY_CHARS: usize = 200;

redacted_string! {
    /// An API key for the model endpoint.
    #[derive(PartialEq, Eq)]
    pub struct ApiKey;
}

/// Where and how to reach the model. `Debug` is safe to log: the key is redacted.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The OpenAI-compatible base URL; `/chat/completions` is appended to it.
    pub base_url: String,
    /// The model id sent in every request.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>`. `None` sends no header, for local servers
    /// (the sandbox's fake model, a vLLM on the same host) that need none.
    pub api_key: Option<ApiKey>,
    /// Deadline for one whole call, from connect to the last byte of the reply.
    pub timeout: Duration,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: DEFAULT_MODEL.to_owned(),
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why a model call produced no label. No variant carries the API key: the status body
/// snippet has it masked should a provider echo it back.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The configuration cannot work; reported by [`ChatModel::new`].
    #[error("invalid model configuration: {field} {reason}")]
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("cannot build the HTTP client for the model endpoint")]
    HttpClient(#[source] reqwest::Error),
    /// The caller's label list cannot be offered to a model; a bug in the caller.
    #[error("invalid labels: {reason}")]
    InvalidLabels { reason: &'static str },
    /// No complete answer within the configured timeout.
    #[error("model endpoint did not answer within {after:?}")]
    Timeout { after: Duration },
    /// The request did not complete: connection refused, DNS failure, connection reset.
    #[error("model endpoint {endpoint} is unreachable")]
    Unreachable {
        endpoint: Url,
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint answered with a non-success status.
    #[error("model endpoint answered {status}: {body}")]
    Status {
        status: StatusCode,
        /// At most [`MAX_ERROR_BODY_CHARS`] characters of the response body, key masked.
        body: String,
    },
    /// A 2xx reply that is not a chat completion with text content.
    #[error("model reply is not a usable chat completion: {reason}")]
    InvalidResponse {
        reason: &'static str,
        #[source]
        source: Option<serde_json::Error>,
    },
    /// The model answered, but not with one of the labels (guided decoding unavailable or
    /// ignored). `got` is the raw content, cut to [`MAX_ERROR_BODY_CHARS`] characters.
    #[error("model answered {got:?}, which is not one of the labels")]
    InvalidLabel { got: String },
}

impl LlmError {
    /// True when the same call might succeed later: timeouts, network failures, 429 and 5xx.
    /// A wrong label is not retryable: at `temperature: 0` the model would most likely say it
    /// again, so the caller should fall back instead.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Timeout { .. } | LlmError::Unreachable { .. } => true,
            LlmError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            LlmError::InvalidConfig { .. }
            | LlmError::HttpClient(_)
            | LlmError::InvalidLabels { .. }
            | LlmError::InvalidResponse { .. }
            | LlmError::InvalidLabel { .. } => false,
        }
    }
}

/// A configured chat model. Clones share one connection pool, so clone it rather than build
/// another per task.
#[derive(Clone)]
pub struct ChatModel {
    http: reqwest::Client,
    /// `{base_url}/chat/completions`, parsed once so a bad URL fails at startup.
    endpoint: Url,
    model: String,
    /// Kept beside the header so error bodies that echo the key can be masked.
    api_key: Option<ApiKey>,
    /// Pre-built and marked sensitive, so hyper and reqwest never print it either.
    authorization: Option<HeaderValue>,
    timeout: Duration,
}

impl fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatModel")
            .field("endpoint", &self.endpoint.as_str())
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ChatModel {
    /// Validates the configuration and builds the HTTP client.
    pub fn new(config: ModelConfig) -> Result<Self, LlmError> {
        let invalid = |field, reason| LlmError::InvalidConfig { field, reason };
        let endpoint = Url::parse(&format!(
            "{}/chat/completions",
            config.base_url.trim_end_matches('/')
        ))
        .map_err(|_| invalid("base_url", "is not a valid URL"))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(invalid("base_url", "must be an http:// or https:// URL"));
        }
        if config.model.trim().is_empty() {
            return Err(invalid("model", "must not be empty"));
        }
        if config.timeout.is_zero() {
            return Err(invalid("timeout", "must be greater than zero"));
        }
        let authorization = match &config.api_key {
            None => None,
            Some(key) if key.expose().is_empty() => {
                return Err(invalid("api_key", "must not be empty when set"));
            }
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                    .map_err(|_| {
                        invalid("api_key", "contains characters not allowed in a header")
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // A chat endpoint has no business redirecting a POST; following one could send the
            // bearer key to another host. A 3xx surfaces as `LlmError::Status` instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("klaxon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(LlmError::HttpClient)?;
        Ok(ChatModel {
            http,
            endpoint,
            model: config.model,
            api_key: config.api_key,
            authorization,
            timeout: config.timeout,
        })
    }

    /// The model id sent in requests (and part of every [`cache_key`]).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// [`cache_key`] for this model.
    pub fn cache_key(&self, instructions: &str, labels: &[String], input: &str) -> String {
        cache_key(&self.model, instructions, labels, input)
    }

    /// Asks the model to choose exactly one of `labels` for `input`, following `instructions`.
    ///
    /// Returns the label as declared in `labels` (not as the model spelled it). `input` is
    /// sent as is: redacting it is the caller's job.
    pub async fn choose_label(
        &self,
        instructions: &str,
        input: &str,
        labels: &[String],
    ) -> Result<String, LlmError> {
        label::check_labels(labels)?;
        let request = wire::ChatRequest::choose_label(&self.model, instructions, input, labels);
        let started = Instant::now();
        let content = self.complete(&request).await?;
        let chosen = match_label(&content, labels).ok_or_else(|| LlmError::InvalidLabel {
            got: truncate_chars(&content, MAX_ERROR_BODY_CHARS),
        })?;
        tracing::debug!(
            model = %self.model,
            label = %chosen,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "model chose a label"
        );
        Ok(chosen.clone())
    }

    /// Asks for free text (at most `max_tokens`), e.g. a spoken briefing. `input` is sent as
    /// is: redacting it is the caller's job.
    pub async fn write(
        &self,
        instructions: &str,
        input: &str,
        max_tokens: usize,
    ) -> Result<String, LlmError> {
        let request = wire::ChatRequest::free_text(&self.model, instructions, input, max_tokens);
        let text = self.complete(&request).await?;
        let text = text.trim();
        if text.is_empty() {
            return Err(LlmError::InvalidResponse {
                reason: "the model answered with no text",
                source: None,
            });
        }
        Ok(text.to_owned())
    }

    /// Sends one chat completion request and returns `choices[0].message.content`.
    async fn complete(&self, request: &wire::ChatRequest<'_>) -> Result<String, LlmError> {
        let mut builder = self.http.post(self.endpoint.clone()).json(request);
        if let Some(authorization) = &self.authorization {
            builder = builder.header(AUTHORIZATION, authorization.clone());
        }
        let response = builder.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        if !status.is_success() {
            return Err(LlmError::Status {
                status,
                body: self.error_snippet(&body),
            });
        }
        let reply: wire::ChatResponse =
            serde_json::from_slice(&body).map_err(|source| LlmError::InvalidResponse {
                reason: "body is not a chat completion object",
                source: Some(source),
            })?;
        if let Some(usage) = &reply.usage {
            tracing::debug!(
                model = %self.model,
                prompt_tokens = usage.prompt_tokens,
                completion_tokens = usage.completion_tokens,
                "model usage"
            );
        }
        reply.into_content()
    }

    fn transport_error(&self, error: reqwest::Error) -> LlmError {
        if error.is_timeout() {
            LlmError::Timeout {
                after: self.timeout,
            }
        } else {
            LlmError::Unreachable {
                endpoint: self.endpoint.clone(),
                // The endpoint is already in our message; reqwest would repeat it.
                source: error.without_url(),
            }
        }
    }

    fn error_snippet(&self, body: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(body).into_owned();
        // Some providers quote the rejected key back ("invalid key sk-…"). Mask before
        // cutting, so a truncated tail of the key cannot survive either.
        if let Some(key) = &self.api_key
            && text.contains(key.expose())
        {
            text = text.replace(key.expose(), "[redacted]");
        }
        truncate_chars(text.trim(), MAX_ERROR_BODY_CHARS)
    }
}

/// A stable cache key for one [`ChatModel::choose_label`] call: lowercase hex SHA-256.
///
/// Each part is length-prefixed (8-byte big-endian length, then the UTF-8 bytes) and the label
/// list is prefixed with its count, so no two different argument lists encode the same way
/// (`["ab","c"]` vs `["a","bc"]`, or text moving between instructions and input). Label order
/// matters because it is part of the prompt. A version tag leads the encoding; bump it when
/// the prompt template or request parameters in `wire.rs` change, so cached answers to the
/// old prompt are not reused.
pub fn cache_key(model: &str, instructions: &str, labels: &[String], input: &str) -> String {
    fn part(hasher: &mut Sha256, bytes: &[u8]) {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    let mut hasher = Sha256::new();
    part(&mut hasher, wire::PROMPT_VERSION.as_bytes());
    part(&mut hasher, model.as_bytes());
    part(&mut hasher, instructions.as_bytes());
    hasher.update((labels.len() as u64).to_be_bytes());
    for label in labels {
        part(&mut hasher, label.as_bytes());
    }
    part(&mut hasher, input.as_bytes());
    hex::encode(hasher.finalize())
}

/// `text` cut to at most `max` characters (never inside a character), ending in `…` if cut.
fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}
