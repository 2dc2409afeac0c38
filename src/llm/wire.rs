//! The JSON sent to and read from `POST {base}/chat/completions`.
//!
//! The request follows `ChatCompletionRequest` in the Telnyx OpenAPI spec (operation
//! `create_openai_chat_completion`). The spec leaves the 200 body untyped, so the reply is read
//! as an OpenAI `chat.completion`, taking only what we use and ignoring the rest (including
//! `reasoning_content`).

use serde::{Deserialize, Serialize};

use super::LlmError;

/// Part of every cache key. Bump it whenever the prompt text or a request parameter below
/// changes, so answers cached for the old request are not served for the new one.
pub(super) const PROMPT_VERSION: &str = "choose_label/v1";

/// Tokens allowed beyond the longest label. A label never needs more tokens than it has
/// characters; the slack covers an end-of-turn token or a stray newline, and keeps a model
/// without guided decoding from rambling past the timeout.
const MAX_TOKENS_SLACK: usize = 8;

#[derive(Debug, Serialize)]
pub(super) struct ChatRequest<'a> {
    model: &'a str,
    messages: [Message; 2],
    /// The spec's default is 0.1; a classifier should give the same answer every time.
    temperature: f64,
    max_tokens: usize,
    /// The spec's default is true; reasoning before a one-word answer costs seconds and can
    /// use up `max_tokens` before any content is produced.
    enable_thinking: bool,
    /// Telnyx/vLLM guided decoding: the output is exactly one of these strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    guided_choice: Option<&'a [String]>,
}

#[derive(Debug, Serialize)]
struct Message {
    role: &'static str,
    content: String,
}

impl<'a> ChatRequest<'a> {
    pub(super) fn choose_label(
        model: &'a str,
        instructions: &str,
        input: &str,
        labels: &'a [String],
    ) -> Self {
        let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        ChatRequest {
            model,
            messages: [
                Message {
                    role: "system",
                    content: system_prompt(instructions, labels),
                },
                Message {
                    role: "user",
                    content: input.to_owned(),
                },
            ],
            temperature: 0.0,
            max_tokens: longest + MAX_TOKENS_SLACK,
            enable_thinking: false,
            guided_choice: Some(labels),
        }
    }

    /// Free text: a short spoken briefing. Low temperature, no reasoning phase (a person
    /// is waiting), and a token cap that bounds the time.
    pub(super) fn free_text(
        model: &'a str,
        instructions: &str,
        input: &str,
        max_tokens: usize,
    ) -> Self {
        ChatRequest {
            model,
            messages: [
                Message {
                    role: "system",
                    content: instructions.to_owned(),
                },
                Message {
                    role: "user",
                    content: input.to_owned(),
                },
            ],
            temperature: 0.2,
            max_tokens,
            enable_thinking: false,
            guided_choice: None,
        }
    }
}

/// The caller's instructions, then the answer format. The labels are listed in the prompt as
/// well as in `guided_choice` because models without guided decoding only see the prompt.
fn system_prompt(instructions: &str, labels: &[String]) -> String {
    let instructions = instructions.trim();
    let choices = labels.join(", ");
    if instructions.is_empty() {
        format!("Answer with exactly one of: {choices}")
    } else {
        format!("{instructions}\n\nAnswer with exactly one of: {choices}")
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    pub(super) usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: ReplyMessage,
}

#[derive(Debug, Deserialize)]
struct ReplyMessage {
    /// Null when a reasoning model spent every token thinking, or the model called a tool.
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Usage {
    pub(super) prompt_tokens: Option<u64>,
    pub(super) completion_tokens: Option<u64>,
}

impl ChatResponse {
    /// `choices[0].message.content`.
    pub(super) fn into_content(self) -> Result<String, LlmError> {
        let invalid = |reason| LlmError::InvalidResponse {
            reason,
            source: None,
        };
        let choice = self
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| invalid("`choices` is empty"))?;
        choice
            .message
            .content
            .ok_or_else(|| invalid("`choices[0].message.content` is null"))
    }
}
