//! The zero-configuration fallback: with no Telnyx, Merge or chat credentials, `klaxon
//! serve` starts the simulators of the `sandbox` feature on loopback and points its clients
//! at them. This file is the only place outside `demo` that names `crate::sandbox`.
//!
//! Built without the feature (`--no-default-features`), the simulators do not exist: the
//! same settings then fail at start-up with a message naming the missing credential, and the
//! compiler proves that nothing else in the library needs the simulator.

use super::ServeError;
use crate::destinations::Outbox;
use crate::ingress::MergeAccount;
use crate::merge::MergeClient;
use crate::voice::carrier::Carrier;
use crate::voice::settings::VoiceSettings;

/// A running simulator; it stops when this is dropped.
pub struct Simulator {
    _running: Box<dyn std::any::Any + Send + Sync>,
}

#[cfg(feature = "sandbox")]
pub(super) use with_sandbox::{carrier, chat, merge, merge_accounts};

#[cfg(not(feature = "sandbox"))]
pub(super) use without_sandbox::{carrier, chat, merge, merge_accounts};

#[cfg(feature = "sandbox")]
mod with_sandbox {
    use std::net::{Ipv4Addr, SocketAddr};

    use tokio::net::TcpListener;

    use super::{Carrier, MergeAccount, MergeClient, Outbox, ServeError, Simulator, VoiceSettings};
    use crate::merge::{AccountTokens, MergeConfig, MergeSecret};
    use crate::sandbox::carrier::{CarrierConfig, SandboxCarrier, SigningSeed, Timing};
    use crate::sandbox::chat::{ChatConfig, SandboxChat};
    use crate::sandbox::merge::{LinkedAccount, MergeSandboxConfig, SandboxMerge};
    use crate::voice::settings::SandboxTiming;
    use crate::voice::telnyx::{ApiKey as TelnyxApiKey, TelnyxClient, TelnyxConfig};

    fn running(simulator: impl std::any::Any + Send + Sync) -> Option<Simulator> {
        Some(Simulator {
            _running: Box::new(simulator),
        })
    }

    /// The sandbox carrier, whose signing key is added to the accepted ones, and a client
    /// that dials through it; its webhooks reach our own endpoint over loopback.
    pub async fn carrier(
        voice: &mut VoiceSettings,
        listening: SocketAddr,
    ) -> Result<(Carrier, Option<Simulator>), ServeError> {
        // Our own webhook endpoint, reached over loopback whatever HOST is.
        let own = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listening.port());
        let webhook_url = format!("http://{own}/webhooks/voice");
        let seed = SigningSeed::generate();
        voice.public_keys.push(
            seed.public_key_base64()
                .parse()
                .map_err(|e| ServeError::Voice(format!("sandbox key: {e}")))?,
        );
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let sandbox = SandboxCarrier::start(
            listener,
            CarrierConfig {
                default_webhook_url: Some(webhook_url.clone()),
                messaging_webhook_url: Some(format!("http://{own}/webhooks/messaging")),
                signing_seed: seed,
                timing: match voice.sandbox_timing {
                    SandboxTiming::Realistic => Timing::realistic(),
                    SandboxTiming::Fast => Timing::fast(),
                },
                ..CarrierConfig::default()
            },
        )
        .map_err(|e| ServeError::Voice(e.to_string()))?;
        tracing::warn!(
            carrier = %sandbox.base_url(),
            "TELNYX_API_KEY is not set: calls go to the built-in sandbox carrier, no phone rings"
        );
        let mut config = TelnyxConfig::new(
            TelnyxApiKey::new("sandbox"),
            "sandbox-connection",
            voice.from_number.clone(),
        );
        config.api_base = sandbox.base_url();
        config.dials_per_second = voice.dials_per_second;
        let client = TelnyxClient::new(config).map_err(|e| ServeError::Voice(e.to_string()))?;
        let texts = voice.sms.messaging(Some(&format!("http://{own}")));
        let carrier = Carrier::new(client, Some(webhook_url)).with_messaging(texts);
        Ok((carrier, running(sandbox)))
    }

    /// The sandbox chat services, for chat and Notion destinations without credentials.
    pub async fn chat(outbox: Outbox) -> Result<(Outbox, Option<Simulator>), ServeError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let sandbox = SandboxChat::start(listener, ChatConfig::default())
            .map_err(|e| ServeError::Voice(format!("sandbox chat services: {e}")))?;
        tracing::info!(
            sandbox = %sandbox.base_url(),
            "chat or Notion destinations without credentials send to the built-in sandbox services; see {}/_sandbox/messages",
            sandbox.base_url()
        );
        let outbox = outbox.with_sandbox(sandbox.base_url());
        Ok((outbox, running(sandbox)))
    }

    /// The sandbox Merge with its sample linked accounts, and a client for it.
    pub async fn merge() -> Result<(MergeClient, Option<Simulator>), ServeError> {
        let invalid = |e: crate::merge::MergeError| ServeError::Voice(format!("Merge client: {e}"));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let sandbox = SandboxMerge::start(listener, MergeSandboxConfig::default())
            .map_err(|e| ServeError::Voice(format!("sandbox Merge: {e}")))?;
        let tokens = AccountTokens {
            default: None,
            by_account: LinkedAccount::samples()
                .into_iter()
                .map(|a| (a.id, MergeSecret::new(a.account_token.expose())))
                .collect(),
        };
        let mut config = MergeConfig::new(MergeSecret::new("sandbox"), tokens);
        config.api_base = sandbox.base_url();
        tracing::info!(merge = %sandbox.base_url(), "MERGE_API_KEY is not set: Merge calls go to the built-in sandbox Merge");
        Ok((MergeClient::new(config).map_err(invalid)?, running(sandbox)))
    }

    /// The sandbox Merge's sample linked accounts, by category.
    pub fn merge_accounts() -> Vec<MergeAccount> {
        LinkedAccount::samples()
            .into_iter()
            .map(|a| MergeAccount::of_category(a.id, &a.category, Some(a.integration)))
            .collect()
    }
}

#[cfg(not(feature = "sandbox"))]
mod without_sandbox {
    use std::net::SocketAddr;

    use super::{Carrier, MergeAccount, MergeClient, Outbox, ServeError, Simulator, VoiceSettings};

    pub async fn carrier(
        _voice: &mut VoiceSettings,
        _listening: SocketAddr,
    ) -> Result<(Carrier, Option<Simulator>), ServeError> {
        Err(ServeError::NoSandbox("TELNYX_API_KEY"))
    }

    pub async fn chat(_outbox: Outbox) -> Result<(Outbox, Option<Simulator>), ServeError> {
        Err(ServeError::NoSandbox(
            "a chat or Notion destination's credential",
        ))
    }

    pub async fn merge() -> Result<(MergeClient, Option<Simulator>), ServeError> {
        Err(ServeError::NoSandbox("MERGE_API_KEY"))
    }

    pub fn merge_accounts() -> Vec<MergeAccount> {
        Vec::new()
    }
}
