//! Schema migrations, applied in order at start-up and recorded in `schema_migrations`.
//!
//! Each migration is a plain SQL file per dialect, compiled into the binary. A migration runs
//! in its own transaction together with the row that records it, so a crash mid-way leaves
//! the schema at the previous version, never half-applied. Both dialects list the same
//! versions with the same names (a test checks it): one logical schema, two spellings.

use rusqlite::Connection;

use super::StoreError;

/// One step of the schema.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The SQLite schema, oldest first. Append only: an applied migration is never edited.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "events",
        sql: include_str!("migrations/sqlite/0001_events.sql"),
    },
    Migration {
        version: 2,
        name: "pipelines",
        sql: include_str!("migrations/sqlite/0002_pipelines.sql"),
    },
    Migration {
        version: 3,
        name: "escalations",
        sql: include_str!("migrations/sqlite/0003_escalations.sql"),
    },
    Migration {
        version: 4,
        name: "voice webhook bodies",
        sql: include_str!("migrations/sqlite/0004_voice_webhook_bodies.sql"),
    },
    Migration {
        version: 5,
        name: "transitions",
        sql: include_str!("migrations/sqlite/0005_transitions.sql"),
    },
    Migration {
        version: 6,
        name: "poll cursors",
        sql: include_str!("migrations/sqlite/0006_poll_cursors.sql"),
    },
    Migration {
        version: 7,
        name: "leases",
        sql: include_str!("migrations/sqlite/0007_leases.sql"),
    },
    Migration {
        version: 8,
        name: "transition fired by",
        sql: include_str!("migrations/sqlite/0008_transition_fired_by.sql"),
    },
    Migration {
        version: 9,
        name: "nodes",
        sql: include_str!("migrations/sqlite/0009_nodes.sql"),
    },
    Migration {
        version: 10,
        name: "dials",
        sql: include_str!("migrations/sqlite/0010_dials.sql"),
    },
    Migration {
        version: 11,
        name: "delivery targets",
        sql: include_str!("migrations/sqlite/0011_delivery_targets.sql"),
    },
    Migration {
        version: 12,
        name: "schedule overrides",
        sql: include_str!("migrations/sqlite/0012_schedule_overrides.sql"),
    },
    Migration {
        version: 13,
        name: "alert groups",
        sql: include_str!("migrations/sqlite/0013_alert_groups.sql"),
    },
    Migration {
        version: 14,
        name: "texts",
        sql: include_str!("migrations/sqlite/0014_texts.sql"),
    },
    Migration {
        version: 15,
        name: "inbound calls",
        sql: include_str!("migrations/sqlite/0015_inbound_calls.sql"),
    },
];

/// The PostgreSQL schema: the same versions and names as [`SQLITE`], in PostgreSQL's
/// dialect. Append only.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "events",
        sql: include_str!("migrations/postgres/0001_events.sql"),
    },
    Migration {
        version: 2,
        name: "pipelines",
        sql: include_str!("migrations/postgres/0002_pipelines.sql"),
    },
    Migration {
        version: 3,
        name: "escalations",
        sql: include_str!("migrations/postgres/0003_escalations.sql"),
    },
    Migration {
        version: 4,
        name: "voice webhook bodies",
        sql: include_str!("migrations/postgres/0004_voice_webhook_bodies.sql"),
    },
    Migration {
        version: 5,
        name: "transitions",
        sql: include_str!("migrations/postgres/0005_transitions.sql"),
    },
    Migration {
        version: 6,
        name: "poll cursors",
        sql: include_str!("migrations/postgres/0006_poll_cursors.sql"),
    },
    Migration {
        version: 7,
        name: "leases",
        sql: include_str!("migrations/postgres/0007_leases.sql"),
    },
    Migration {
        version: 8,
        name: "transition fired by",
        sql: include_str!("migrations/postgres/0008_transition_fired_by.sql"),
    },
    Migration {
        version: 9,
        name: "nodes",
        sql: include_str!("migrations/postgres/0009_nodes.sql"),
    },
    Migration {
        version: 10,
        name: "dials",
        sql: include_str!("migrations/postgres/0010_dials.sql"),
    },
    Migration {
        version: 11,
        name: "delivery targets",
        sql: include_str!("migrations/postgres/0011_delivery_targets.sql"),
    },
    Migration {
        version: 12,
        name: "schedule overrides",
        sql: include_str!("migrations/postgres/0012_schedule_overrides.sql"),
    },
    Migration {
        version: 13,
        name: "alert groups",
        sql: include_str!("migrations/postgres/0013_alert_groups.sql"),
    },
    Migration {
        version: 14,
        name: "texts",
        sql: include_str!("migrations/postgres/0014_texts.sql"),
    },
    Migration {
        version: 15,
        name: "inbound calls",
        sql: include_str!("migrations/postgres/0015_inbound_calls.sql"),
    },
];

/// Applies every migration newer than the database's version; returns how many ran.
pub fn apply_sqlite(conn: &mut Connection) -> Result<usize, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         )",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    if let Some(latest) = SQLITE.last()
        && current > latest.version
    {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: latest.version,
        });
    }
    let mut applied = 0;
    for migration in SQLITE.iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration.sql)
            .and_then(|()| {
                tx.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                    (migration.version, migration.name),
                )
                .map(drop)
            })
            .map_err(|source| StoreError::Migration {
                version: migration.version,
                name: migration.name,
                source,
            })?;
        tx.commit()?;
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_have_the_same_schema_versions() {
        let versions =
            |list: &[Migration]| list.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        assert!(SQLITE.windows(2).all(|w| w[0].version < w[1].version));
    }
}
