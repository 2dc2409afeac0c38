//! `poll_cursors` on PostgreSQL: where each reconciliation poll resumes, shared by every node
//! (see `crate::ingress::merge_poll`).

use deadpool_postgres::GenericClient;

use crate::clock;
use crate::store::StoreError;

pub async fn get(client: &impl GenericClient, name: &str) -> Result<Option<String>, StoreError> {
    let statement = client
        .prepare_cached("SELECT cursor FROM poll_cursors WHERE name = $1")
        .await?;
    Ok(client
        .query_opt(&statement, &[&name])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
}

pub async fn set(client: &impl GenericClient, name: &str, cursor: &str) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO poll_cursors (name, cursor, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE
             SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .await?;
    client
        .execute(&statement, &[&name, &cursor, &clock::now_rfc3339()])
        .await?;
    Ok(())
}
