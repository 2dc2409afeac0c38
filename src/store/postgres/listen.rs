//! `LISTEN` for the other nodes' announcements: jobs that became due, escalations released,
//! destinations disabled or enabled.
//!
//! One connection outside the pool stays in `LISTEN`; each notification wakes the waiters of
//! this node at once, so a replay made on one node is attempted without waiting for the next
//! poll, and a webhook that arrived at a node other than the one stepping its escalation is
//! handled as soon as that node is done. If the connection drops it is opened again; waiters
//! also poll slowly, so a lost notification costs latency, never correctness.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::deliveries::{DESTINATIONS_CHANNEL, JOBS_CHANNEL};
use super::leases::ESCALATIONS_CHANNEL;
use super::overrides::OVERRIDES_CHANNEL;

/// What the notifications wake.
#[derive(Default)]
pub struct Wakers {
    /// The delivery poller (one waiter per node: `notify_one` keeps a missed wake-up).
    pub jobs: Notify,
    /// Every task waiting for an escalation's lease.
    pub escalations: Notify,
    /// The delivery worker's copy of the disabled destinations (one waiter per node).
    pub destinations: Notify,
    /// The on-call override cache (one waiter per node: `notify_one` keeps a missed wake-up).
    pub overrides: Notify,
}

/// Listens until aborted, reconnecting after failures.
pub async fn run(config: tokio_postgres::Config, tls: MakeRustlsConnect, wakers: Arc<Wakers>) {
    loop {
        if let Err(error) = session(&config, &tls, &wakers).await {
            tracing::warn!(%error, "PostgreSQL notification connection lost; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn session(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    wakers: &Wakers,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let receive = async {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(note))) => match note.channel() {
                    JOBS_CHANNEL => wakers.jobs.notify_one(),
                    DESTINATIONS_CHANNEL => wakers.destinations.notify_one(),
                    OVERRIDES_CHANNEL => wakers.overrides.notify_one(),
                    _ => wakers.escalations.notify_waiters(),
                },
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    };
    let listen = async {
        client
            .batch_execute(&format!(
                "LISTEN {JOBS_CHANNEL}; LISTEN {ESCALATIONS_CHANNEL}; LISTEN {DESTINATIONS_CHANNEL}; LISTEN {OVERRIDES_CHANNEL}"
            ))
            .await?;
        // Anything announced while we were not listening: look once.
        wakers.jobs.notify_one();
        wakers.escalations.notify_waiters();
        wakers.destinations.notify_one();
        wakers.overrides.notify_one();
        std::future::pending::<Result<(), tokio_postgres::Error>>().await
    };
    tokio::select! {
        result = receive => result,
        result = listen => result,
    }
}
