//! Pure decoders for the protocols synctap understands.
//!
//! Everything under `decode` is a function over bytes plus a little metadata (content
//! type, method, URL): no IO, no tokio, no hyper. Decoders are lenient: they return what
//! they understood plus [`Diagnostic`]s with byte offsets.
pub mod diag;

pub use diag::Diagnostic;
