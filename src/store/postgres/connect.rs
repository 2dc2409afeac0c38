//! Connecting to PostgreSQL: the pool of connections and TLS through rustls (with `ring`).
//!
//! TLS follows libpq's `sslmode` (see [`crate::store::PostgresUrl`]): `prefer` and
//! `require` encrypt without checking the server's certificate, as `psql` does; the
//! `verify-*` modes check it against the Mozilla roots or `sslrootcert`. rustls always checks
//! the host name when it checks a certificate, so `verify-ca` is as strict as `verify-full`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;
use crate::store::{PostgresUrl, TlsMode};

/// How long a caller waits for a pooled connection before the store reports itself
/// unavailable (503), rather than queueing forever behind a stuck server.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// How long opening one connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> StoreError {
        match error {
            deadpool_postgres::PoolError::Backend(error) => StoreError::Postgres(error),
            other => StoreError::Pool(other.to_string()),
        }
    }
}

/// The driver's settings for `url`, with the TLS mode applied.
pub fn config(url: &PostgresUrl) -> Result<tokio_postgres::Config, StoreError> {
    let mut config =
        tokio_postgres::Config::from_str(url.connection_string()).map_err(|source| {
            StoreError::Connect {
                url: url.to_string(),
                source,
            }
        })?;
    config.ssl_mode(match url.tls {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
    });
    config.connect_timeout(CONNECT_TIMEOUT);
    if config.get_application_name().is_none() {
        config.application_name("klaxon");
    }
    // Plan each execution with its real parameters. A cached generic plan is made once per
    // connection, often while the tables are still small, and then joins a batch (`UNNEST` of
    // its rows) to a grown table by scanning all of it, every batch. Batches make planning
    // per execution cheap next to that.
    //
    // The server's NOTICEs (`CREATE TABLE IF NOT EXISTS` on every start) are not for
    // Klaxon's log; warnings and errors still are.
    let options = config.get_options().unwrap_or_default();
    config.options(
        format!("{options} -c plan_cache_mode=force_custom_plan -c client_min_messages=warning")
            .trim_start(),
    );
    Ok(config)
}

/// A pool of up to `size` connections.
pub fn pool(url: &PostgresUrl, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config(url)?,
        tls(url)?,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Pool(e.to_string()))
}

/// The TLS connector for `url`'s mode.
pub fn tls(url: &PostgresUrl) -> Result<MakeRustlsConnect, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Tls(e.to_string()))?;
    let config = match url.tls {
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let mut roots = RootCertStore::empty();
            match &url.root_cert {
                Some(path) => {
                    let certificates = CertificateDer::pem_file_iter(path)
                        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                        .map_err(|e| {
                            StoreError::Tls(format!("sslrootcert {}: {e}", path.display()))
                        })?;
                    for certificate in certificates {
                        roots.add(certificate).map_err(|e| {
                            StoreError::Tls(format!("sslrootcert {}: {e}", path.display()))
                        })?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// libpq's `prefer`/`require`: the channel is encrypted and the handshake signature is
/// checked, but the certificate's issuer and name are not (that is what `verify-full` is for).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
