//! The server settings Klaxon's promises rest on, read once at start-up: an event is answered
//! `202` only once its commit is durable (`fsync`, `synchronous_commit`), and tables that are
//! updated on every delivery keep their size only while vacuum runs (`autovacuum`). They are
//! the operator's to choose, so Klaxon does not change them; it says so when one of them
//! breaks a promise.

use crate::store::StoreError;

/// The settings as this connection sees them (server defaults, overridden by the URL's
/// `options` if it sets any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub fsync: String,
    pub synchronous_commit: String,
    pub autovacuum: String,
}

impl ServerSettings {
    pub async fn read(client: &tokio_postgres::Client) -> Result<ServerSettings, StoreError> {
        let row = client
            .query_one(
                "SELECT current_setting('fsync'), current_setting('synchronous_commit'),
                        current_setting('autovacuum')",
                &[],
            )
            .await?;
        Ok(ServerSettings {
            fsync: row.try_get(0)?,
            synchronous_commit: row.try_get(1)?,
            autovacuum: row.try_get(2)?,
        })
    }

    /// What an operator should hear about, one sentence each.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.fsync == "off" {
            warnings.push(
                "PostgreSQL runs with fsync = off: a crash of its machine can lose events Klaxon has acknowledged"
                    .to_owned(),
            );
        }
        if self.synchronous_commit == "off" {
            warnings.push(
                "PostgreSQL runs with synchronous_commit = off: events are acknowledged before their commit is durable, and a server crash can lose the last ones"
                    .to_owned(),
            );
        }
        if self.autovacuum == "off" {
            warnings.push(
                "PostgreSQL runs with autovacuum = off: deliveries and events are updated as they progress, so their tables and indexes will keep growing and slow down unless you VACUUM them yourself"
                    .to_owned(),
            );
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::ServerSettings;

    fn settings(fsync: &str, synchronous_commit: &str, autovacuum: &str) -> ServerSettings {
        ServerSettings {
            fsync: fsync.into(),
            synchronous_commit: synchronous_commit.into(),
            autovacuum: autovacuum.into(),
        }
    }

    #[test]
    fn the_defaults_raise_nothing() {
        assert!(settings("on", "on", "on").warnings().is_empty());
    }

    #[test]
    fn every_durable_commit_level_is_fine() {
        for level in ["local", "remote_write", "on", "remote_apply"] {
            assert!(settings("on", level, "on").warnings().is_empty(), "{level}");
        }
    }

    #[test]
    fn each_broken_promise_is_named() {
        let warnings = settings("off", "off", "off").warnings();
        assert_eq!(warnings.len(), 3);
        assert!(warnings[0].contains("fsync = off"));
        assert!(warnings[1].contains("synchronous_commit = off"));
        assert!(warnings[2].contains("autovacuum = off"));
    }
}
