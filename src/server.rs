//! Runs Klaxon: opens the store, serves HTTP until the shutdown future resolves, then
//! drains connections and commits what is queued.
//!
//! [`serve`] takes an already-bound listener and any future as its shutdown trigger (as
//! mini-redis does), so tests bind port 0 and stop the server without signals or sleeps.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
}

/// Serves until `shutdown` resolves; returns once in-flight requests are answered and every
/// accepted event is committed.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = Store::open(&settings.database, &settings.store).await?;
    let address = listener.local_addr()?;
    if settings.api_token.is_none() {
        tracing::warn!(
            "KLAXON_API_TOKEN is not set: the API accepts requests from this machine only (loopback)"
        );
    }
    tracing::info!(url = %format!("http://{address}"), database = %settings.database, "klaxon is listening");

    let state = AppState {
        store: store.clone(),
        settings: Arc::new(settings),
    };
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;

    tracing::info!("shutting down: committing queued writes");
    store.close().await;
    served?;
    Ok(())
}
