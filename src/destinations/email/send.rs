//! One e-mail attempt: the stored [`EmailBody`] as a multipart/alternative message, sent
//! over one of the destination's pooled connections ([`super::connection`]), and what came
//! back judged as a [`Report`].

use std::error::Error as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};
use lettre::transport::smtp;
use lettre::transport::smtp::response::{Response, Severity};

use super::EmailSettings;
use super::connection::{Failure, Pool};
use super::render::EmailBody;
use crate::destinations::{Report, Verdict};
use crate::store::DeliveryId;

/// Bytes of a server reply kept on the attempt record.
const REPLY_SNIPPET_BYTES: usize = 512;

const DELIVERY_HEADER: HeaderName = HeaderName::new_from_ascii_str("X-Klaxon-Delivery");
/// RFC 3834: an automatic message, so vacation responders do not answer it.
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");

/// Sends one destination's e-mails over its own connection pool. Build one per e-mail
/// destination and share it (`Arc`); it needs no runtime until the first send.
pub struct EmailSender {
    settings: std::sync::Arc<EmailSettings>,
    pool: Pool,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSender")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl EmailSender {
    pub fn new(settings: std::sync::Arc<EmailSettings>) -> EmailSender {
        EmailSender {
            settings,
            pool: Pool::default(),
        }
    }

    pub fn settings(&self) -> &EmailSettings {
        &self.settings
    }

    /// Makes one attempt at sending the stored `body` (from [`super::render`]), within the
    /// destination's timeout.
    pub async fn send(&self, delivery_id: DeliveryId, body: &str) -> Report {
        let body: EmailBody = match serde_json::from_str(body) {
            Ok(body) => body,
            Err(e) => {
                return Report::failed(
                    Verdict::Dead,
                    None,
                    format!("the stored body is not an e-mail (subject, text, html): {e}"),
                );
            }
        };
        let message = match self.message(delivery_id, body) {
            Ok(message) => message,
            Err(e) => {
                return Report::failed(
                    Verdict::Dead,
                    None,
                    format!("the e-mail could not be built: {e}"),
                );
            }
        };
        let attempt = self.attempt(message.envelope(), message.formatted());
        match tokio::time::timeout(self.settings.timeout, attempt).await {
            Ok(Ok(reply)) => {
                let code = u16::from(reply.code());
                Report::delivered(Some(code), Some(reply_text(code, reply.message())))
            }
            Ok(Err(failure)) => self.judge(failure),
            // The attempt's future is dropped, and its connection closed with it.
            Err(_) => Report::failed(
                Verdict::Retry { after: None },
                None,
                format!(
                    "{}: no answer within {:?}",
                    self.server(),
                    self.settings.timeout
                ),
            ),
        }
    }

    async fn attempt(
        &self,
        envelope: &lettre::address::Envelope,
        email: Vec<u8>,
    ) -> Result<Response, Failure> {
        let _turn = self.pool.turn().await;
        let mut connection = self.pool.take(&self.settings).await?;
        let reply = connection
            .send(envelope, &email)
            .await
            .map_err(Failure::Smtp)?;
        self.pool.put(connection);
        Ok(reply)
    }

    fn message(
        &self,
        delivery_id: DeliveryId,
        body: EmailBody,
    ) -> Result<lettre::Message, lettre::error::Error> {
        let id = delivery_id.to_string();
        let mut builder = lettre::Message::builder()
            .from(self.settings.from.clone())
            .subject(body.subject)
            // The same on every retry: a receiver (or a person) can tell a repeat.
            .message_id(Some(format!("<{id}@klaxon>")))
            .raw_header(HeaderValue::new(DELIVERY_HEADER, id))
            .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()));
        for to in &self.settings.to {
            builder = builder.to(to.clone());
        }
        builder.multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(body.text))
                .singlepart(SinglePart::html(body.html)),
        )
    }

    /// What a failed attempt comes to. The text never holds the password: it is scrubbed of
    /// it (and of its base64 forms, as AUTH sends it) before it is kept.
    fn judge(&self, failure: Failure) -> Report {
        let server = self.server();
        let retry = Verdict::Retry { after: None };
        let error = match failure {
            Failure::Connect(e) => {
                return Report::failed(retry, None, format!("{server}: cannot connect: {e}"));
            }
            Failure::Tls(e) => {
                let e = self.scrub(&deepest(&e));
                return Report::failed(retry, None, format!("{server}: TLS failed: {e}"));
            }
            Failure::Smtp(error) => error,
        };
        if let Some(code) = error.status() {
            let code_number = u16::from(code);
            let detail = error.source().map(ToString::to_string).unwrap_or_default();
            let reply = self.scrub(&reply_text(code_number, detail.lines()));
            let verdict = match code.severity {
                Severity::TransientNegativeCompletion => retry,
                // 5xx: a refused recipient or sender, a rejected login, a message refused as
                // spam. Sending it again will be refused again.
                _ => Verdict::Dead,
            };
            return Report::failed(verdict, Some(code_number), reply.clone())
                .with_response(Some(reply));
        }
        let text = self.scrub(&deepest(&error));
        if error.is_client() {
            // The server cannot take this e-mail as configured: no STARTTLS offered, no
            // login mechanism in common, a non-ASCII address without SMTPUTF8.
            return Report::failed(Verdict::Dead, None, format!("{server}: {text}"));
        }
        let what = if is_tls_failure(&error) {
            "TLS failed"
        } else {
            "connection failed"
        };
        // A STARTTLS handshake that failed, a connection dropped mid-conversation, a garbled
        // reply: the server may do better later.
        Report::failed(retry, None, format!("{server}: {what}: {text}"))
    }

    fn server(&self) -> String {
        format!("{}:{}", self.settings.host, self.settings.port)
    }

    fn scrub(&self, text: &str) -> String {
        let Some((user, password)) = &self.settings.login else {
            return text.to_owned();
        };
        let password = password.expose();
        if password.is_empty() {
            return text.to_owned();
        }
        let forms = [
            password.to_owned(),
            STANDARD.encode(password),
            STANDARD.encode(format!("\0{user}\0{password}")),
        ];
        let mut out = text.to_owned();
        for form in forms {
            out = out.replace(&form, "[redacted]");
        }
        out
    }
}

/// The reply as the server wrote it (`451 4.3.0 Try again later`), lines joined by spaces,
/// cut to [`REPLY_SNIPPET_BYTES`].
fn reply_text<'a>(code: u16, lines: impl Iterator<Item = &'a str>) -> String {
    let mut text = code.to_string();
    for line in lines {
        let line = line.trim();
        if !line.is_empty() {
            text.push(' ');
            text.push_str(line);
        }
    }
    if text.len() > REPLY_SNIPPET_BYTES {
        let mut end = REPLY_SNIPPET_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The root cause's words (`Connection refused (os error 111)`, `invalid peer certificate:
/// UnknownIssuer`): lettre's own layers only repeat "connection error".
fn deepest(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |&e| e.source())
        .last()
        .map_or_else(String::new, ToString::to_string)
}

/// Whether a rustls error is somewhere in the chain (STARTTLS handshakes fail as lettre
/// "connection" errors). An `io::Error` hides the error it wraps from `source()`, so it is
/// opened by hand.
fn is_tls_failure(error: &smtp::Error) -> bool {
    error.is_tls()
        || std::iter::successors(Some(error as &(dyn std::error::Error + 'static)), |&e| {
            e.source()
        })
        .any(|e| {
            e.is::<rustls::Error>()
                || e.downcast_ref::<std::io::Error>()
                    .and_then(std::io::Error::get_ref)
                    .is_some_and(|inner| inner.is::<rustls::Error>())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_kept_whole_but_short() {
        assert_eq!(
            reply_text(250, ["2.0.0 Ok: queued", ""].into_iter()),
            "250 2.0.0 Ok: queued"
        );
        let long = "é".repeat(400);
        let cut = reply_text(550, [long.as_str()].into_iter());
        assert!(cut.len() <= REPLY_SNIPPET_BYTES);
        assert!(cut.starts_with("550 éé"));
    }
}
