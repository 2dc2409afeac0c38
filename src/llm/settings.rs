//! `[ai]` as written (and `AI_*`, `TELNYX_API_KEY`), validated into [`AiSettings`]: the
//! OpenAI-compatible model behind `classify`.

use std::time::Duration;

use serde::Deserialize;

use crate::config::Reader;
use crate::signing::Secret;

/// Telnyx AI Inference, OpenAI-compatible.
pub const DEFAULT_AI_BASE_URL: &str = "https://api.telnyx.com/v2/ai/openai";
pub const DEFAULT_AI_MODEL: &str = "moonshotai/Kimi-K2.6";
pub const DEFAULT_AI_TIMEOUT: Duration = Duration::from_secs(10);
/// The model behind `classify`.
#[derive(Debug, Clone)]
pub struct AiSettings {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    /// A model is used only when a key is set or a base URL was given explicitly (a local
    /// server may need no key); otherwise the built-in classifier decides.
    pub enabled: bool,
}

/// `[ai]`: the OpenAI-compatible model behind `classify`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAi {
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub timeout_secs: Option<u64>,
}

/// Validates `[ai]` overlaid by its variables.
pub fn resolve(raw: RawAi, r: &mut Reader<'_>) -> AiSettings {
    let ai_base_url = r.string("AI_BASE_URL", raw.base_url);
    let ai_key = r
        .var("AI_API_KEY")
        .or_else(|| r.var("TELNYX_API_KEY"))
        .map(Secret::new);
    AiSettings {
        enabled: ai_key.is_some() || ai_base_url.is_some(),
        base_url: ai_base_url
            .and_then(|(url, o)| {
                r.check(
                    "ai.base_url",
                    o,
                    reqwest::Url::parse(&url)
                        .map(|_| url.trim_end_matches('/').to_owned())
                        .map_err(|e| format!("{url:?}: {e}")),
                )
            })
            .unwrap_or_else(|| DEFAULT_AI_BASE_URL.into()),
        model: r
            .string("AI_MODEL", raw.model)
            .map_or_else(|| DEFAULT_AI_MODEL.into(), |(m, _)| m),
        api_key: ai_key,
        timeout: r
            .ranged(
                "AI_TIMEOUT_SECS",
                "ai.timeout_secs",
                raw.timeout_secs,
                1,
                120,
            )
            .map_or(DEFAULT_AI_TIMEOUT, Duration::from_secs),
    }
}
