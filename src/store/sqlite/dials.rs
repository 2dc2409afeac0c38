//! Dial claims in SQLite (see `store::dial` for the rule). Claims run in the writer, inside
//! an immediate transaction, so two claims of one dial are decided one after the other even
//! when two processes share the file; the primary key refuses the second.

use rusqlite::{OptionalExtension, Transaction};

use crate::clock;
use crate::store::{ClaimedDial, DialClaim, NewDial, NewLeg};

/// Claims `dial` for `node`, or reports the claim that was there first.
pub fn claim(tx: &Transaction<'_>, node: &str, dial: &NewDial) -> rusqlite::Result<DialClaim> {
    let escalation = dial.escalation.to_string();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO dials (escalation_id, attempt, leg, n, command_id, node, claimed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (escalation_id, attempt, leg, n) DO NOTHING",
        )?
        .execute((
            &escalation,
            dial.attempt,
            dial.leg,
            dial.n,
            &dial.command_id,
            node,
            clock::now_rfc3339(),
        ))?;
    if inserted == 1 {
        return Ok(dial.decide(None));
    }
    let existing = tx
        .prepare_cached(
            "SELECT command_id, node, call_control_id FROM dials
             WHERE escalation_id = ?1 AND attempt = ?2 AND leg = ?3 AND n = ?4",
        )?
        .query_row((&escalation, dial.attempt, dial.leg, dial.n), |row| {
            Ok(ClaimedDial {
                command_id: row.get(0)?,
                node: row.get(1)?,
                placed: row.get(2)?,
            })
        })
        .optional()?;
    Ok(dial.decide(existing))
}

/// Marks the claim of the command that placed `leg` as placed.
pub fn placed(tx: &Transaction<'_>, escalation: &str, leg: &NewLeg) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE dials SET call_control_id = ?3
         WHERE escalation_id = ?1 AND command_id = ?2 AND call_control_id IS NULL",
    )?
    .execute((escalation, &leg.command_id, &leg.call_control_id))?;
    Ok(())
}
