//! Dial claims: the store's record of each outbound dial, made before the carrier is asked to
//! place it.
//!
//! The key is (escalation, attempt, leg, n), and the database enforces it: a second claim of
//! the same dial is refused whichever process or node makes it, so "never ring twice" does not
//! rest on a lease being respected or on the carrier dropping a repeated `command_id`. The one
//! dial sent again under an existing claim is a recovery's re-send of the claimed command
//! itself (same `command_id`) while the leg it placed is unknown: a crash between the claim
//! and the carrier's answer must not strand the escalation, and the carrier drops the repeat
//! if the first request did get through.

use super::EscalationId;

/// A dial about to be sent, to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDial {
    pub escalation: EscalationId,
    pub attempt: u32,
    /// `A` (the person rung) or `B` (the connect target), as in call legs.
    pub leg: &'static str,
    /// Which dial of this leg in this attempt: 1 for leg A (one per attempt); for leg B the
    /// connect try, since a failed connect may be tried again from the menu.
    pub n: u32,
    /// The carrier command that places the dial; deterministic, so a re-send is this command.
    pub command_id: String,
    pub why: Dialling,
}

/// Why a dial is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialling {
    /// A step just decided it.
    Decided,
    /// Recovery of a dial that an interrupted step decided and may or may not have sent.
    Recovered,
}

/// A claim already in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDial {
    pub command_id: String,
    /// Who claimed it: a PostgreSQL node id, or on SQLite the process owning the file.
    pub node: String,
    /// The leg the claimed command placed, once recorded.
    pub placed: Option<String>,
}

/// What the store answers to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialClaim {
    /// The first claim of this dial: send it.
    Claimed,
    /// Already claimed under this very command, whose leg was never recorded, and this is a
    /// recovery: send the same command again.
    Resend,
    /// Already claimed, and sending would ring a second time: do not send.
    Refused(ClaimedDial),
}

impl NewDial {
    /// The rule both backends apply, given the claim the store held for this dial's key
    /// before this call (`None`: this call made it).
    pub fn decide(&self, existing: Option<ClaimedDial>) -> DialClaim {
        match existing {
            None => DialClaim::Claimed,
            Some(claim)
                if self.why == Dialling::Recovered
                    && claim.command_id == self.command_id
                    && claim.placed.is_none() =>
            {
                DialClaim::Resend
            }
            Some(claim) => DialClaim::Refused(claim),
        }
    }
}

/// A leg the carrier placed, to record with the step that learnt of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLeg {
    pub call_control_id: String,
    pub attempt: u32,
    /// `A` or `B`.
    pub leg: &'static str,
    /// The dial command that placed it; its claim is marked placed.
    pub command_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial(why: Dialling) -> NewDial {
        NewDial {
            escalation: EscalationId::new(),
            attempt: 2,
            leg: "A",
            n: 1,
            command_id: "esc:2:dial_a".into(),
            why,
        }
    }

    fn claim(command_id: &str, placed: Option<&str>) -> ClaimedDial {
        ClaimedDial {
            command_id: command_id.into(),
            node: "node_1".into(),
            placed: placed.map(String::from),
        }
    }

    #[test]
    fn only_the_first_claim_of_a_decided_dial_sends_it() {
        let decided = dial(Dialling::Decided);
        assert_eq!(decided.decide(None), DialClaim::Claimed);
        let same = claim("esc:2:dial_a", None);
        assert_eq!(
            decided.decide(Some(same.clone())),
            DialClaim::Refused(same),
            "a second decision of the same dial is refused, even under the same command"
        );
    }

    #[test]
    fn a_recovery_resends_only_its_own_unplaced_command() {
        let recovered = dial(Dialling::Recovered);
        assert_eq!(recovered.decide(None), DialClaim::Claimed);
        assert_eq!(
            recovered.decide(Some(claim("esc:2:dial_a", None))),
            DialClaim::Resend
        );
        let placed = claim("esc:2:dial_a", Some("v3:leg"));
        assert_eq!(
            recovered.decide(Some(placed.clone())),
            DialClaim::Refused(placed),
            "the leg is known: the dial went out"
        );
        let other = claim("esc:2:7:dial_a", None);
        assert_eq!(
            recovered.decide(Some(other.clone())),
            DialClaim::Refused(other),
            "another command for the same dial is a second ring"
        );
    }
}
