//! The demo's webhook receiver: a loopback endpoint that answers 503 to the first few
//! requests and 200 after, so the demo shows Klaxon retrying a failing receiver. It checks
//! each request's Standard Webhooks signature and records what it saw.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tokio::net::TcpListener;

use crate::sandbox::background::{BackgroundServer, StartError};
use crate::signing::standard_webhooks::{self, Headers, WebhookSecret};

/// One request as the receiver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `webhook-id`: the same on every retry of one delivery.
    pub webhook_id: String,
    /// The status it answered.
    pub status: u16,
    /// The signature matched the shared secret.
    pub signature_valid: bool,
}

struct Shared {
    secret: WebhookSecret,
    failures: usize,
    received: Mutex<Vec<Received>>,
}

/// The running receiver. Dropping it stops the server.
pub struct FlakyReceiver {
    shared: Arc<Shared>,
    server: BackgroundServer,
}

impl FlakyReceiver {
    /// Serves on `listener`: 503 to the first `failures` requests, 200 after.
    pub fn start(
        listener: TcpListener,
        secret: WebhookSecret,
        failures: usize,
    ) -> Result<FlakyReceiver, StartError> {
        let shared = Arc::new(Shared {
            secret,
            failures,
            received: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&shared));
        let server = BackgroundServer::start(listener, app, "demo webhook receiver")?;
        Ok(FlakyReceiver { shared, server })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/billing", self.server.addr())
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let signature_valid = standard_webhooks::verify(
        Headers {
            id: header(standard_webhooks::ID_HEADER),
            timestamp: header(standard_webhooks::TIMESTAMP_HEADER),
            signature: header(standard_webhooks::SIGNATURE_HEADER),
        },
        &body,
        std::slice::from_ref(&shared.secret),
        crate::clock::now_secs(),
    )
    .is_ok();
    let mut received = shared
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let status = if received.len() < shared.failures {
        StatusCode::SERVICE_UNAVAILABLE
    } else if signature_valid {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    received.push(Received {
        webhook_id: header(standard_webhooks::ID_HEADER).to_owned(),
        status: status.as_u16(),
        signature_valid,
    });
    status
}
