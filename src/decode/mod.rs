//! Pure decoders for the protocols synctap understands.
//!
//! Everything under `decode` is a function over bytes plus a little metadata (content
//! type, method, URL, headers): no IO, no tokio, no hyper. Decoders are lenient: they
//! return what they understood plus [`Diagnostic`]s with byte offsets. [`exchange`]
//! picks the decoder for one exchange and joins the layers (SOAP → FSSHTTPB).
pub mod content_encoding;
pub mod diag;
pub mod exchange;
pub mod file_key;
pub mod findings;
pub mod fsshttp;
pub mod fsshttpb;
pub mod json;
#[cfg(test)]
mod limits;
pub mod meta;
pub mod mtom;
pub mod pretty;
pub mod spfilesync;
#[cfg(test)]
pub(crate) mod testdata;
pub mod text;
pub mod webdav;

pub use diag::{Diagnostic, DiagnosticKind};
