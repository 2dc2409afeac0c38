//! The built-in classifier's rules as tables of realistic input and the label they must give.

use serde_json::json;

use super::*;

const THREE: &[&str] = &["low", "high", "critical"];
const FOUR: &[&str] = &["low", "medium", "high", "urgent"];

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

/// Classifies named fields given as one JSON object, in key order.
fn run(names: &[&str], fields: Value) -> BuiltinDecision {
    let map = fields.as_object().expect("test fields are an object");
    let fields: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    classify(&labels(names), &fields).expect("labels are not empty")
}

fn ticket(description: &str) -> Value {
    json!({"ticket.subject": "", "ticket.description": description})
}

#[test]
fn realistic_tickets_on_two_scales() {
    // (description, label on THREE, label on FOUR)
    let cases = [
        (
            "Checkout is down, we are losing orders!",
            "critical",
            "urgent",
        ),
        (
            "Getting 502 Bad Gateway on every API call since 10:00",
            "critical",
            "urgent",
        ),
        (
            "The API returns HTTP 503 for some requests",
            "critical",
            "urgent",
        ),
        (
            "Data loss after last night's sync: records are gone",
            "critical",
            "urgent",
        ),
        ("I can't log in to the dashboard", "critical", "urgent"),
        (
            "Possible security breach: unknown admin user created",
            "critical",
            "urgent",
        ),
        ("Payments failing for card customers", "critical", "urgent"),
        ("Please look at this ASAP", "critical", "urgent"),
        (
            "Errors in production since the deploy",
            "critical",
            "urgent",
        ),
        (
            "All customers are affected by the sync delay",
            "critical",
            "urgent",
        ),
        ("Production down", "critical", "urgent"),
        ("Site down for all customers", "critical", "urgent"),
        (
            "The sync service was slow and went down briefly",
            "critical",
            "urgent",
        ),
        ("Export to CSV fails with an error", "high", "high"),
        ("The reports page is really slow today", "high", "high"),
        ("Mobile app crashes when I open settings", "high", "high"),
        (
            "How do I fix this error when importing contacts?",
            "low",
            "medium",
        ),
        (
            "Please update the billing address on our account",
            "low",
            "medium",
        ),
        ("How do I export my contacts to CSV?", "low", "low"),
        ("How do I deploy to production?", "low", "low"),
        (
            "Feature request: dark mode would be nice. Thanks!",
            "low",
            "low",
        ),
        ("Not urgent, just a typo on the pricing page", "low", "low"),
        ("No errors so far, just a question about SSO", "low", "low"),
        (
            "I was charged $500 for the annual plan, is that right?",
            "low",
            "medium",
        ),
    ];
    for (description, want3, want4) in cases {
        let three = run(THREE, ticket(description));
        assert_eq!(three.label, want3, "{description:?}: {}", three.reason);
        let four = run(FOUR, ticket(description));
        assert_eq!(four.label, want4, "{description:?}: {}", four.reason);
    }
}

#[test]
fn customer_tier_moves_the_level_by_one() {
    // (description, customer fields, label on THREE, label on FOUR)
    let cases = [
        (
            "Export fails with an error",
            json!({"tier": "Enterprise"}),
            "critical",
            "urgent",
        ),
        (
            "Export fails with an error",
            json!({"tier": "free"}),
            "low",
            "medium",
        ),
        (
            "Please update our billing address",
            json!({"tier": "premium"}),
            "high",
            "high",
        ),
        (
            "Please update our billing address",
            json!({"tier": "Free trial"}),
            "low",
            "low",
        ),
        (
            "Production is down",
            json!({"tier": "free"}),
            "high",
            "high",
        ),
        (
            "Production is down",
            json!({"plan": "VIP"}),
            "critical",
            "urgent",
        ),
        (
            "How do I export?",
            json!({"tier": "enterprise"}),
            "low",
            "medium",
        ),
        (
            "Export fails with an error",
            json!({"tier": "pro"}),
            "high",
            "high",
        ),
    ];
    for (description, customer, want3, want4) in cases {
        let fields = json!({"ticket.description": description, "customer": customer});
        let three = run(THREE, fields.clone());
        assert_eq!(
            three.label, want3,
            "{description:?} {customer}: {}",
            three.reason
        );
        let four = run(FOUR, fields);
        assert_eq!(
            four.label, want4,
            "{description:?} {customer}: {}",
            four.reason
        );
    }
}

#[test]
fn tier_fields_are_recognised_by_name() {
    for name in [
        "customer.tier",
        "customer_tier",
        "customerTier",
        "account.plan",
    ] {
        let fields = json!({"ticket.description": "Export fails", (name): "enterprise"});
        assert_eq!(run(THREE, fields).label, "critical", "{name}");
    }
    // A word inside a longer name is not a tier field.
    let fields = json!({"ticket.description": "Export fails", "explanation": "enterprise"});
    assert_eq!(run(THREE, fields).label, "high");
}

#[test]
fn an_explicit_priority_field_wins() {
    // (fields, label on THREE, label on FOUR)
    let cases = [
        (
            json!({"priority": "URGENT", "description": "question about invoices"}),
            "critical",
            "urgent",
        ),
        (
            json!({"priority": "P1", "description": "question"}),
            "critical",
            "urgent",
        ),
        (
            json!({"ticket.severity": "sev-2", "description": "hello"}),
            "high",
            "high",
        ),
        (
            json!({"priority": "High", "description": "typo"}),
            "high",
            "high",
        ),
        (
            json!({"priority": "normal", "description": "outage!"}),
            "low",
            "medium",
        ),
        (
            json!({"priority": "low", "description": "everything is down"}),
            "low",
            "low",
        ),
        (
            json!({"priority": "low", "customer_tier": "enterprise"}),
            "low",
            "low",
        ),
        (
            json!({"urgency": "low", "severity": "critical"}),
            "critical",
            "urgent",
        ),
        // Not a severity name: read as text instead.
        (
            json!({"priority": "ASAP please", "description": "hello"}),
            "critical",
            "urgent",
        ),
        (
            json!({"priority": "whenever", "description": "How do I export?"}),
            "low",
            "low",
        ),
    ];
    for (fields, want3, want4) in cases {
        let three = run(THREE, fields.clone());
        assert_eq!(three.label, want3, "{fields}: {}", three.reason);
        let four = run(FOUR, fields.clone());
        assert_eq!(four.label, want4, "{fields}: {}", four.reason);
    }
}

#[test]
fn scales_are_read_by_name_not_position() {
    let p_scale = ["p1", "p2", "p3", "p4"];
    assert_eq!(run(&p_scale, ticket("Total outage")).label, "p1");
    assert_eq!(run(&p_scale, ticket("Export fails")).label, "p2");
    assert_eq!(run(&p_scale, ticket("Update my address")).label, "p3");
    assert_eq!(run(&p_scale, ticket("")).label, "p4");
    assert_eq!(run(&p_scale, json!({"priority": "P2"})).label, "p2");

    let sev = ["SEV-1 (critical)", "SEV-2", "SEV 3", "Sev4"];
    assert_eq!(
        run(&sev, ticket("db down, nobody can work")).label,
        "SEV-1 (critical)"
    );
    assert_eq!(run(&sev, ticket("thanks!")).label, "Sev4");

    // Two labels on one level: the later declared wins.
    let six = ["low", "normal", "medium", "high", "urgent", "critical"];
    assert_eq!(run(&six, ticket("outage")).label, "critical");
    assert_eq!(run(&six, ticket("update my address")).label, "medium");
    // An explicit value equal to a label picks exactly that label.
    assert_eq!(run(&six, json!({"priority": "Urgent"})).label, "urgent");

    // Every label above the level: the lowest label.
    assert_eq!(
        run(&["high", "critical"], ticket("a question")).label,
        "high"
    );
}

#[test]
fn empty_input_gives_the_lowest_label() {
    for fields in [
        json!({}),
        ticket(""),
        json!({"ticket.description": "  ... "}),
    ] {
        assert_eq!(run(THREE, fields.clone()).label, "low", "{fields}");
        assert_eq!(run(FOUR, fields.clone()).label, "low", "{fields}");
        assert_eq!(
            run(&["p1", "p2", "p3"], fields.clone()).label,
            "p3",
            "{fields}"
        );
    }
    let decision = run(THREE, json!({}));
    assert_eq!(
        decision.reason,
        "no text to classify; lowest label; chose \"low\""
    );
}

#[test]
fn numbers_and_nested_fields_are_read() {
    let fields = json!({"delivery": {"http_status": 503, "attempts": [1, 2]}});
    assert_eq!(run(THREE, fields).label, "critical");
    let fields = json!({"delivery": {"attempts": 503}});
    assert_eq!(run(THREE, fields).label, "low");
    let fields = json!({"ticket": {"comments": ["fine", "the page is broken"]}});
    assert_eq!(run(THREE, fields).label, "high");
}

#[test]
fn other_label_sets_pick_the_first_label_named_in_the_text() {
    let teams = ["billing", "technical", "account"];
    // (fields, expected)
    let cases = [
        (ticket("My Billing statement shows two charges"), "billing"),
        (
            ticket("Technical question about the account API"),
            "technical",
        ),
        (ticket("Please close my account"), "account"),
        (ticket("Nothing relevant here"), "billing"),
        (json!({}), "billing"),
        (json!({"team": "account"}), "account"),
    ];
    for (fields, want) in cases {
        let decision = run(&teams, fields.clone());
        assert_eq!(decision.label, want, "{fields}: {}", decision.reason);
    }
    let kinds = ["bug_report", "feature_request"];
    assert_eq!(
        run(&kinds, ticket("This is a feature request")).label,
        "feature_request"
    );
    assert_eq!(run(&kinds, ticket("bugs everywhere")).label, "bug_report");
    // One non-severity label makes the whole set non-severity.
    assert_eq!(
        run(&["low", "page_now"], ticket("total outage")).label,
        "low"
    );
    assert_eq!(
        run(&["low", "page_now"], ticket("page now please")).label,
        "page_now"
    );
}

#[test]
fn reasons_name_the_deciding_words_and_rules() {
    let fields = json!({
        "ticket.description": "Outage: the site is down for all customers",
        "customer": {"tier": "Enterprise"},
    });
    assert_eq!(
        run(THREE, fields).reason,
        "critical terms \"outage\", \"is down\" → critical; customer tier \"Enterprise\" \
         raises it (already highest); chose \"critical\""
    );
    assert_eq!(
        run(THREE, ticket("Search is slow")).reason,
        "problem terms \"slow\" → high; chose \"high\""
    );
    assert_eq!(
        run(
            THREE,
            json!({"ticket.description": "export error", "tier": "free"})
        )
        .reason,
        "problem terms \"error\" → high; customer tier \"free\" lowers it to normal; \
         nearest label at or below normal; chose \"low\""
    );
    assert_eq!(
        run(FOUR, json!({"priority": "P1"})).reason,
        "explicit priority field \"priority\" is \"P1\" (critical); chose \"urgent\""
    );
    assert_eq!(
        run(THREE, ticket("errors in prod")).reason,
        "problem terms \"errors\" with wide-impact terms \"prod\" → critical; chose \"critical\""
    );
    assert_eq!(
        run(&["billing", "technical"], ticket("a technical thing")).reason,
        "label name \"technical\" appears in field \"ticket.description\"; chose \"technical\""
    );
    let many = run(THREE, ticket("urgent outage, data loss, hacked, asap"));
    assert!(many.reason.contains(", …"), "{}", many.reason);
}

#[test]
fn always_answers_with_a_declared_label() {
    let sets: [&[&str]; 5] = [THREE, FOUR, &["P1", "P2"], &["a", "b"], &["only"]];
    let inputs = [
        json!({}),
        ticket("outage"),
        ticket("question"),
        json!({"priority": "low"}),
    ];
    for set in sets {
        for fields in &inputs {
            let decision = run(set, fields.clone());
            assert!(set.contains(&decision.label.as_str()), "{set:?} {fields}");
        }
    }
    assert_eq!(classify(&[], &[]), Err(ClassifyError::NoLabels));
}

#[test]
fn severity_names_are_recognised_loosely_but_not_guessed() {
    let cases = [
        ("P1", Some(Level::Critical)),
        ("sev-2", Some(Level::High)),
        ("SEV 3", Some(Level::Normal)),
        ("High priority", Some(Level::High)),
        ("P1 - Critical", Some(Level::Critical)),
        ("Urgent", Some(Level::Critical)),
        ("p1 low", None),
        ("high value", None),
        ("billing", None),
        ("", None),
    ];
    for (name, want) in cases {
        assert_eq!(severity_of(name), want, "{name:?}");
    }
}
