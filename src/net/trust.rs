//! Upstream certificate trust: a server certificate byte-identical to one given with
//! `--upstream-ca` is accepted when it is within its validity period and names the host
//! (pinning, for self-signed test servers whose certificates say CA:TRUE); anything else
//! goes to the platform verifier. Failures are described in words, with the option that
//! fixes them, so no rustls debug text reaches a user (see [`super::TlsError`]).

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::verify::{signature_checks, Signatures};

/// Why an upstream certificate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Not signed by a trusted CA.
    UnknownIssuer,
    /// Valid, but not for the host connected to.
    NameMismatch,
    /// Past its `notAfter`.
    Expired,
    /// Before its `notBefore`.
    NotYetValid,
    /// A CA certificate (basicConstraints CA:TRUE) presented as the server certificate.
    CaAsServer,
    /// Anything else the verifier said.
    Other,
}

/// A refused upstream certificate, described for the 502 text and the log.
#[derive(Debug, Clone)]
pub struct Untrusted {
    /// The cause.
    pub cause: Cause,
    /// One sentence naming the cause and the option that fixes it.
    pub text: String,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Untrusted {}

/// Pinning in front of `inner`, which verifies everything not pinned (and checks the
/// handshake signatures of both).
#[derive(Debug)]
pub(crate) struct PinningVerifier {
    pins: Vec<CertificateDer<'static>>,
    inner: Arc<dyn ServerCertVerifier>,
    signatures: Signatures,
}

impl PinningVerifier {
    pub(crate) fn new(
        pins: Vec<CertificateDer<'static>>,
        inner: Arc<dyn ServerCertVerifier>,
    ) -> Self {
        let signatures = Signatures::Inner(Arc::clone(&inner));
        Self {
            pins,
            inner,
            signatures,
        }
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = self.pins.iter().any(|p| p.as_ref() == end_entity.as_ref());
        let result = if pinned {
            check_pinned(end_entity, server_name, now).map(|()| ServerCertVerified::assertion())
        } else {
            self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            )
        };
        result.map_err(|e| match e {
            rustls::Error::InvalidCertificate(ce) => {
                let why = describe(&ce, end_entity, server_name, pinned);
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    why,
                ))))
            }
            other => other,
        })
    }

    signature_checks!(signatures);
}

/// A pinned certificate still has to be valid now and name the host.
fn check_pinned(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let (_, x) = x509_parser::parse_x509_certificate(end_entity)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = x.validity();
    if now < validity.not_before.timestamp() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > validity.not_after.timestamp() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
    rustls::client::verify_server_name(&parsed, server_name)
}

/// What the certificate says about itself, for the messages.
struct Facts {
    names: Vec<String>,
    subject: String,
    issuer: String,
    not_before: String,
    not_after: String,
}

fn facts(end_entity: &CertificateDer<'_>) -> Option<Facts> {
    let (_, x) = x509_parser::parse_x509_certificate(end_entity).ok()?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push((*d).to_owned()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => {
                    let ip = match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let v = x.validity();
    Some(Facts {
        names,
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        not_before: crate::util::rfc3339(v.not_before.to_datetime()),
        not_after: crate::util::rfc3339(v.not_after.to_datetime()),
    })
}

fn cause_of(e: &CertificateError) -> Cause {
    match e {
        CertificateError::UnknownIssuer => Cause::UnknownIssuer,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            Cause::NameMismatch
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => Cause::Expired,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            Cause::NotYetValid
        }
        // webpki's error reaches rustls as an opaque `Other`; its text is the variant name.
        CertificateError::Other(o) if o.0.to_string().contains("CaUsedAsEndEntity") => {
            Cause::CaAsServer
        }
        _ => Cause::Other,
    }
}

/// Describes a refusal in words, naming the option that fixes it.
fn describe(
    e: &CertificateError,
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    pinned: bool,
) -> Untrusted {
    let f = facts(end_entity);
    let cause = match cause_of(e) {
        // A self-signed certificate nobody pinned: webpki finds no issuer for it and may
        // report that as a bad signature.
        Cause::Other if !pinned && f.as_ref().is_some_and(|f| f.subject == f.issuer) => {
            Cause::UnknownIssuer
        }
        c => c,
    };
    let host = server_name.to_str();
    let subject = f.as_ref().map_or("?", |f| f.subject.as_str());
    let insecure = "or skip verification with --insecure-upstream";
    let text = match cause {
        Cause::UnknownIssuer => format!(
            "unknown issuer: the certificate of {host} (subject {subject}, issued by {}) is not signed by a CA synctap trusts; pass that CA, or the server certificate itself, with --upstream-ca FILE.pem, {insecure}",
            f.as_ref().map_or("?", |f| f.issuer.as_str())
        ),
        Cause::NameMismatch => {
            let names = f
                .as_ref()
                .filter(|f| !f.names.is_empty())
                .map_or_else(|| "no host name at all".to_owned(), |f| f.names.join(", "));
            format!(
                "name mismatch: the certificate (subject {subject}) is for {names}, not {host}; reach the server by one of those names (reverse mode: --reverse https://NAME:PORT), {insecure}"
            )
        }
        Cause::Expired => format!(
            "expired: the certificate of {host} (subject {subject}) was valid until {}; renew it on the server, {insecure}",
            f.as_ref().map_or("?", |f| f.not_after.as_str())
        ),
        Cause::NotYetValid => format!(
            "not yet valid: the certificate of {host} (subject {subject}) is valid from {} (check the clocks); {insecure}",
            f.as_ref().map_or("?", |f| f.not_before.as_str())
        ),
        Cause::CaAsServer => format!(
            "CA certificate used as a server certificate: {host} presented a certificate marked CA:TRUE (subject {subject}), as `openssl req -x509` makes them; pass this very certificate with --upstream-ca FILE.pem to pin it, {insecure}"
        ),
        Cause::Other => {
            let what = match e {
                CertificateError::Other(o) => o.0.to_string(),
                CertificateError::BadEncoding => "it is not a valid X.509 certificate".to_owned(),
                CertificateError::Revoked => "it is revoked".to_owned(),
                CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                    "it is not for TLS servers (extended key usage)".to_owned()
                }
                other => other.to_string(),
            };
            format!(
                "certificate refused: the certificate of {host} (subject {subject}): {what}; {}{insecure}",
                if pinned { "" } else { "pass it with --upstream-ca FILE.pem to pin it, " }
            )
        }
    };
    Untrusted { cause, text }
}

/// The refusal inside a failed TLS handshake, if that is why it failed.
pub(crate) fn untrusted_in(e: &std::io::Error) -> Option<&Untrusted> {
    let rustls::Error::InvalidCertificate(CertificateError::Other(o)) =
        e.get_ref()?.downcast_ref::<rustls::Error>()?
    else {
        return None;
    };
    o.0.downcast_ref::<Untrusted>()
}
