//! `klaxon demo`: Klaxon in sandbox mode, in this process, playing five scenarios end to end
//! and printing what happens as it happens.
//!
//! Everything runs on loopback with a temporary database: Klaxon itself ([`crate::serve`],
//! with its built-in sandbox carrier), a sandbox Merge that sends signed webhooks and records
//! Klaxon's write-backs, a sandbox Slack ([`crate::sandbox::chat`]), the deterministic model
//! ([`crate::sandbox::model`]) and a webhook receiver that fails before it succeeds. The demo
//! then drives Klaxon like any client would, over HTTP, and reads the outcome from Klaxon's
//! API and the sandboxes:
//!
//! 1. an urgent Merge ticket: on-call says "connect me" → `connected`, ticket write-back;
//! 2. a critical ticket: voicemail, then the second on-call presses 2 → `acknowledged`;
//! 3. a deal in negotiation: the VP is warm-transferred to the account executive, CRM note;
//! 4. a routed event to a webhook that fails twice → `succeeded` after retries;
//! 5. a critical ticket posted to Slack, and, with `--table-url`, every event of every
//!    scenario as a row in a PostgreSQL table (the only thing the demo writes outside this
//!    process: see [`table`]).
//!
//! It owns the choreography and the console; it does not own any of Klaxon's behaviour (a
//! scenario that fails here is a bug in Klaxon or in the sandboxes, not something the demo
//! papers over). Settings come from [`settings`], never from the environment.

mod api;
pub mod printer;
mod receiver;
mod scenarios;
pub mod settings;
pub mod summary;
pub mod table;
mod timeline;
mod workspace;

use std::future::Future;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::config::ConfigErrors;
use crate::sandbox::chat::{ChatConfig, SandboxChat, Service};
use crate::sandbox::merge::{MergeSandboxConfig, SandboxMerge};
use crate::sandbox::model::SandboxModel;
use crate::server::ServeError;
use crate::signing::Secret;
use crate::signing::standard_webhooks::WebhookSecret;

pub use printer::Style;
pub use scenarios::SCENARIOS;
pub use settings::Pace;
pub use summary::Outcome;
pub use table::TableUrl;

use api::{ApiError, Klaxon};
use printer::Console;
use receiver::FlakyReceiver;
use scenarios::Stage;
use table::{DemoTable, TableError};
use workspace::Workspace;

/// How many times the demo webhook's receiver fails before it succeeds.
const RECEIVER_FAILURES: usize = 2;

/// What `klaxon demo` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub pace: Pace,
    /// Klaxon's port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// After the summary, keep serving until interrupted.
    pub keep_running: bool,
    pub style: Style,
    /// `--table-url`: every event is also written to a table in this database.
    pub table_url: Option<TableUrl>,
}

/// Why the demo could not run (as opposed to a scenario not reaching its outcome, which is
/// an [`Outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot create the demo's temporary directory: {0}")]
    Workspace(#[source] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox {service} did not start: {reason}")]
    Sandbox {
        service: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("the demo's settings are invalid: {0}")]
    Settings(#[from] ConfigErrors),
    #[error("Klaxon stopped: {0}")]
    Serve(#[from] ServeError),
    #[error("Klaxon did not become ready: {0}")]
    NotReady(#[source] ApiError),
    #[error("interrupted")]
    Interrupted,
}

/// Runs the demo, writing to `out`; returns each scenario's outcome. `interrupt` (Ctrl-C)
/// stops it early, or ends `--keep-running`.
pub async fn run(
    options: Options,
    out: Box<dyn Write + Send>,
    interrupt: impl Future<Output = ()> + Send + 'static,
) -> Result<Vec<Outcome>, DemoError> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let console = Console::new(out, options.style, started);
    let (interrupted_tx, interrupted) = watch::channel(false);
    tokio::spawn(async move {
        interrupt.await;
        let _ = interrupted_tx.send(true);
    });

    let workspace = Workspace::create().map_err(DemoError::Workspace)?;
    let rig = Rig::start(&options, &workspace).await?;
    let style = console.style();
    console.say(&style.bold(&format!(
        "Klaxon demo: sandbox carrier, sandbox Merge, sandbox Slack and a deterministic model ({} timing)",
        match options.pace {
            Pace::Realistic => "realistic",
            Pace::Fast => "fast",
        }
    )));
    let table = match &rig.table {
        Some(table) => format!(
            "  table:      {} at {} (dropped first: it holds this run's events only)\n",
            table::TABLE,
            table.shown()
        ),
        None => String::new(),
    };
    console.say(&format!(
        "  live page:  {}/\n  database:   {} (removed at exit)\n{table}  environment: ignored (TELNYX_API_KEY, MERGE_API_KEY, AI_API_KEY …): nothing real is called\n",
        rig.klaxon.base(),
        workspace.database().display()
    ));

    let (finished_tx, finished) = watch::channel(0);
    let stage = Stage {
        klaxon: rig.klaxon.clone(),
        merge: &rig.merge,
        receiver: &rig.receiver,
        chat: &rig.chat,
        table: rig.table.as_ref(),
        finished,
        console: console.clone(),
        pace: options.pace,
        started_at,
    };
    let played = tokio::select! {
        outcomes = play(&stage, finished_tx) => Some(outcomes),
        _ = wait(interrupted.clone()) => None,
    };
    console.end_progress();
    let result = match played {
        Some(outcomes) => {
            console.say(&format!("\n{}", style.bold("Summary")));
            console.say(&summary::table(&outcomes, style));
            if options.keep_running {
                console.say(&format!(
                    "\nKlaxon keeps running at {}/ (Ctrl-C to stop).",
                    rig.klaxon.base()
                ));
                wait(interrupted).await;
            }
            Ok(outcomes)
        }
        None => Err(DemoError::Interrupted),
    };
    tokio::time::sleep(options.pace.settle()).await;
    rig.stop().await?;
    drop(workspace);
    result
}

/// Resolves once `interrupted` is true.
async fn wait(mut interrupted: watch::Receiver<bool>) {
    let _ = interrupted.wait_for(|yes| *yes).await;
}

/// Plays every scenario at once (started a little apart at human pace, so they can be
/// told apart), redrawing the progress line while any is running and counting in `finished`
/// the scenarios that are over.
async fn play(stage: &Stage<'_>, finished: watch::Sender<usize>) -> Vec<Outcome> {
    let total = SCENARIOS.len();
    let running = Arc::new(AtomicUsize::new(total));
    let ticker = {
        let (console, running) = (stage.console.clone(), Arc::clone(&running));
        tokio::spawn(async move {
            loop {
                console.progress(running.load(Ordering::Relaxed), total);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let stagger = match stage.pace {
        Pace::Realistic => Duration::from_millis(1500),
        Pace::Fast => Duration::ZERO,
    };
    let one = |index: usize| {
        let (running, finished) = (Arc::clone(&running), &finished);
        async move {
            tokio::time::sleep(stagger * index as u32).await;
            let outcome = scenarios::run(stage, index).await;
            running.fetch_sub(1, Ordering::Relaxed);
            finished.send_modify(|count| *count += 1);
            outcome
        }
    };
    let (a, b, c, d, e) = tokio::join!(one(0), one(1), one(2), one(3), one(4));
    ticker.abort();
    vec![a, b, c, d, e]
}

/// Klaxon and the sandboxes around it.
struct Rig {
    klaxon: Klaxon,
    merge: SandboxMerge,
    receiver: FlakyReceiver,
    chat: SandboxChat,
    table: Option<DemoTable>,
    model: SandboxModel,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Rig {
    async fn start(options: &Options, workspace: &Workspace) -> Result<Rig, DemoError> {
        let merge_webhook_secret = random_text(24);
        let webhook_secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(random_bytes(32))
        );
        let sandbox = |service| {
            move |e: &dyn std::fmt::Display| DemoError::Sandbox {
                service,
                reason: e.to_string(),
            }
        };
        let merge = SandboxMerge::start(
            listen(0).await?,
            MergeSandboxConfig {
                webhook_secret: Some(Secret::new(merge_webhook_secret.clone())),
                ..MergeSandboxConfig::default()
            },
        )
        .map_err(|e| sandbox("Merge")(&e))?;
        let model = SandboxModel::start(listen(0).await?).map_err(|e| sandbox("model")(&e))?;
        let secret: WebhookSecret = webhook_secret
            .parse()
            .map_err(|e| sandbox("webhook receiver")(&e))?;
        let receiver = FlakyReceiver::start(listen(0).await?, secret, RECEIVER_FAILURES)
            .map_err(|e| sandbox("webhook receiver")(&e))?;
        let chat = SandboxChat::start(listen(0).await?, ChatConfig::default())
            .map_err(|e| sandbox("Slack")(&e))?;
        // Emptied before Klaxon starts, so its first row creates it afresh.
        let table = match &options.table_url {
            Some(url) => Some(DemoTable::prepare(url).await?),
            None => None,
        };

        let listener = listen(options.port).await?;
        let addr = listener.local_addr().map_err(|source| DemoError::Listen {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, options.port)),
            source,
        })?;
        let endpoints = settings::Endpoints {
            merge_api_base: merge.base_url(),
            model_base_url: model.base_url(),
            receiver_url: receiver.url(),
            slack_api_base: chat.service_base(Service::Slack),
            table_url: options.table_url.clone(),
            merge_webhook_secret,
            webhook_secret,
        };
        let settings = settings::build(&endpoints, options.pace, &workspace.database(), addr)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let mut server = tokio::spawn(crate::serve(settings, listener, async {
            let _ = stopped.await;
        }));
        let klaxon = Klaxon::new(format!("http://{addr}")).map_err(DemoError::NotReady)?;
        // The listener is bound, so this waits in its backlog until Klaxon accepts; if
        // Klaxon fails to start instead, its error is the one to report.
        tokio::select! {
            ready = klaxon.get("/health") => { ready.map_err(DemoError::NotReady)?; }
            failed = &mut server => {
                return Err(match failed {
                    Ok(Err(error)) => DemoError::Serve(error),
                    _ => DemoError::Sandbox { service: "Klaxon", reason: "stopped at start-up".into() },
                });
            }
        }
        Ok(Rig {
            klaxon,
            merge,
            receiver,
            chat,
            table,
            model,
            stop,
            server,
        })
    }

    /// Stops Klaxon (it finishes what is in flight) and the sandboxes.
    async fn stop(self) -> Result<(), DemoError> {
        let _ = self.stop.send(());
        let served = self.server.await;
        self.merge.shutdown().await;
        self.receiver.shutdown().await;
        self.chat.shutdown().await;
        self.model.shutdown().await;
        match served {
            Ok(result) => Ok(result?),
            Err(_) => Err(DemoError::Sandbox {
                service: "Klaxon",
                reason: "its task panicked".into(),
            }),
        }
    }
}

async fn listen(port: u16) -> Result<TcpListener, DemoError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpListener::bind(addr)
        .await
        .map_err(|source| DemoError::Listen { addr, source })
}

/// Secrets for this run only, shared by two servers in this process on loopback: they need
/// to differ between runs, not to resist an attacker, so `fastrand` is enough.
fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| fastrand::u8(..)).collect()
}

fn random_text(n: usize) -> String {
    (0..n).map(|_| fastrand::alphanumeric()).collect()
}
