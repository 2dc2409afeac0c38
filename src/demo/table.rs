//! `klaxon demo --table-url`: the PostgreSQL table every demo event is written to, seen from
//! the demo's side.
//!
//! Klaxon's own `postgres` destination writes the rows (creating the table with
//! `create_table = true`); the demo only needs a connection of its own to start from an
//! empty table and to read back what arrived. It touches one table, [`TABLE`], and nothing
//! else in that database: it drops it before Klaxon starts (without `CASCADE`, so a view or
//! key that depends on it makes the demo stop instead of removing it), and reads it.
//! The connection is made the way Klaxon makes its own (`sslmode` and all).

use std::fmt;
use std::str::FromStr;

use tokio_postgres::Client;

use crate::store::PostgresUrl;
use crate::store::postgres::connect;

/// The table the demo's `event-table` pipeline writes to, in the URL's default schema
/// (the first of its `search_path`).
pub const TABLE: &str = "klaxon_demo_events";

/// `--table-url`, as given and as parsed. Klaxon's destination gets it as given (through
/// the demo's environment, like any credential); the demo's own connection uses the parsed
/// form. Holds the password, so it prints redacted.
#[derive(Clone)]
pub struct TableUrl {
    given: String,
    parsed: PostgresUrl,
}

impl TableUrl {
    /// The URL as given (contains the password: never print it).
    pub fn expose(&self) -> &str {
        &self.given
    }
}

impl FromStr for TableUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<TableUrl, String> {
        Ok(TableUrl {
            given: url.to_owned(),
            parsed: url.parse()?,
        })
    }
}

impl fmt::Display for TableUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parsed.fmt(f)
    }
}

impl fmt::Debug for TableUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableUrl({})", self.parsed)
    }
}

/// Why the demo's table could not be prepared or read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("--table-url")]
    Url(#[source] crate::store::StoreError),
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot drop the demo's table klaxon_demo_events to start afresh")]
    Drop(#[source] tokio_postgres::Error),
    #[error("cannot read the demo's table klaxon_demo_events")]
    Read(#[source] tokio_postgres::Error),
}

/// One stored row, as the demo prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub id: String,
    pub event_type: Option<String>,
    /// The `urgency` label, if the event got one.
    pub urgency: Option<String>,
}

/// The demo's connection to the table's database.
pub struct DemoTable {
    client: Client,
    /// Where it is, without the password.
    shown: String,
    connection: tokio::task::JoinHandle<()>,
}

impl DemoTable {
    /// Connects and drops [`TABLE`] if it exists, so Klaxon creates it empty at its first row.
    pub async fn prepare(url: &TableUrl) -> Result<DemoTable, TableError> {
        let config = connect::config(&url.parsed).map_err(TableError::Url)?;
        let tls = connect::tls(&url.parsed).map_err(TableError::Url)?;
        let (client, connection) =
            config
                .connect(tls)
                .await
                .map_err(|source| TableError::Connect {
                    url: url.to_string(),
                    source,
                })?;
        let connection = tokio::spawn(async move {
            // It ends when the client is dropped; a broken connection shows as the next
            // query's error.
            let _ = connection.await;
        });
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {TABLE}"))
            .await
            .map_err(TableError::Drop)?;
        Ok(DemoTable {
            client,
            shown: url.to_string(),
            connection,
        })
    }

    /// The database, for the console (no password).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Every row, oldest event first. The table does not exist until Klaxon stores its first
    /// row, so a missing table is read as empty.
    pub async fn rows(&self) -> Result<Vec<TableRow>, TableError> {
        let exists = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&TABLE])
            .await
            .map_err(TableError::Read)?;
        if !exists.get::<_, bool>(0) {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT id, type, urgency #>> '{{}}' FROM {TABLE} ORDER BY occurred_at, id"
                ),
                &[],
            )
            .await
            .map_err(TableError::Read)?;
        Ok(rows
            .iter()
            .map(|row| TableRow {
                id: row.get(0),
                event_type: row.get(1),
                urgency: row.get(2),
            })
            .collect())
    }
}

impl Drop for DemoTable {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_prints() {
        let url: TableUrl = "postgres://demo:s3cret@db.example/analytics?sslmode=require"
            .parse()
            .expect("a valid URL");
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db.example"), "{shown}");
        assert_eq!(
            url.expose(),
            "postgres://demo:s3cret@db.example/analytics?sslmode=require"
        );
        assert!("postgres://h/db?sslmode=bogus".parse::<TableUrl>().is_err());
    }
}
