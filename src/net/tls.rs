//! TLS configurations: server configs presenting a leaf minted by synctap's CA (the
//! proxy's client leg, the reference server, the mock), client configs for reaching
//! servers (OS trust store, extra CAs with pinning, or no verification), the crypto
//! provider (ring), and the key log for Wireshark.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::error::MintError;
use super::verify::{signature_checks, Signatures};

/// The one crypto provider synctap uses: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide default provider (for libraries that ask for it).
pub fn install_default_provider() {
    // Fails only when a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A key log writing NSS key log lines (the SSLKEYLOGFILE format) to a file.
#[derive(Debug)]
pub struct FileKeyLog {
    file: Mutex<File>,
}

impl FileKeyLog {
    /// Opens `path` for appending.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> anyhow::Result<Arc<Self>> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open key log {}", path.display()))?;
        Ok(Arc::new(Self {
            file: Mutex::new(file),
        }))
    }
}

impl rustls::KeyLog for FileKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = format!(
            "{label} {} {}\n",
            crate::util::hex(client_random),
            crate::util::hex(secret)
        );
        if let Ok(mut f) = self.file.lock() {
            // A key log that cannot be written must not disturb the traffic.
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Upstream verification settings.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTrust {
    /// Extra roots (from `--upstream-ca`); a server certificate byte-identical to one of
    /// them is accepted by pinning (see `trust`).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Skip verification entirely (`--insecure-upstream`).
    pub insecure: bool,
}

/// Upstream client configs, one per ALPN offer, built once.
#[derive(Debug, Clone)]
pub struct UpstreamConfigs {
    /// ALPN `h2, http/1.1`.
    pub h2_h1: Arc<ClientConfig>,
    /// ALPN `http/1.1`.
    pub h1: Arc<ClientConfig>,
    /// No ALPN (the client offered none).
    pub none: Arc<ClientConfig>,
}

impl UpstreamConfigs {
    /// Builds the configs.
    ///
    /// # Errors
    /// When the platform verifier cannot be built.
    pub fn new(
        trust: &UpstreamTrust,
        keylog: Option<Arc<dyn rustls::KeyLog>>,
    ) -> anyhow::Result<Self> {
        let base = client_config(trust, keylog)?;
        let with = |alpn: &[&[u8]]| {
            let mut c = base.clone();
            c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Arc::new(c)
        };
        Ok(Self {
            h2_h1: with(&[b"h2", b"http/1.1"]),
            h1: with(&[b"http/1.1"]),
            none: with(&[]),
        })
    }

    /// The config to offer upstream what the client offered us.
    pub fn for_client_alpn(&self, client_alpn: &[Vec<u8>]) -> Arc<ClientConfig> {
        let h2 = client_alpn.iter().any(|p| p == b"h2");
        let h1 = client_alpn.iter().any(|p| p == b"http/1.1");
        match (h2, h1) {
            (true, _) => Arc::clone(&self.h2_h1),
            (false, true) => Arc::clone(&self.h1),
            (false, false) => Arc::clone(&self.none),
        }
    }
}

fn client_config(
    trust: &UpstreamTrust,
    keylog: Option<Arc<dyn rustls::KeyLog>>,
) -> anyhow::Result<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let mut config = if trust.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify {
                signatures: Signatures::Algorithms(provider.signature_verification_algorithms),
            }))
            .with_no_client_auth()
    } else {
        let verifier = match rustls_platform_verifier::Verifier::new_with_extra_roots(
            trust.extra_roots.iter().cloned(),
            Arc::clone(&provider),
        ) {
            Ok(v) => Arc::new(v) as Arc<dyn ServerCertVerifier>,
            Err(e) => {
                tracing::warn!(error = %e, "OS trust store unavailable; using the bundled web PKI roots");
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                for c in &trust.extra_roots {
                    roots
                        .add(c.clone())
                        .context("invalid --upstream-ca certificate")?;
                }
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                )
                .build()
                .context("cannot build the upstream verifier")?
            }
        };
        let verifier = Arc::new(super::trust::PinningVerifier::new(
            trust.extra_roots.clone(),
            verifier,
        ));
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth()
    };
    if let Some(k) = keylog {
        config.key_log = k;
    }
    Ok(config)
}

/// A server config presenting `key`, negotiating `alpn` (empty: none).
///
/// # Errors
/// When rustls rejects the protocol versions (it does not for ring).
pub fn server_config(
    key: Arc<CertifiedKey>,
    alpn: Vec<Vec<u8>>,
    keylog: Option<Arc<dyn rustls::KeyLog>>,
) -> Result<Arc<ServerConfig>, MintError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(MintError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(FixedCert(key)));
    config.alpn_protocols = alpn;
    if let Some(k) = keylog {
        config.key_log = k;
    }
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// Accepts any upstream certificate (`--insecure-upstream`), still checking signatures.
#[derive(Debug)]
struct NoVerify {
    signatures: Signatures,
}

impl ServerCertVerifier for NoVerify {
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

    signature_checks!(signatures);
}
