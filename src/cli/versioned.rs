//! The envelope of every JSON document synctap writes: `schema_version` first, then the
//! document ([`Versioned`]), and the generator of the schema of such a document
//! ([`output_schema`]). `cli::schema` prints the schemas; the commands write documents.

use schemars::JsonSchema;
use serde::Serialize;

/// The version of the JSON outputs' shape, written as `schema_version` in every
/// document. It goes up when a field is renamed or removed or changes type.
pub const SCHEMA_VERSION: u32 = 2;

/// A JSON document: `schema_version` first, then the document's own fields.
#[derive(Serialize, JsonSchema)]
pub struct Versioned<T> {
    /// The version of this document's shape ([`SCHEMA_VERSION`]); see docs/json.md.
    pub schema_version: u32,
    /// The document.
    #[serde(flatten)]
    pub document: T,
}

impl<T> Versioned<T> {
    /// `document` with the current [`SCHEMA_VERSION`].
    pub fn new(document: T) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            document,
        }
    }
}

/// The schema of `T` as serialized (2020-12): a field skipped when empty is optional.
pub(super) fn output_schema<T: JsonSchema>() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
}
