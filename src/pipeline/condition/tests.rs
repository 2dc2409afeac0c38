use super::*;
use serde_json::json;

/// A support ticket as a helpdesk would send it, about 2 KB of JSON.
fn ticket() -> Json {
    json!({
        "id": "tkt_01HZX3K9W2M4N5P6Q7R8S9T0UV",
        "type": "incident",
        "subject": "[P1] Checkout outage for all EU customers",
        "description": "Since 09:12 UTC every checkout attempt from the EU storefront fails with a 502 from the payments gateway. Customers are reporting it on social media and the support queue has grown to 340 tickets in twenty minutes. We have rolled back the 09:00 deploy without effect. Please page the payments on-call and the incident commander. Revenue impact is estimated at 40k EUR per hour.",
        "status": "open",
        "priority": "low",
        "customer_tier": "enterprise",
        "amount": 75000,
        "discount": 0.15,
        "seats": 250,
        "big_number": 18446744073709551615u64,
        "stage": "negotiation",
        "escalated": false,
        "closed_at": null,
        "tags": ["vip", "checkout", "eu"],
        "channel": "email",
        "requester": {
            "id": "usr_9f8e7d6c",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+44 20 7946 0958",
            "locale": "en-GB"
        },
        "customer": {
            "id": "cus_123456",
            "name": "Example Retail GmbH",
            "tier": "enterprise",
            "arr": 1250000,
            "address": {"street": "Hauptstrasse 1", "city": "Berlin", "country": "DE"},
            "account_manager": {"name": "Grace Hopper", "email": "grace@klaxon.example"}
        },
        "attachments": [
            {"name": "har-capture.har", "size_bytes": 2_483_112, "content_type": "application/json"},
            {"name": "screenshot.png", "size_bytes": 182_331, "content_type": "image/png"}
        ],
        "custom_fields": {
            "region": "eu-west-1",
            "product": "checkout",
            "sla_minutes": 15,
            "contract_id": "ctr_2024_00917",
            "renewal_date": "2025-03-31"
        },
        "comments": [
            {"author": "agent_17", "public": false, "body": "Reproduced from the Frankfurt office. 502 from gateway, upstream timeout after 30 s."},
            {"author": "agent_04", "public": true, "body": "We are aware of the issue and are working on it. Next update in 15 minutes."}
        ],
        "created_at": "2024-11-05T09:14:03Z",
        "updated_at": "2024-11-05T09:31:47Z",
        "via": {"source": "email", "address": "support@example.com", "ip": "203.0.113.7"}
    })
}

fn labels() -> Map<String, Json> {
    let Json::Object(labels) = json!({
        "urgency": "critical",
        "team": "payments",
        "score": 0.92,
        "priority": "high",
    }) else {
        unreachable!("an object literal")
    };
    labels
}

fn evaluate(source: &str, payload: &Json, labels: &Map<String, Json>) -> Result<bool, EvalError> {
    let condition =
        Condition::compile(source).unwrap_or_else(|e| panic!("`{source}` should compile: {e}"));
    condition.evaluate(&ConditionInput {
        event_type: "ticket.created",
        payload,
        labels,
    })
}

/// Expressions over [`ticket`] and [`labels`], with the answer each must give.
const CASES: &[(&str, bool)] = &[
    // labels and top-level fields by name
    (r#"urgency == "critical""#, true),
    (r#"customer_tier == "enterprise""#, true),
    (
        r#"urgency == "critical" && customer_tier == "enterprise""#,
        true,
    ),
    (r#"amount > 50000 && stage == "negotiation""#, true),
    (r#"amount > 80000 && stage == "negotiation""#, false),
    (r#"urgency in ["low", "medium"]"#, false),
    (r#"!(urgency in ["low", "medium"])"#, true),
    // a label hides the payload field of the same name; `payload` still has it
    (r#"priority == "high""#, true),
    (r#"payload.priority == "low""#, true),
    // a payload field named `type` is a plain variable
    (r#"type == "incident""#, true),
    // integers and floats
    ("amount == 75000", true),
    ("amount == 75000.0", true),
    ("amount > 100.5", true),
    ("amount < 100.5", false),
    ("amount >= 75000 && amount <= 75000", true),
    ("amount == 75000u", true),
    ("discount < 0.5", true),
    ("discount == 0.15", true),
    ("discount > 0", true),
    ("seats * 2 == 500", true),
    ("big_number > 1", true),
    ("big_number == 18446744073709551615u", true),
    ("payload.customer.arr > 1000000", true),
    ("score > 0.9", true),
    // null and bool
    ("escalated == false", true),
    ("!escalated", true),
    ("closed_at == null", true),
    // lists
    (r#""vip" in tags"#, true),
    (r#""churned" in tags"#, false),
    ("size(tags) == 3", true),
    (r#"tags.exists(t, t.startsWith("eu"))"#, true),
    (r#"tags.all(t, t.size() > 1)"#, true),
    ("attachments.exists(a, a.size_bytes > 1000000)", true),
    (
        r#"attachments.filter(a, a.content_type == "image/png").size() == 1"#,
        true,
    ),
    // has() and nested fields
    ("has(payload.customer)", true),
    ("has(payload.customer.tier)", true),
    ("has(payload.refund)", false),
    ("has(payload.customer.address.country)", true),
    (r#"payload.customer.tier == "enterprise""#, true),
    (r#"payload.customer.address.country == "DE""#, true),
    (r#"requester.email == "ada@example.com""#, true),
    (r#"custom_fields.sla_minutes <= 15"#, true),
    // strings
    (r#"subject.contains("outage")"#, true),
    (r#"subject.startsWith("[P1]")"#, true),
    (r#"subject.endsWith("customers")"#, true),
    (r#"subject.contains("refund")"#, false),
    (r#"requester.email.matches(r"@example\.com$")"#, true),
    (r#"subject.matches("(?i)OUTAGE")"#, true),
    (r#"subject.lowerAscii().contains("checkout outage")"#, true),
    // the fixed names
    (r#"event_type == "ticket.created""#, true),
    (r#"event_type.startsWith("ticket.")"#, true),
    (r#"labels.urgency == "critical""#, true),
    (r#""team" in labels"#, true),
    (r#""escalation_policy" in labels"#, false),
    ("labels.score > 0.9", true),
    (r#"has(labels.team) && labels.team == "payments""#, true),
    // constants
    ("true", true),
    ("false", false),
    ("1 + 1 == 2", true),
];

#[test]
fn expressions_over_payload_and_labels() {
    let payload = ticket();
    let labels = labels();
    for (source, expected) in CASES {
        assert_eq!(
            evaluate(source, &payload, &labels),
            Ok(*expected),
            "`{source}`"
        );
    }
}

#[test]
fn only_the_fields_an_expression_selects_are_converted() {
    let condition = Condition::compile(
        r#"payload.customer.tier == "enterprise" && has(payload.refund)
           && payload.customer.address.country == "DE" && has(payload.customer)
           && size(tags) > 0 && labels.urgency == "critical" && urgency != """#,
    )
    .expect("valid condition");
    let projection = |name: &str| {
        let variable = condition
            .variables
            .iter()
            .find(|v| &*v.name == name)
            .unwrap_or_else(|| panic!("`{name}` is a variable"));
        variable.projection.clone()
    };
    let fields = |entries: Vec<(&str, Projection)>| {
        Projection::Fields(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    };
    assert_eq!(
        projection("payload"),
        fields(vec![
            (
                "customer",
                fields(vec![
                    ("tier", Projection::Whole),
                    ("address", fields(vec![("country", Projection::Whole)])),
                ])
            ),
            ("refund", Projection::Presence),
        ])
    );
    assert_eq!(projection("tags"), Projection::Whole);
    assert_eq!(
        projection("labels"),
        fields(vec![("urgency", Projection::Whole)])
    );
    assert_eq!(projection("urgency"), Projection::Whole);

    // any use other than selecting a field needs all of it
    let condition = Condition::compile(r#"payload.amount > 5 && "refund" in payload"#)
        .expect("valid condition");
    assert_eq!(condition.variables[0].projection, Projection::Whole);
}

/// Converting only the selected fields must never change an answer or an error.
#[test]
fn converting_less_gives_the_same_results_as_converting_everything() {
    let payload = ticket();
    let labels = labels();
    let input = ConditionInput {
        event_type: "ticket.created",
        payload: &payload,
        labels: &labels,
    };
    let more: &[&str] = &[
        "payload.customer.vat_id == 1",
        "has(payload.customer.address.zip)",
        "has(payload.amount.currency)",
        "payload.amount.currency == 1",
        "has(payload.closed_at)",
        "payload.closed_at.at == 1",
        "payload.tags.first == 1",
        "has(payload.tags.first)",
        r#"payload.customer.address == {"street": "Hauptstrasse 1", "city": "Berlin", "country": "DE"}"#,
        "payload.customer.address.size() == 3",
        "payload.customer.tier == 1",
        "has(labels.urgency) && labels.urgency.size() > 3",
        "attachments[0].name.endsWith('.har')",
        "payload.attachments.exists(payload, payload.size_bytes > 5)",
        "requester.email.matches('^ada@')",
    ];
    for source in CASES
        .iter()
        .map(|(source, _)| *source)
        .chain(more.iter().copied())
    {
        let condition = Condition::compile(source).expect("valid condition");
        let everything = Condition {
            variables: condition
                .variables
                .iter()
                .map(|v| Variable {
                    name: v.name.clone(),
                    source: v.source,
                    projection: Projection::Whole,
                })
                .collect(),
            ..condition.clone()
        };
        assert_eq!(
            condition.evaluate(&input),
            everything.evaluate(&input),
            "`{source}`"
        );
    }
}

#[test]
fn a_missing_name_is_an_unknown_variable() {
    let payload = ticket();
    assert_eq!(
        evaluate(r#"refund_reason == "fraud""#, &payload, &labels()),
        Err(EvalError::UnknownVariable {
            name: "refund_reason".into()
        })
    );
    // only an object payload has fields by name; `payload` is always there
    let payload = json!(["not", "an", "object"]);
    assert_eq!(
        evaluate("size(amount) > 0", &payload, &Map::new()),
        Err(EvalError::UnknownVariable {
            name: "amount".into()
        })
    );
    assert_eq!(
        evaluate("size(payload) == 3", &payload, &Map::new()),
        Ok(true)
    );
}

#[test]
fn an_error_the_other_side_of_and_or_decides_is_absorbed() {
    let payload = ticket();
    let labels = labels();
    assert_eq!(
        evaluate(r#"urgency == "critical" || refund == 1"#, &payload, &labels),
        Ok(true)
    );
    // CEL's `||` and `&&` are commutative: an error on one side is absorbed when the
    // other side decides the result
    assert_eq!(
        evaluate(r#"refund == 1 || urgency == "critical""#, &payload, &labels),
        Ok(true)
    );
    assert_eq!(
        evaluate("refund == 1 && false", &payload, &labels),
        Ok(false)
    );
    assert_eq!(
        evaluate(
            r#"has(payload.refund) && payload.refund > 5"#,
            &payload,
            &labels
        ),
        Ok(false)
    );
}

#[test]
fn a_result_that_is_not_a_bool_is_an_error() {
    let payload = ticket();
    let labels = labels();
    for (source, found) in [
        ("urgency", "string"),
        ("amount + 1", "int"),
        ("discount * 2.0", "double"),
        ("tags", "list"),
        ("payload.customer", "map"),
        ("closed_at", "null_type"),
    ] {
        let error = evaluate(source, &payload, &labels).expect_err(source);
        assert_eq!(
            error,
            EvalError::NotBool {
                found: found.into()
            },
            "`{source}`"
        );
    }
    assert_eq!(
        EvalError::NotBool {
            found: "int".into()
        }
        .to_string(),
        "expression returned int, expected bool"
    );
}

#[test]
fn cel_errors_are_evaluation_errors() {
    let payload = ticket();
    let labels = labels();
    for (source, message) in [
        (
            r#"amount > "5""#,
            "found no matching overload for '_>_' applied to '(int, string)'",
        ),
        ("payload.customer.vat_id == 1", "No such key: vat_id"),
        (
            "no_such_function(amount)",
            "Undeclared reference to 'no_such_function'",
        ),
        ("amount / 0 == 1", "Division by zero"),
        (r#"subject.matches("(")"#, "not a valid regex"),
    ] {
        match evaluate(source, &payload, &labels) {
            Err(error @ EvalError::Execution(_)) => {
                assert!(error.to_string().contains(message), "`{source}`: {error}")
            }
            other => panic!("`{source}`: expected a CEL error, got {other:?}"),
        }
    }
}

#[test]
fn matches_counts_an_error_as_no_match() {
    let payload = ticket();
    let labels = labels();
    let input = ConditionInput {
        event_type: "ticket.created",
        payload: &payload,
        labels: &labels,
    };
    let compile = |s| Condition::compile(s).expect("valid condition");
    assert!(compile(r#"urgency == "critical""#).matches(&input));
    assert!(!compile(r#"urgency == "low""#).matches(&input));
    assert!(!compile("refund > 5").matches(&input));
    assert!(!compile("urgency").matches(&input));
    assert!(!compile(r#"amount > "5""#).matches(&input));
}

#[test]
fn empty_conditions_are_rejected() {
    for source in ["", "   ", "\n\t "] {
        assert!(
            matches!(Condition::compile(source), Err(ConditionError::Empty)),
            "{source:?}"
        );
    }
}

#[test]
fn syntax_errors_say_what_and_where() {
    let Err(ConditionError::Syntax { condition, errors }) = Condition::compile("urgency ==") else {
        panic!("`urgency ==` should be a syntax error");
    };
    assert_eq!(condition, "urgency ==");
    assert_eq!((errors[0].line, errors[0].column), (1, 11));
    assert!(
        errors[0].message.starts_with("mismatched input '<EOF>'"),
        "{}",
        errors[0].message
    );

    let source = "urgency == \"critical\" &&\n  (amount > 5";
    let Err(error @ ConditionError::Syntax { .. }) = Condition::compile(source) else {
        panic!("an unclosed parenthesis should be a syntax error");
    };
    assert_eq!(
        error.to_string(),
        "invalid CEL condition `urgency == \"critical\" &&\n  (amount > 5`: \
         line 2, column 14: missing ')' at '<EOF>'"
    );

    // the parser recovers and reports every error it finds
    let Err(ConditionError::Syntax { errors, .. }) = Condition::compile("urgency @ critical")
    else {
        panic!("`@` should be a syntax error");
    };
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].column), (1, 9));
    assert_eq!(errors[0].message, "token recognition error at: '@'");

    // columns count characters, not bytes
    let Err(ConditionError::Syntax { errors, .. }) = Condition::compile(r#"name == "Zoë" &&"#)
    else {
        panic!("a trailing `&&` should be a syntax error");
    };
    assert_eq!((errors[0].line, errors[0].column), (1, 17), "{errors:?}");

    // `=` for `==` is the typo users will make most
    assert!(matches!(
        Condition::compile(r#"urgency = "critical""#),
        Err(ConditionError::Syntax { .. })
    ));
}

#[test]
fn nesting_too_deep_is_a_readable_syntax_error() {
    let source = format!("{}true{}", "(".repeat(200), ")".repeat(200));
    let Err(ConditionError::Syntax { errors, .. }) = Condition::compile(&source) else {
        panic!("200 nested parentheses should exceed cel's recursion limit");
    };
    assert_eq!(
        errors[0].message,
        "Recursion limit of 96 exceeded (the expression is nested too deeply)"
    );
}

#[test]
fn literals_that_cannot_be_bool_are_rejected() {
    for (source, kind) in [
        (r#""critical""#, "string"),
        ("42", "int"),
        ("4.2", "double"),
        ("null", "null"),
        (r#"["vip"]"#, "list"),
        (r#"{"a": true}"#, "map"),
    ] {
        match Condition::compile(source) {
            Err(ConditionError::NotBoolean { found, .. }) => {
                assert_eq!(found, kind, "`{source}`")
            }
            other => panic!("`{source}`: expected NotBoolean, got {other:?}"),
        }
    }
    assert!(Condition::compile("true").is_ok());
}

#[test]
fn source_is_kept_verbatim() {
    let source = "  urgency == \"critical\"\n";
    let condition = Condition::compile(source).expect("valid condition");
    assert_eq!(condition.source(), source);
    assert_eq!(format!("{condition:?}"), format!("Condition({source:?})"));
    assert_eq!(condition.clone(), condition);
}

#[test]
fn a_condition_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Condition>();

    let condition =
        Condition::compile(r#"urgency == "critical" && amount > 50000"#).expect("valid condition");
    let payload = ticket();
    let labels = labels();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let input = ConditionInput {
                    event_type: "ticket.created",
                    payload: &payload,
                    labels: &labels,
                };
                for _ in 0..100 {
                    assert_eq!(condition.evaluate(&input), Ok(true));
                }
            });
        }
    });
}

/// No input found so far makes cel 0.15 panic (overflow, bad regex, out-of-range index,
/// deep nesting are all errors), so the guard is exercised directly.
#[test]
fn a_panic_becomes_an_error() {
    assert_eq!(guarded(|| 7), Ok(7));
    assert_eq!(
        guarded(|| -> () { panic!("boom {}", 1) }),
        Err("boom 1".to_owned())
    );
    assert_eq!(
        guarded(|| -> () { std::panic::panic_any(3_u8) }),
        Err("a panic without a message".to_owned())
    );
}

/// Prints the cost of one evaluation. Run with
/// `cargo test --release --lib pipeline::condition::tests::evaluation_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, run in release"]
fn evaluation_cost() {
    let payload = ticket();
    let labels = labels();
    println!(
        "payload: {} bytes",
        serde_json::to_vec(&payload).expect("JSON").len()
    );
    let input = ConditionInput {
        event_type: "ticket.created",
        payload: &payload,
        labels: &labels,
    };
    for source in [
        r#"urgency == "critical" && customer_tier == "enterprise""#,
        r#"amount > 50000 && stage == "negotiation""#,
        r#""vip" in tags"#,
        r#"has(payload.customer) && payload.customer.tier == "enterprise""#,
        // needs the whole payload converted: the worst case
        "size(payload) > 0",
    ] {
        let condition = Condition::compile(source).expect("valid condition");
        let iterations = 200_000u32;
        for _ in 0..10_000 {
            std::hint::black_box(condition.evaluate(std::hint::black_box(&input)))
                .expect("evaluates");
        }
        let start = std::time::Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(condition.evaluate(std::hint::black_box(&input)))
                .expect("evaluates");
        }
        let per_op = start.elapsed() / iterations;
        println!("{:>6} ns/op  {source}", per_op.as_nanos());
    }
}
