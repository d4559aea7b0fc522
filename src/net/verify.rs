//! The handshake-signature half of the upstream certificate verifiers (the pinning one in
//! [`super::trust`] and the `--insecure-upstream` one in [`super::tls`]): written once here,
//! as the verifiers differ only in how they judge the certificate itself.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::CertificateDer;

/// How a verifier checks the handshake signatures.
#[derive(Debug)]
pub(crate) enum Signatures {
    /// With a crypto provider's signature algorithms.
    Algorithms(WebPkiSupportedAlgorithms),
    /// By the verifier it wraps.
    Inner(Arc<dyn ServerCertVerifier>),
}

impl Signatures {
    /// Checks a TLS 1.3 (`tls13`) or TLS 1.2 handshake signature.
    pub(crate) fn check(
        &self,
        tls13: bool,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match (self, tls13) {
            (Self::Algorithms(a), false) => {
                rustls::crypto::verify_tls12_signature(message, cert, dss, a)
            }
            (Self::Algorithms(a), true) => {
                rustls::crypto::verify_tls13_signature(message, cert, dss, a)
            }
            (Self::Inner(v), false) => v.verify_tls12_signature(message, cert, dss),
            (Self::Inner(v), true) => v.verify_tls13_signature(message, cert, dss),
        }
    }

    /// The signature schemes it accepts.
    pub(crate) fn schemes(&self) -> Vec<SignatureScheme> {
        match self {
            Self::Algorithms(a) => a.supported_schemes(),
            Self::Inner(v) => v.supported_verify_schemes(),
        }
    }
}

/// The signature methods of a `ServerCertVerifier` impl, handed to its [`Signatures`]
/// field `$field`. Uses `CertificateDer`, `DigitallySignedStruct`,
/// `HandshakeSignatureValid` and `SignatureScheme` as imported where it is invoked.
macro_rules! signature_checks {
    ($field:ident) => {
        signature_checks!(@one $field, verify_tls12_signature, false);
        signature_checks!(@one $field, verify_tls13_signature, true);

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.$field.schemes()
        }
    };
    (@one $field:ident, $name:ident, $tls13:literal) => {
        fn $name(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.$field.check($tls13, message, cert, dss)
        }
    };
}
pub(crate) use signature_checks;
