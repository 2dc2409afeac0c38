//! Claiming a dial in the store just before the carrier is asked to place it: the
//! database's key on (escalation, attempt, leg, n) refuses a second claim, so no lapse of a
//! lease or a lock rings someone twice for one attempt.

use super::EngineHandle;
use super::executed::Executed;
use crate::store::{DialClaim, Dialling, EscalationId, NewDial};
use crate::voice::carrier::CommandRef;
use crate::voice::timeline;

impl EngineHandle {
    /// Claims the dial `command` places (`n`: which connect try, for leg B); `Err` carries
    /// what to record instead when it must not be sent.
    pub(super) async fn claim(
        &self,
        id: EscalationId,
        (attempt, n): (u32, u32),
        command: &CommandRef,
        why: Dialling,
    ) -> Result<(), Executed> {
        let leg = command.leg;
        let dial = NewDial {
            escalation: id,
            attempt,
            leg: timeline::leg_name(leg),
            n,
            command_id: command.command_id.clone(),
            why,
        };
        match self.shared.store.claim_dial(dial).await {
            Ok(DialClaim::Claimed | DialClaim::Resend) => Ok(()),
            Ok(DialClaim::Refused(claim)) => {
                tracing::warn!(escalation = %id, attempt, ?leg, claimed_by = %claim.node, "dial already claimed; not sent again");
                Err(Executed::already_claimed(command, attempt, claim, why))
            }
            Err(error) => {
                tracing::error!(%error, escalation = %id, attempt, ?leg, "could not claim a dial; not sent");
                let reason = format!("the dial could not be claimed: {error}");
                Err(Executed::unclaimed(command, attempt, reason))
            }
        }
    }
}
