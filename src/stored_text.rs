//! Text that Klaxon stores as a key or an identifier exactly as a sender gave it (idempotency
//! keys, event types, Merge event names, Telnyx event ids) must be free of C0 control
//! characters (U+0000–U+001F) and DEL (U+007F).
//!
//! Why at the door: PostgreSQL refuses NUL in any `text` value, and one refused row used to
//! fail the whole group commit it rode in, on one backend but not the other. The other
//! control characters have no business in an identifier either (they hide in logs and
//! break the CLI's tables), so both backends refuse them alike, before the store sees them.
//!
//! JSON payloads are not checked here: they are stored as serialized JSON text, where a
//! control character is always written as an escape (`\u0000`), which every backend accepts.
//! Free text that comes back from elsewhere (a receiver's response) is not refused but
//! cleaned: [`without_nul`].
//!
//! This module owns only the check; each caller turns [`ControlCharacter`] into its own
//! error (422 on ingest, 400 on the webhooks).

/// Where the first control character sits in a piece of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("contains a control character (U+{code:04X}) at byte {byte}")]
pub struct ControlCharacter {
    /// The character's code point (all of them are one byte in UTF-8).
    pub code: u8,
    /// Its offset in the UTF-8 text, from 0.
    pub byte: usize,
}

/// Checks `text` for a C0 control character or DEL. A byte scan: in UTF-8 these code points
/// are single bytes that never occur inside a multi-byte character, so no decoding is needed
/// and the cost on the ingest path is one pass over a short key.
pub fn check(text: &str) -> Result<(), ControlCharacter> {
    match text.bytes().position(|b| b < 0x20 || b == 0x7f) {
        None => Ok(()),
        Some(byte) => Err(ControlCharacter {
            code: text.as_bytes()[byte],
            byte,
        }),
    }
}

/// `text` with every NUL replaced by U+FFFD, for free text Klaxon keeps but does not choose
/// (a webhook receiver's response, an error a remote server wrote). PostgreSQL refuses NUL
/// in `text`, and a refused attempt record would leave its delivery to be sent again; the
/// other control characters are stored fine and escaped wherever they are shown.
pub fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_free_text_becomes_the_replacement_character() {
        assert_eq!(without_nul("ok\0\0x".into()), "ok\u{FFFD}\u{FFFD}x");
        assert_eq!(without_nul("tab\tstays".into()), "tab\tstays");
    }

    #[test]
    fn finds_the_first_control_character_and_says_where() {
        let cases: [(&str, Option<(u8, usize)>); 10] = [
            ("evt_1", None),
            ("", None),
            ("ünïcödé ✓ 日本", None),
            ("spaces are fine", None),
            ("a\u{0}b", Some((0x00, 1))),
            ("\u{0}", Some((0x00, 0))),
            ("key\tx", Some((0x09, 3))),
            ("line\nbreak\r", Some((0x0a, 4))),
            ("é\u{1f}", Some((0x1f, 2))),
            ("del\u{7f}", Some((0x7f, 3))),
        ];
        for (text, expected) in cases {
            let found = check(text).err().map(|c| (c.code, c.byte));
            assert_eq!(found, expected, "{text:?}");
        }
    }

    #[test]
    fn characters_just_outside_the_ranges_pass() {
        // Space (U+0020), `~` (U+007E) and the C1 range (U+0080…U+009F, two bytes in UTF-8)
        // are stored fine by both backends.
        assert_eq!(check(" ~\u{80}\u{9f}\u{a0}"), Ok(()));
    }

    #[test]
    fn the_message_names_the_code_point_and_the_byte() {
        let error = check("a\u{0}b").unwrap_err();
        assert_eq!(
            error.to_string(),
            "contains a control character (U+0000) at byte 1"
        );
    }
}
