//! The simulated Merge HTTP API: routing, authentication, the request log and the reads
//! (lists with cursor pagination and filters, retrieves with `expand`). Writes are in
//! [`super::writes`].
//!
//! One fallback handler routes by hand, as the sandbox carrier does, so that every request,
//! unknown paths included, is authenticated and recorded the same way. The whole decision is
//! made under the state lock without awaiting.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as AxumState};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::rejection::Rejection;
use super::state::{Inner, Settings, State};
use super::{AccountToken, RecordedHeaders, RecordedRequest, writes};

/// Merge's maximum and default `page_size` (docs/merge.md §1.3).
const MAX_PAGE_SIZE: usize = 100;

pub(crate) const ACCOUNT_TOKEN_HEADER: &str = "x-account-token";

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

/// What a route needs from the request.
pub(crate) struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
    pub account_token: &'a str,
}

impl Request<'_> {
    /// Every value of a query parameter, comma lists split (Merge accepts both
    /// `expand=a,b` and `expand=a&expand=b`).
    fn list(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn handle(
    AxumState(inner): AxumState<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let path = uri.path().to_owned();
    let recorded_headers = record_headers(&headers);
    let linked_account = recorded_headers
        .account_token
        .as_ref()
        .and_then(|t| inner.settings.account_for_token(t.expose()))
        .map(|a| a.id.clone());
    let (status, answer) = {
        let mut state = inner.lock();
        let outcome = authorize(&headers).and_then(|account_token| {
            let request = Request {
                method: &method,
                path: &path,
                query: &query,
                body: &body,
                account_token,
            };
            route(&inner.settings, &mut state, &request)
        });
        let (status, answer) = match outcome {
            Ok(answered) => answered,
            Err(rejection) => (rejection.status(), rejection.body()),
        };
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path,
            query,
            headers: recorded_headers,
            linked_account,
            body: recorded_body(&body),
            at: SystemTime::now(),
            status: status.as_u16(),
        });
        (status, answer)
    };
    inner.touch();
    (status, Json(answer)).into_response()
}

fn header(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn record_headers(headers: &HeaderMap) -> RecordedHeaders {
    RecordedHeaders {
        bearer: authorize_key(headers).is_ok(),
        account_token: header(headers, ACCOUNT_TOKEN_HEADER)
            .filter(|t| !t.trim().is_empty())
            .map(|t| AccountToken::new(t.trim())),
        content_type: header(headers, CONTENT_TYPE).map(str::to_owned),
        user_agent: header(headers, USER_AGENT).map(str::to_owned),
    }
}

/// An empty body is `null`, a non-JSON body a JSON string of its text.
fn recorded_body(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Merge wants the organisation key as `Authorization: Bearer <key>`; any non-empty key will do.
fn authorize_key(headers: &HeaderMap) -> Result<(), Rejection> {
    let key = header(headers, AUTHORIZATION)
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    match key {
        Some(key) if !key.is_empty() => Ok(()),
        _ => Err(Rejection::NoApiKey),
    }
}

/// Both the API key and a non-empty account token; returns the token. Tokens not in the
/// configuration are accepted too, so Klaxon can be configured with any token, and see the
/// shared sample data.
fn authorize(headers: &HeaderMap) -> Result<&str, Rejection> {
    authorize_key(headers)?;
    header(headers, ACCOUNT_TOKEN_HEADER)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Rejection::NoAccountToken)
}

type Answer = Result<(StatusCode, Value), Rejection>;

fn route(settings: &Settings, state: &mut State, request: &Request<'_>) -> Answer {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let ok = |value: Value| Ok((StatusCode::OK, value));
    match (request.method, segments.as_slice()) {
        (&Method::GET, ["api", "ticketing", "v1", "tickets"]) => ok(list_tickets(state, request)?),
        (&Method::GET, ["api", "ticketing", "v1", "tickets", id]) => {
            let ticket = state.tickets.get(*id).ok_or(Rejection::NotFound)?;
            ok(expand_ticket(
                state,
                ticket.to_json(),
                &request.list("expand"),
            ))
        }
        (&Method::PATCH, ["api", "ticketing", "v1", "tickets", id]) => {
            writes::patch_ticket(state, id, request)
        }
        (&Method::GET, ["api", "ticketing", "v1", "comments"]) => {
            let ticket = request.one("ticket_id");
            let comments = state
                .comments
                .iter()
                .filter(|c| ticket.is_none_or(|t| c["ticket"] == t))
                .cloned()
                .collect();
            ok(page(comments, request)?)
        }
        (&Method::POST, ["api", "ticketing", "v1", "comments"]) => {
            writes::create_comment(state, request)
        }
        (&Method::GET, ["api", "ticketing", "v1", "contacts", id]) => {
            let contact = get(&state.contacts, id)?;
            let expand = request.list("expand");
            ok(expand_one(contact, "account", &state.accounts, &expand))
        }
        (&Method::GET, ["api", "ticketing", "v1", "accounts", id]) => ok(get(&state.accounts, id)?),
        (&Method::GET, ["api", "ticketing", "v1", "users", id]) => ok(get(&state.agents, id)?),
        (&Method::GET, ["api", "crm", "v1", "opportunities"]) => {
            ok(list_opportunities(state, request)?)
        }
        (&Method::GET, ["api", "crm", "v1", "opportunities", id]) => {
            let opportunity = state.opportunities.get(*id).ok_or(Rejection::NotFound)?;
            ok(expand_opportunity(
                state,
                opportunity.to_json(),
                &request.list("expand"),
            ))
        }
        (&Method::GET, ["api", "crm", "v1", "stages", id]) => ok(get(&state.stages, id)?),
        (&Method::GET, ["api", "crm", "v1", "users", id]) => ok(get(&state.crm_users, id)?),
        (&Method::GET, ["api", "crm", "v1", "accounts", id]) => ok(get(&state.crm_accounts, id)?),
        (&Method::GET, ["api", "crm", "v1", "notes"]) => {
            let opportunity = request.one("opportunity_id");
            let notes = state
                .notes
                .iter()
                .filter(|n| opportunity.is_none_or(|o| n["opportunity"] == o))
                .cloned()
                .collect();
            ok(page(notes, request)?)
        }
        (&Method::POST, ["api", "crm", "v1", "notes"]) => {
            writes::create_note(settings, state, request)
        }
        _ => Err(Rejection::NotFound),
    }
}

fn get(objects: &BTreeMap<String, Value>, id: &str) -> Result<Value, Rejection> {
    objects.get(id).cloned().ok_or(Rejection::NotFound)
}

fn timestamp(request: &Request<'_>, name: &str) -> Result<Option<OffsetDateTime>, Rejection> {
    request
        .one(name)
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                Rejection::BadQuery(format!("`{name}` must be an ISO 8601 date-time, got {v:?}"))
            })
        })
        .transpose()
}

/// `modified_after` (exclusive) and `modified_before` (exclusive) against `modified_at`.
fn in_window(modified_at: OffsetDateTime, request: &Request<'_>) -> Result<bool, Rejection> {
    let after = timestamp(request, "modified_after")?;
    let before = timestamp(request, "modified_before")?;
    Ok(after.is_none_or(|a| modified_at > a) && before.is_none_or(|b| modified_at < b))
}

/// An exact-match filter on an optional field; an absent parameter matches everything.
fn matches(request: &Request<'_>, name: &str, value: Option<&str>) -> bool {
    let wanted = request.list(name);
    wanted.is_empty() || value.is_some_and(|v| wanted.contains(&v))
}

fn list_tickets(state: &State, request: &Request<'_>) -> Result<Value, Rejection> {
    let expand = request.list("expand");
    let mut results = Vec::new();
    for ticket in state.tickets.values() {
        if in_window(ticket.modified_at, request)?
            && matches(request, "status", ticket.status.as_deref())
            && matches(request, "priority", ticket.priority.as_deref())
            && matches(request, "contact_id", ticket.contact.as_deref())
            && matches(request, "account_id", ticket.account.as_deref())
        {
            results.push(expand_ticket(state, ticket.to_json(), &expand));
        }
    }
    page(results, request)
}

fn list_opportunities(state: &State, request: &Request<'_>) -> Result<Value, Rejection> {
    let expand = request.list("expand");
    let mut results = Vec::new();
    for opportunity in state.opportunities.values() {
        if in_window(opportunity.modified_at, request)?
            && matches(request, "status", opportunity.status.as_deref())
            && matches(request, "stage_id", opportunity.stage.as_deref())
            && matches(request, "owner_id", opportunity.owner.as_deref())
            && matches(request, "account_id", opportunity.account.as_deref())
        {
            results.push(expand_opportunity(state, opportunity.to_json(), &expand));
        }
    }
    page(results, request)
}

fn expand_ticket(state: &State, ticket: Value, expand: &[&str]) -> Value {
    let ticket = expand_one(ticket, "contact", &state.contacts, expand);
    let ticket = expand_one(ticket, "account", &state.accounts, expand);
    let ticket = expand_one(ticket, "creator", &state.agents, expand);
    expand_many(ticket, "assignees", &state.agents, expand)
}

fn expand_opportunity(state: &State, opportunity: Value, expand: &[&str]) -> Value {
    let opportunity = expand_one(opportunity, "stage", &state.stages, expand);
    let opportunity = expand_one(opportunity, "owner", &state.crm_users, expand);
    expand_one(opportunity, "account", &state.crm_accounts, expand)
}

/// Replaces the id in `field` by the object it names, when `expand` asks for it. An id that
/// names nothing stays an id, as Merge leaves dangling relations.
fn expand_one(
    mut object: Value,
    field: &str,
    objects: &BTreeMap<String, Value>,
    expand: &[&str],
) -> Value {
    if expand.contains(&field)
        && let Some(related) = object[field].as_str().and_then(|id| objects.get(id))
    {
        object[field] = related.clone();
    }
    object
}

fn expand_many(
    mut object: Value,
    field: &str,
    objects: &BTreeMap<String, Value>,
    expand: &[&str],
) -> Value {
    if expand.contains(&field)
        && let Some(ids) = object[field].as_array()
    {
        let expanded = ids
            .iter()
            .map(|id| {
                id.as_str()
                    .and_then(|id| objects.get(id))
                    .cloned()
                    .unwrap_or_else(|| id.clone())
            })
            .collect();
        object[field] = Value::Array(expanded);
    }
    object
}

/// One page of `results` per `cursor` and `page_size`.
///
/// The cursor is the offset into the filtered list, base64-encoded so clients treat it as
/// opaque. Offsets are enough for a sandbox: objects are never deleted, and new ones sort by
/// id, so a page boundary moves only when a test inserts an object mid-walk.
fn page(results: Vec<Value>, request: &Request<'_>) -> Result<Value, Rejection> {
    let size = match request.one("page_size") {
        None => MAX_PAGE_SIZE,
        Some(raw) => match raw.parse::<usize>() {
            Ok(0) | Err(_) => {
                return Err(Rejection::BadQuery(format!(
                    "`page_size` must be a positive integer, got {raw:?}"
                )));
            }
            Ok(n) => n.min(MAX_PAGE_SIZE),
        },
    };
    let offset = match request.one("cursor") {
        None | Some("") => 0,
        Some(cursor) => decode_cursor(cursor)
            .ok_or_else(|| Rejection::BadQuery("Invalid cursor.".to_owned()))?,
    };
    let end = offset.saturating_add(size).min(results.len());
    let next = (end < results.len()).then(|| encode_cursor(end));
    let previous = (offset > 0).then(|| encode_cursor(offset.saturating_sub(size)));
    let results: Vec<Value> = results.into_iter().skip(offset).take(size).collect();
    Ok(json!({ "next": next, "previous": previous, "results": results }))
}

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o={offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    text.strip_prefix("o=")?.parse().ok()
}
