//! Settings validation: every problem named with its key below `email`.

use super::*;

fn raw() -> RawEmail {
    RawEmail {
        host: "smtp.example.com".into(),
        from: "Klaxon <alerts@example.com>".into(),
        to: vec!["oncall@example.com".into()],
        ..RawEmail::default()
    }
}

fn env(var: &str) -> Option<String> {
    (var == "SMTP_PASSWORD").then(|| "hunter2-secret".to_owned())
}

fn problems(raw: RawEmail) -> Vec<(String, String)> {
    settings(raw, &env).expect_err("invalid settings")
}

fn keys(problems: &[(String, String)]) -> Vec<&str> {
    problems.iter().map(|(key, _)| key.as_str()).collect()
}

#[test]
fn the_toml_shape_parses_and_defaults_to_required_starttls_on_587() {
    let raw: RawEmail = toml::from_str(
        r#"
        host = "smtp.example.com"
        username = "alerts@example.com"
        password_env = "SMTP_PASSWORD"
        from = "Klaxon <alerts@example.com>"
        to = ["a@example.com", "Bob <b@example.org>"]
        "#,
    )
    .expect("TOML shape");
    let settings = settings(raw, &env).expect("valid");
    assert_eq!(settings.port, 587);
    assert_eq!(settings.tls, TlsMode::StartTls);
    assert!(matches!(settings.security, Security::StartTls(_)));
    assert_eq!(settings.timeout, DEFAULT_TIMEOUT);
    assert_eq!(settings.to.len(), 2);
    assert_eq!(settings.to[1].email.to_string(), "b@example.org");
    assert_eq!(settings.username(), Some("alerts@example.com"));
    assert_eq!(
        settings.summary(),
        "smtp smtp.example.com:587 (starttls), 2 recipients"
    );
}

#[test]
fn unknown_keys_are_refused() {
    let parsed: Result<RawEmail, _> =
        toml::from_str("host = \"h\"\nfrom = \"a@b.c\"\npassword = \"hunter2\"\n");
    assert!(parsed.is_err());
}

#[test]
fn port_465_means_implicit_tls_and_implicit_tls_means_port_465() {
    let on_465 = settings(
        RawEmail {
            port: Some(465),
            ..raw()
        },
        &env,
    )
    .expect("valid");
    assert_eq!(on_465.tls, TlsMode::Implicit);
    assert!(matches!(on_465.security, Security::Implicit { .. }));
    let implicit = settings(
        RawEmail {
            tls: Some("implicit".into()),
            ..raw()
        },
        &env,
    )
    .expect("valid");
    assert_eq!(implicit.port, 465);
}

#[test]
fn plain_text_only_when_asked_for_and_never_with_a_password() {
    let plain = settings(
        RawEmail {
            tls: Some("none".into()),
            ..raw()
        },
        &env,
    )
    .expect("valid");
    assert_eq!((plain.tls, plain.port), (TlsMode::None, 25));
    assert!(matches!(plain.security, Security::None));

    let with_password = problems(RawEmail {
        tls: Some("none".into()),
        username: Some("alerts".into()),
        password_env: Some("SMTP_PASSWORD".into()),
        ca_file: Some("/etc/ca.pem".into()),
        ..raw()
    });
    assert_eq!(keys(&with_password), ["password_env", "ca_file"]);
    assert!(with_password[0].1.contains("clear text"));
}

#[test]
fn every_problem_is_named_with_its_key() {
    let all = problems(RawEmail {
        host: "smtp://mail.example.com:587".into(),
        port: Some(0),
        tls: Some("ssl".into()),
        username: Some("alerts".into()),
        password_env: Some("MISSING_VAR".into()),
        from: "Klaxon".into(),
        to: vec!["a@example.com".into(), "bob".into(), "<c@>".into()],
        timeout_secs: Some(0),
        ca_file: None,
        subject_prefix: Some("[k]\r\nBcc: x@y.z ".into()),
    });
    assert_eq!(
        keys(&all),
        [
            "host",
            "tls",
            "port",
            "password_env",
            "from",
            "to[1]",
            "to[2]",
            "timeout_secs",
            "subject_prefix"
        ],
        "{all:?}"
    );
    let message = |key: &str| &all.iter().find(|(k, _)| k == key).expect(key).1;
    assert!(message("to[1]").starts_with("\"bob\" is not an e-mail address"));
    assert!(message("from").starts_with("\"Klaxon\" is not an e-mail address"));
    assert_eq!(
        message("password_env"),
        "the environment variable MISSING_VAR is not set"
    );
    assert!(message("tls").contains("\"ssl\""));
}

#[test]
fn a_login_needs_both_halves() {
    let no_password = problems(RawEmail {
        username: Some("alerts".into()),
        ..raw()
    });
    assert_eq!(keys(&no_password), ["password_env"]);
    let no_user = problems(RawEmail {
        password_env: Some("SMTP_PASSWORD".into()),
        ..raw()
    });
    assert_eq!(keys(&no_user), ["username"]);
}

#[test]
fn recipients_are_required_and_bounded() {
    assert_eq!(
        keys(&problems(RawEmail {
            to: vec![],
            ..raw()
        })),
        ["to"]
    );
    let many = (0..=MAX_RECIPIENTS)
        .map(|i| format!("user{i}@example.com"))
        .collect();
    assert_eq!(keys(&problems(RawEmail { to: many, ..raw() })), ["to"]);
}

#[test]
fn a_ca_file_must_hold_a_certificate() {
    let missing = problems(RawEmail {
        ca_file: Some("/nonexistent/klaxon-ca.pem".into()),
        ..raw()
    });
    assert_eq!(keys(&missing), ["ca_file"]);
    assert!(
        missing[0]
            .1
            .starts_with("cannot read /nonexistent/klaxon-ca.pem")
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    let junk = problems(RawEmail {
        ca_file: Some(junk),
        ..raw()
    });
    assert_eq!(keys(&junk), ["ca_file"]);
}

#[test]
fn debug_never_shows_the_password() {
    let settings = settings(
        RawEmail {
            username: Some("alerts".into()),
            password_env: Some("SMTP_PASSWORD".into()),
            ..raw()
        },
        &env,
    )
    .expect("valid");
    let debug = format!("{settings:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("alerts"), "{debug}");
    let sender = EmailSender::new(std::sync::Arc::new(settings));
    assert!(!format!("{sender:?}").contains("hunter2"));
}

#[test]
fn ipv6_literals_are_hosts() {
    let settings = settings(
        RawEmail {
            host: "::1".into(),
            tls: Some("none".into()),
            ..raw()
        },
        &env,
    )
    .expect("valid");
    assert_eq!(settings.host, "::1");
}
