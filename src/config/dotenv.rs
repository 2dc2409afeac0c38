//! `.env` files, as the reference apps read them: `KEY=value` lines, `#` comments, optional
//! `export `, values optionally in single or double quotes. Variables already in the
//! environment win, so a `.env` never overrides what the shell set.

use std::collections::HashMap;
use std::path::Path;

use super::error::ConfigError;

/// Reads `path`; a missing file is an empty map, an unreadable one or a bad line an error.
pub fn read(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => {
            return Err(ConfigError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    parse(&text).map_err(|(line, message)| ConfigError::Syntax {
        path: path.to_owned(),
        message: format!("line {line}: {message}"),
    })
}

/// Parses `.env` text; errors carry the 1-based line number.
pub fn parse(text: &str) -> Result<HashMap<String, String>, (usize, String)> {
    let mut vars = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((n + 1, format!("expected KEY=value, got {line:?}")));
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err((n + 1, format!("{key:?} is not a variable name")));
        }
        let value = value.trim();
        let value = match value.as_bytes().first() {
            Some(q @ (b'"' | b'\'')) => {
                let quote = *q as char;
                let inner = &value[1..];
                let end = inner
                    .find(quote)
                    .ok_or_else(|| (n + 1, format!("unclosed {quote} quote")))?;
                inner[..end].to_owned()
            }
            // An unquoted value ends at a ` #` comment.
            _ => value.split(" #").next().unwrap_or("").trim_end().to_owned(),
        };
        vars.insert(key.to_owned(), value);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_shapes() {
        let vars = parse(
            "# Telnyx\nTELNYX_API_KEY=KEY0123\nexport PORT=5000\nONCALL_NUMBER=\"+12125551234\" \nAI_MODEL='moonshotai/Kimi-K2.6'\nDEAL_THRESHOLD=50000 # dollars\nEMPTY=\n",
        )
        .unwrap();
        assert_eq!(vars["TELNYX_API_KEY"], "KEY0123");
        assert_eq!(vars["PORT"], "5000");
        assert_eq!(vars["ONCALL_NUMBER"], "+12125551234");
        assert_eq!(vars["AI_MODEL"], "moonshotai/Kimi-K2.6");
        assert_eq!(vars["DEAL_THRESHOLD"], "50000");
        assert_eq!(vars["EMPTY"], "");
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        assert_eq!(parse("A=1\nnonsense\n").unwrap_err().0, 2);
        assert_eq!(parse("A=\"open\n").unwrap_err().0, 1);
        assert_eq!(parse("MY KEY=1").unwrap_err().0, 1);
    }
}
