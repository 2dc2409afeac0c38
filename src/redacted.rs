//! [`redacted_string!`]: a credential held as a string (an API key, a token, a shared secret)
//! whose `Debug` says only its type and `[redacted]`, and which has no `Display`, so it cannot
//! reach a log or an error message by accident. Each credential is its own type, so one
//! service's key cannot be passed where another's is meant.

/// Declares the newtype with `new` and `expose`; derives beyond `Clone` are the caller's.
macro_rules! redacted_string {
    ($(#[$meta:meta])* pub struct $name:ident;) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The value itself. Callers must not log or persist it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

pub(crate) use redacted_string;

#[cfg(test)]
mod tests {
    redacted_string! {
        /// A key for the test.
        pub struct TestKey;
    }

    #[test]
    fn debug_names_the_type_and_hides_the_value() {
        let key = TestKey::new("sk-live-123");
        assert_eq!(format!("{key:?}"), "TestKey([redacted])");
        assert_eq!(
            format!("{:?}", Some(key.clone())),
            "Some(TestKey([redacted]))"
        );
        assert_eq!(key.expose(), "sk-live-123");
    }
}
