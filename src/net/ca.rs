//! synctap's certificate authority: created once, stored in `certs/`, and used to mint a
//! leaf certificate for every host the proxy intercepts.
//!
//! The CA certificate has constrained basic constraints (path length 0) and the
//! KeyCertSign and CrlSign usages. Its key file is created with mode 0600 in a folder with
//! mode 0700. Leaves carry a random serial, a backdated `not_before`, the ServerAuth EKU,
//! an authority key identifier and a SAN: a DNS name, or an IP address when the client
//! connected to an IP literal. They are minted once per name and cached.

use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use super::error::MintError;

/// File name of the CA certificate inside the certs folder.
pub const CA_CERT_FILE: &str = "synctap-ca.pem";
/// File name of the CA private key inside the certs folder.
pub const CA_KEY_FILE: &str = "synctap-ca.key";

/// The loaded CA, able to mint leaf certificates.
pub struct CertificateAuthority {
    dir: PathBuf,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    leaf_key: KeyPair,
    leaf_signing_key: Arc<dyn rustls::sign::SigningKey>,
    cache: quick_cache::sync::Cache<String, Arc<CertifiedKey>>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What `ca show` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaInfo {
    /// Certificate path.
    pub cert_path: PathBuf,
    /// Key path.
    pub key_path: PathBuf,
    /// Subject distinguished name.
    pub subject: String,
    /// Validity start (RFC 3339).
    pub not_before: String,
    /// Validity end (RFC 3339).
    pub not_after: String,
    /// SHA-256 of the DER certificate, colon-separated uppercase hex.
    pub sha256: String,
    /// The key file's permission bits (Unix), `None` where there are none or the file
    /// cannot be read.
    pub key_mode: Option<u32>,
}

impl CaInfo {
    /// Whether the key file can be read by group or others.
    pub fn key_readable_by_others(&self) -> bool {
        self.key_mode.is_some_and(|m| m & 0o077 != 0)
    }
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, creating it first when the folder holds none. Returns the
    /// CA and whether it was created now. Never overwrites an existing CA.
    ///
    /// # Errors
    /// When files cannot be read or written, or only one of the two files exists.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<(Self, bool)> {
        let created = init(dir)?;
        Ok((Self::load(dir)?, created))
    }

    /// Loads an existing CA from `dir`.
    ///
    /// # Errors
    /// When the files are missing or unreadable.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_pem = fs::read_to_string(&cert_path)
            .with_context(|| format!("cannot read CA certificate {}", cert_path.display()))?;
        let key_pem = fs::read_to_string(&key_path)
            .with_context(|| format!("cannot read CA key {}", key_path.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("invalid CA key in {}", key_path.display()))?;
        let cert_der = pem_to_der(&cert_pem)
            .with_context(|| format!("invalid CA certificate in {}", cert_path.display()))?;
        check_key_matches(&cert_der, &key, &cert_path, &key_path)?;
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .with_context(|| format!("invalid CA certificate in {}", cert_path.display()))?;
        Self::assemble(dir, cert_pem, cert_der, issuer)
    }

    /// A CA that lives in memory only and is never written: for a proxy that mints no
    /// certificate (reverse mode with a plain listener), so the certs folder may be
    /// missing or read-only.
    ///
    /// # Errors
    /// When key generation fails.
    pub fn ephemeral(dir: &Path) -> anyhow::Result<Self> {
        let (key, cert) = new_ca()?;
        let cert_der = cert.der().clone();
        let issuer = Issuer::from_ca_cert_der(&cert_der, key).context("in-memory CA")?;
        Self::assemble(dir, cert.pem(), cert_der, issuer)
    }

    fn assemble(
        dir: &Path,
        cert_pem: String,
        cert_der: CertificateDer<'static>,
        issuer: Issuer<'static, KeyPair>,
    ) -> anyhow::Result<Self> {
        let leaf_key = KeyPair::generate().context("cannot generate a leaf key")?;
        let leaf_signing_key = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                leaf_key.serialize_der(),
            )))
            .context("cannot load the leaf key into rustls")?;
        Ok(Self {
            dir: dir.to_path_buf(),
            cert_pem,
            cert_der,
            issuer,
            leaf_key,
            leaf_signing_key,
            cache: quick_cache::sync::Cache::new(1024),
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Path of the CA certificate file.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    /// A leaf certificate and key for `names` (DNS names or IP literals; the first is the
    /// subject CN), minted once per name set and cached.
    ///
    /// # Errors
    /// When a name is not a valid DNS name or IP address, or signing fails.
    pub fn leaf(&self, names: &[String]) -> Result<Arc<CertifiedKey>, MintError> {
        let key = names.join(",");
        self.cache.get_or_insert_with(&key, || self.mint(names))
    }

    fn mint(&self, names: &[String]) -> Result<Arc<CertifiedKey>, MintError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().map_or("synctap", String::as_str),
        );
        dn.push(DnType::OrganizationName, "synctap");
        params.distinguished_name = dn;
        for n in names {
            let n = n.trim_start_matches('[').trim_end_matches(']');
            let san = match n.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(n.to_owned().try_into().map_err(|source| {
                    MintError::HostName {
                        name: n.to_owned(),
                        source,
                    }
                })?),
            };
            params.subject_alt_names.push(san);
        }
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(2);
        params.not_after = now + Duration::days(365);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()));
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&self.leaf_key, &self.issuer)
            .map_err(MintError::Sign)?;
        Ok(Arc::new(CertifiedKey::new(
            vec![cert.der().clone(), self.cert_der.clone()],
            Arc::clone(&self.leaf_signing_key),
        )))
    }
}

/// Creates a CA in `dir` unless one is there. Returns true when it created one.
///
/// # Errors
/// When only one of the two files exists, or files cannot be written.
pub fn init(dir: &Path) -> anyhow::Result<bool> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => return Ok(false),
        (true, false) => bail!(
            "{} exists but its key {} is missing; move the certificate away to create a new CA",
            cert_path.display(),
            key_path.display()
        ),
        (false, true) => bail!(
            "{} exists but its certificate {} is missing; move the key away to create a new CA",
            key_path.display(),
            cert_path.display()
        ),
        (false, false) => {}
    }
    create_private_dir(dir)?;
    let (key, cert) = new_ca()?;
    write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(&cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(true)
}

/// A fresh CA key and self-signed certificate.
fn new_ca() -> anyhow::Result<(KeyPair, rcgen::Certificate)> {
    let key = KeyPair::generate().context("cannot generate the CA key")?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "synctap CA");
    dn.push(DnType::OrganizationName, "synctap");
    dn.push(
        DnType::OrganizationalUnitName,
        "intercepting debug proxy (local)",
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(2);
    params.not_after = now + Duration::days(3650);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()));
    let cert = params
        .self_signed(&key)
        .context("cannot self-sign the CA")?;
    Ok((key, cert))
}

/// Refuses a key that is not the certificate's: leaves signed with it would not chain
/// to the certificate clients trust, and every handshake would fail.
fn check_key_matches(
    cert: &CertificateDer<'_>,
    key: &KeyPair,
    cert_path: &Path,
    key_path: &Path,
) -> anyhow::Result<()> {
    let (_, x) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| anyhow::anyhow!("invalid CA certificate {}: {e}", cert_path.display()))?;
    if x.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        bail!(
            "the CA key {} does not match the CA certificate {} (its public key differs): restore the key that belongs to this certificate, or move both files away to create a new CA",
            key_path.display(),
            cert_path.display()
        );
    }
    Ok(())
}

/// Facts about the CA stored in `dir`, for `ca show`.
///
/// # Errors
/// When the certificate cannot be read or parsed.
pub fn info(dir: &Path) -> anyhow::Result<CaInfo> {
    let cert_path = dir.join(CA_CERT_FILE);
    let pem = fs::read_to_string(&cert_path).with_context(|| {
        format!(
            "no CA at {} (run `synctap ca init` first)",
            cert_path.display()
        )
    })?;
    let der = pem_to_der(&pem)?;
    let (_, x509) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow::anyhow!("invalid CA certificate {}: {e}", cert_path.display()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    let sha256 = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let validity = x509.validity();
    let key_path = dir.join(CA_KEY_FILE);
    Ok(CaInfo {
        cert_path,
        key_mode: file_mode(&key_path),
        subject: x509.subject().to_string(),
        not_before: crate::util::rfc3339(validity.not_before.to_datetime()),
        not_after: crate::util::rfc3339(validity.not_after.to_datetime()),
        sha256,
        key_path,
    })
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<u32> {
    None
}

/// The first certificate in a PEM text, as DER.
///
/// # Errors
/// When the text holds no certificate.
pub fn pem_to_der(pem: &str) -> anyhow::Result<CertificateDer<'static>> {
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    let first = rustls_pemfile::certs(&mut reader)
        .next()
        .context("no certificate in PEM")?
        .context("invalid PEM")?;
    Ok(first)
}

/// Every certificate in a PEM file.
///
/// # Errors
/// When the file cannot be read or holds no certificate.
pub fn load_pem_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let data =
        fs::read(path).with_context(|| format!("cannot read certificates {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(&data[..]))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("invalid PEM in {}", path.display()))?;
    if certs.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

fn random_serial() -> [u8; 16] {
    use ring::rand::SecureRandom as _;
    let mut serial = [0u8; 16];
    // SystemRandom only fails when the OS has no randomness source, which rcgen's own
    // key generation would already have hit.
    let _ = ring::rand::SystemRandom::new().fill(&mut serial);
    serial[0] &= 0x7f;
    serial
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set permissions of {}", dir.display()))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_idempotent_and_key_is_private() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let certs = dir.path().join("certs");
        assert!(init(&certs)?);
        let pem1 = fs::read_to_string(certs.join(CA_CERT_FILE))?;
        assert!(!init(&certs)?);
        assert_eq!(pem1, fs::read_to_string(certs.join(CA_CERT_FILE))?);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(certs.join(CA_KEY_FILE))?.permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(&certs)?.permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let info = info(&certs)?;
        assert!(info.subject.contains("synctap CA"), "{}", info.subject);
        assert_eq!(info.sha256.len(), 32 * 3 - 1);
        Ok(())
    }

    #[test]
    fn leaf_has_ip_san_and_chains_to_ca() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (ca, created) = CertificateAuthority::load_or_create(dir.path())?;
        assert!(created);
        let leaf = ca.leaf(&["127.0.0.1".to_owned()])?;
        let (_, x) = x509_parser::parse_x509_certificate(&leaf.cert[0])
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let san = x
            .subject_alternative_name()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .ok_or_else(|| anyhow::anyhow!("no SAN"))?;
        let names = format!("{:?}", san.value.general_names);
        assert!(names.contains("IPAddress([127, 0, 0, 1])"), "{names}");
        let (_, cax) = x509_parser::parse_x509_certificate(ca.cert_der())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(x.issuer(), cax.subject());
        assert!(x.verify_signature(Some(cax.public_key())).is_ok());
        // Cached: the same Arc comes back.
        assert!(Arc::ptr_eq(&leaf, &ca.leaf(&["127.0.0.1".to_owned()])?));
        Ok(())
    }
}
