//! The capture file's wire format: JSON lines, one record per line.
//!
//! Every line is `{"type": ..., "data": ...}`. The first line is a `header` naming the
//! format and its version. `exchange` lines hold one complete [`Exchange`]. Bodies larger
//! than the inline threshold are streamed ahead of their exchange as `chunk` lines (base64
//! pieces with their offset) and the exchange's body then says `"chunked": true`. See
//! `docs/capture-format.md` for the full description with examples.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::model::{Body, Exchange};

/// The format name written in every header line.
pub const FORMAT_NAME: &str = "synctap-capture";
/// The newest format version this build reads and the one it writes.
pub const FORMAT_VERSION: u32 = 1;

/// One line of a capture file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum Record {
    /// The first line of every capture.
    Header(CaptureHeader),
    /// A piece of a large body, written while it streamed.
    Chunk(Chunk),
    /// One finished exchange.
    Exchange(Box<Exchange>),
}

/// The header line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureHeader {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The format version of the records that follow.
    pub version: u32,
    /// When the capture was started (RFC 3339, UTC).
    pub created: String,
    /// The synctap version that wrote it.
    pub writer: String,
}

impl CaptureHeader {
    /// A header for a capture written now by this build.
    pub fn now() -> Self {
        Self {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION,
            created: crate::util::now_rfc3339(),
            writer: format!("synctap {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Which body of an exchange a chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The request body.
    Request,
    /// The response body.
    Response,
}

/// A piece of a body streamed ahead of its exchange record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The exchange id.
    pub exchange: u64,
    /// Request or response body.
    pub side: Side,
    /// Offset of this piece in the body.
    pub offset: u64,
    /// The bytes, base64 (standard alphabet, padded).
    #[serde(with = "b64")]
    pub base64: Vec<u8>,
}

/// How a [`Body`] is written: text when valid UTF-8, else base64.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Body")]
struct BodyWire {
    len: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    chunked: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    incomplete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stored: Option<u64>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Bodies larger than this many stored bytes are written as chunk records.
pub const INLINE_LIMIT: usize = 1 << 20;

impl schemars::JsonSchema for Body {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Body".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        BodyWire::json_schema(g)
    }
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let chunked = self.chunked;
        let (text, base64) = if chunked || self.bytes.is_empty() {
            (None, None)
        } else {
            match std::str::from_utf8(&self.bytes) {
                Ok(t) => (Some(t.to_owned()), None),
                Err(_) => (None, Some(B64.encode(&self.bytes))),
            }
        };
        BodyWire {
            len: self.len,
            text,
            base64,
            chunked,
            truncated: self.truncated,
            sha256: self.sha256.clone(),
            incomplete: self.incomplete,
            stored: (self.truncated || chunked).then_some(self.stored),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = BodyWire::deserialize(d)?;
        let bytes = match (w.text, w.base64) {
            (Some(t), _) => t.into_bytes(),
            (None, Some(b)) => B64.decode(b).map_err(serde::de::Error::custom)?,
            (None, None) => Vec::new(),
        };
        let stored = w.stored.unwrap_or(bytes.len() as u64);
        Ok(Self {
            bytes,
            len: w.len,
            truncated: w.truncated,
            sha256: w.sha256,
            incomplete: w.incomplete,
            stored,
            chunked: w.chunked,
        })
    }
}

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::B64.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        super::B64.decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(b: &Body) -> Body {
        let json = serde_json::to_string(b).expect("serialize");
        serde_json::from_str(&json).expect("deserialize")
    }

    #[test]
    fn text_bodies_stay_text_and_binary_goes_base64() {
        let text = Body::complete(b"<s:Envelope/>".to_vec());
        let json = serde_json::to_value(&text).expect("json");
        assert_eq!(json["text"], "<s:Envelope/>");
        assert_eq!(roundtrip(&text), text);
        let bin = Body::complete(vec![0, 159, 146, 150]);
        let json = serde_json::to_value(&bin).expect("json");
        assert_eq!(json["base64"], "AJ+Slg==");
        assert!(json.get("text").is_none());
        assert_eq!(roundtrip(&bin), bin);
    }

    #[test]
    fn truncated_bodies_keep_length_hash_and_stored() {
        let b = Body {
            bytes: b"abc".to_vec(),
            len: 1000,
            truncated: true,
            sha256: Some("00ff".into()),
            incomplete: false,
            stored: 3,
            chunked: false,
        };
        let json = serde_json::to_value(&b).expect("json");
        assert_eq!(json["len"], 1000);
        assert_eq!(json["stored"], 3);
        assert_eq!(json["truncated"], true);
        assert_eq!(roundtrip(&b), b);
    }

    #[test]
    fn records_are_tagged_type_and_data() {
        let r = Record::Chunk(Chunk {
            exchange: 7,
            side: Side::Response,
            offset: 0,
            base64: vec![1, 2, 3],
        });
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["type"], "chunk");
        assert_eq!(json["data"]["side"], "response");
        assert_eq!(json["data"]["base64"], "AQID");
    }
}
