//! People and their phone numbers, as `[people]` in the settings declares them: the phone
//! book that finds a CRM deal owner's phone by e-mail, and the E.164 check every number
//! passes. Used by escalations, by the pipeline's Merge look-up and by the Merge poll, so it
//! belongs to none of them.

use std::collections::BTreeMap;

/// E-mail address → phone number, compared without case or surrounding spaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneBook(BTreeMap<String, String>);

impl PhoneBook {
    pub fn insert(&mut self, email: &str, number: String) {
        self.0.insert(email.trim().to_lowercase(), number);
    }

    pub fn phone(&self, email: &str) -> Option<String> {
        self.0.get(&email.trim().to_lowercase()).cloned()
    }
}

/// `+` and 8 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}
