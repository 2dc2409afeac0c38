//! Dial claims on PostgreSQL (see `store::dial` for the rule): whichever node inserts a dial's
//! key first claims it; every later claim, from any node, finds that row instead.

use deadpool_postgres::GenericClient;

use super::Node;
use crate::clock;
use crate::store::{ClaimedDial, DialClaim, NewDial, NewLeg, StoreError};

/// Claims `dial` for this node, or reports the claim that was there first.
pub async fn claim(
    client: &impl GenericClient,
    node: &Node,
    dial: &NewDial,
) -> Result<DialClaim, StoreError> {
    let escalation = dial.escalation.to_string();
    let (attempt, n) = (i64::from(dial.attempt), i64::from(dial.n));
    let statement = client
        .prepare_cached(
            "INSERT INTO dials (escalation_id, attempt, leg, n, command_id, node, claimed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (escalation_id, attempt, leg, n) DO NOTHING",
        )
        .await?;
    let inserted = client
        .execute(
            &statement,
            &[
                &escalation,
                &attempt,
                &dial.leg,
                &n,
                &dial.command_id,
                &node.id,
                &clock::now_rfc3339(),
            ],
        )
        .await?;
    if inserted == 1 {
        return Ok(dial.decide(None));
    }
    // A conflict waits for the other insert to commit, so its row is visible to this next
    // statement (read committed).
    let statement = client
        .prepare_cached(
            "SELECT command_id, node, call_control_id FROM dials
             WHERE escalation_id = $1 AND attempt = $2 AND leg = $3 AND n = $4",
        )
        .await?;
    let existing = client
        .query_opt(&statement, &[&escalation, &attempt, &dial.leg, &n])
        .await?
        .map(|row| -> Result<ClaimedDial, StoreError> {
            Ok(ClaimedDial {
                command_id: row.try_get(0)?,
                node: row.try_get(1)?,
                placed: row.try_get(2)?,
            })
        })
        .transpose()?;
    Ok(dial.decide(existing))
}

/// Marks the claim of the command that placed `leg` as placed.
pub async fn placed(
    client: &impl GenericClient,
    escalation: &str,
    leg: &NewLeg,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE dials SET call_control_id = $3
             WHERE escalation_id = $1 AND command_id = $2 AND call_control_id IS NULL",
        )
        .await?;
    client
        .execute(
            &statement,
            &[&escalation, &leg.command_id, &leg.call_control_id],
        )
        .await?;
    Ok(())
}
