//! The writes Klaxon makes: `PATCH /ticketing/v1/tickets/{id}`, `POST /ticketing/v1/comments`
//! and `POST /crm/v1/notes`, validated about as strictly as Merge validates them.
//!
//! Bodies must be `{"model": {…}}` (400 with a Problem otherwise). Known fields of the wrong
//! type are errors (`INCORRECT_FIELD_TYPE`) and nothing is written; unknown fields are
//! ignored with a warning, as Merge does (docs/merge.md §1.5). Answers are the write envelope
//! `{model, warnings, errors}`: 200 for a PATCH, 201 for a create.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::api::Request;
use super::model::{Ticket, next_modified_at};
use super::rejection::{Problem, Rejection};
use super::state::{Settings, State};
use crate::clock::format_rfc3339;

type Answer = Result<(StatusCode, Value), Rejection>;

const TICKET_STATUSES: [&str; 4] = ["OPEN", "CLOSED", "IN_PROGRESS", "ON_HOLD"];
const TICKET_PRIORITIES: [&str; 4] = ["URGENT", "HIGH", "NORMAL", "LOW"];

/// `PatchedTicketRequest` fields the sandbox accepts but does not model; they are neither
/// stored nor warned about.
const TICKET_UNMODELLED: [&str; 9] = [
    "assigned_teams",
    "collections",
    "parent_ticket",
    "access_level",
    "roles",
    "integration_params",
    "linked_account_params",
    "remote_fields",
    "attachments",
];

/// The `model` object of a write body.
fn model(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let missing = || {
        Rejection::write(Problem::field(
            "Missing Required Field",
            "MISSING_REQUIRED_FIELD",
            "/model",
            "The request body must be a JSON object with a `model` object: {\"model\": {…}}.",
        ))
    };
    let body: Value = serde_json::from_slice(body).map_err(|e| {
        Rejection::write(Problem {
            title: "Malformed Request",
            detail: format!("The request body is not JSON: {e}"),
            problem_type: "MALFORMED_REQUEST",
            pointer: None,
        })
    })?;
    match body {
        Value::Object(mut body) => match body.remove("model") {
            Some(Value::Object(model)) => Ok(model),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

fn wrong_type(field: &str, expected: &str) -> Problem {
    Problem::field(
        "Incorrect Field Type",
        "INCORRECT_FIELD_TYPE",
        &format!("/model/{field}"),
        format!("`{field}` must be {expected}."),
    )
}

fn unknown_field(field: &str) -> Value {
    Problem::field(
        "Unrecognized Field",
        "UNRECOGNIZED_FIELD",
        &format!("/model/{field}"),
        format!("`{field}` is not a field of this model and was ignored."),
    )
    .to_json()
}

fn envelope(model: Value, warnings: Vec<Value>) -> Value {
    json!({ "model": model, "warnings": warnings, "errors": [] })
}

/// A nullable string field.
fn string(field: &str, value: &Value) -> Result<Option<String>, Problem> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(wrong_type(field, "a string or null")),
    }
}

fn one_of(field: &str, value: &Value, allowed: &[&str]) -> Result<Option<String>, Problem> {
    let value = string(field, value)?;
    match &value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(Problem::field(
            "Invalid Field Value",
            "INVALID_FIELD_VALUE",
            &format!("/model/{field}"),
            format!(
                "`{field}` must be one of {}, got {v:?}.",
                allowed.join(", ")
            ),
        )),
        _ => Ok(value),
    }
}

fn strings(field: &str, value: &Value) -> Result<Vec<String>, Problem> {
    value
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| wrong_type(field, "an array of strings"))
}

fn date_time(field: &str, value: &Value) -> Result<Option<OffsetDateTime>, Problem> {
    string(field, value)?
        .map(|s| {
            OffsetDateTime::parse(&s, &Rfc3339)
                .map_err(|_| wrong_type(field, "an ISO 8601 date-time or null"))
        })
        .transpose()
}

/// Applies one PATCH field to `ticket`; `Ok(false)` when the field is not a ticket field.
fn apply(ticket: &mut Ticket, field: &str, value: &Value) -> Result<bool, Problem> {
    match field {
        "name" => ticket.name = string(field, value)?,
        "description" => ticket.description = string(field, value)?,
        "ticket_type" => ticket.ticket_type = string(field, value)?,
        "ticket_url" => ticket.ticket_url = string(field, value)?,
        "creator" => ticket.creator = string(field, value)?,
        "contact" => ticket.contact = string(field, value)?,
        "account" => ticket.account = string(field, value)?,
        "status" => ticket.status = one_of(field, value, &TICKET_STATUSES)?,
        "priority" => ticket.priority = one_of(field, value, &TICKET_PRIORITIES)?,
        "assignees" => ticket.assignees = strings(field, value)?,
        "tags" => ticket.tags = strings(field, value)?,
        "due_date" => ticket.due_date = date_time(field, value)?,
        "completed_at" => ticket.completed_at = date_time(field, value)?,
        _ if TICKET_UNMODELLED.contains(&field) => {}
        _ => return Ok(false),
    }
    Ok(true)
}

pub(crate) fn patch_ticket(state: &mut State, id: &str, request: &Request<'_>) -> Answer {
    let current = state.tickets.get(id).ok_or(Rejection::NotFound)?;
    let model = model(request.body)?;
    let mut ticket = current.clone();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for (field, value) in &model {
        match apply(&mut ticket, field, value) {
            Ok(true) => {}
            Ok(false) => warnings.push(unknown_field(field)),
            Err(problem) => errors.push(problem),
        }
    }
    if !errors.is_empty() {
        return Err(Rejection::Write(errors));
    }
    ticket.modified_at = next_modified_at(ticket.modified_at);
    let answer = envelope(ticket.to_json(), warnings);
    state.tickets.insert(ticket.id.clone(), ticket);
    Ok((StatusCode::OK, answer))
}

/// A new object's id and timestamps. UUIDv7 ids sort by creation, which keeps listing
/// order (by id) equal to creation order.
fn new_object(remote_prefix: &str) -> Map<String, Value> {
    let now = format_rfc3339(next_modified_at(OffsetDateTime::UNIX_EPOCH));
    let id = uuid::Uuid::now_v7().to_string();
    let mut object = Map::new();
    object.insert("remote_id".into(), json!(format!("{remote_prefix}-{id}")));
    object.insert("id".into(), json!(id));
    object.insert("created_at".into(), json!(now));
    object.insert("modified_at".into(), json!(now));
    object.insert("remote_created_at".into(), json!(now));
    object.insert("remote_was_deleted".into(), json!(false));
    object.insert("field_mappings".into(), Value::Null);
    object.insert("remote_data".into(), Value::Null);
    object
}

/// Checks one field's value; the `Problem` says what was wrong.
type Check = fn(&str, &Value) -> Result<(), Problem>;

/// Copies the listed fields of `model` into `object` (absent ones as `null`), checking each
/// with `check`; the rest of `model` becomes warnings unless listed in `ignored`.
fn copy_fields(
    object: &mut Map<String, Value>,
    model: &Map<String, Value>,
    fields: &[(&str, Check)],
    ignored: &[&str],
) -> Result<Vec<Value>, Rejection> {
    let mut errors = Vec::new();
    for (field, check) in fields {
        let value = model.get(*field).cloned().unwrap_or(Value::Null);
        if let Err(problem) = check(field, &value) {
            errors.push(problem);
        }
        object.insert((*field).to_owned(), value);
    }
    if !errors.is_empty() {
        return Err(Rejection::Write(errors));
    }
    Ok(model
        .keys()
        .filter(|k| !fields.iter().any(|(f, _)| f == k) && !ignored.contains(&k.as_str()))
        .map(|k| unknown_field(k))
        .collect())
}

fn nullable_string(field: &str, value: &Value) -> Result<(), Problem> {
    string(field, value).map(|_| ())
}

fn nullable_bool(field: &str, value: &Value) -> Result<(), Problem> {
    match value {
        Value::Null | Value::Bool(_) => Ok(()),
        _ => Err(wrong_type(field, "a boolean or null")),
    }
}

fn required(field: &str) -> Rejection {
    Rejection::write(Problem::field(
        "Missing Required Field",
        "MISSING_REQUIRED_FIELD",
        &format!("/model/{field}"),
        format!("`{field}` is required."),
    ))
}

pub(crate) fn create_comment(state: &mut State, request: &Request<'_>) -> Answer {
    let model = model(request.body)?;
    let mut comment = new_object("comment");
    let warnings = copy_fields(
        &mut comment,
        &model,
        &[
            ("ticket", nullable_string),
            ("user", nullable_string),
            ("contact", nullable_string),
            ("body", nullable_string),
            ("html_body", nullable_string),
            ("is_private", nullable_bool),
        ],
        &["integration_params", "linked_account_params"],
    )?;
    // Every integration that creates comments requires `ticket` (docs/merge.md §2.4).
    let ticket = comment["ticket"]
        .as_str()
        .ok_or_else(|| required("ticket"))?;
    if !state.tickets.contains_key(ticket) {
        return Err(Rejection::write(Problem::field(
            "Related Object Not Found",
            "INVALID_FIELD_VALUE",
            "/model/ticket",
            format!("No ticket with id {ticket:?}."),
        )));
    }
    let comment = Value::Object(comment);
    state.comments.push(comment.clone());
    Ok((StatusCode::CREATED, envelope(comment, warnings)))
}

pub(crate) fn create_note(settings: &Settings, state: &mut State, request: &Request<'_>) -> Answer {
    if settings.notes_unsupported(request.account_token) {
        let integration = settings
            .account_for_token(request.account_token)
            .map_or("This integration", |a| a.integration.as_str());
        return Err(Rejection::write(Problem {
            title: "Unsupported Model",
            detail: format!("{integration} does not support creating Note objects."),
            problem_type: "ERROR",
            pointer: None,
        }));
    }
    let model = model(request.body)?;
    let mut note = new_object("note");
    let warnings = copy_fields(
        &mut note,
        &model,
        &[
            ("owner", nullable_string),
            ("content", nullable_string),
            ("contact", nullable_string),
            ("account", nullable_string),
            ("opportunity", nullable_string),
            ("note_url", nullable_string),
        ],
        &[
            "integration_params",
            "linked_account_params",
            "remote_fields",
        ],
    )?;
    // HubSpot and Pipedrive, the usual note targets, both require `content` (docs/merge.md §3.3).
    if note["content"].as_str().is_none_or(str::is_empty) {
        return Err(required("content"));
    }
    note.insert("remote_updated_at".into(), note["created_at"].clone());
    let note = Value::Object(note);
    state.notes.push(note.clone());
    Ok((StatusCode::CREATED, envelope(note, warnings)))
}
