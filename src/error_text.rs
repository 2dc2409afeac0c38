//! How an error reads to a person: the error, then each of its causes that its own text does
//! not already say. Errors here often end with their cause (`cannot connect to …: <why>`)
//! while others, such as the PostgreSQL driver's, keep the reason only in the cause, so
//! neither printing the top error alone nor every link of the chain reads right.

use std::error::Error;

/// `error` and its causes, each said once, joined by `: `.
pub fn with_causes(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        next = cause.source();
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::with_causes;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot connect to the database: {0}")]
    struct SaysItsCause(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("error performing TLS handshake")]
    struct KeepsItsCause(#[source] std::io::Error);

    #[test]
    fn a_cause_already_in_the_text_is_not_repeated() {
        let error = SaysItsCause(std::io::Error::other("handshake refused"));
        assert_eq!(
            with_causes(&error),
            "cannot connect to the database: handshake refused"
        );
    }

    #[test]
    fn a_cause_the_text_leaves_out_is_added() {
        let error = KeepsItsCause(std::io::Error::other("invalid peer certificate"));
        assert_eq!(
            with_causes(&error),
            "error performing TLS handshake: invalid peer certificate"
        );
    }
}
