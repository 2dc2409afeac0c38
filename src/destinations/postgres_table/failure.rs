//! What a failed insert means: try again later, give up on the whole batch, or give up on
//! one row of it. Judged from PostgreSQL's SQLSTATE; the text kept is the server's message
//! (with its detail and hint), never the URL or anything else of the connection settings.

use std::time::Duration;

use tokio_postgres::error::DbError;

use crate::destinations::report::{Report, Verdict};

/// Why an insert failed, and what that means for its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    pub kind: Kind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The server is unreachable, busy or restarting: nothing was stored, and the same rows
    /// may succeed later.
    Retry,
    /// The statement lost a race with another transaction (deadlock, serialization
    /// failure): nothing was stored, and running it again at once usually succeeds.
    Conflict,
    /// The table, a column, a privilege or the login is wrong: no row can succeed until
    /// someone changes the database or the settings.
    Dead,
    /// The server refused a value (a data exception or a constraint): some row of the batch
    /// is at fault; alone, it is dead, and the others may well succeed.
    RowData,
}

impl Failure {
    pub fn retry(message: impl Into<String>) -> Failure {
        Failure {
            kind: Kind::Retry,
            message: message.into(),
        }
    }

    pub fn dead(message: impl Into<String>) -> Failure {
        Failure {
            kind: Kind::Dead,
            message: message.into(),
        }
    }

    /// The driver's error, judged.
    pub fn of(error: &tokio_postgres::Error) -> Failure {
        match error.as_db_error() {
            Some(db) => Failure::of_db(db),
            // No SQLSTATE: the connection broke, closed or timed out.
            None => Failure::retry(crate::error_text::with_causes(error)),
        }
    }

    /// The pool's error: no connection could be had.
    pub fn of_pool(error: &deadpool_postgres::PoolError, waited: Duration) -> Failure {
        match error {
            deadpool_postgres::PoolError::Backend(error) => Failure::of(error),
            deadpool_postgres::PoolError::Timeout(_) => {
                Failure::retry(format!("no connection to PostgreSQL within {waited:?}"))
            }
            other => Failure::retry(format!("no connection to PostgreSQL: {other}")),
        }
    }

    fn of_db(db: &DbError) -> Failure {
        let code = db.code().code();
        let mut message = format!("{} (SQLSTATE {code})", db.message());
        if let Some(detail) = db.detail() {
            message.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint().map(str::to_owned).or_else(|| hint(code)) {
            message.push_str(&format!("; hint: {hint}"));
        }
        let kind = match code.get(..2).unwrap_or("") {
            // Data exceptions (a value the column's type refuses, NUL in text) and integrity
            // constraints (NOT NULL, CHECK, a foreign key, another unique key): one row's.
            "22" | "23" => Kind::RowData,
            // The statement itself cannot work against this database: a missing table or
            // column, a type mismatch, no unique index for ON CONFLICT, a privilege; an
            // unsupported feature; the login or database named in the URL.
            "42" | "0A" | "28" | "3D" | "3F" | "44" => Kind::Dead,
            "40" => Kind::Conflict,
            // Too many connections and out of
            // resources (53), shutdown and statement timeout (57), lock timeout (55), lost
            // connections (08), server-side I/O and internal errors (58, XX): all pass.
            _ => Kind::Retry,
        };
        Failure { kind, message }
    }

    /// The report for one row that failed this way.
    pub fn report(&self) -> Report {
        let verdict = match self.kind {
            Kind::Retry | Kind::Conflict => Verdict::Retry { after: None },
            Kind::Dead | Kind::RowData => Verdict::Dead,
        };
        Report::failed(verdict, None, self.message.clone())
    }
}

/// Klaxon's own hint where PostgreSQL's message alone leaves the fix unclear.
fn hint(code: &str) -> Option<String> {
    Some(
        match code {
            "42P10" => "the column mapped to \"id\" needs a primary key or unique index: it is the conflict key that keeps a retry from storing a row twice",
            "42P01" => "create the table, or set create_table = true",
            // Rows are read as the table's row type, so a missing table is first a missing type.
            "42704" => "if that is the table, it does not exist: create it, or set create_table = true",
            "22P05" | "22021" => "PostgreSQL cannot store NUL (\\u0000) in text, json or jsonb values",
            _ => return None,
        }
        .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reports_its_verdict_and_message() {
        let report = Failure::retry("server closed the connection").report();
        assert_eq!(report.verdict, Verdict::Retry { after: None });
        assert_eq!(
            report.error.as_deref(),
            Some("server closed the connection")
        );
        let report = Failure::dead("relation does not exist").report();
        assert_eq!(report.verdict, Verdict::Dead);
    }
}
