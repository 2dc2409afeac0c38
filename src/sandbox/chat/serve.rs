//! The chat sandbox's accept loop: hyper directly, rather than the other sandboxes'
//! [`BackgroundServer`](super::super::background::BackgroundServer) (`axum::serve`), because
//! a scripted [`Failure::Drop`](super::Failure::Drop) must close the connection a request
//! came on without answering, and a handler under `axum::serve` has no hold on its
//! connection.
//!
//! Each connection's requests carry a [`Severance`] in their extensions; a handler that calls
//! [`Severance::sever`] makes the connection's task drop the connection (and with it the
//! socket and the handler itself) before anything is written.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tower::Service;

use super::StartError;

/// Cuts one connection. Cloned into every request that arrives on it.
#[derive(Clone, Default)]
pub(crate) struct Severance(Arc<Notify>);

impl Severance {
    /// Closes the connection without an answer. The calling handler is dropped with it, so
    /// it should await nothing but [`std::future::pending`] afterwards.
    pub(crate) fn sever(&self) {
        self.0.notify_one();
    }
}

/// The server running in the background. Dropping it stops serving at once.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(listener: TcpListener, app: Router) -> Result<Server, StartError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StartError::NoRuntime("sandbox chat services"))?;
        let addr = listener.local_addr().map_err(StartError::Address)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(serve(listener, app, async {
            let _ = stopped.await;
        }));
        Ok(Server {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the requests in flight to finish.
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()> + Send) {
    let graceful = GracefulShutdown::new();
    let http = hyper::server::conn::http1::Builder::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Loopback only: an accept error is a dying connection or a full
                    // descriptor table; neither is worth more than a pause.
                    tracing::debug!(%error, "sandbox chat accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let severance = Severance::default();
        let cut = Arc::clone(&severance.0);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(severance.clone());
            let mut app = app.clone();
            async move { app.call(request).await }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                () = cut.notified() => {}
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
