//! The `klaxon` command: parses the command line, loads settings, calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use klaxon::client::{self, Client};
use klaxon::config::{CONFIG_ENV, LogFormat, Settings};

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
    /// Validate the settings and exit: 0 if they are good, 2 with every problem listed if not.
    Check {
        #[arg(long, env = CONFIG_ENV)]
        config: Option<PathBuf>,
    },
    /// Send and read events on a running server.
    Events {
        /// Base URL of the server.
        #[arg(long, env = "KLAXON_URL", default_value = client::DEFAULT_URL, global = true)]
        url: String,
        /// API token, if the server has one.
        #[arg(long, env = "KLAXON_API_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
        #[command(subcommand)]
        action: EventsAction,
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
        Command::Events { url, token, action } => events(&url, token, action),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_settings(config: Option<PathBuf>) -> Result<Settings, klaxon::config::ConfigErrors> {
    Settings::load(config.as_deref(), |var| std::env::var(var).ok())
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
            println!(
                "  signed ingest secrets: {}",
                settings.ingest.signing_secrets.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(2)
        }
    }
}

fn events(url: &str, token: Option<String>, action: EventsAction) -> anyhow::Result<()> {
    let client = Client::new(url, token.filter(|t| !t.is_empty()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let answer = runtime.block_on(async {
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
