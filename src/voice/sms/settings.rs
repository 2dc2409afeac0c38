//! Where texts are sent from: `TELNYX_SMS_NUMBER` (default: the caller id,
//! `TELNYX_PHONE_NUMBER`, which must then be SMS-enabled at Telnyx) and
//! `TELNYX_MESSAGING_PROFILE_ID` (optional; decides the inbound webhook URL and, without a
//! number, the number pool).

use crate::config::{Origin, Reader};
use crate::people::is_e164;

/// The messaging account, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSettings {
    /// `from` of every text, +E.164.
    pub from_number: String,
    pub messaging_profile_id: Option<String>,
}

impl SmsSettings {
    /// How the carrier texts, with receipts sent to `{base}/webhooks/messaging` when Klaxon's
    /// public address is known (else to the messaging profile's webhook URL).
    pub fn messaging(&self, base: Option<&str>) -> crate::voice::carrier::Messaging {
        crate::voice::carrier::Messaging {
            from: Some(self.from_number.clone()),
            profile_id: self.messaging_profile_id.clone(),
            webhook_url: base.map(|base| format!("{base}/webhooks/messaging")),
        }
    }
}

/// Reads the messaging variables; `caller_id` is the voice caller id already resolved.
pub fn resolve(r: &mut Reader<'_>, caller_id: &str) -> SmsSettings {
    let from_number = match r.var("TELNYX_SMS_NUMBER") {
        Some(number) if is_e164(number.trim()) => number.trim().to_owned(),
        Some(number) => {
            r.fail(
                Origin::Env("TELNYX_SMS_NUMBER"),
                "voice.sms.from_number",
                format!("{number:?} is not a +E.164 number"),
            );
            caller_id.to_owned()
        }
        None => caller_id.to_owned(),
    };
    let messaging_profile_id = r
        .var("TELNYX_MESSAGING_PROFILE_ID")
        .map(|id| id.trim().to_owned());
    if let Some(id) = &messaging_profile_id
        && (id.len() > 100 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        r.fail(
            Origin::Env("TELNYX_MESSAGING_PROFILE_ID"),
            "voice.sms.messaging_profile_id",
            "must be the profile's id as Mission Control shows it (letters, digits, dashes)".into(),
        );
    }
    SmsSettings {
        from_number,
        messaging_profile_id,
    }
}
