//! `[voice]`, `[people.*]` and `[[policies]]` as written, with the reference apps' variables
//! (`TELNYX_*`, `PUBLIC_URL`, `ONCALL_NUMBER`, `VP_SALES_NUMBER`), validated into
//! [`VoiceSettings`]; problems go to the [`Reader`] with where each value came from.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    DEFAULT_MAX_MENU_ROUNDS, DEFAULT_ROLE, Policy, PolicyStep, Ring, SandboxTiming, Target,
    TelnyxAccount, VoiceSettings, Voicemail,
};
use crate::config::{Origin, Reader};
use crate::people::{PhoneBook, is_e164};
use crate::signing::telnyx::PublicKey;

pub const DEFAULT_TELNYX_API_BASE: &str = "https://api.telnyx.com/v2";
/// The sandbox's caller id when `TELNYX_PHONE_NUMBER` is not set.
pub const SANDBOX_FROM_NUMBER: &str = "+15550100000";
pub const DEFAULT_RING_TIMEOUT_SECS: u32 = 30;
pub const DEFAULT_DIALS_PER_SECOND: f64 = 10.0;
/// A role is said on every call; a sentence is too long.
const MAX_ROLE_CHARS: usize = 60;

/// The built-in policies' roles; any other policy rings "the on-call engineer" unless it
/// says otherwise.
fn default_role(policy: &str) -> &'static str {
    match policy {
        "vp_sales" => "the VP of Sales",
        _ => DEFAULT_ROLE,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVoice {
    pub public_url: Option<String>,
    pub dials_per_second: Option<f64>,
    /// The policy a caller to Klaxon's number reaches by pressing 1 (`INBOUND_POLICY`).
    pub inbound_policy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPerson {
    pub name: Option<String>,
    pub phone: String,
    pub email: Option<String>,
}

impl RawPerson {
    /// This entry as schedules see it.
    pub fn member(&self, key: &str) -> crate::oncall::Member {
        crate::oncall::Member {
            key: key.to_owned(),
            name: self.name.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: String,
    #[serde(default)]
    pub repeat: u32,
    /// Who the policy rings, in the calls' words ("the VP of Sales").
    pub role: Option<String>,
    pub voicemail: Option<Voicemail>,
    pub max_menu_rounds: Option<u32>,
    pub steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// E.164 numbers or keys of `[people]`.
    pub targets: Vec<String>,
    pub ring_timeout_secs: Option<u32>,
    pub attempts: Option<u32>,
    #[serde(default)]
    pub ring: Ring,
    /// `"before"`: text, then call; `"instead"`: text and wait `ring_timeout_secs` for a reply.
    pub sms: Option<crate::voice::sms::Texting>,
}

/// Everything voice-related the user wrote.
pub struct RawVoiceInput {
    pub voice: RawVoice,
    pub people: BTreeMap<String, RawPerson>,
    pub policies: Vec<RawPolicy>,
    /// The names of `[[schedules]]`, which `schedule:<name>` targets name.
    pub schedules: Vec<String>,
}

pub fn resolve(raw: RawVoiceInput, r: &mut Reader<'_>) -> VoiceSettings {
    let file = &r.file().clone();

    let telnyx = r.var("TELNYX_API_KEY").map(|api_key| TelnyxAccount {
        api_base: r
            .var("TELNYX_API_BASE")
            .unwrap_or_else(|| DEFAULT_TELNYX_API_BASE.into())
            .trim_end_matches('/')
            .to_owned(),
        api_key,
        connection_id: r.var("TELNYX_CONNECTION_ID").unwrap_or_default(),
    });
    let from_number = r.var("TELNYX_PHONE_NUMBER");
    if let Some(account) = &telnyx {
        if account.connection_id.is_empty() {
            r.fail(
                Origin::Env("TELNYX_CONNECTION_ID"),
                "voice.connection_id",
                "TELNYX_API_KEY is set, so the Call Control app id is needed too".into(),
            );
        }
        if from_number.is_none() {
            r.fail(
                Origin::Env("TELNYX_PHONE_NUMBER"),
                "voice.from_number",
                "TELNYX_API_KEY is set, so the number to call from is needed too".into(),
            );
        }
    }
    if let Some(number) = &from_number
        && !is_e164(number)
    {
        r.fail(
            Origin::Env("TELNYX_PHONE_NUMBER"),
            "voice.from_number",
            format!("{number:?} is not a +E.164 number"),
        );
    }

    let mut public_keys = Vec::new();
    if let Some(keys) = r.var("TELNYX_PUBLIC_KEY") {
        for key in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            match key.parse::<PublicKey>() {
                Ok(key) => public_keys.push(key),
                Err(e) => r.fail(
                    Origin::Env("TELNYX_PUBLIC_KEY"),
                    "voice.public_key",
                    format!("not a base64 Ed25519 public key: {e}"),
                ),
            }
        }
    }
    if telnyx.is_some() && public_keys.is_empty() {
        r.fail(
            Origin::Env("TELNYX_PUBLIC_KEY"),
            "voice.public_key",
            "TELNYX_API_KEY is set, so call webhooks must be verified: set the account's public key (Mission Control → Keys & Credentials)".into(),
        );
    }

    let public_url = match r.var("PUBLIC_URL") {
        Some(url) => Some((url, Origin::Env("PUBLIC_URL"))),
        None => raw.voice.public_url.map(|u| (u, file.clone())),
    }
    .and_then(|(url, origin)| match reqwest::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
            Some(url.trim_end_matches('/').to_owned())
        }
        _ => {
            r.fail(
                origin,
                "voice.public_url",
                format!("{url:?} is not an http(s) URL"),
            );
            None
        }
    });
    let dials_per_second = match r.var("KLAXON_DIALS_PER_SECOND") {
        Some(v) => match v.parse::<f64>() {
            Ok(n) if n > 0.0 && n <= 1000.0 => n,
            _ => {
                r.fail(
                    Origin::Env("KLAXON_DIALS_PER_SECOND"),
                    "voice.dials_per_second",
                    format!("must be a number above 0 and at most 1000, got {v:?}"),
                );
                DEFAULT_DIALS_PER_SECOND
            }
        },
        None => match raw.voice.dials_per_second {
            Some(n) if n > 0.0 && n <= 1000.0 => n,
            Some(n) => {
                r.fail(
                    file.clone(),
                    "voice.dials_per_second",
                    format!("must be above 0 and at most 1000, got {n}"),
                );
                DEFAULT_DIALS_PER_SECOND
            }
            None => DEFAULT_DIALS_PER_SECOND,
        },
    };

    // People first: policies name them.
    let mut people = BTreeMap::new();
    let mut people_by_email = PhoneBook::default();
    for (key, person) in raw.people {
        if is_e164(&person.phone) {
            let target = Target {
                number: person.phone,
                name: person.name,
                schedule: None,
            };
            if let Some(email) = &person.email {
                people_by_email.insert(email, target.number.clone());
            }
            people.insert(key, target);
        } else {
            r.fail(
                file.clone(),
                format!("people.{key}.phone"),
                format!("{:?} is not a +E.164 number", person.phone),
            );
        }
    }

    let mut policies = BTreeMap::new();
    // The reference apps' variables define the default policies; a declared policy of the
    // same name wins.
    for (name, variable) in [("oncall", "ONCALL_NUMBER"), ("vp_sales", "VP_SALES_NUMBER")] {
        let Some(list) = r.var(variable) else {
            continue;
        };
        let mut steps = Vec::new();
        for number in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if is_e164(number) {
                steps.push(PolicyStep {
                    targets: vec![Target {
                        number: number.to_owned(),
                        name: None,
                        schedule: None,
                    }],
                    ring_timeout_secs: DEFAULT_RING_TIMEOUT_SECS,
                    attempts: 1,
                    ring: Ring::Sequential,
                    sms: None,
                });
            } else {
                r.fail(
                    Origin::Env(variable),
                    format!("policies.{name}"),
                    format!("{number:?} is not a +E.164 number"),
                );
            }
        }
        let mut policy = Policy::new(steps, 0);
        policy.role = default_role(name).to_owned();
        policies.insert(name.to_owned(), policy);
    }
    for policy in raw.policies {
        let key = format!("policies.{}", policy.name);
        if policy.steps.is_empty() {
            r.fail(
                file.clone(),
                &key,
                "a policy needs at least one step".into(),
            );
        }
        let mut steps = Vec::with_capacity(policy.steps.len());
        for (i, step) in policy.steps.into_iter().enumerate() {
            let step_key = format!("{key}.steps[{i}]");
            if step.targets.is_empty() {
                r.fail(
                    file.clone(),
                    format!("{step_key}.targets"),
                    "name at least one target".into(),
                );
            }
            let mut targets = Vec::with_capacity(step.targets.len());
            for target in step.targets {
                if is_e164(&target) {
                    targets.push(Target {
                        number: target,
                        name: None,
                        schedule: None,
                    });
                } else if let Some(person) = people.get(&target) {
                    targets.push(person.clone());
                } else if let Some(schedule) = target.strip_prefix("schedule:") {
                    if raw.schedules.iter().any(|s| s == schedule) {
                        targets.push(Target {
                            number: String::new(),
                            name: Some(format!("on call for {schedule}")),
                            schedule: Some(schedule.to_owned()),
                        });
                    } else {
                        r.fail(
                            file.clone(),
                            format!("{step_key}.targets"),
                            format!("{target:?}: there is no [[schedules]] named {schedule:?}"),
                        );
                    }
                } else {
                    r.fail(
                        file.clone(),
                        format!("{step_key}.targets"),
                        format!("{target:?} is neither a +E.164 number, a key of [people], nor schedule:<name>"),
                    );
                }
            }
            let ring_timeout_secs = step.ring_timeout_secs.unwrap_or(DEFAULT_RING_TIMEOUT_SECS);
            if !(5..=600).contains(&ring_timeout_secs) {
                r.fail(
                    file.clone(),
                    format!("{step_key}.ring_timeout_secs"),
                    format!("must be between 5 and 600 (Telnyx's limits), got {ring_timeout_secs}"),
                );
            }
            let attempts = step.attempts.unwrap_or(1);
            if !(1..=10).contains(&attempts) {
                r.fail(
                    file.clone(),
                    format!("{step_key}.attempts"),
                    format!("must be between 1 and 10, got {attempts}"),
                );
            }
            steps.push(PolicyStep {
                targets,
                ring_timeout_secs,
                attempts,
                ring: step.ring,
                sms: step.sms,
            });
        }
        if policy.repeat > 10 {
            r.fail(
                file.clone(),
                format!("{key}.repeat"),
                format!("must be at most 10, got {}", policy.repeat),
            );
        }
        let role = policy
            .role
            .map(|r| r.trim().to_owned())
            .unwrap_or_else(|| default_role(&policy.name).to_owned());
        if role.is_empty() || role.chars().count() > MAX_ROLE_CHARS {
            r.fail(
                file.clone(),
                format!("{key}.role"),
                format!("must be 1 to {MAX_ROLE_CHARS} characters, e.g. \"the VP of Sales\""),
            );
        }
        let max_menu_rounds = policy.max_menu_rounds.unwrap_or(DEFAULT_MAX_MENU_ROUNDS);
        if !(1..=10).contains(&max_menu_rounds) {
            r.fail(
                file.clone(),
                format!("{key}.max_menu_rounds"),
                format!("must be between 1 and 10, got {max_menu_rounds}"),
            );
        }
        policies.insert(
            policy.name,
            Policy {
                steps,
                repeat: policy.repeat,
                role,
                voicemail: policy.voicemail.unwrap_or_default(),
                max_menu_rounds,
            },
        );
    }

    let sandbox_timing = match r.var("KLAXON_SANDBOX_TIMING").as_deref() {
        None | Some("realistic") => SandboxTiming::Realistic,
        Some("fast") => SandboxTiming::Fast,
        Some(other) => {
            r.fail(
                Origin::Env("KLAXON_SANDBOX_TIMING"),
                "voice.sandbox_timing",
                format!("expected \"realistic\" or \"fast\", got {other:?}"),
            );
            SandboxTiming::Realistic
        }
    };

    let inbound_policy = match r.var("INBOUND_POLICY") {
        Some(name) => Some((name, Origin::Env("INBOUND_POLICY"))),
        None => raw.voice.inbound_policy.map(|name| (name, file.clone())),
    };
    if let Some((name, origin)) = &inbound_policy
        && !policies.contains_key(name.as_str())
    {
        r.fail(
            origin.clone(),
            "voice.inbound_policy",
            format!("no policy is named {name:?}"),
        );
    }

    let from_number = from_number.unwrap_or_else(|| SANDBOX_FROM_NUMBER.into());
    let sms = crate::voice::sms::settings::resolve(r, &from_number);
    VoiceSettings {
        sms,
        inbound_policy: inbound_policy.map_or_else(
            || crate::voice::inbound::DEFAULT_POLICY.to_owned(),
            |(name, _)| name,
        ),
        sandbox_timing,
        telnyx,
        public_keys,
        public_url,
        from_number,
        dials_per_second,
        policies,
        people_by_email,
    }
}
