//! SMTP connections for one destination: opened with Nagle's algorithm off, secured as the
//! settings say, logged in, and kept open between sends.
//!
//! Why not lettre's own transport and pool, only its SMTP conversation
//! ([`AsyncSmtpConnection`]): lettre opens the socket itself with Nagle's algorithm on, and
//! writes a message's end (`\r\n.\r\n`) apart from the message. The kernel holds that small
//! write until the message is acknowledged, and the server delays its acknowledgement
//! waiting for more: about 40 ms lost on every e-mail, some 20 e-mails a second per
//! connection. Also, lettre's timeout covers connecting only, and its pool takes a connection
//! back from a `Drop`, so an attempt cut short by our timeout could hand the next one a
//! connection in the middle of a conversation. Here a connection goes back to the pool only
//! after a completed send, and one that got a negative reply is closed (lettre marks it).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::transport::smtp;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{EmailSettings, Security};

/// Connections per destination, open at once and kept idle: a burst takes turns on these
/// rather than opening one per send (with 1,024 sends in flight that was 1,024 connections,
/// and the server slowed to a crawl; relays also limit how many a client may open).
const POOL_SIZE: usize = 16;
/// How long an idle connection is kept: servers drop idle clients after a few minutes
/// (RFC 5321 suggests 5), so less than that.
const POOL_IDLE: Duration = Duration::from_secs(60);
/// A connection idle longer than this is checked with `NOOP` before it is used again; one
/// used a moment ago is taken as it is, saving a round trip per e-mail in a burst.
const CHECK_AFTER: Duration = Duration::from_secs(1);

/// Why no SMTP conversation could be had.
#[derive(Debug)]
pub(super) enum Failure {
    Connect(io::Error),
    /// The implicit TLS handshake.
    Tls(io::Error),
    /// Anything lettre reports: a negative reply, a STARTTLS or login failure, a broken
    /// connection.
    Smtp(smtp::Error),
}

/// One destination's open connections.
pub(super) struct Pool {
    /// Newest last. A plain mutex: it is never held across an `.await`.
    idle: Mutex<Vec<Idle>>,
    /// A turn to use a connection: [`POOL_SIZE`] at once.
    turns: Semaphore,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool {
            idle: Mutex::default(),
            turns: Semaphore::new(POOL_SIZE),
        }
    }
}

struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

impl Pool {
    /// Waits for a turn to hold a connection (bounded by the attempt's timeout, which covers
    /// the whole attempt); keep it until the connection is back with [`Pool::put`] or dropped.
    pub(super) async fn turn(&self) -> Option<SemaphorePermit<'_>> {
        // The semaphore is never closed, so this is always `Some`.
        self.turns.acquire().await.ok()
    }

    /// A live connection to the destination's server: an idle one, or a new one.
    pub(super) async fn take(
        &self,
        settings: &EmailSettings,
    ) -> Result<AsyncSmtpConnection, Failure> {
        while let Some(Idle {
            mut connection,
            since,
        }) = self.pop()
        {
            let idle = since.elapsed();
            if idle > POOL_IDLE {
                // Dropped: the socket closes. The server has likely closed it already.
                continue;
            }
            if idle < CHECK_AFTER || connection.test_connected().await {
                return Ok(connection);
            }
        }
        open(settings).await
    }

    /// Keeps `connection` for the next send, unless it is broken or the pool is full.
    pub(super) fn put(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|c| c.since.elapsed() <= POOL_IDLE);
        if idle.len() < POOL_SIZE {
            idle.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    fn pop(&self) -> Option<Idle> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }
}

/// Connects, greets, secures and logs in.
async fn open(settings: &EmailSettings) -> Result<AsyncSmtpConnection, Failure> {
    let tcp = TcpStream::connect((settings.host.as_str(), settings.port))
        .await
        .map_err(Failure::Connect)?;
    // Every write (a command, a message's end) is followed by waiting for the reply: send
    // it at once.
    tcp.set_nodelay(true).map_err(Failure::Connect)?;
    // No `hostname` feature: lettre greets with an address literal, which servers accept.
    let hello = ClientId::default();
    let mut connection = match &settings.security {
        Security::Implicit {
            config,
            server_name,
        } => {
            let tls = TlsConnector::from(config.clone())
                .connect(server_name.clone(), tcp)
                .await
                .map_err(Failure::Tls)?;
            AsyncSmtpConnection::connect_with_transport(Box::new(ImplicitTls(tls)), &hello).await
        }
        Security::StartTls(_) | Security::None => {
            AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello).await
        }
    }
    .map_err(Failure::Smtp)?;
    if let Security::StartTls(parameters) = &settings.security {
        connection
            .starttls(parameters.clone(), &hello)
            .await
            .map_err(Failure::Smtp)?;
    }
    if let Some((user, password)) = &settings.login {
        let credentials = Credentials::new(user.clone(), password.expose().to_owned());
        connection
            .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
            .await
            .map_err(Failure::Smtp)?;
    }
    Ok(connection)
}

/// A TLS stream lettre can talk SMTP over.
struct ImplicitTls(TlsStream<TcpStream>);

impl fmt::Debug for ImplicitTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ImplicitTls")
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
