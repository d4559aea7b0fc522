//! `synctap schema NAME`: the JSON Schema (2020-12) of each command's `--json` output,
//! generated from the Rust types that output is written from. `docs/schema/NAME.json`
//! holds the same text (a test fails when they differ), and `docs/json.md` explains the
//! names, the value forms and `schema_version`.

use clap::{Args, ValueEnum};

use super::versioned::output_schema;
use schemars::JsonSchema;
use serde::Serialize;

use crate::decode::exchange::DecodedExchange;
use crate::decode::findings::Finding;
use crate::model::Exchange;
use crate::replay::report::Report;
use crate::timeline::TimelineReport;

pub use super::versioned::{Versioned, SCHEMA_VERSION};

/// One line of `show --json`: the captured exchange as in the capture file, plus its
/// decoded form under `decoded`.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "ShowLine")]
pub struct ShowLine<'a> {
    /// The exchange as captured (see docs/capture-format.md).
    #[serde(flatten)]
    pub exchange: &'a Exchange,
    /// The decoded exchange.
    pub decoded: &'a DecodedExchange,
}

/// The document of `check --json`.
#[derive(Serialize, JsonSchema)]
pub struct CheckReport<'a> {
    /// Exchanges read.
    pub exchanges: u64,
    /// Findings, in the order they were found.
    pub findings: &'a [Finding],
    /// Findings not kept (over the limit).
    pub findings_dropped: u64,
}

/// The commands with a JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaName {
    /// `synctap show --json` (one document per line).
    Show,
    /// `synctap decode --json`.
    Decode,
    /// `synctap decode --fields --json`.
    Fields,
    /// `synctap timeline --json`.
    Timeline,
    /// `synctap check --json`.
    Check,
    /// `synctap replay --json` (and `--report FILE.json`).
    Replay,
    /// `synctap diff --json` (and `--report FILE.json`): the replay report plus the
    /// diff-only parts.
    Diff,
}

impl SchemaName {
    /// Every name, in the order `docs/schema/` lists them.
    pub const ALL: [SchemaName; 7] = [
        Self::Show,
        Self::Decode,
        Self::Fields,
        Self::Timeline,
        Self::Check,
        Self::Replay,
        Self::Diff,
    ];

    /// The name as on the command line and in `docs/schema/NAME.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Show => "show",
            Self::Decode => "decode",
            Self::Fields => "fields",
            Self::Timeline => "timeline",
            Self::Check => "check",
            Self::Replay => "replay",
            Self::Diff => "diff",
        }
    }
}

/// Arguments of `synctap schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which output's schema.
    #[arg(value_enum)]
    name: SchemaName,
}

/// The JSON Schema of one output, as pretty JSON with a trailing newline.
pub fn schema_text(name: SchemaName) -> String {
    let mut schema = match name {
        SchemaName::Show => output_schema::<Versioned<ShowLine<'static>>>(),
        SchemaName::Decode => super::decode::json_schema(),
        SchemaName::Fields => super::decode::fields_json_schema(),
        SchemaName::Timeline => output_schema::<Versioned<TimelineReport>>(),
        SchemaName::Check => output_schema::<Versioned<CheckReport<'static>>>(),
        SchemaName::Replay | SchemaName::Diff => output_schema::<Versioned<Report>>(),
    };
    schema.insert(
        "title".into(),
        format!("synctap {} --json", name.as_str()).into(),
    );
    let mut value = serde_json::Value::from(schema);
    close_objects(&mut value, true);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Marks every object schema that lists its properties (and is not a combination) as
/// closed (`additionalProperties: false`), so a field the types do not declare fails
/// validation instead of passing unnoticed.
///
/// The branches of a combination beside properties (a flattened enum) stay open: the
/// properties beside them would be "additional" to each branch.
fn close_objects(v: &mut serde_json::Value, closable: bool) {
    const COMBINATIONS: [&str; 3] = ["allOf", "anyOf", "oneOf"];
    match v {
        serde_json::Value::Object(m) => {
            let combined = COMBINATIONS.iter().any(|k| m.contains_key(*k));
            let has_properties = m.contains_key("properties");
            if closable && has_properties && !combined && !m.contains_key("additionalProperties") {
                m.insert("additionalProperties".into(), false.into());
            }
            for (k, x) in m.iter_mut() {
                let branches = COMBINATIONS.contains(&k.as_str()) && has_properties;
                match x {
                    serde_json::Value::Array(a) if branches => {
                        a.iter_mut().for_each(|b| close_objects(b, false));
                    }
                    _ => close_objects(x, true),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| close_objects(x, closable)),
        _ => {}
    }
}

pub(super) fn run(args: &SchemaArgs) -> anyhow::Result<i32> {
    out!("{}", schema_text(args.name));
    Ok(0)
}
