//! One webhook attempt: build the signed request, send it, read the start of the answer.
//!
//! The SSRF guard: a destination may not reach loopback, private, link-local or otherwise
//! non-public addresses (the rule, including IPv6 forms that embed an IPv4 address, is
//! [`super::public_address`]) unless it sets `allow_private = true`. The check is on the
//! address actually connected to: host names go through [`PublicOnlyResolver`], which drops
//! non-public addresses after DNS resolution (so `localtest.me` or a DNS rebinding trick
//! cannot slip through), and literal IP hosts are checked before sending. Redirects are not followed and proxies are not used,
//! since either would bypass the check.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};

use super::public_address::is_public;
use super::{WebhookSigning, WebhookSpec};
use crate::retry_timing;
use crate::signing::{ingest, standard_webhooks};
use crate::store::DeliveryId;

/// Bytes of a response body kept on the attempt record.
pub const RESPONSE_SNIPPET_BYTES: usize = 512;

/// What came back from the receiver.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub snippet: String,
    pub elapsed: Duration,
}

/// Why no answer came back.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// The SSRF guard refused the target; retrying cannot help.
    #[error("refused: {0}")]
    Refused(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

impl SendError {
    /// True when another attempt might succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SendError::Refused(_))
    }
}

/// Sends webhooks; cheap to clone.
#[derive(Clone)]
pub struct WebhookSender {
    /// For ordinary destinations: resolves public addresses only.
    guarded: reqwest::Client,
    /// For destinations with `allow_private = true`.
    open: reqwest::Client,
}

impl WebhookSender {
    pub fn new() -> Result<WebhookSender, reqwest::Error> {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .pool_max_idle_per_host(256)
                .connect_timeout(Duration::from_secs(5))
        };
        Ok(WebhookSender {
            guarded: builder()
                .dns_resolver(Arc::new(PublicOnlyResolver))
                .build()?,
            open: builder().build()?,
        })
    }

    /// Makes one attempt. `now` is the unix time the signature carries.
    pub async fn send(
        &self,
        spec: &WebhookSpec,
        id: DeliveryId,
        body: &str,
        now: i64,
    ) -> Result<Answer, SendError> {
        if !spec.allow_private
            && let Some(ip) = literal_ip(&spec.url)
            && !is_public(ip)
        {
            return Err(SendError::Refused(format!(
                "{ip} is not a public address (loopback, private, link-local or another reserved range, possibly inside an IPv6 form); set allow_private = true on the destination to allow it"
            )));
        }
        let client = if spec.allow_private {
            &self.open
        } else {
            &self.guarded
        };
        let id = id.to_string();
        let mut request = client
            .post(spec.url.clone())
            .timeout(spec.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("klaxon/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &id)
            .header("webhook-timestamp", now.to_string());
        match &spec.signing {
            WebhookSigning::None => {}
            WebhookSigning::Bearer(secrets) => {
                if let Some(secret) = secrets.first() {
                    let value = HeaderValue::from_bytes(
                        [b"Bearer ".as_slice(), secret.as_bytes()]
                            .concat()
                            .as_slice(),
                    )
                    .map_err(|_| {
                        SendError::Other("the bearer secret is not a valid header value".into())
                    })?;
                    request = request.header(AUTHORIZATION, value);
                }
            }
            WebhookSigning::Standard(secrets) => {
                request = request.header(
                    "webhook-signature",
                    standard_webhooks::sign(&id, now, body.as_bytes(), secrets),
                );
            }
            WebhookSigning::Stripe { header, secrets } => {
                request =
                    request.header(header.clone(), ingest::sign(secrets, now, body.as_bytes()));
            }
        }

        let started = Instant::now();
        let mut response = request
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| classify_error(e, spec.timeout))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_timing::retry_after(v, SystemTime::now()));
        // Only the start of the body: enough to debug a receiver, never a memory hazard.
        let mut snippet = Vec::new();
        while snippet.len() < RESPONSE_SNIPPET_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        snippet.truncate(RESPONSE_SNIPPET_BYTES);
        Ok(Answer {
            status,
            retry_after,
            snippet: String::from_utf8_lossy(&snippet).into_owned(),
            elapsed: started.elapsed(),
        })
    }
}

pub(crate) fn classify_error(error: reqwest::Error, timeout: Duration) -> SendError {
    if error.is_timeout() {
        return SendError::Timeout(timeout);
    }
    // The resolver's refusal arrives wrapped as a connect error; find it in the chain.
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<PrivateAddressRefused>() {
            return SendError::Refused(refused.to_string());
        }
        source = cause.source();
    }
    let detail = std::iter::successors(std::error::Error::source(&error), |e| e.source())
        .last()
        .map_or_else(|| error.to_string(), ToString::to_string);
    if error.is_connect() {
        SendError::Connect(detail)
    } else {
        SendError::Other(detail)
    }
}

/// The host of `url` when it is an IP address rather than a name (`[::1]` included).
fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves only to addresses that are not public (loopback, private, link-local or reserved); set allow_private = true on the destination to allow it"
)]
struct PrivateAddressRefused {
    host: String,
}

/// DNS through the system resolver, keeping public addresses only.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if resolved.is_empty() {
                return Err(Box::new(PrivateAddressRefused { host }) as _);
            }
            Ok(Box::new(resolved.into_iter()) as Addrs)
        })
    }
}
