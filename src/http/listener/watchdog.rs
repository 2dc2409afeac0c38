//! Per-connection deadlines: how long a connection may take to send a request head, and how
//! long it may sit idle between requests.
//!
//! [`Watched`] wraps the socket and notes when bytes arrive; the service notes when a request
//! starts (its head is parsed) and when its response is ready. From those, [`Activity`]
//! knows the one deadline that applies:
//!
//! | the connection is… | deadline |
//! |---|---|
//! | new, no request yet | accept + header timeout |
//! | serving a request | none (handlers bound their own work) |
//! | idle after a response | end of the response + idle timeout |
//! | receiving the next head | its first byte + header timeout |
//!
//! [`Activity::guard`] drops the connection (closing the socket) when its deadline passes.
//! It is not woken by every request: it sleeps until the deadline it last saw, or for the
//! shorter of the two timeouts if that comes first, and then looks again. A head that starts
//! while it sleeps has a deadline at least that far away, so every deadline is enforced on
//! time, and a busy keep-alive connection costs one timer per timeout period instead of
//! timer work on every request.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What one connection is doing, shared by its socket wrapper, its service and its guard.
pub struct Activity {
    header_timeout: Duration,
    idle_timeout: Duration,
    state: Mutex<State>,
}

struct State {
    /// Requests whose response is not ready yet (more than one only if hyper ever pipelines).
    in_flight: usize,
    /// When the connection was accepted or its last response was ready.
    idle_since: Instant,
    /// When the first byte of the head now being received arrived.
    head_started: Option<Instant>,
    /// No request yet: the header timeout runs from the accept, so a client that connects
    /// and sends nothing is treated like one that sends a head too slowly.
    fresh: bool,
}

impl State {
    fn deadline(&self, header: Duration, idle: Duration) -> Option<Instant> {
        if self.in_flight > 0 {
            None
        } else if let Some(started) = self.head_started {
            Some(started + header)
        } else if self.fresh {
            Some(self.idle_since + header)
        } else {
            Some(self.idle_since + idle)
        }
    }
}

impl Activity {
    pub fn new(header_timeout: Duration, idle_timeout: Duration) -> Arc<Activity> {
        Arc::new(Activity {
            header_timeout,
            idle_timeout,
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
                fresh: true,
            }),
        })
    }

    /// Runs `connection` until it ends or its deadline passes; on a deadline it is dropped,
    /// which closes the socket.
    pub async fn guard(self: Arc<Self>, connection: impl Future, peer: SocketAddr) {
        tokio::pin!(connection);
        let recheck = self.header_timeout.min(self.idle_timeout);
        loop {
            let next_look = Instant::now() + recheck;
            let wake_at = self.deadline().map_or(next_look, |at| at.min(next_look));
            tokio::select! {
                _ = &mut connection => return,
                () = tokio::time::sleep_until(wake_at) => {
                    if self.deadline().is_some_and(|at| at <= Instant::now()) {
                        tracing::debug!(%peer, "closing a connection that sent no request in time");
                        return;
                    }
                }
            }
        }
    }

    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.update(|state| {
            state.in_flight += 1;
            state.head_started = None;
            state.fresh = false;
        });
        InFlight(self.clone())
    }

    fn deadline(&self) -> Option<Instant> {
        self.lock().deadline(self.header_timeout, self.idle_timeout)
    }

    fn bytes_received(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(if state.fresh {
                state.idle_since
            } else {
                Instant::now()
            });
        }
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.lock());
    }

    /// The state stays consistent under a panic elsewhere (every change is one assignment),
    /// so a poisoned lock is used as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request in flight; dropping it (response ready, or the request abandoned) makes the
/// connection idle again once no other request is in flight.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|state| {
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0 {
                state.idle_since = Instant::now();
            }
        });
    }
}

/// A socket that reports arriving bytes to its connection's [`Activity`].
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_received();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
