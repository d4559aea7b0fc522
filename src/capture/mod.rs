//! Capture files: JSON lines holding what the proxy saw, readable with jq.
//!
//! [`format`](mod@format) defines the records, [`writer`] appends them from a dedicated thread without
//! ever blocking the proxy, [`reader`] streams them back. The format is documented with
//! examples in `docs/capture-format.md`.
pub mod format;
pub mod har;
pub mod http1;
pub mod import;
pub mod pcap;
pub mod reader;
pub mod redact;
pub mod reproduce;
pub mod saz;
pub mod writer;

pub use format::{Record, FORMAT_VERSION};
pub use reader::{CaptureReader, Entry, ReadError, ReadWarning};
pub use writer::{write_capture, CaptureFile, CaptureSink, CaptureStats, CaptureWriter};
