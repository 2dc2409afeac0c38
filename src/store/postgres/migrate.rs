//! Applies the PostgreSQL schema at start-up, safely when several nodes start at once.
//!
//! A session advisory lock serialises migrating nodes: the first applies what is missing,
//! the others wait, then find nothing left to do. Each migration runs in one transaction with
//! the row that records it (PostgreSQL DDL is transactional), so a crash never leaves half a
//! migration behind.

use tokio_postgres::Client;

use crate::store::StoreError;
use crate::store::migrations::POSTGRES;

/// The advisory lock key ("klaxon" in ASCII): unique to Klaxon within a database.
const MIGRATION_LOCK: i64 = 0x6b6c_6178_6f6e;

/// Applies every migration newer than the database's version; returns how many ran.
pub async fn apply(client: &mut Client) -> Result<usize, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let applied = apply_locked(client).await;
    // Closing the session would release it too; unlock now so the pooled connection is clean.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let applied = applied?;
    unlocked?;
    Ok(applied)
}

async fn apply_locked(client: &mut Client) -> Result<usize, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let current: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    if let Some(latest) = POSTGRES.last()
        && current > latest.version
    {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: latest.version,
        });
    }
    let mut applied = 0;
    for migration in POSTGRES.iter().filter(|m| m.version > current) {
        let failed = |source| StoreError::PostgresMigration {
            version: migration.version,
            name: migration.name,
            source,
        };
        let tx = client.transaction().await?;
        tx.batch_execute(migration.sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(failed)?;
        tx.commit().await?;
        applied += 1;
    }
    Ok(applied)
}
