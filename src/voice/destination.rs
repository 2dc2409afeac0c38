//! A `voice` destination as a pipeline declares it: which escalation policy to run, who
//! "connect me" reaches, and how the briefing is written. Validated by
//! `crate::pipeline::settings`, planned into an escalation by [`super::escalation::plan`].

/// A phone escalation destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceSpec {
    /// The escalation policy's name (validated against the settings).
    pub policy: String,
    /// Who "connect me" reaches; none means connect is not offered.
    pub connect_to: Option<ConnectTo>,
    /// Instructions for the briefing model; a built-in prompt when absent.
    pub briefing_prompt: Option<String>,
}

/// Where the connect target's number comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectTo {
    Number(String),
    /// A payload field (dotted path) holding a +E.164 number.
    Field(String),
}
