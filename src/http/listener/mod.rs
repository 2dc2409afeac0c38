//! The accept loop: serves HTTP/1 connections with hyper directly, because `axum::serve` has
//! no header or idle timeout and no connection limit.
//!
//! - **Connection limit.** A connection is accepted only with a permit from a semaphore of
//!   `max_connections`; beyond it, new connections wait in the kernel's listen backlog (they
//!   hold no descriptor of ours) until one closes.
//! - **Header and idle timeouts.** Each connection has a [`watchdog`]: a connection that takes
//!   longer than the header timeout to send a request head (from its first byte, or from the
//!   accept for the first request), or sits idle between requests longer than the idle
//!   timeout, is closed.
//!
//!   Why not hyper's `header_read_timeout` alone: in hyper 1.12 its timer starts as soon as
//!   the connection is ready to read a head (`Conn::poll_read_head`, started again by
//!   `State::idle` after each response), not at the head's first byte. It therefore also
//!   bounds the wait of an idle keep-alive connection, with the same duration, so on its own
//!   it cannot give a 10 s header timeout and a 60 s idle timeout. It is kept as a backstop set
//!   to their sum, the longest any head may legitimately take from the end of the previous
//!   response.
//! - **Draining.** Connections are watched by hyper-util's [`GracefulShutdown`]: once the
//!   shutdown future resolves no connection is accepted, idle ones are closed, and in-flight
//!   requests are answered before [`serve`] returns.
//! - **Peer address.** Every request carries `ConnectInfo<SocketAddr>` in its extensions, as
//!   `axum::serve` with connect info did (`auth::PeerIp` reads it).

mod watchdog;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::Service;

use watchdog::{Activity, Watched};

/// After an accept error other than a connection that died in the backlog (typically
/// `EMFILE`: out of descriptors), wait this long before accepting again instead of spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);

/// What a connection may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and returns once
/// every connection has finished its in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout + limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    tracing::warn!(%error, "accept failed; pausing before the next accept");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let connection = serve_connection(&http, &graceful, stream, peer, app.clone(), limits);
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One connection, until it ends, the client goes quiet too long, or the server drains it.
fn serve_connection(
    http: &hyper::server::conn::http1::Builder,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
) -> impl Future<Output = ()> + Send + 'static {
    let activity = Activity::new(limits.header_timeout, limits.idle_timeout);
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = requests.request_started();
        let mut app = app.clone();
        async move {
            let response = app.call(request).await;
            drop(in_flight);
            response
        }
    });
    let connection = graceful.watch(http.serve_connection(io, service));
    activity.guard(connection, peer)
}

/// Errors that concern one connection that died before it was accepted, not the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}
