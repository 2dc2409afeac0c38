//! Runs Klaxon: opens the store, starts the delivery worker and the pipeline runner, serves
//! HTTP until the shutdown future resolves, then drains connections, lets the workers finish
//! what is in flight, and commits what is queued.
//!
//! [`trial`] is `klaxon destinations test`: one test message through a configured destination.
//!
//! [`serve`] takes an already-bound listener and any future as its shutdown trigger (as
//! mini-redis does), so tests bind port 0 and stop the server without signals or sleeps.

mod simulators;
pub mod trial;

use simulators::Simulator;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use std::collections::HashMap;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::delivery::DeliveryWorker;
use crate::destinations::webhook::WebhookSender;
use crate::destinations::{Destination, Outbox};
use crate::http::{self, AppState};
use crate::ingress::merge_poll::DEFAULT_ACCOUNT;
use crate::ingress::{MergeAccount, Reconciler, ReconcilerConfig};
use crate::intake::Intake;
use crate::llm::settings::AiSettings;
use crate::llm::{ChatModel, LlmError, ModelConfig};
use crate::merge::{AccountTokens, MergeClient, MergeConfig, MergeSecret};
use crate::oncall::Oncall;
use crate::open_files;
use crate::pipeline::classify::Classifier;
use crate::pipeline::merge_lookup::MergeLookup;
use crate::pipeline::spec::DestinationKind;
use crate::pipeline::{self, PipelineRunner, RunnerParts, StepServices};
use crate::settings::{Settings, Severity};
use crate::store::DatabaseUrl;
use crate::store::{Store, StoreError};
use crate::voice::EngineHandle;
use crate::voice::carrier::Carrier;
use crate::voice::enrich::Enricher;
use crate::voice::telnyx::{ApiKey as TelnyxApiKey, TelnyxClient, TelnyxConfig};

/// The connection limit when the platform sets no open-files limit at all.
const UNLIMITED_FILES_MAX_CONNECTIONS: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
    #[error("cannot set up outbound HTTP: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot set up the model client: {0}")]
    Model(#[from] LlmError),
    #[error("cannot set up phone escalation: {0}")]
    Voice(String),
    #[error(transparent)]
    Engine(#[from] crate::voice::engine::EngineError),
    /// Built without the `sandbox` feature, with nothing to fall back to.
    #[error(
        "{0} is not set, and this build has no sandbox to fall back to (built without the `sandbox` feature)"
    )]
    NoSandbox(&'static str),
}

/// Serves until `shutdown` resolves; returns once in-flight requests are answered and every
/// accepted event is committed.
pub async fn serve(
    mut settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = Store::open(&settings.database, &settings.store).await?;
    let address = listener.local_addr()?;
    // The address actually bound (the caller may have bound another than `listen`, or port 0)
    // is the one the host check admits.
    settings.listen = address;
    if settings.api_token.is_none() {
        tracing::warn!(
            "KLAXON_API_TOKEN is not set: the API accepts requests from this machine only (loopback)"
        );
    }
    for risk in settings.risks() {
        match risk.severity {
            Severity::Warning => tracing::warn!(risk = ?risk.kind, "{risk}"),
            Severity::Notice => tracing::info!(risk = ?risk.kind, "{risk}"),
        }
    }
    tracing::info!(url = %format!("http://{address}"), database = %settings.database, "klaxon is listening");

    let limits = connection_limits(&settings);
    tracing::info!(
        max_connections = limits.max_connections,
        header_timeout_secs = limits.header_timeout.as_secs_f64(),
        idle_timeout_secs = limits.idle_timeout.as_secs_f64(),
        "HTTP connection limits"
    );

    let (stop_workers, workers_stop) = watch::channel(false);
    let deliveries = settings
        .pipelines
        .iter()
        .flat_map(|p| &p.destinations)
        .filter_map(|d| match &d.kind {
            DestinationKind::Deliver(destination) => Some((d.name.clone(), destination.clone())),
            DestinationKind::Log | DestinationKind::Voice(_) => None,
        })
        .collect::<HashMap<_, _>>();
    let (merge, _sandbox_merge) = merge_client(&settings).await?;
    let merge_accounts = Arc::new(merge_accounts(&settings));
    let (outbox, _sandbox_chat) = outbox(deliveries, Some(merge.clone())).await?;
    let worker = DeliveryWorker::start(
        store.clone(),
        outbox,
        &settings.delivery,
        workers_stop.clone(),
    )
    .await?;
    let model = chat_model(&settings.ai)?;
    let (carrier, _sandbox) = voice_carrier(&mut settings, address).await?;
    // The settings' pipelines, and the write-back of escalations to Merge, which runs
    // whatever the settings declare.
    let mut pipelines = settings.pipelines.clone();
    pipelines.push(pipeline::settings::merge_writeback());
    let (intake, arrivals) = Intake::new(store.clone(), pipeline::takes(&pipelines));
    let oncall =
        Oncall::start(settings.oncall.clone(), store.clone(), workers_stop.clone()).await?;
    let voice = EngineHandle::builder(store.clone(), carrier)
        .oncall(oncall.clone())
        .model(model.clone())
        .enricher(Enricher::new(
            merge.clone(),
            settings.merge.bridge_number.clone(),
        ))
        .intake(intake.clone())
        .inbound(crate::voice::inbound::Inbound::from_settings(
            &settings.voice,
        ))
        .build();
    let alerts = crate::ingress::alerts::Settler::new();
    let settling = alerts.spawn(
        store.clone(),
        voice.clone(),
        &settings.alert_sources,
        workers_stop.clone(),
    );
    let resumed = voice.resume_all().await?;
    if resumed > 0 {
        tracing::info!(
            resumed,
            "resumed escalations that were active at the last stop"
        );
    }
    // Quiet escalations (a lost webhook) and, on a shared store, those of dead nodes.
    let watcher = tokio::spawn(voice.clone().watch(workers_stop.clone()));
    let services = StepServices {
        classifier: Classifier::new(model, Some(store.clone())),
        merge: Some(MergeLookup::new(
            merge.clone(),
            settings.voice.people_by_email.clone(),
        )),
    };
    let runner = PipelineRunner::start(
        RunnerParts {
            pipelines,
            policies: settings.voice.policies.clone(),
            services,
            store: store.clone(),
            worker: worker.handle(),
            escalations: Some(voice.clone()),
        },
        arrivals,
        workers_stop.clone(),
    );
    let reconciler = settings.merge.poll_interval.map(|interval| {
        Reconciler::new(ReconcilerConfig {
            client: merge.clone(),
            store: store.clone(),
            intake: intake.clone(),
            accounts: merge_accounts.to_vec(),
            interval,
            phones_by_email: settings.voice.people_by_email.clone(),
        })
    });
    let poller = reconciler.clone().map(|reconciler| {
        tracing::info!(
            every_secs = reconciler.interval().as_secs(),
            accounts = merge_accounts.len(),
            "Merge reconciliation polling is on"
        );
        reconciler.spawn(workers_stop)
    });
    log_pipelines(&settings);
    if settings.voice.telnyx.is_none() || settings.merge.api.is_none() {
        tracing::info!(
            "sandbox mode: open {} to watch it live",
            live_page_url(address)
        );
    }

    let state = AppState {
        store: store.clone(),
        intake,
        worker: worker.handle(),
        voice,
        merge,
        merge_accounts,
        reconciler,
        alerts,
        oncall,
        settings: Arc::new(settings),
    };
    http::listener::serve(listener, http::router(state), limits, shutdown).await;

    tracing::info!("shutting down: finishing pipelines and deliveries in flight");
    let _ = stop_workers.send(true);
    if let Some(poller) = poller {
        let _ = poller.await;
    }
    runner.join().await;
    worker.join().await;
    let _ = watcher.await;
    let _ = settling.await;
    tracing::info!("committing queued writes");
    store.close().await;
    Ok(())
}

/// The HTTP limits: the configured connection limit, or one derived from the open-files limit,
/// which is first raised to its hard limit where allowed.
fn connection_limits(settings: &Settings) -> http::listener::Limits {
    let open_files = open_files::raise_to_hard_limit();
    let database = match settings.database {
        // The writer, the readers, and each one's WAL and shared-memory files.
        DatabaseUrl::Sqlite(_) => 16,
        DatabaseUrl::Postgres(_) => settings.store.pool_size + 1,
    };
    let derived = open_files.map(|limit| {
        open_files::derived_max_connections(limit, settings.delivery.max_in_flight, database)
    });
    tracing::info!(
        open_files = open_files.map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
        "open-files limit (RLIMIT_NOFILE, soft)"
    );
    let max_connections = match (settings.http.max_connections, derived) {
        (Some(configured), Some(derived)) if configured > derived => {
            tracing::warn!(
                configured,
                derived,
                "KLAXON_MAX_CONNECTIONS is above what the open-files limit leaves for connections; \
                 accepts may fail with \"too many open files\""
            );
            configured
        }
        (Some(configured), _) => configured,
        (None, Some(derived)) => derived,
        (None, None) => UNLIMITED_FILES_MAX_CONNECTIONS,
    };
    http::listener::Limits {
        header_timeout: settings.http.header_timeout,
        idle_timeout: settings.http.idle_timeout,
        max_connections,
    }
}

/// The live page's address as a browser on this machine reaches it (an unspecified listen
/// address such as `0.0.0.0` becomes loopback).
fn live_page_url(listening: SocketAddr) -> String {
    let mut shown = listening;
    if shown.ip().is_unspecified() {
        shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{shown}/")
}

/// The carrier calls go through: the Telnyx account, or (without `TELNYX_API_KEY`) the
/// built-in sandbox carrier on loopback, whose signing key is added to the accepted ones.
/// The sandbox lives as long as the returned handle.
async fn voice_carrier(
    settings: &mut Settings,
    listening: SocketAddr,
) -> Result<(Carrier, Option<Simulator>), ServeError> {
    let voice = &mut settings.voice;
    match &voice.telnyx {
        Some(account) => {
            let mut config = TelnyxConfig::new(
                TelnyxApiKey::new(account.api_key.clone()),
                account.connection_id.clone(),
                voice.from_number.clone(),
            );
            config.api_base = account.api_base.clone();
            config.dials_per_second = voice.dials_per_second;
            let webhook_url = voice
                .public_url
                .as_ref()
                .map(|url| format!("{url}/webhooks/voice"));
            let client = TelnyxClient::new(config).map_err(|e| ServeError::Voice(e.to_string()))?;
            let texts = voice.sms.messaging(voice.public_url.as_deref());
            Ok((
                Carrier::new(client, webhook_url).with_messaging(texts),
                None,
            ))
        }
        None => simulators::carrier(voice, listening).await,
    }
}

/// The outbox the delivery worker sends through; with the sandbox chat services on loopback
/// when a chat or Notion destination has no credentials (sandbox mode only: settings refuse
/// a missing token otherwise). The sandbox lives as long as the returned handle.
pub(crate) async fn outbox(
    deliveries: HashMap<String, Destination>,
    merge: Option<MergeClient>,
) -> Result<(Outbox, Option<Simulator>), ServeError> {
    let outbox = Outbox::new(deliveries, WebhookSender::new()?, merge)?;
    if !outbox.needs_sandbox() {
        return Ok((outbox, None));
    }
    simulators::chat(outbox).await
}

/// The Merge client: the account of `MERGE_API_KEY`, or the built-in sandbox Merge on
/// loopback (with its sample linked accounts), which lives as long as the returned handle.
async fn merge_client(settings: &Settings) -> Result<(MergeClient, Option<Simulator>), ServeError> {
    let invalid = |e: crate::merge::MergeError| ServeError::Voice(format!("Merge client: {e}"));
    match &settings.merge.api {
        Some(api) => {
            let tokens = AccountTokens {
                default: api
                    .account_token
                    .as_ref()
                    .map(|t| MergeSecret::new(String::from_utf8_lossy(t.as_bytes()))),
                by_account: api
                    .account_tokens
                    .iter()
                    .map(|(id, token)| {
                        (
                            id.clone(),
                            MergeSecret::new(String::from_utf8_lossy(token.as_bytes())),
                        )
                    })
                    .collect(),
            };
            let mut config = MergeConfig::new(
                MergeSecret::new(String::from_utf8_lossy(api.api_key.as_bytes())),
                tokens,
            );
            config.api_base = api.api_base.clone();
            Ok((MergeClient::new(config).map_err(invalid)?, None))
        }
        None => simulators::merge().await,
    }
}

/// The linked accounts Klaxon reads from: the sandbox's samples by category; else each
/// `MERGE_ACCOUNT_TOKENS` entry, or `default` when only `MERGE_ACCOUNT_TOKEN` is set, whose
/// categories are unknown.
fn merge_accounts(settings: &Settings) -> Vec<MergeAccount> {
    match &settings.merge.api {
        Some(api) if api.account_tokens.is_empty() => api
            .account_token
            .iter()
            .map(|_| MergeAccount::unknown_category(DEFAULT_ACCOUNT))
            .collect(),
        Some(api) => api
            .account_tokens
            .keys()
            .map(MergeAccount::unknown_category)
            .collect(),
        None => simulators::merge_accounts(),
    }
}

/// The model client, when a model is configured.
fn chat_model(ai: &AiSettings) -> Result<Option<ChatModel>, LlmError> {
    if !ai.enabled {
        return Ok(None);
    }
    ChatModel::new(ModelConfig {
        base_url: ai.base_url.clone(),
        model: ai.model.clone(),
        api_key: ai
            .api_key
            .as_ref()
            .map(|k| crate::llm::ApiKey::new(String::from_utf8_lossy(k.as_bytes()))),
        timeout: ai.timeout,
    })
    .map(Some)
}

fn log_pipelines(settings: &Settings) {
    for pipeline in &settings.pipelines {
        let on: Vec<&str> = pipeline.on.iter().map(|p| p.as_str()).collect();
        tracing::info!(
            pipeline = pipeline.name,
            on = on.join(","),
            steps = pipeline.steps.len(),
            destinations = pipeline.destinations.len(),
            builtin = settings.builtin_pipelines,
            "pipeline loaded"
        );
    }
    if settings.ai.enabled {
        tracing::info!(
            model = settings.ai.model,
            base_url = settings.ai.base_url,
            "classify uses the model"
        );
    } else {
        tracing::info!(
            "no model configured (AI_API_KEY / TELNYX_API_KEY): classify uses the built-in rules"
        );
    }
}
