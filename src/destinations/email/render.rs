//! An event's [`Message`] as the e-mail a person reads: a one-line subject, a plain-text
//! part and an HTML part, stored as the delivery's body ([`EmailBody`] as JSON) when the
//! event is routed, so every retry sends the same e-mail.
//!
//! Every string of a message may hold anything the event held: the subject loses its line
//! breaks (a header injection otherwise), the HTML escapes every value, and only an http(s)
//! link becomes a link.

use serde::{Deserialize, Serialize};

use super::EmailSettings;
use crate::destinations::Message;
use crate::destinations::message::{self, lf_line_breaks, replace_ascii};

/// Longest subject, in characters, ellipsis included: mail clients cut long ones anyway, and
/// a subject is read at a glance.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// The stored body of an e-mail delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailBody {
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part: a whole document, every value escaped.
    pub html: String,
}

/// The body to store for `message` (JSON of [`EmailBody`]).
pub fn render(settings: &EmailSettings, message: &Message) -> String {
    let body = EmailBody {
        subject: subject(&settings.subject_prefix, message),
        text: text_part(message),
        html: html_part(message),
    };
    // Strings only: serializing cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

fn subject(prefix: &str, message: &Message) -> String {
    let mut title = one_line(&message.title);
    if title.is_empty() {
        title = one_line(&message.event_type);
    }
    if title.is_empty() {
        title = "Klaxon alert".to_owned();
    }
    let whole = one_line(&format!("{prefix}{title}"));
    if whole.chars().count() <= MAX_SUBJECT_CHARS {
        return whole;
    }
    let mut cut: String = whole.chars().take(MAX_SUBJECT_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// `s` on one line: every line break, tab or other control character becomes a space, runs
/// of spaces become one.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Line breaks as `\n` only (CRLF and lone CR too); other control characters but tabs
/// dropped. The mail encoder turns `\n` into CRLF on the wire.
fn lines(s: &str) -> String {
    let s = lf_line_breaks(s);
    // Most texts hold nothing more to drop: spare them a char-by-char copy.
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return s.into_owned();
    }
    s.chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

fn text_part(message: &Message) -> String {
    let mut out = one_line(&message.title);
    if let Some(urgency) = message.urgency.as_deref().map(one_line) {
        out.push_str(&format!("\nUrgency: {urgency}"));
    }
    let text = lines(&message.text);
    if !text.trim().is_empty() {
        out.push_str("\n\n");
        out.push_str(text.trim_end());
    }
    if !message.fields.is_empty() {
        out.push('\n');
        for field in &message.fields {
            out.push_str(&format!(
                "\n{}: {}",
                one_line(&field.name),
                one_line(&field.value)
            ));
        }
    }
    if let Some(link) = &message.link {
        out.push_str(&format!("\n\nOpen in Klaxon: {}", one_line(link)));
    }
    out.push_str(&format!(
        "\n\n-- \nEvent {} ({}), {}\n",
        one_line(&message.event_id),
        one_line(&message.event_type),
        one_line(&message.occurred_at)
    ));
    out
}

fn html_part(message: &Message) -> String {
    let title = escape(&one_line(&message.title));
    let mut out = String::with_capacity(message.text.len() * 2 + 1024);
    out.push_str(concat!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width\"></head>\n",
        "<body style=\"font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;",
        "font-size:14px;color:#1a1a1a\">\n"
    ));
    out.push_str(&format!("<h2 style=\"margin:0 0 8px\">{title}</h2>\n"));
    if let Some(urgency) = &message.urgency {
        out.push_str(&format!(
            "<p style=\"margin:0 0 12px\"><strong>Urgency:</strong> {}</p>\n",
            escape(&one_line(urgency))
        ));
    }
    let text = lines(&message.text);
    if !text.trim().is_empty() {
        out.push_str(&format!(
            "<div style=\"white-space:pre-wrap;margin:0 0 16px\">{}</div>\n",
            escape(text.trim_end())
        ));
    }
    if !message.fields.is_empty() {
        out.push_str("<table style=\"border-collapse:collapse;margin:0 0 16px\">\n");
        for field in &message.fields {
            out.push_str(&format!(
                "<tr><th style=\"text-align:left;padding:4px 12px 4px 0;vertical-align:top\">{}</th><td style=\"padding:4px 0\">{}</td></tr>\n",
                escape(&one_line(&field.name)),
                escape(&one_line(&field.value))
            ));
        }
        out.push_str("</table>\n");
    }
    if let Some(link) = &message.link {
        let link = one_line(link);
        if is_web_link(&link) {
            out.push_str(&format!(
                "<p style=\"margin:0 0 16px\"><a href=\"{}\">Open in Klaxon</a></p>\n",
                escape(&link)
            ));
        } else {
            out.push_str(&format!(
                "<p style=\"margin:0 0 16px\">Open in Klaxon: {}</p>\n",
                escape(&link)
            ));
        }
    }
    out.push_str(&format!(
        "<p style=\"color:#666;font-size:12px\">Event {} ({}), {}</p>\n</body></html>\n",
        escape(&one_line(&message.event_id)),
        escape(&one_line(&message.event_type)),
        escape(&one_line(&message.occurred_at))
    ));
    out
}

/// Only http(s) links go in an `href`, and only without spaces (the plain-text part shows
/// the link bare): a `javascript:` or `data:` one stays text.
fn is_web_link(link: &str) -> bool {
    message::is_web_link(link) && !link.contains(' ')
}

/// Escapes text for an HTML element or a quoted attribute value.
fn escape(s: &str) -> String {
    replace_ascii(s, |byte| match byte {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&quot;"),
        b'\'' => Some("&#39;"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::MessageField;

    fn hostile() -> Message {
        Message {
            title: "Refund <script>alert(1)</script>\r\nBcc: victim@example.com".into(),
            text: "line one\r\nline <b>two</b>\rline three & more".into(),
            fields: vec![MessageField {
                name: "Customer\"".into(),
                value: "O'Brien <img src=x onerror=alert(1)>".into(),
            }],
            urgency: Some("URGENT\n".into()),
            link: Some("https://klaxon.example.com/live?e=1&x=\"2\"".into()),
            event_id: "evt_1".into(),
            event_type: "refund.requested".into(),
            occurred_at: "2026-01-02T03:04:05Z".into(),
        }
    }

    #[test]
    fn the_subject_is_one_line_and_at_most_200_characters() {
        let message = hostile();
        let subject = subject("[klaxon] ", &message);
        assert_eq!(
            subject,
            "[klaxon] Refund <script>alert(1)</script> Bcc: victim@example.com"
        );
        let long = Message {
            title: "é".repeat(500),
            ..Message::default()
        };
        let subject = super::subject("", &long);
        assert_eq!(subject.chars().count(), MAX_SUBJECT_CHARS);
        assert!(subject.ends_with('…'));
        let empty = Message {
            title: " \r\n ".into(),
            event_type: "order.failed".into(),
            ..Message::default()
        };
        assert_eq!(super::subject("", &empty), "order.failed");
        assert_eq!(super::subject("", &Message::default()), "Klaxon alert");
    }

    #[test]
    fn html_escapes_every_value() {
        let html = html_part(&hostile());
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("Refund &lt;script&gt;alert(1)&lt;/script&gt; Bcc"));
        assert!(html.contains("<th style=\"text-align:left;padding:4px 12px 4px 0;vertical-align:top\">Customer&quot;</th>"));
        assert!(html.contains("O&#39;Brien &lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("line one\nline &lt;b&gt;two&lt;/b&gt;\nline three &amp; more"));
        assert!(html.contains(
            "<a href=\"https://klaxon.example.com/live?e=1&amp;x=&quot;2&quot;\">Open in Klaxon</a>"
        ));
    }

    #[test]
    fn only_web_links_are_links() {
        let message = Message {
            link: Some("javascript:alert(1)".into()),
            ..hostile()
        };
        let html = html_part(&message);
        assert!(!html.contains("href"), "{html}");
        assert!(html.contains("Open in Klaxon: javascript:alert(1)"));
        assert!(is_web_link("HTTPS://example.com/x"));
        assert!(!is_web_link("data:text/html,hi"));
    }

    #[test]
    fn the_plain_text_reads_well() {
        let text = text_part(&hostile());
        assert_eq!(
            text,
            "Refund <script>alert(1)</script> Bcc: victim@example.com\n\
             Urgency: URGENT\n\n\
             line one\nline <b>two</b>\nline three & more\n\n\
             Customer\": O'Brien <img src=x onerror=alert(1)>\n\n\
             Open in Klaxon: https://klaxon.example.com/live?e=1&x=\"2\"\n\n\
             -- \nEvent evt_1 (refund.requested), 2026-01-02T03:04:05Z\n"
        );
    }

    #[test]
    fn the_body_is_json_of_subject_text_and_html() {
        let settings = super::super::settings(
            super::super::RawEmail {
                host: "smtp.example.com".into(),
                from: "alerts@example.com".into(),
                to: vec!["oncall@example.com".into()],
                subject_prefix: Some("[k] ".into()),
                ..Default::default()
            },
            &|_| None,
        )
        .expect("valid settings");
        let body: EmailBody =
            serde_json::from_str(&render(&settings, &hostile())).expect("JSON body");
        assert!(body.subject.starts_with("[k] Refund"));
        assert!(body.text.contains("line three & more"));
        assert!(body.html.starts_with("<!DOCTYPE html>"));
    }
}
