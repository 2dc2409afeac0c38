//! The PostgreSQL table: each routed event becomes one row in a table of the user's own
//! database, e.g. an analytics log.
//!
//! - settings ([`settings`]): `postgres = { url_env = "ANALYTICS_DATABASE_URL", table =
//!   "analytics.events_log", columns = { event_id = "id", urgency = "labels.urgency", body =
//!   "payload" }, create_table = false, timeout_secs = 10 }`. Each column takes the value at a
//!   dotted path of the event document (`id`, `type`, `occurred_at`, `labels…`, `payload…`;
//!   a number indexes an array). One column must map `id`: it is the conflict key. Without
//!   `columns`: `event_id = "id"`, `type`, `occurred_at`, `labels`, `payload`.
//! - the request ([`render`]): the row, a JSON object of column → value (strings, numbers,
//!   booleans, objects as they are; a missing path is `null`, stored as SQL `NULL`).
//! - the attempt ([`PostgresTableSender::send`]): rows from concurrent sends are gathered per
//!   destination into one `INSERT … ON CONFLICT (<id column>) DO NOTHING` (see [`send`]), so
//!   a retry never stores a row twice. PostgreSQL casts each JSON value to its column's type
//!   (the rows are read with `json_populate_record` against the table's own row type).
//! - the answer: stored (or already there) is delivered; an unreachable, busy or restarting
//!   server, a deadlock or a timeout is retried; a missing table or column, a refused value,
//!   a permission or login problem is dead, with PostgreSQL's message (never the URL). A row
//!   the server refuses fails alone, never its batch-mates.
//! - rate limit: none; the batcher bounds the connections (a pool of [`send::POOL_SIZE`]).
//!
//! Table and column names are used exactly as written (case included) and always quoted;
//! a name with a control character, an empty one or one longer than PostgreSQL keeps
//! (63 bytes) is refused by [`settings`]. A value holding NUL (`\u0000`, anywhere in it)
//! cannot be stored: PostgreSQL refuses it while reading the row (whatever the column's
//! type), and that row's delivery is dead with the server's reason; the event is not
//! altered to fit.
//!
//! `create_table = true` creates the table (not its schema) at first use if it is missing:
//! the `id` column `text PRIMARY KEY`, a column mapping `type` `text`, `occurred_at`
//! `timestamptz`, every other column `jsonb` (so numbers, booleans and objects keep their
//! types). An existing table is used as it is.

mod failure;
pub mod send;
pub mod settings;
mod sql;

use std::sync::OnceLock;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::destinations::Report;

pub use send::{PostgresTableSender, SenderError, SenderStats};
pub use settings::{
    Column, DocumentPath, PostgresTableSettings, RawPostgresTable, TableName, settings,
};

/// A configured PostgreSQL table destination: its settings, and its sender, set up at the
/// first delivery (the sender's batcher needs the Tokio runtime, which `klaxon check` and
/// the settings loader do not run in).
pub struct PostgresTable {
    pub settings: PostgresTableSettings,
    sender: OnceLock<Result<PostgresTableSender, String>>,
}

impl std::fmt::Debug for PostgresTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.settings.fmt(f)
    }
}

impl PostgresTable {
    pub fn new(settings: PostgresTableSettings) -> PostgresTable {
        PostgresTable {
            settings,
            sender: OnceLock::new(),
        }
    }

    /// Stores one rendered row (see [`PostgresTableSender::send`]). Must be called within a
    /// Tokio runtime. A sender that cannot be set up (a URL or TLS setting the pool refuses)
    /// makes every delivery dead with the reason: retrying cannot change the settings.
    pub async fn send(&self, body: &str) -> Report {
        let sender = self
            .sender
            .get_or_init(|| PostgresTableSender::new(&self.settings).map_err(|e| e.to_string()));
        match sender {
            Ok(sender) => sender.send(body).await,
            Err(reason) => failure::Failure::dead(reason.clone()).report(),
        }
    }

    /// What its sender has done so far (zero before the first delivery).
    pub fn stats(&self) -> SenderStats {
        match self.sender.get() {
            Some(Ok(sender)) => sender.stats(),
            _ => SenderStats::default(),
        }
    }
}

/// The row for `document` (the JSON a webhook receives): a JSON object of column → value,
/// in the order of the columns. This is the delivery's stored body.
pub fn render(settings: &PostgresTableSettings, document: &Value) -> String {
    // Serializing JSON values under string keys cannot fail.
    serde_json::to_string(&Row { settings, document }).unwrap_or_default()
}

/// The row, serialized straight from the document: no copy of its values.
struct Row<'a> {
    settings: &'a PostgresTableSettings,
    document: &'a Value,
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.settings.columns.len()))?;
        for column in &self.settings.columns {
            let value = column.path.lookup(self.document).unwrap_or(&Value::Null);
            map.serialize_entry(&column.name, value)?;
        }
        map.end()
    }
}
