//! [`MergeClient`]: validated configuration, the reads and writes Klaxon makes, and the retry
//! loop.
//!
//! Every request carries `Authorization: Bearer <api key>` and the linked account's
//! `X-Account-Token` (docs/merge.md §1.2). Both header values are built once in
//! [`MergeClient::new`] and marked sensitive, so neither hyper nor our logs can print them.
//!
//! Retries (see [`RetryPolicy`]): GETs and the status PATCH are retried on timeouts, transport
//! failures, 408, 409, 429 and 5xx; a PATCH of `status` is idempotent. A comment or note POST
//! is retried only when Merge certainly did not act on it: a 429 or a connection that was
//! never made. After a 5xx or a timeout the write may have happened and Merge has no
//! idempotency key (docs/merge.md §5.1), so a blind resend could post the comment twice; the caller
//! gets the error and checks for its marker before posting again. Other 4xx are never retried.

use crate::redacted::redacted_string;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::MergeError;
use super::model::{
    Comment, MergeWriteResponse, Note, Opportunity, Page, Problem, Ticket, TicketStatus, Written,
};
use super::retry::{self, RetryPolicy};

/// Merge's US API root; EU, APAC and sandbox roots differ only in the host (docs/merge.md §1.1).
pub const DEFAULT_API_BASE: &str = "https://api.merge.dev/api";
/// Deadline for one HTTP attempt.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Merge's maximum page size (docs/merge.md §1.3): fewest requests against the per-account
/// rate limit.
pub const PAGE_SIZE: u32 = 100;
/// Pages one listing may read (100 000 objects) before it is taken for a pagination loop.
const MAX_PAGES: usize = 1000;
/// How much of an error body [`MergeError::Rejected`] keeps.
const ERROR_BODY_BYTES: usize = 512;
/// What a ticket GET or listing expands, so one call yields the reporter's phone, the
/// customer's name and the assignees.
const TICKET_EXPAND: &str = "contact,account,assignees";
/// What an opportunity GET or listing expands: stage names, the owner's email, the account.
const OPPORTUNITY_EXPAND: &str = "stage,owner,account";

redacted_string! {
    /// A Merge credential (the organisation's API key or a linked account's token).
    #[derive(PartialEq, Eq)]
    pub struct MergeSecret;
}

/// Account tokens: one per linked account, plus an optional default for single-tenant setups.
#[derive(Debug, Clone, Default)]
pub struct AccountTokens {
    pub default: Option<MergeSecret>,
    /// `linked_account.id` → that account's token (docs/merge.md §4.4).
    pub by_account: HashMap<String, MergeSecret>,
}

/// Where and how to reach Merge. `Debug` is safe to log: secrets are redacted.
#[derive(Debug, Clone)]
pub struct MergeConfig {
    /// Without the category: `https://api.merge.dev/api`.
    pub api_base: String,
    pub api_key: MergeSecret,
    pub account_tokens: AccountTokens,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl MergeConfig {
    /// The US API root, default timeout and retries.
    pub fn new(api_key: MergeSecret, account_tokens: AccountTokens) -> Self {
        MergeConfig {
            api_base: DEFAULT_API_BASE.to_owned(),
            api_key,
            account_tokens,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

/// A configured Merge client. Clones share one connection pool.
#[derive(Clone)]
pub struct MergeClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Without a trailing slash, checked to be an http(s) URL.
    base: String,
    authorization: HeaderValue,
    default_token: Option<HeaderValue>,
    tokens: HashMap<String, HeaderValue>,
    request_timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for MergeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MergeClient")
            .field("base", &self.inner.base)
            .field("accounts", &self.inner.tokens.len())
            .field("request_timeout", &self.inner.request_timeout)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// Whether a failed request may be sent again (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// GET, or a PATCH of an idempotent field.
    WhenTransient,
    /// POST: only when Merge certainly did not act.
    WhenNotProcessed,
}

struct Request<'a> {
    operation: &'static str,
    method: Method,
    url: Url,
    token: &'a HeaderValue,
    body: Option<Vec<u8>>,
    resend: Resend,
}

impl MergeClient {
    /// Validates the configuration and builds the HTTP client.
    pub fn new(config: MergeConfig) -> Result<Self, MergeError> {
        let invalid = |field, reason| MergeError::InvalidConfig { field, reason };
        let base = config.api_base.trim().trim_end_matches('/').to_owned();
        let parsed = Url::parse(&base).map_err(|_| invalid("api_base", "is not a valid URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("api_base", "must be an http:// or https:// URL"));
        }
        let secret = |field, secret: &MergeSecret, prefix: &str| {
            if secret.expose().trim().is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
            let mut value = HeaderValue::from_str(&format!("{prefix}{}", secret.expose()))
                .map_err(|_| invalid(field, "contains characters not allowed in a header"))?;
            value.set_sensitive(true);
            Ok(value)
        };
        let authorization = secret("api_key", &config.api_key, "Bearer ")?;
        let default_token = config
            .account_tokens
            .default
            .as_ref()
            .map(|t| secret("account_tokens.default", t, ""))
            .transpose()?;
        let tokens = config
            .account_tokens
            .by_account
            .iter()
            .map(|(account, token)| {
                Ok((
                    account.clone(),
                    secret("account_tokens.by_account", token, "")?,
                ))
            })
            .collect::<Result<HashMap<_, _>, MergeError>>()?;
        if config.request_timeout.is_zero() {
            return Err(invalid("request_timeout", "must be greater than zero"));
        }
        if config.retry.max_attempts == 0 {
            return Err(invalid("retry.max_attempts", "must be at least 1"));
        }
        let http = reqwest::Client::builder()
            // Merge has no reason to redirect an API call; following one could carry the key
            // and token to another host. A 3xx becomes `MergeError::Rejected` instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("klaxon/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(MergeError::HttpClient)?;
        Ok(MergeClient {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                default_token,
                tokens,
                request_timeout: config.request_timeout,
                retry: config.retry,
            }),
        })
    }

    /// `GET /ticketing/v1/tickets/{id}?expand=contact,account,assignees`.
    pub async fn get_ticket(&self, account: &str, id: &str) -> Result<Ticket, MergeError> {
        const OP: &str = "get_ticket";
        let path = format!("/ticketing/v1/tickets/{}", segment(OP, id)?);
        self.get(OP, account, &path, &[("expand", TICKET_EXPAND)])
            .await
    }

    /// `PATCH /ticketing/v1/tickets/{id}` with `{"model":{"status":…}}` (docs/merge.md §2.3). Check
    /// that the integration can write `status` first; otherwise post a comment.
    pub async fn patch_ticket_status(
        &self,
        account: &str,
        id: &str,
        status: &TicketStatus,
    ) -> Result<Written<Ticket>, MergeError> {
        const OP: &str = "patch_ticket_status";
        let path = format!("/ticketing/v1/tickets/{}", segment(OP, id)?);
        let body = json!({"model": {"status": status}});
        self.write(
            OP,
            Method::PATCH,
            account,
            &path,
            &body,
            Resend::WhenTransient,
        )
        .await
    }

    /// `POST /ticketing/v1/comments`: a private comment on the ticket (docs/merge.md §2.4). Put a
    /// unique marker in `body` so an ambiguous failure can be checked before posting again.
    pub async fn add_ticket_comment(
        &self,
        account: &str,
        ticket_id: &str,
        body: &str,
        html_body: &str,
    ) -> Result<Written<Comment>, MergeError> {
        const OP: &str = "add_ticket_comment";
        let request = json!({"model": {
            "ticket": ticket_id, "body": body, "html_body": html_body, "is_private": true,
        }});
        self.write(
            OP,
            Method::POST,
            account,
            "/ticketing/v1/comments",
            &request,
            Resend::WhenNotProcessed,
        )
        .await
    }

    /// `GET /crm/v1/opportunities/{id}?expand=stage,owner,account`.
    pub async fn get_opportunity(
        &self,
        account: &str,
        id: &str,
    ) -> Result<Opportunity, MergeError> {
        const OP: &str = "get_opportunity";
        let path = format!("/crm/v1/opportunities/{}", segment(OP, id)?);
        self.get(OP, account, &path, &[("expand", OPPORTUNITY_EXPAND)])
            .await
    }

    /// `POST /crm/v1/notes` with `{"model": note}` (docs/merge.md §3.3): `content`, `opportunity`
    /// and optionally `account`, `owner`, `integration_params`. Only HubSpot, Pipedrive and
    /// Salesforce accept notes; Salesforce also wants `integration_params.title`.
    pub async fn add_opportunity_note(
        &self,
        account: &str,
        note: Value,
    ) -> Result<Written<Note>, MergeError> {
        const OP: &str = "add_opportunity_note";
        let request = json!({ "model": note });
        self.write(
            OP,
            Method::POST,
            account,
            "/crm/v1/notes",
            &request,
            Resend::WhenNotProcessed,
        )
        .await
    }

    /// Every ticket Merge synced after `since`, expanded like [`MergeClient::get_ticket`],
    /// all pages read. `modified_after` is Merge's sync time, not the source's
    /// (docs/merge.md §1.3).
    pub async fn list_tickets_modified_since(
        &self,
        account: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<Ticket>, MergeError> {
        self.list(
            "list_tickets_modified_since",
            account,
            "/ticketing/v1/tickets",
            TICKET_EXPAND,
            since,
        )
        .await
    }

    /// Every opportunity Merge synced after `since`, expanded like
    /// [`MergeClient::get_opportunity`], all pages read.
    pub async fn list_opportunities_modified_since(
        &self,
        account: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<Opportunity>, MergeError> {
        self.list(
            "list_opportunities_modified_since",
            account,
            "/crm/v1/opportunities",
            OPPORTUNITY_EXPAND,
            since,
        )
        .await
    }

    /// The first page (at most `page_size`, capped at [`PAGE_SIZE`]) of the account's
    /// tickets, expanded like [`MergeClient::get_ticket`], in Merge's order.
    pub async fn list_tickets(
        &self,
        account: &str,
        page_size: u32,
    ) -> Result<Vec<Ticket>, MergeError> {
        self.first_page(
            "list_tickets",
            account,
            "/ticketing/v1/tickets",
            TICKET_EXPAND,
            page_size,
        )
        .await
    }

    /// The first page (at most `page_size`, capped at [`PAGE_SIZE`]) of the account's
    /// opportunities, expanded like [`MergeClient::get_opportunity`], in Merge's order.
    pub async fn list_opportunities(
        &self,
        account: &str,
        page_size: u32,
    ) -> Result<Vec<Opportunity>, MergeError> {
        self.first_page(
            "list_opportunities",
            account,
            "/crm/v1/opportunities",
            OPPORTUNITY_EXPAND,
            page_size,
        )
        .await
    }

    async fn first_page<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        account: &str,
        path: &str,
        expand: &str,
        page_size: u32,
    ) -> Result<Vec<T>, MergeError> {
        let page_size = page_size.clamp(1, PAGE_SIZE).to_string();
        let query = [("expand", expand), ("page_size", page_size.as_str())];
        let page: Page<T> = self.get(operation, account, path, &query).await?;
        Ok(page.results)
    }

    /// Every object modified after `since`, expanded, all pages read.
    async fn list<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        account: &str,
        path: &str,
        expand: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<T>, MergeError> {
        let since = since
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|_| MergeError::InvalidRequest {
                operation,
                reason: "the timestamp cannot be formatted",
            })?;
        let filters = [("modified_after", since.as_str()), ("expand", expand)];
        self.all_pages(operation, account, path, &filters).await
    }

    /// Every object matching `filters`, all pages read.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        account: &str,
        path: &str,
        filters: &[(&str, &str)],
    ) -> Result<Vec<T>, MergeError> {
        let page_size = PAGE_SIZE.to_string();
        let mut results = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            // Every other parameter stays identical while paging, as Merge requires.
            let mut query = filters.to_vec();
            query.push(("page_size", page_size.as_str()));
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor));
            }
            let page: Page<T> = self.get(operation, account, path, &query).await?;
            results.extend(page.results);
            match page.next.filter(|next| !next.is_empty()) {
                None => return Ok(results),
                Some(next) if cursor.as_deref() == Some(next.as_str()) => break,
                Some(next) => cursor = Some(next),
            }
        }
        Err(MergeError::EndlessPagination { operation })
    }

    /// Whether a comment on the ticket already contains `marker`: how a write-back retried
    /// after an ambiguous failure (a timeout: the POST may have landed) avoids posting twice.
    pub async fn ticket_has_comment_with(
        &self,
        account: &str,
        ticket_id: &str,
        marker: &str,
    ) -> Result<bool, MergeError> {
        let comments: Vec<Comment> = self
            .all_pages(
                "list_ticket_comments",
                account,
                "/ticketing/v1/comments",
                &[("ticket_id", ticket_id)],
            )
            .await?;
        Ok(comments
            .iter()
            .any(|c| c.body.as_deref().is_some_and(|b| b.contains(marker))))
    }

    /// As [`MergeClient::ticket_has_comment_with`], for the notes of an opportunity.
    pub async fn opportunity_has_note_with(
        &self,
        account: &str,
        opportunity_id: &str,
        marker: &str,
    ) -> Result<bool, MergeError> {
        let notes: Vec<Note> = self
            .all_pages(
                "list_opportunity_notes",
                account,
                "/crm/v1/notes",
                &[("opportunity_id", opportunity_id)],
            )
            .await?;
        Ok(notes
            .iter()
            .any(|n| n.content.as_deref().is_some_and(|c| c.contains(marker))))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        account: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, MergeError> {
        let bytes = self
            .send(Request {
                operation,
                method: Method::GET,
                url: self.url(operation, path, query)?,
                token: self.token(account)?,
                body: None,
                resend: Resend::WhenTransient,
            })
            .await?;
        serde_json::from_slice(&bytes)
            .map_err(|source| MergeError::InvalidResponse { operation, source })
    }

    async fn write<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        account: &str,
        path: &str,
        body: &serde_json::Value,
        resend: Resend,
    ) -> Result<Written<T>, MergeError> {
        let body = serde_json::to_vec(body).map_err(|_| MergeError::InvalidRequest {
            operation,
            reason: "the body cannot be serialized",
        })?;
        let bytes = self
            .send(Request {
                operation,
                method,
                url: self.url(operation, path, &[])?,
                token: self.token(account)?,
                body: Some(body),
                resend,
            })
            .await?;
        let response: MergeWriteResponse<T> = serde_json::from_slice(&bytes)
            .map_err(|source| MergeError::InvalidResponse { operation, source })?;
        let written = response.into_result(operation)?;
        for warning in &written.warnings {
            // Titles and types only: `detail` may quote the customer's data.
            tracing::warn!(
                operation,
                problem_type = warning.problem_type,
                title = warning.title,
                "Merge accepted the write with a warning"
            );
        }
        Ok(written)
    }

    fn token(&self, account: &str) -> Result<&HeaderValue, MergeError> {
        self.inner
            .tokens
            .get(account)
            .or(self.inner.default_token.as_ref())
            .ok_or_else(|| MergeError::UnknownAccount {
                linked_account_id: account.to_owned(),
            })
    }

    fn url(
        &self,
        operation: &'static str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Url, MergeError> {
        let mut url = format!("{}{path}", self.inner.base);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(&encode(value, b"-._~,:"));
        }
        Url::parse(&url).map_err(|_| MergeError::InvalidRequest {
            operation,
            reason: "the request URL is not valid",
        })
    }

    /// Sends `request` until it succeeds, fails for good, or the retry policy is spent.
    async fn send(&self, request: Request<'_>) -> Result<Vec<u8>, MergeError> {
        let policy = self.inner.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (error, hint) = match self.attempt(&request).await {
                Ok(body) => return Ok(body),
                Err(failure) => failure,
            };
            let resendable = match request.resend {
                Resend::WhenTransient => error.is_retryable(),
                Resend::WhenNotProcessed => {
                    matches!(error, MergeError::RateLimited { .. }) || error.is_connect()
                }
            };
            if !resendable || attempt >= policy.max_attempts {
                return Err(error);
            }
            let Some(delay) = policy.delay(attempt, hint, fastrand::f64()) else {
                return Err(error);
            };
            tracing::warn!(
                operation = request.operation,
                attempt,
                error = %error,
                delay_ms = delay.as_millis() as u64,
                "Merge request failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP exchange. On failure, also returns the wait the server asked for, if any.
    async fn attempt(
        &self,
        request: &Request<'_>,
    ) -> Result<Vec<u8>, (MergeError, Option<Duration>)> {
        let operation = request.operation;
        let timeout = self.inner.request_timeout;
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), request.url.clone())
            .header(AUTHORIZATION, self.inner.authorization.clone())
            .header("X-Account-Token", request.token.clone())
            .header(ACCEPT, "application/json")
            .timeout(timeout);
        if let Some(body) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let transport = |source: reqwest::Error| {
            let error = if source.is_timeout() {
                MergeError::Timeout {
                    operation,
                    after: timeout,
                }
            } else {
                MergeError::Transport { operation, source }
            };
            (error, None)
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let hint = (!status.is_success())
            .then(|| retry::server_hint(response.headers(), SystemTime::now()))
            .flatten();
        let body = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        tracing::debug!(
            operation,
            status = status.as_u16(),
            "Merge refused the request"
        );
        Err((from_status(operation, status, &body, hint), hint))
    }
}

fn from_status(
    operation: &'static str,
    status: StatusCode,
    body: &[u8],
    hint: Option<Duration>,
) -> MergeError {
    match status.as_u16() {
        429 => MergeError::RateLimited {
            operation,
            retry_after: hint,
        },
        401 | 403 => MergeError::Unauthorized { operation, status },
        404 => MergeError::NotFound { operation },
        408 | 409 | 500..=599 => MergeError::Unavailable { operation, status },
        // A refused write usually says why in the write envelope's `errors[]` (docs/merge.md §1.5).
        _ => match write_problems(body) {
            Some((errors, warnings)) => MergeError::WriteRejected {
                operation,
                errors,
                warnings,
            },
            None => MergeError::Rejected {
                operation,
                status,
                body: String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_BYTES)])
                    .into_owned(),
            },
        },
    }
}

/// The `errors[]` and `warnings[]` of a refused write, when the body is a write envelope
/// with at least one error.
fn write_problems(body: &[u8]) -> Option<(Vec<Problem>, Vec<Problem>)> {
    let envelope: MergeWriteResponse<Value> = serde_json::from_slice(body).ok()?;
    (!envelope.errors.is_empty()).then_some((envelope.errors, envelope.warnings))
}

/// An id as one path segment: never empty or a dot segment, everything outside the unreserved
/// characters percent-encoded, so a `/` or `?` in an id could never change the path.
fn segment(operation: &'static str, id: &str) -> Result<String, MergeError> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(MergeError::InvalidRequest {
            operation,
            reason: "the id is empty or a dot segment",
        });
    }
    Ok(encode(id, b"-._~"))
}

/// Percent-encodes every byte but ASCII alphanumerics and `keep`. Query values keep `,` and
/// `:` so `expand=contact,account` and timestamps read as Merge's docs write them.
fn encode(value: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MergeConfig {
        let mut tokens = AccountTokens::default();
        tokens
            .by_account
            .insert("acct-1".into(), MergeSecret::new("TOKEN-ABC"));
        MergeConfig::new(MergeSecret::new("KEY-XYZ"), tokens)
    }

    #[test]
    fn configuration_is_checked_once() {
        assert!(MergeClient::new(config()).is_ok());
        let field = |change: fn(&mut MergeConfig)| {
            let mut c = config();
            change(&mut c);
            match MergeClient::new(c) {
                Err(MergeError::InvalidConfig { field, .. }) => field,
                other => panic!("expected a config error, got {other:?}"),
            }
        };
        assert_eq!(field(|c| c.api_base = "ftp://x".into()), "api_base");
        assert_eq!(field(|c| c.api_base = "nope".into()), "api_base");
        assert_eq!(field(|c| c.api_key = MergeSecret::new(" ")), "api_key");
        assert_eq!(field(|c| c.api_key = MergeSecret::new("a\nb")), "api_key");
        assert_eq!(
            field(|c| c.account_tokens.default = Some(MergeSecret::new(""))),
            "account_tokens.default"
        );
        assert_eq!(
            field(|c| {
                c.account_tokens
                    .by_account
                    .insert("x".into(), MergeSecret::new("a\rb"));
            }),
            "account_tokens.by_account"
        );
        assert_eq!(
            field(|c| c.request_timeout = Duration::ZERO),
            "request_timeout"
        );
        assert_eq!(field(|c| c.retry.max_attempts = 0), "retry.max_attempts");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let client = MergeClient::new(config()).unwrap();
        let shown = format!("{client:?} {:?}", config());
        assert!(
            !shown.contains("KEY-XYZ") && !shown.contains("TOKEN-ABC"),
            "{shown}"
        );
        assert!(shown.contains("MergeSecret([redacted])"));
    }

    #[test]
    fn tokens_come_from_the_account_map_then_the_default() {
        let client = MergeClient::new(config()).unwrap();
        assert_eq!(client.token("acct-1").unwrap(), "TOKEN-ABC");
        assert!(matches!(
            client.token("acct-2"),
            Err(MergeError::UnknownAccount { linked_account_id }) if linked_account_id == "acct-2"
        ));
        let mut with_default = config();
        with_default.account_tokens.default = Some(MergeSecret::new("DEFAULT"));
        let client = MergeClient::new(with_default).unwrap();
        assert_eq!(client.token("acct-2").unwrap(), "DEFAULT");
        assert_eq!(client.token("acct-1").unwrap(), "TOKEN-ABC");
    }

    #[test]
    fn ids_and_query_values_are_encoded() {
        assert_eq!(segment("t", "abc-1").unwrap(), "abc-1");
        assert_eq!(segment("t", "a/b?c").unwrap(), "a%2Fb%3Fc");
        assert!(segment("t", "..").is_err());
        let client = MergeClient::new(config()).unwrap();
        let url = client
            .url(
                "t",
                "/ticketing/v1/tickets",
                &[
                    ("expand", "contact,account"),
                    ("modified_after", "2024-05-01T12:00:00+02:00"),
                ],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.merge.dev/api/ticketing/v1/tickets?expand=contact,account&modified_after=2024-05-01T12:00:00%2B02:00"
        );
    }

    #[test]
    fn statuses_map_to_variants() {
        let of = |code: u16| from_status("t", StatusCode::from_u16(code).unwrap(), b"{}", None);
        assert!(matches!(of(429), MergeError::RateLimited { .. }));
        assert!(matches!(of(401), MergeError::Unauthorized { .. }));
        assert!(matches!(of(404), MergeError::NotFound { .. }));
        for code in [408, 409, 500, 503] {
            assert!(of(code).is_retryable(), "{code}");
        }
        for code in [400, 401, 404, 422] {
            assert!(!of(code).is_retryable(), "{code}");
        }
    }
}
