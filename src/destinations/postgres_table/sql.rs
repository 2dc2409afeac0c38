//! The two statements a destination runs, written once from its settings. Every name is
//! quoted ([`quote`]); values only ever travel as the one parameter, `$1`.

use super::settings::{PostgresTableSettings, quote};

/// The statements of one destination.
#[derive(Debug, Clone)]
pub(super) struct Statements {
    /// Inserts a batch: `$1` is the JSON array of rows (each a [`super::render`] body).
    /// Returns the 1-based position of each row it stored; the others were already there.
    pub insert: String,
    /// `CREATE TABLE IF NOT EXISTS`, when the settings ask for it.
    pub create: Option<String>,
}

impl Statements {
    pub fn new(settings: &PostgresTableSettings) -> Statements {
        Statements {
            insert: insert(settings),
            create: settings.create_table.then(|| create(settings)),
        }
    }
}

/// One statement for the whole batch, so one round trip and one commit:
///
/// - `batch`: each array element with its position, read by `json_populate_record` against
///   the table's own row type, so PostgreSQL casts each value to its column's type (and a
///   value it cannot cast fails the statement with a data exception). Its only columns are
///   `n` and the record `r`, so no name of the user's table can collide with them.
/// - `stored`: the insert; `ON CONFLICT (id) DO NOTHING` skips rows stored by an earlier
///   attempt.
/// - the result: the positions of the rows stored now.
fn insert(settings: &PostgresTableSettings) -> String {
    let table = settings.table.to_string();
    let id = quote(&settings.id_column().name);
    let names: Vec<String> = settings.columns.iter().map(|c| quote(&c.name)).collect();
    let values: Vec<String> = names.iter().map(|name| format!("(r).{name}")).collect();
    format!(
        "WITH batch AS MATERIALIZED (\
            SELECT e.n, json_populate_record(NULL::{table}, e.doc) AS r \
            FROM json_array_elements($1::text::json) WITH ORDINALITY AS e(doc, n)\
         ), stored AS (\
            INSERT INTO {table} ({names}) SELECT {values} FROM batch \
            ON CONFLICT ({id}) DO NOTHING RETURNING {id}\
         ) \
         SELECT batch.n FROM batch JOIN stored ON stored.{id} = (batch.r).{id}",
        names = names.join(", "),
        values = values.join(", "),
    )
}

/// The table as `create_table = true` makes it: the id `text PRIMARY KEY`, the event type
/// `text`, the time `timestamptz`, anything else `jsonb`, keeping JSON's types.
fn create(settings: &PostgresTableSettings) -> String {
    let id = &settings.id_column().name;
    let columns: Vec<String> = settings
        .columns
        .iter()
        .map(|column| {
            let kind = match column.path.field() {
                _ if &column.name == id => "text PRIMARY KEY",
                "type" => "text",
                "occurred_at" => "timestamptz",
                _ => "jsonb",
            };
            format!("{} {kind}", quote(&column.name))
        })
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        settings.table,
        columns.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::postgres_table::settings::{RawPostgresTable, settings};

    fn statements(text: &str) -> Statements {
        let raw: RawPostgresTable = toml::from_str(text).expect("test settings are TOML");
        let env = |_: &str| Some("postgres://root@127.0.0.1/test".to_owned());
        Statements::new(&settings(raw, &env).expect("test settings are valid"))
    }

    #[test]
    fn names_are_quoted_and_values_are_a_parameter() {
        let sql = statements(
            r#"url_env = "DB"
table = 'an"alytics.log; DROP TABLE x'
columns = { 'ev"id' = "id", urgency = "labels.urgency" }
create_table = true"#,
        );
        assert!(
            sql.insert
                .contains(r#"INSERT INTO "an""alytics"."log; DROP TABLE x" ("ev""id", "urgency")"#),
            "{}",
            sql.insert
        );
        assert!(sql.insert.contains(r#"ON CONFLICT ("ev""id") DO NOTHING"#));
        assert_eq!(
            sql.create.as_deref(),
            Some(
                r#"CREATE TABLE IF NOT EXISTS "an""alytics"."log; DROP TABLE x" ("ev""id" text PRIMARY KEY, "urgency" jsonb)"#
            )
        );
    }

    #[test]
    fn created_columns_follow_the_document_fields() {
        let sql = statements("url_env = \"DB\"\ntable = \"t\"\ncreate_table = true");
        assert_eq!(
            sql.create.as_deref(),
            Some(
                r#"CREATE TABLE IF NOT EXISTS "t" ("event_id" text PRIMARY KEY, "type" text, "occurred_at" timestamptz, "labels" jsonb, "payload" jsonb)"#
            )
        );
        let sql = statements("url_env = \"DB\"\ntable = \"t\"");
        assert!(sql.create.is_none());
    }
}
