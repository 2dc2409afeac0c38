//! The e-mail destination against a real SMTP server (aiosmtpd, `support::smtp`) on
//! loopback: what arrives, over which connection security, and how each answer is judged.

use std::sync::Arc;

use klaxon::destinations::email::{self, EmailSender, EmailSettings, RawEmail};
use klaxon::destinations::{Message, MessageField, Report, Verdict};
use klaxon::store::DeliveryId;

use crate::support::smtp::{SmtpServer, SmtpTls};

const USER: &str = "klaxon@example.com";
const PASSWORD: &str = "correct-horse-battery-staple";

/// Settings that reach `server`, changed by `adjust`; `SMTP_PASSWORD` holds [`PASSWORD`]
/// unless `adjust` sets another variable.
fn settings_for(server: &SmtpServer, adjust: impl FnOnce(&mut RawEmail)) -> EmailSettings {
    let mut raw = RawEmail {
        host: "127.0.0.1".into(),
        port: Some(server.port),
        tls: Some(
            if server.ca_file.is_some() {
                "starttls"
            } else {
                "none"
            }
            .into(),
        ),
        from: "Klaxon <alerts@example.com>".into(),
        to: vec!["On call <oncall@example.com>".into()],
        ca_file: server.ca_file.clone(),
        ..RawEmail::default()
    };
    adjust(&mut raw);
    email::settings(raw, &|var| match var {
        "SMTP_PASSWORD" => Some(PASSWORD.to_owned()),
        "WRONG_PASSWORD" => Some("hunter2-wrong-password".to_owned()),
        _ => None,
    })
    .unwrap_or_else(|problems| panic!("test settings are valid: {problems:?}"))
}

fn login(raw: &mut RawEmail) {
    raw.username = Some(USER.into());
    raw.password_env = Some("SMTP_PASSWORD".into());
}

fn message() -> Message {
    Message {
        title: "Refund requested".into(),
        text: "ACME asks for a refund of order 1042.".into(),
        fields: vec![MessageField {
            name: "Amount".into(),
            value: "€120.00".into(),
        }],
        urgency: Some("high".into()),
        link: Some("https://klaxon.example.com/live?event=evt_1".into()),
        event_id: "evt_1".into(),
        event_type: "refund.requested".into(),
        occurred_at: "2026-01-02T03:04:05Z".into(),
    }
}

/// Renders `message` and sends it as delivery `id`.
async fn send(settings: EmailSettings, id: DeliveryId, message: &Message) -> Report {
    let body = email::render(&settings, message);
    EmailSender::new(Arc::new(settings)).send(id, &body).await
}

#[tokio::test]
async fn hostile_content_arrives_as_escaped_multipart_with_a_stable_message_id() {
    let Some(server) = SmtpServer::start(SmtpTls::None, None) else {
        return;
    };
    let long_text = "0123456789".repeat(1000);
    let hostile = Message {
        title: "<script>alert(1)</script>\r\nBcc: victim@example.com\r\n\r\nbody".into(),
        text: format!("{long_text}\n<img src=x onerror=alert(1)> & \"quotes\""),
        fields: vec![MessageField {
            name: "<b>Customer</b>".into(),
            value: "O'Brien\r\nX-Injected: yes".into(),
        }],
        link: Some("javascript:alert(1)".into()),
        ..message()
    };
    let settings = settings_for(&server, |_| {});
    let body = email::render(&settings, &hostile);
    let sender = EmailSender::new(Arc::new(settings));
    let id = DeliveryId::new();

    // The first attempt and its retry: the same delivery sent twice.
    for _ in 0..2 {
        let report = sender.send(id, &body).await;
        assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
        assert_eq!(report.status, Some(250));
        let response = report.response.as_deref().unwrap_or_default();
        assert!(
            response.starts_with("250 2.0.0 Ok: queued as"),
            "{report:?}"
        );
    }
    let other = sender.send(DeliveryId::new(), &body).await;
    assert_eq!(other.verdict, Verdict::Delivered, "{other:?}");

    let received = server.wait_for(3).await;
    let (first, retry, another) = (&received[0], &received[1], &received[2]);
    assert!(first.defects.is_empty(), "{:?}", first.defects);
    assert_eq!(first.content_type, "multipart/alternative");
    assert_eq!(first.parts.len(), 2, "{:?}", first.parts);
    let expected_id = format!("<{id}@klaxon>");
    assert_eq!(first.header("Message-ID"), expected_id);
    assert_eq!(retry.header("Message-ID"), expected_id);
    assert_ne!(another.header("Message-ID"), expected_id);
    assert_eq!(first.header("X-Klaxon-Delivery"), id.to_string());
    assert_eq!(first.header("Auto-Submitted"), "auto-generated");

    // One subject line, nothing injected as a header.
    assert_eq!(
        first.header("Subject"),
        "<script>alert(1)</script> Bcc: victim@example.com body"
    );
    assert!(first.headers("Bcc").is_empty());
    assert!(first.headers("X-Injected").is_empty());
    assert_eq!(first.rcpt_tos, ["oncall@example.com"]);
    assert_eq!(first.mail_from, "alerts@example.com");

    let text = &first.part("text/plain").content;
    assert!(text.contains(&long_text), "the whole text arrives");
    assert!(text.contains("<img src=x onerror=alert(1)> & \"quotes\""));
    let html = first.part("text/html");
    assert_eq!(html.charset.as_deref(), Some("utf-8"));
    let html = &html.content;
    assert!(html.contains(&long_text));
    for raw_markup in ["<script", "<img", "<b>", "href=\"javascript"] {
        assert!(!html.contains(raw_markup), "{raw_markup} in the HTML");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;"));
    assert!(html.contains("&lt;b&gt;Customer&lt;/b&gt;</th>"));
    assert!(html.contains("O&#39;Brien X-Injected: yes</td>"));
    // No line over SMTP's 998-character limit on the wire.
    assert!(first.raw.lines().all(|line| line.len() <= 998));
}

#[tokio::test]
async fn every_recipient_gets_the_message_and_sees_the_others() {
    let Some(server) = SmtpServer::start(SmtpTls::None, None) else {
        return;
    };
    let settings = settings_for(&server, |raw| {
        raw.to = vec![
            "Ann <ann@example.com>".into(),
            "bob@example.org".into(),
            "Carol Q. <carol@example.net>".into(),
        ];
    });
    let report = send(settings, DeliveryId::new(), &message()).await;
    assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
    let received = server.wait_for(1).await;
    assert_eq!(
        received[0].rcpt_tos,
        ["ann@example.com", "bob@example.org", "carol@example.net"]
    );
    let to = received[0].header("To");
    for address in ["ann@example.com", "bob@example.org", "carol@example.net"] {
        assert!(to.contains(address), "{address} in To: {to}");
    }
    let text = &received[0].part("text/plain").content;
    assert!(text.contains("Amount: €120.00"), "{text}");
    assert!(text.contains("Open in Klaxon: https://klaxon.example.com/live?event=evt_1"));
    let html = &received[0].part("text/html").content;
    assert!(html.contains("<a href=\"https://klaxon.example.com/live?event=evt_1\">"));
}

#[tokio::test]
async fn starttls_with_a_login() {
    let Some(server) = SmtpServer::start(SmtpTls::StartTls, Some((USER, PASSWORD))) else {
        return;
    };
    let report = send(settings_for(&server, login), DeliveryId::new(), &message()).await;
    assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
    let received = server.wait_for(1).await;
    assert!(received[0].tls, "sent over TLS");
    assert_eq!(received[0].authenticated_as.as_deref(), Some(USER));
}

#[tokio::test]
async fn implicit_tls_with_a_login() {
    let Some(server) = SmtpServer::start(SmtpTls::Implicit, Some((USER, PASSWORD))) else {
        return;
    };
    let settings = settings_for(&server, |raw| {
        raw.tls = Some("implicit".into());
        login(raw);
    });
    let report = send(settings, DeliveryId::new(), &message()).await;
    assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
    let received = server.wait_for(1).await;
    assert!(received[0].tls, "sent over TLS");
    assert_eq!(received[0].authenticated_as.as_deref(), Some(USER));
}

#[tokio::test]
async fn a_451_is_retried_a_550_is_dead_and_the_next_message_goes_through() {
    let Some(server) = SmtpServer::start(SmtpTls::None, None) else {
        return;
    };
    let settings = settings_for(&server, |_| {});
    let body = email::render(&settings, &message());
    let sender = EmailSender::new(Arc::new(settings));

    server.answer_next("451 4.3.0 Mailbox busy, try again later");
    let busy = sender.send(DeliveryId::new(), &body).await;
    assert_eq!(busy.verdict, Verdict::Retry { after: None }, "{busy:?}");
    assert_eq!(busy.status, Some(451));
    assert_eq!(
        busy.error.as_deref(),
        Some("451 4.3.0 Mailbox busy, try again later")
    );

    server.answer_next("550 5.1.1 No such user here");
    let refused = sender.send(DeliveryId::new(), &body).await;
    assert_eq!(refused.verdict, Verdict::Dead, "{refused:?}");
    assert_eq!(refused.status, Some(550));
    assert_eq!(
        refused.error.as_deref(),
        Some("550 5.1.1 No such user here")
    );

    let fine = sender.send(DeliveryId::new(), &body).await;
    assert_eq!(fine.verdict, Verdict::Delivered, "{fine:?}");
    assert_eq!(server.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_dead_and_never_shown() {
    let Some(server) = SmtpServer::start(SmtpTls::StartTls, Some((USER, PASSWORD))) else {
        return;
    };
    let settings = settings_for(&server, |raw| {
        login(raw);
        raw.password_env = Some("WRONG_PASSWORD".into());
    });
    let report = send(settings, DeliveryId::new(), &message()).await;
    assert_eq!(report.verdict, Verdict::Dead, "{report:?}");
    assert_eq!(report.status, Some(535));
    let shown = format!("{report:?}");
    assert!(
        shown.contains("Authentication credentials invalid"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_retried() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let settings = email::settings(
        RawEmail {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: Some("none".into()),
            from: "alerts@example.com".into(),
            to: vec!["oncall@example.com".into()],
            timeout_secs: Some(2),
            ..RawEmail::default()
        },
        &|_| None,
    )
    .expect("valid settings");
    let report = send(settings, DeliveryId::new(), &message()).await;
    assert_eq!(report.verdict, Verdict::Retry { after: None }, "{report:?}");
    assert_eq!(report.status, None);
    let error = report.error.unwrap_or_default();
    assert!(error.starts_with(&format!("127.0.0.1:{port}: ")), "{error}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_retried_and_nothing_is_sent() {
    let Some(server) = SmtpServer::start(SmtpTls::StartTls, Some((USER, PASSWORD))) else {
        return;
    };
    let settings = settings_for(&server, |raw| {
        login(raw);
        raw.ca_file = None;
    });
    let report = send(settings, DeliveryId::new(), &message()).await;
    assert_eq!(report.verdict, Verdict::Retry { after: None }, "{report:?}");
    assert!(
        report
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("TLS failed"),
        "{report:?}"
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn starttls_is_required_not_hoped_for() {
    // A server without STARTTLS: the e-mail is not sent in clear instead.
    let Some(server) = SmtpServer::start(SmtpTls::None, None) else {
        return;
    };
    let settings = settings_for(&server, |raw| raw.tls = Some("starttls".into()));
    let report = send(settings, DeliveryId::new(), &message()).await;
    assert_eq!(report.verdict, Verdict::Dead, "{report:?}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn connections_are_reused() {
    let Some(server) = SmtpServer::start(SmtpTls::StartTls, Some((USER, PASSWORD))) else {
        return;
    };
    let settings = settings_for(&server, login);
    let body = email::render(&settings, &message());
    let sender = Arc::new(EmailSender::new(Arc::new(settings)));
    const SENDS: usize = 200;
    const PARALLEL: usize = 8;
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..PARALLEL {
        let (sender, body) = (sender.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..SENDS / PARALLEL {
                let report = sender.send(DeliveryId::new(), &body).await;
                assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("sender task");
    }
    let elapsed = started.elapsed();
    let received = server.wait_for(SENDS).await;
    let mut peers: Vec<&str> = received.iter().map(|r| r.peer.as_str()).collect();
    peers.sort_unstable();
    peers.dedup();
    eprintln!(
        "{SENDS} e-mails over STARTTLS with a login, {PARALLEL} at a time, in {elapsed:?} ({:.0}/s) over {} connections",
        SENDS as f64 / elapsed.as_secs_f64(),
        peers.len()
    );
    assert!(
        peers.len() <= PARALLEL,
        "{} connections for {SENDS} e-mails",
        peers.len()
    );
}
