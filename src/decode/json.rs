//! How synctap writes integers that JSON cannot hold exactly, and enumerated values.
//!
//! JSON numbers are IEEE doubles in most readers (jq, JavaScript): integers above
//! 2^53−1 are silently rounded. So 64-bit identifiers, signatures, serial numbers and
//! tick counts are written as strings ([`dec`] decimal, [`hex`] `0x`-prefixed hex), and
//! 64-bit quantities (sizes, counts) are written as numbers up to 2^53−1 and as decimal
//! strings above it ([`quantity`]; only malformed input has such values). Numbered
//! enumerations are written as `{"name": …, "value": …}` ([`named`]). `docs/json.md`
//! documents every rule. Each module deserializes what it serializes and, for captures
//! written before these rules, the plain JSON number too.

use serde::{Deserialize, Deserializer, Serializer};

/// The largest integer a JSON reader holds exactly (2^53−1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A number or a string holding one, as read back.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(u64),
    Signed(i64),
    Text(String),
}

fn parse_text(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn read_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match NumOrText::deserialize(d)? {
        NumOrText::Num(n) => Ok(n),
        NumOrText::Signed(n) => u64::try_from(n).map_err(serde::de::Error::custom),
        NumOrText::Text(s) => {
            parse_text(&s).ok_or_else(|| serde::de::Error::custom(format!("not an integer: {s}")))
        }
    }
}

/// A 64-bit identifier as a decimal string (`"12"`).
pub mod dec {
    use super::*;

    /// Writes the decimal string.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// Reads the string (or a number, as older JSON had it).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        read_u64(d)
    }
}

/// An optional 64-bit identifier as a decimal string.
pub mod dec_opt {
    use super::*;

    /// Writes the decimal string or null.
    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    /// Reads the string, a number or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<NumOrText>::deserialize(d)?
            .map(|v| match v {
                NumOrText::Num(n) => Ok(n),
                NumOrText::Signed(n) => u64::try_from(n).map_err(serde::de::Error::custom),
                NumOrText::Text(s) => parse_text(&s)
                    .ok_or_else(|| serde::de::Error::custom(format!("not an integer: {s}"))),
            })
            .transpose()
    }
}

/// A signed 64-bit value (FILETIME ticks) as a decimal string.
pub mod dec_i64 {
    use super::*;

    /// Writes the decimal string.
    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// Reads the string (or a number, as older JSON had it).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(n) => i64::try_from(n).map_err(serde::de::Error::custom),
            NumOrText::Signed(n) => Ok(n),
            NumOrText::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("not an integer: {s}"))),
        }
    }
}

/// A 64-bit signature or bit pattern as `0x`-prefixed uppercase hex (`"0x9B069439F329CF9C"`).
pub mod hex {
    use super::*;

    /// Writes `0x` and 16 hex digits.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0x{v:016X}"))
    }

    /// Reads the hex string (or a number, as older JSON had it).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        read_u64(d)
    }
}

/// A 64-bit quantity (size, count): a JSON number up to 2^53−1, a decimal string above.
pub mod quantity {
    use super::*;

    /// Writes the number, or the decimal string when it is above 2^53−1.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        if *v <= MAX_SAFE_INTEGER {
            s.serialize_u64(*v)
        } else {
            s.collect_str(v)
        }
    }

    /// Reads a number or a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        read_u64(d)
    }
}

/// An optional [`quantity`].
pub mod quantity_opt {
    use super::*;

    /// Writes the quantity or null.
    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => quantity::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    /// Reads a number, a decimal string or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        dec_opt::deserialize(d)
    }
}

/// A list of [`quantity`] values.
pub mod quantity_vec {
    use super::*;
    use serde::ser::SerializeSeq;

    /// Writes each quantity.
    pub fn serialize<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
        struct Q(u64);
        impl serde::Serialize for Q {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                quantity::serialize(&self.0, s)
            }
        }
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&Q(*x))?;
        }
        seq.end()
    }
}

/// The JSON Schemas of these forms, for `#[schemars(schema_with = …)]`.
pub mod schema {
    use schemars::{json_schema, Schema, SchemaGenerator};

    /// A decimal string of an unsigned 64-bit integer.
    pub fn dec(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]{1,20}$",
            "description": "64-bit unsigned integer as a decimal string"
        })
    }

    /// An optional decimal string.
    pub fn dec_opt(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "null"],
            "pattern": "^[0-9]{1,20}$",
            "description": "64-bit unsigned integer as a decimal string"
        })
    }

    /// A decimal string of a signed 64-bit integer.
    pub fn dec_i64(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^-?[0-9]{1,19}$",
            "description": "64-bit signed integer as a decimal string"
        })
    }

    /// `0x` and 16 uppercase hex digits.
    pub fn hex(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^0x[0-9A-F]{16}$",
            "description": "64-bit value as 0x-prefixed hexadecimal"
        })
    }

    /// A number up to 2^53−1 or a decimal string above.
    pub fn quantity(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": 9007199254740991_u64},
                {"type": "string", "pattern": "^[0-9]{16,20}$"}
            ],
            "description": "64-bit quantity: a number up to 2^53-1, a decimal string above"
        })
    }

    /// An optional [`quantity`].
    pub fn quantity_opt(g: &mut SchemaGenerator) -> Schema {
        json_schema!({ "anyOf": [quantity(g), {"type": "null"}] })
    }

    /// A list of [`quantity`] values.
    pub fn quantity_vec(g: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "array", "items": quantity(g) })
    }
}

/// A numbered enumeration value written as `{"name": "QueryChanges", "value": 2}`;
/// `name` is null when the specification gives the number no name.
pub mod named {
    use serde::ser::SerializeStruct;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `{"name", "value"}` with the name `names` gives the value.
    pub fn serialize<S: Serializer>(v: u64, name: Option<&str>, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Named", 2)?;
        st.serialize_field("name", &name)?;
        st.serialize_field("value", &v)?;
        st.end()
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum In {
        Plain(u64),
        Named { value: u64 },
    }

    /// Reads the object (or the bare number older JSON had).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        Ok(match In::deserialize(d)? {
            In::Plain(v) | In::Named { value: v } => v,
        })
    }

    /// The schema: an object with a nullable `name` and an integer `value`.
    pub fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "properties": {
                "name": {"type": ["string", "null"], "description": "the specification's name for the value"},
                "value": {"type": "integer", "minimum": 0, "maximum": 9007199254740991_u64, "description": "the value on the wire"}
            },
            "required": ["name", "value"],
            "additionalProperties": false
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "dec")]
        d: u64,
        #[serde(with = "hex")]
        h: u64,
        #[serde(with = "quantity")]
        q: u64,
        #[serde(with = "quantity")]
        big: u64,
    }

    #[test]
    fn forms_round_trip_and_old_numbers_still_read() -> Result<(), serde_json::Error> {
        let t = T {
            d: u64::MAX,
            h: 0x9B06_9439_F329_CF9C,
            q: 7,
            big: MAX_SAFE_INTEGER + 1,
        };
        let j = serde_json::to_string(&t)?;
        assert_eq!(
            j,
            r#"{"d":"18446744073709551615","h":"0x9B069439F329CF9C","q":7,"big":"9007199254740992"}"#
        );
        assert_eq!(serde_json::from_str::<T>(&j)?, t);
        let old = r#"{"d":5,"h":11170778902352744348,"q":7,"big":9007199254740992}"#;
        let back = serde_json::from_str::<T>(old)?;
        assert_eq!((back.d, back.h), (5, 0x9B06_9439_F329_CF9C));
        Ok(())
    }
}
