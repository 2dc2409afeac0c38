//! What every simulated service shares: an axum app served on a loopback listener in the
//! background, stopped gracefully on request and at once when dropped, and the HTTP client
//! the services that send webhooks send them with.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why a simulated service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the {0} must be started inside a Tokio runtime")]
    NoRuntime(&'static str),
    #[error("cannot read the listener's address: {0}")]
    Address(#[source] std::io::Error),
    #[error("cannot build the webhook HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// A server running in the background. Dropping it stops serving at once.
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Serves `app` on `listener`; `service` names it in errors and logs ("sandbox carrier").
    pub fn start(
        listener: TcpListener,
        app: Router,
        service: &'static str,
    ) -> Result<BackgroundServer, StartError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime(service))?;
        let addr = listener.local_addr().map_err(StartError::Address)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, service, "stopped serving");
            }
        });
        Ok(BackgroundServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the requests in flight to finish.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The client a simulated service sends its webhooks with: they go to loopback receivers, so
/// redirects and proxies would only get in the way.
pub fn webhook_client(timeout: Duration) -> Result<reqwest::Client, StartError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .build()
        .map_err(StartError::HttpClient)
}
