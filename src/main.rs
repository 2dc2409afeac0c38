//! The `klaxon` command: parses the command line, loads settings, calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use klaxon::client::{self, Client};
use klaxon::config::CONFIG_ENV;
use klaxon::destinations::Verdict;
use klaxon::settings::{LogFormat, Settings};

#[derive(Parser)]
#[command(
    name = "klaxon",
    version,
    about = "Turns business events into the right human response, fast."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Settings file (TOML); environment variables override it.
        #[arg(long, env = CONFIG_ENV)]
        config: Option<PathBuf>,
        /// Log line format: text or json (overrides KLAXON_LOG_FORMAT).
        #[arg(long)]
        log_format: Option<String>,
    },
    /// Validate the settings and exit: 0 if they are good (risky ones are listed), 2 with
    /// every problem listed if not.
    Check {
        #[arg(long, env = CONFIG_ENV)]
        config: Option<PathBuf>,
    },
    /// Send and read events on a running server.
    Events {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        action: EventsAction,
    },
    /// The dead letter queue of a running server: deliveries that ran out of attempts.
    Dlq {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Who is on call (every schedule, or --schedule), now or --at; and overrides.
    Oncall {
        #[command(flatten)]
        remote: Remote,
        /// The schedule (every schedule when absent; overrides need it).
        #[arg(long, global = true)]
        schedule: Option<String>,
        /// An RFC 3339 time, e.g. 2026-03-08T09:00:00Z; now when absent.
        #[arg(long)]
        at: Option<String>,
        #[command(subcommand)]
        action: Option<OncallAction>,
    },
    /// Print the OpenAPI document that `GET /openapi.json` serves (the SDKs' types are
    /// generated from it: `klaxon openapi > clients/openapi.json`).
    Openapi,
    /// Configured destinations.
    Destinations {
        #[command(subcommand)]
        action: DestinationsAction,
    },
    /// Play five scenarios against Klaxon in sandbox mode (no accounts, no settings, a
    /// temporary database) and print what happens; exit 0 only if every scenario reached its
    /// expected outcome.
    #[cfg(feature = "sandbox")]
    Demo {
        /// Callees act in milliseconds instead of seconds (CI).
        #[arg(long)]
        fast: bool,
        /// Klaxon's port on 127.0.0.1; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Keep Klaxon running after the summary, until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
        /// Also write every event to the table klaxon_demo_events in this PostgreSQL
        /// database (dropped first, so it holds this run's events only), e.g.
        /// postgres://user@host/db. Without it that part is skipped.
        #[arg(long, value_name = "POSTGRES_URL")]
        table_url: Option<klaxon::demo::TableUrl>,
    },
    /// Simulated external services, for demos and tests.
    #[cfg(feature = "sandbox")]
    Sandbox {
        #[command(subcommand)]
        service: SandboxService,
    },
}

#[cfg(feature = "sandbox")]
#[derive(Subcommand)]
enum SandboxService {
    /// A simulated Telnyx carrier: point TELNYX_API_BASE at the URL it prints and
    /// TELNYX_PUBLIC_KEY at its key. The last digit of a dialled number picks the callee.
    Carrier {
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// 0 picks a free port (printed).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Where call webhooks go when a dial names no `webhook_url`.
        #[arg(long)]
        webhook_url: Option<String>,
        /// `realistic` (seconds, like a phone) or `fast` (milliseconds, for tests).
        #[arg(long, default_value = "realistic")]
        timing: String,
        /// Signing seed, 64 hex characters; random when absent.
        #[arg(long)]
        seed: Option<String>,
    },
    /// A simulated Merge.dev API with sample tickets, contacts, deals and users: point
    /// MERGE_API_BASE at the URL it prints. Writes (status, comments, notes) are kept in memory.
    Merge {
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// 0 picks a free port (printed).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}

/// Which server to talk to.
#[derive(Args)]
struct Remote {
    /// Base URL of the server.
    #[arg(long, env = "KLAXON_URL", default_value = client::DEFAULT_URL, global = true)]
    url: String,
    /// API token, if the server has one.
    #[arg(long, env = "KLAXON_API_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

impl Remote {
    fn client(self) -> Client {
        Client::new(&self.url, self.token.filter(|t| !t.is_empty()))
    }
}

#[derive(Subcommand)]
enum DestinationsAction {
    /// Send a test message to one destination, as a delivery would, and print the answer;
    /// exit 0 only if it was delivered. Nothing is stored.
    Test {
        /// `<pipeline>.<destination>`, or the destination's name alone when it is unique.
        name: String,
        #[arg(long, env = CONFIG_ENV)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum OncallAction {
    /// Someone covers a schedule for a while, whatever its layers say.
    Override {
        #[command(subcommand)]
        action: OverrideAction,
    },
}

#[derive(Subcommand)]
enum OverrideAction {
    /// Add an override: --person covers from --start to --end (RFC 3339).
    Add {
        /// A key of [people].
        #[arg(long)]
        person: String,
        #[arg(long)]
        start: String,
        #[arg(long)]
        end: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Remove an override by its id.
    Remove { id: String },
    /// List the overrides that have not ended.
    List,
}

#[derive(Subcommand)]
enum DlqAction {
    /// List dead deliveries, newest first.
    List {
        /// Only this destination (`<pipeline>.<destination>`).
        #[arg(long)]
        destination: Option<String>,
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Queue dead deliveries again, with a fresh retry schedule.
    Replay {
        /// Delivery ids; or use --all.
        ids: Vec<String>,
        /// Replay every dead delivery (of --destination, if given).
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[arg(long, requires = "all")]
        destination: Option<String>,
    },
}

#[derive(Subcommand)]
enum EventsAction {
    /// Send one event.
    Send {
        /// Event type, e.g. support.ticket.created.
        #[arg(long = "type")]
        event_type: String,
        /// Payload as a JSON object.
        #[arg(long, default_value = "{}")]
        data: String,
        /// Idempotency key: sending again with the same key stores nothing new.
        #[arg(long)]
        key: Option<String>,
    },
    /// List events, newest first.
    List {
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Cursor from a previous page's `next_cursor`.
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show one event.
    Get { id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, log_format } => serve(config, log_format),
        Command::Check { config } => return check(config),
        Command::Events { remote, action } => events(remote.client(), action),
        Command::Dlq { remote, action } => dlq(remote.client(), action),
        Command::Oncall {
            remote,
            schedule,
            at,
            action,
        } => oncall(remote.client(), schedule, at, action),
        Command::Openapi => print_openapi(),
        #[cfg(feature = "sandbox")]
        Command::Sandbox { service } => sandbox(service),
        Command::Destinations {
            action: DestinationsAction::Test { name, config },
        } => return test_destination(config, &name),
        #[cfg(feature = "sandbox")]
        Command::Demo {
            fast,
            port,
            keep_running,
            table_url,
        } => return demo(fast, port, keep_running, table_url),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", klaxon::error_text::with_causes(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The document as `/openapi.json` serves it, pretty-printed with a final newline so the
/// committed copy diffs well.
fn print_openapi() -> anyhow::Result<()> {
    let document = klaxon::http::openapi::openapi()
        .to_pretty_json()
        .context("serialize the OpenAPI document")?;
    println!("{document}");
    Ok(())
}

/// Settings from the file, the environment, and `./.env` (the environment wins over it).
fn load_settings(config: Option<PathBuf>) -> Result<Settings, klaxon::config::ConfigErrors> {
    let dotenv = klaxon::config::dotenv::read(std::path::Path::new(".env"))?;
    Settings::load(config.as_deref(), |var| {
        std::env::var(var).ok().or_else(|| dotenv.get(var).cloned())
    })
}

fn serve(config: Option<PathBuf>, log_format: Option<String>) -> anyhow::Result<()> {
    let mut settings =
        load_settings(config).context("invalid settings (run `klaxon check` for details)")?;
    if let Some(format) = log_format {
        settings.log_format = format
            .parse()
            .map_err(anyhow::Error::msg)
            .context("--log-format")?;
    }
    init_logging(settings.log_format);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        klaxon::serve(settings, listener, shutdown_signal()).await?;
        Ok(())
    })
}

fn test_destination(config: Option<PathBuf>, name: &str) -> ExitCode {
    let trial = load_settings(config)
        .context("invalid settings (run `klaxon check` for details)")
        .and_then(|settings| {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            Ok(runtime.block_on(klaxon::server::trial::send_test_message(&settings, name))?)
        });
    let trial = match trial {
        Ok(trial) => trial,
        Err(error) => {
            eprintln!("error: {}", klaxon::error_text::with_causes(error.as_ref()));
            return ExitCode::from(2);
        }
    };
    let report = &trial.report;
    println!("{} ({}, {})", trial.name, trial.kind, trial.summary);
    let verdict = match report.verdict {
        Verdict::Delivered => "delivered".to_owned(),
        Verdict::Retry { after: Some(after) } => {
            format!("not delivered; a delivery would be retried (after {after:?})")
        }
        Verdict::Retry { after: None } => "not delivered; a delivery would be retried".to_owned(),
        Verdict::Dead => "refused; a delivery would be dead-lettered".to_owned(),
        Verdict::Disable => {
            "refused; a delivery would be dead-lettered and the destination disabled".to_owned()
        }
        Verdict::Postpone { after } => format!(
            "not sent: held back by the destination's pace; a delivery would wait {after:?} for its turn, without using an attempt"
        ),
    };
    println!("  result:   {verdict}");
    if let Some(status) = report.status {
        println!("  status:   {status}");
    }
    if let Some(error) = &report.error {
        println!("  error:    {error}");
    }
    if let Some(response) = report.response.as_deref().filter(|r| !r.is_empty()) {
        println!("  answer:   {response}");
    }
    if report.verdict == Verdict::Delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check(config: Option<PathBuf>) -> ExitCode {
    match load_settings(config) {
        Ok(settings) => {
            println!("settings are valid");
            println!("  listen:   http://{}", settings.listen);
            println!("  database: {}", settings.database);
            let auth = match &settings.api_token {
                Some(_) => "bearer token",
                None => "loopback clients only (KLAXON_API_TOKEN not set)",
            };
            println!("  api auth: {auth}");
            if settings.api_token.is_none() {
                let extra: Vec<String> = settings
                    .allowed_hosts
                    .iter()
                    .map(|h| h.to_string())
                    .collect();
                let extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!(", {}", extra.join(", "))
                };
                println!(
                    "  hosts served: loopback names, the listen address, PUBLIC_URL's host{extra} (KLAXON_ALLOWED_HOSTS)"
                );
            }
            println!(
                "  signed ingest secrets: {}",
                settings.ingest.signing_secrets.len()
            );
            let model = if settings.ai.enabled {
                format!("{} at {}", settings.ai.model, settings.ai.base_url)
            } else {
                "none (built-in classifier; set AI_API_KEY or TELNYX_API_KEY)".into()
            };
            println!("  model:    {model}");
            let carrier = match &settings.voice.telnyx {
                Some(account) => format!("Telnyx at {}", account.api_base),
                None => "the built-in sandbox carrier (set TELNYX_API_KEY for real calls)".into(),
            };
            println!("  calls:    {carrier}");
            for (name, policy) in &settings.voice.policies {
                let targets: usize = policy.steps.iter().map(|s| s.targets.len()).sum();
                println!(
                    "  policy {name}: {} step(s), {targets} target(s), repeat {}",
                    policy.steps.len(),
                    policy.repeat
                );
            }
            for schedule in settings.oncall.schedules.values() {
                let schedule = &schedule.schedule;
                println!(
                    "  schedule {}: {} layer(s), {}",
                    schedule.name,
                    schedule.layers.len(),
                    schedule.zone.name()
                );
            }
            let origin = if settings.builtin_pipelines {
                " (built-in)"
            } else {
                ""
            };
            println!("  pipelines{origin}:");
            for pipeline in &settings.pipelines {
                let on: Vec<&str> = pipeline.on.iter().map(|p| p.as_str()).collect();
                let destinations: Vec<&str> = pipeline
                    .destinations
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect();
                println!(
                    "    {}: on {} → {} step(s) → {}",
                    pipeline.name,
                    on.join(", "),
                    pipeline.steps.len(),
                    destinations.join(", ")
                );
            }
            // Risks are reported, not fatal: exit 2 stays for settings that cannot run.
            let risks = settings.risks();
            if risks.is_empty() {
                println!("risks: none found");
            } else {
                println!("risks ({}):", risks.len());
                for risk in &risks {
                    println!("  {risk}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(2)
        }
    }
}

#[cfg(feature = "sandbox")]
/// The demo ignores settings files and the environment (see `klaxon::demo::settings`); only
/// the console's look is read from here: colour on a terminal unless `NO_COLOR` is set.
fn demo(
    fast: bool,
    port: u16,
    keep_running: bool,
    table_url: Option<klaxon::demo::TableUrl>,
) -> ExitCode {
    use std::io::IsTerminal;
    // Klaxon's own log lines would break up the timeline: errors only, unless RUST_LOG says.
    init_logging_with(LogFormat::Text, "error");
    let options = klaxon::demo::Options {
        pace: if fast {
            klaxon::demo::Pace::Fast
        } else {
            klaxon::demo::Pace::Realistic
        },
        port,
        keep_running,
        style: klaxon::demo::Style::detect(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        ),
        table_url,
    };
    let played = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .and_then(|runtime| {
            runtime
                .block_on(klaxon::demo::run(
                    options,
                    Box::new(std::io::stdout()),
                    shutdown_signal(),
                ))
                .map_err(anyhow::Error::from)
        });
    match played {
        Ok(outcomes) if outcomes.iter().all(|o| o.passed) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {}", klaxon::error_text::with_causes(error.as_ref()));
            ExitCode::from(2)
        }
    }
}

#[cfg(feature = "sandbox")]
fn sandbox(service: SandboxService) -> anyhow::Result<()> {
    use klaxon::sandbox::carrier::{CarrierConfig, SandboxCarrier, SigningSeed, Timing};
    init_logging(LogFormat::Text);
    let (host, port, webhook_url, timing, seed) = match service {
        SandboxService::Carrier {
            host,
            port,
            webhook_url,
            timing,
            seed,
        } => (host, port, webhook_url, timing, seed),
        SandboxService::Merge { host, port } => return sandbox_merge(host, port),
    };
    let timing = match timing.as_str() {
        "realistic" => Timing::realistic(),
        "fast" => Timing::fast(),
        other => anyhow::bail!("--timing must be realistic or fast, got {other:?}"),
    };
    let seed = match seed {
        Some(hex_seed) => {
            let bytes: [u8; 32] = hex::decode(hex_seed.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .context("--seed must be 64 hex characters (32 bytes)")?;
            SigningSeed::from_bytes(bytes)
        }
        None => SigningSeed::generate(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((host, port))
            .await
            .with_context(|| format!("cannot listen on {host}:{port}"))?;
        let carrier = SandboxCarrier::start(
            listener,
            CarrierConfig {
                default_webhook_url: webhook_url,
                signing_seed: seed,
                timing,
                ..CarrierConfig::default()
            },
        )?;
        // One write, so a reader that stops after the first line cannot break the second.
        println!(
            "TELNYX_API_BASE={}\nTELNYX_PUBLIC_KEY={}",
            carrier.base_url(),
            carrier.public_key_base64()
        );
        shutdown_signal().await;
        carrier.shutdown().await;
        anyhow::Ok(())
    })
}

#[cfg(feature = "sandbox")]
fn sandbox_merge(host: std::net::IpAddr, port: u16) -> anyhow::Result<()> {
    use klaxon::sandbox::merge::{MergeSandboxConfig, SandboxMerge};
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((host, port))
            .await
            .with_context(|| format!("cannot listen on {host}:{port}"))?;
        let merge = SandboxMerge::start(listener, MergeSandboxConfig::default())?;
        println!("MERGE_API_BASE={}", merge.base_url());
        shutdown_signal().await;
        merge.shutdown().await;
        anyhow::Ok(())
    })
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn dlq(client: Client, action: DlqAction) -> anyhow::Result<()> {
    let answer = client_runtime()?.block_on(async {
        match action {
            DlqAction::List {
                destination,
                after,
                limit,
            } => Ok(client
                .list_deliveries(
                    Some("dead"),
                    destination.as_deref(),
                    after.as_deref(),
                    limit,
                )
                .await?),
            DlqAction::Replay {
                ids,
                all,
                destination,
            } => {
                let ids = if all {
                    dead_delivery_ids(&client, destination.as_deref()).await?
                } else if ids.is_empty() {
                    anyhow::bail!("name the deliveries to replay, or pass --all");
                } else {
                    ids
                };
                let mut replayed = Vec::with_capacity(ids.len());
                for id in &ids {
                    replayed.push(client.replay_delivery(id).await?);
                }
                Ok(serde_json::json!({ "replayed": replayed.len(), "data": replayed }))
            }
        }
    })?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// Every dead delivery's id, all pages.
async fn dead_delivery_ids(
    client: &Client,
    destination: Option<&str>,
) -> Result<Vec<String>, client::ClientError> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client
            .list_deliveries(Some("dead"), destination, after.as_deref(), 500)
            .await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        ids.extend(
            data.iter()
                .filter_map(|d| d["id"].as_str().map(String::from)),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => return Ok(ids),
        }
    }
}

fn oncall(
    client: Client,
    schedule: Option<String>,
    at: Option<String>,
    action: Option<OncallAction>,
) -> anyhow::Result<()> {
    client_runtime()?.block_on(async {
        let Some(OncallAction::Override { action }) = action else {
            let names = match schedule {
                Some(name) => vec![name],
                None => {
                    let list = client.list_schedules().await?;
                    let names: Vec<String> = list["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s["name"].as_str().map(str::to_owned))
                        .collect();
                    if names.is_empty() {
                        println!("no schedules are configured ([[schedules]] in the settings)");
                    }
                    names
                }
            };
            for name in names {
                let answer = client.who_is_on_call(&name, at.as_deref()).await?;
                println!("{}", client::describe_on_call(&answer));
            }
            return Ok(());
        };
        let schedule = schedule.context("name the schedule: --schedule NAME")?;
        let answer = match action {
            OverrideAction::Add {
                person,
                start,
                end,
                note,
            } => {
                client
                    .add_override(&schedule, &person, (&start, &end), note.as_deref())
                    .await?
            }
            OverrideAction::Remove { id } => client.remove_override(&schedule, &id).await?,
            OverrideAction::List => client.list_overrides(&schedule).await?,
        };
        println!("{}", serde_json::to_string_pretty(&answer)?);
        anyhow::Ok(())
    })
}

fn events(client: Client, action: EventsAction) -> anyhow::Result<()> {
    let answer = client_runtime()?.block_on(async {
        match action {
            EventsAction::Send {
                event_type,
                data,
                key,
            } => {
                let payload = serde_json::from_str(&data).context("--data is not valid JSON")?;
                client
                    .send_event(&event_type, payload, key.as_deref())
                    .await
            }
            EventsAction::List {
                event_type,
                after,
                limit,
            } => {
                client
                    .list_events(event_type.as_deref(), after.as_deref(), limit)
                    .await
            }
            EventsAction::Get { id } => client.get_event(&id).await,
        }
        .map_err(anyhow::Error::from)
    })?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

fn init_logging(format: LogFormat) {
    init_logging_with(format, "info");
}

/// Logging to stderr at `RUST_LOG`'s level, or `default_level` without it.
fn init_logging_with(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colour only for a person at a terminal: log files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler at start-up");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received");
}
