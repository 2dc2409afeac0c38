//! `postgres = { url_env, table, columns, create_table, timeout_secs }`: the raw settings and
//! their validation into [`PostgresTableSettings`].
//!
//! The URL is read only from the environment variable the settings name (it holds a
//! password), and no `Debug`, summary or problem ever shows it: a key-value connection
//! string (`host=… password=…`) would slip past URL redaction, so none is attempted.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::store::PostgresUrl;

/// How long one insert (or the wait for a connection) may take unless `timeout_secs` says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// PostgreSQL's `NAMEDATALEN - 1`. The server silently truncates longer names, so a longer
/// name would address another table or column than the one written.
const MAX_IDENTIFIER_BYTES: usize = 63;
/// The top-level fields of the event document.
const DOCUMENT_FIELDS: &[&str] = &["id", "type", "occurred_at", "labels", "payload"];
/// The columns when the settings name none: the whole document, one field per column.
const DEFAULT_COLUMNS: &[(&str, &str)] = &[
    ("event_id", "id"),
    ("type", "type"),
    ("occurred_at", "occurred_at"),
    ("labels", "labels"),
    ("payload", "payload"),
];

/// `postgres = { url_env = "ANALYTICS_DATABASE_URL", table = "analytics.events_log", … }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPostgresTable {
    /// The environment variable holding the connection URL (`postgres://…`, libpq's
    /// `sslmode` understood as for `DATABASE_URL`).
    pub url_env: String,
    /// `table` or `schema.table`, exactly as named in the database (quoted, case kept).
    pub table: String,
    /// Column name → dotted path into the event document.
    pub columns: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub create_table: bool,
    pub timeout_secs: Option<u64>,
}

/// A validated PostgreSQL table destination.
#[derive(Clone)]
pub struct PostgresTableSettings {
    /// Holds the password: never shown.
    url: PostgresUrl,
    url_env: String,
    pub table: TableName,
    /// Never empty. The `id` column first, then the others by name (TOML tables do not keep
    /// the order written); the default columns in document order.
    pub columns: Vec<Column>,
    /// Index in `columns` of the one column that maps `id`: the `ON CONFLICT` key.
    id_column: usize,
    pub create_table: bool,
    /// For one insert, and for the wait for a connection.
    pub timeout: Duration,
    /// Where it writes, without credentials; computed once.
    summary: String,
}

impl PostgresTableSettings {
    /// The connection URL (holds the password: never log or show it).
    pub(crate) fn url(&self) -> &PostgresUrl {
        &self.url
    }

    /// The environment variable the URL came from.
    pub fn url_env(&self) -> &str {
        &self.url_env
    }

    /// The column holding the event id, the conflict key.
    pub fn id_column(&self) -> &Column {
        &self.columns[self.id_column]
    }

    /// Where it writes, for `/v1/destinations` and `klaxon check`: host, port, database and
    /// table, never the user or password.
    pub fn summary(&self) -> &str {
        &self.summary
    }
}

impl fmt::Debug for PostgresTableSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresTableSettings")
            .field("url", &format_args!("[from {}]", self.url_env))
            .field("table", &format_args!("{}", self.table))
            .field("columns", &self.columns)
            .field("create_table", &self.create_table)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A table, optionally in a schema. `Display` is the quoted SQL form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{}.", quote(schema))?;
        }
        f.write_str(&quote(&self.name))
    }
}

/// One column and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub path: DocumentPath,
}

/// A dotted path into the event document, e.g. `labels.urgency` or `payload.items.0.sku`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentPath(Vec<String>);

impl DocumentPath {
    /// The top-level document field it starts at (`id`, `payload`, …).
    pub fn field(&self) -> &str {
        &self.0[0]
    }

    /// The value at this path, if there is one. A number segment indexes an array (and
    /// names a key in an object).
    pub fn lookup<'v>(&self, document: &'v Value) -> Option<&'v Value> {
        self.0
            .iter()
            .try_fold(document, |value, segment| match value {
                Value::Object(map) => map.get(segment),
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
                _ => None,
            })
    }
}

impl fmt::Display for DocumentPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// `"name"` with any `"` doubled: the only safe way to put a name into SQL.
pub(crate) fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Validates the settings; every problem is reported with its key below `postgres`.
pub fn settings(
    raw: RawPostgresTable,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PostgresTableSettings, Vec<(String, String)>> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut fail = |key: &str, message: String| problems.push((key.to_owned(), message));

    let url = url_from(&raw.url_env, env)
        .map_err(|m| fail("url_env", m))
        .ok();
    let table = table_name(&raw.table).map_err(|m| fail("table", m)).ok();
    let timeout = match raw.timeout_secs {
        None => DEFAULT_TIMEOUT,
        Some(s @ 1..=300) => Duration::from_secs(s),
        Some(s) => {
            fail(
                "timeout_secs",
                format!("must be between 1 and 300, got {s}"),
            );
            DEFAULT_TIMEOUT
        }
    };
    let written = match raw.columns {
        Some(columns) if columns.is_empty() => {
            fail(
                "columns",
                "is empty: leave it out for the default columns, or map at least one column to \"id\"".into(),
            );
            Vec::new()
        }
        Some(columns) => {
            let (ids, others): (Vec<_>, Vec<_>) =
                columns.into_iter().partition(|(_, path)| path == "id");
            ids.into_iter().chain(others).collect()
        }
        None => DEFAULT_COLUMNS
            .iter()
            .map(|(name, path)| ((*name).to_owned(), (*path).to_owned()))
            .collect(),
    };
    let mut columns = Vec::with_capacity(written.len());
    let mut columns_valid = !written.is_empty();
    for (name, path) in written {
        let key = format!("columns.{name}");
        let checked_name = identifier(&name).map_err(|m| fail(&key, format!("column name: {m}")));
        let checked_path = document_path(&path).map_err(|m| fail(&key, m));
        match (checked_name, checked_path) {
            (Ok(()), Ok(path)) => columns.push(Column { name, path }),
            _ => columns_valid = false,
        }
    }
    let ids: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.path.field() == "id")
        .map(|(i, _)| i)
        .collect();
    if ids.len() > 1 {
        let names: Vec<&str> = ids.iter().map(|&i| columns[i].name.as_str()).collect();
        fail(
            "columns",
            format!(
                "\"id\" is mapped by {}: map it once (that column is the conflict key that keeps a retry from storing a row twice)",
                names.join(" and ")
            ),
        );
    } else if ids.is_empty() && columns_valid {
        fail(
            "columns",
            "no column maps \"id\": one must (e.g. event_id = \"id\"); it is the conflict key that keeps a retry from storing a row twice".into(),
        );
    }

    match (url, table, ids.first()) {
        (Some(url), Some(table), Some(&id_column)) if problems.is_empty() => {
            let summary = summary(&url, &table);
            Ok(PostgresTableSettings {
                url,
                url_env: raw.url_env,
                table,
                columns,
                id_column,
                create_table: raw.create_table,
                timeout,
                summary,
            })
        }
        _ => Err(problems),
    }
}

/// The URL from the variable `var`. Problems never quote the value.
fn url_from(var: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<PostgresUrl, String> {
    if var.trim().is_empty() {
        return Err("name the environment variable that holds the database URL".into());
    }
    let value = env(var)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("the environment variable {var} is not set"))?;
    PostgresUrl::from_str(value.trim()).map_err(|message| {
        // `PostgresUrl` quotes the URL with the password redacted; redaction cannot
        // recognise every form (a `key=value` string), so keep only the reason.
        let prefix = format!(
            "invalid PostgreSQL URL {}: ",
            PostgresUrl::redact(value.trim())
        );
        let reason = message
            .strip_prefix(&prefix)
            .map(str::to_owned)
            .unwrap_or(message);
        if reason.contains(value.trim()) {
            format!("{var} does not hold a valid PostgreSQL URL")
        } else {
            format!("{var} does not hold a valid PostgreSQL URL: {reason}")
        }
    })
}

/// `table` or `schema.table`.
fn table_name(text: &str) -> Result<TableName, String> {
    let parts: Vec<&str> = text.split('.').collect();
    let (schema, name) = match parts.as_slice() {
        [name] => (None, *name),
        [schema, name] => (Some(*schema), *name),
        _ => {
            return Err(format!(
                "{text:?}: write `table` or `schema.table` (a name with a '.' of its own is not supported)"
            ));
        }
    };
    if let Some(schema) = schema {
        identifier(schema).map_err(|m| format!("schema name: {m}"))?;
    }
    identifier(name).map_err(|m| format!("table name: {m}"))?;
    Ok(TableName {
        schema: schema.map(str::to_owned),
        name: name.to_owned(),
    })
}

/// A table, schema or column name Klaxon can quote and PostgreSQL keeps as written.
fn identifier(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(format!(
            "{name:?} is {} bytes; PostgreSQL keeps at most {MAX_IDENTIFIER_BYTES} (it would silently cut it)",
            name.len()
        ));
    }
    if let Err(e) = crate::stored_text::check(name) {
        return Err(format!("{name:?} {e}"));
    }
    if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') {
        return Err(format!(
            "{name:?}: write the name without quotes (Klaxon quotes every name itself, case kept)"
        ));
    }
    Ok(())
}

/// `id`, `type`, `occurred_at`, `labels[.key…]` or `payload[.key…]`.
fn document_path(path: &str) -> Result<DocumentPath, String> {
    let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
    if segments.iter().any(String::is_empty) {
        return Err(format!(
            "{path:?}: a path is field names joined by '.', none empty"
        ));
    }
    let field = segments[0].as_str();
    if !DOCUMENT_FIELDS.contains(&field) {
        return Err(format!(
            "{path:?}: a path starts at one of the event's fields: {}",
            DOCUMENT_FIELDS.join(", ")
        ));
    }
    if matches!(field, "id" | "type" | "occurred_at") && segments.len() > 1 {
        return Err(format!(
            "{path:?}: {field} is text, it has no fields (did you mean payload.{}?)",
            segments[1..].join(".")
        ));
    }
    Ok(DocumentPath(segments))
}

/// `postgres://host:port/database, table "schema"."table"`: what the URL says about where,
/// never who (user, password, options).
fn summary(url: &PostgresUrl, table: &TableName) -> String {
    let Ok(config) = tokio_postgres::Config::from_str(url.connection_string()) else {
        return format!("PostgreSQL table {table}");
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    let database = config.get_dbname().unwrap_or("");
    format!("postgres://{}/{database}, table {table}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "DB").then(|| "postgres://klaxon:s3cret@db.example:6432/analytics".to_owned())
    }

    fn raw(text: &str) -> RawPostgresTable {
        toml::from_str(text).expect("test settings are well-formed TOML")
    }

    fn problems(text: &str) -> Vec<(String, String)> {
        settings(raw(text), &env).expect_err("settings have problems")
    }

    #[test]
    fn the_default_columns_hold_the_whole_document() {
        let settings = settings(
            raw(r#"url_env = "DB"
table = "events_log""#),
            &env,
        )
        .unwrap();
        let names: Vec<&str> = settings.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["event_id", "type", "occurred_at", "labels", "payload"]
        );
        assert_eq!(settings.id_column().name, "event_id");
        assert_eq!(settings.table.to_string(), "\"events_log\"");
        assert_eq!(settings.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn the_id_column_comes_first() {
        let settings = settings(
            raw(r#"url_env = "DB"
table = "analytics.events_log"
columns = { urgency = "labels.urgency", event_id = "id", body = "payload" }
create_table = true"#),
            &env,
        )
        .unwrap();
        let names: Vec<&str> = settings.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["event_id", "body", "urgency"]);
        assert_eq!(settings.id_column().name, "event_id");
        assert_eq!(settings.table.to_string(), "\"analytics\".\"events_log\"");
        assert!(settings.create_table);
    }

    #[test]
    fn the_url_is_never_shown() {
        let settings = settings(
            raw(r#"url_env = "DB"
table = "t""#),
            &env,
        )
        .unwrap();
        let shown = format!("{settings:?} {}", settings.summary());
        assert!(
            !shown.contains("s3cret") && !shown.contains("klaxon:"),
            "{shown}"
        );
        assert_eq!(
            settings.summary(),
            "postgres://db.example:6432/analytics, table \"t\""
        );
        let key_value = |_: &str| Some("host=db password=s3cret port=notaport".to_owned());
        let problems = super::settings(
            raw(r#"url_env = "DB"
table = "t""#),
            &key_value,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "url_env");
        assert!(!problems[0].1.contains("s3cret"), "{problems:?}");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let found = problems(
            r#"url_env = "MISSING"
table = "a.b.c"
timeout_secs = 0
columns = { "" = "payload", urgency = "labels..x", who = "sender", t = "type.name" }"#,
        );
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "url_env",
                "table",
                "timeout_secs",
                "columns.",
                "columns.t",
                "columns.urgency",
                "columns.who"
            ],
            "{found:?}"
        );
    }

    #[test]
    fn the_id_must_be_mapped_once() {
        let found = problems(
            r#"url_env = "DB"
table = "t"
columns = { body = "payload" }"#,
        );
        assert_eq!(found[0].0, "columns");
        assert!(found[0].1.contains("no column maps \"id\""), "{found:?}");
        let found = problems(
            r#"url_env = "DB"
table = "t"
columns = { a = "id", b = "id" }"#,
        );
        assert!(found[0].1.contains("a and b"), "{found:?}");
        let found = problems(
            r#"url_env = "DB"
table = "t"
columns = {}"#,
        );
        assert_eq!(found[0].0, "columns");
    }

    #[test]
    fn odd_names_are_quoted_and_impossible_ones_refused() {
        let settings = settings(
            raw(r#"url_env = "DB"
table = 'we"ird; DROP TABLE x; --'
columns = { 'ev"id' = "id" }"#),
            &env,
        )
        .unwrap();
        assert_eq!(
            settings.table.to_string(),
            "\"we\"\"ird; DROP TABLE x; --\""
        );
        assert_eq!(quote(&settings.columns[0].name), "\"ev\"\"id\"");
        for bad in [
            "\"quoted\"",
            "tab\u{0}le",
            "line\nbreak",
            &"x".repeat(64),
            "",
        ] {
            let text = format!("url_env = \"DB\"\ntable = {}", toml::Value::from(bad));
            let found = problems(&text);
            assert_eq!(found[0].0, "table", "{bad:?}: {found:?}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(
            toml::from_str::<RawPostgresTable>("url_env = \"DB\"\ntable = \"t\"\nurl = \"x\"")
                .is_err()
        );
    }

    #[test]
    fn paths_reach_into_objects_and_arrays() {
        let document =
            serde_json::json!({"id": "evt_1", "payload": {"items": [{"sku": "A"}], "n": 3}});
        let path = document_path("payload.items.0.sku").unwrap();
        assert_eq!(path.lookup(&document), Some(&Value::from("A")));
        assert_eq!(
            document_path("payload.nope").unwrap().lookup(&document),
            None
        );
        assert_eq!(
            document_path("payload.n.x").unwrap().lookup(&document),
            None
        );
    }
}
