//! One Parquet file written in bounded memory: typed column builders filled row by row,
//! handed to the Arrow writer every [`BATCH_ROWS`] rows, and flushed as a row group every
//! [`ROW_GROUP_ROWS`] rows. Values that do not fit their column's type become nulls, and
//! [`Fit`] counts why.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Rows gathered in the builders before they go to the writer as one record batch.
const BATCH_ROWS: usize = 8_192;
/// Rows per row group: the writer holds at most one row group's encoded pages.
pub(super) const ROW_GROUP_ROWS: usize = 65_536;

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// UTF-8 text.
    Str,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// 64-bit float.
    F64,
    /// Boolean.
    Bool,
    /// Timestamp, microseconds since the Unix epoch, UTC.
    Time,
    /// A list of 64-bit integers (exchange ids).
    I64List,
}

/// A column: name, type, and whether it may be null.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) nullable: bool,
}

/// A nullable column.
pub(super) const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: true,
    }
}

/// A column that always has a value.
pub(super) const fn key(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: false,
    }
}

/// One cell of a row.
#[derive(Debug, Clone)]
pub(super) enum V<'a> {
    Null,
    Str(&'a str),
    Text(String),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// Microseconds since the Unix epoch.
    Time(i64),
    List(Vec<i64>),
}

impl<'a> From<Option<&'a str>> for V<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(V::Null, V::Str)
    }
}

impl From<Option<i64>> for V<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(V::Null, V::I64)
    }
}

impl From<Option<bool>> for V<'_> {
    fn from(v: Option<bool>) -> Self {
        v.map_or(V::Null, V::Bool)
    }
}

impl From<Option<f64>> for V<'_> {
    fn from(v: Option<f64>) -> Self {
        v.map_or(V::Null, V::F64)
    }
}

/// Why values became nulls, counted per table and column.
#[derive(Debug, Default)]
pub(super) struct Fit {
    reasons: BTreeMap<(String, String), u64>,
}

impl Fit {
    /// Counts one value of `column` (`table.Column`) written as null because of `reason`.
    pub(super) fn null(&mut self, column: &str, reason: &str) {
        *self
            .reasons
            .entry((column.to_owned(), reason.to_owned()))
            .or_default() += 1;
    }

    /// `v` as a signed 64-bit integer, or null when it is beyond that range.
    pub(super) fn int(&mut self, column: &str, v: u64) -> V<'static> {
        i64::try_from(v).map_or_else(
            |_| {
                self.null(column, "beyond the signed 64-bit range");
                V::Null
            },
            V::I64,
        )
    }

    /// [`Fit::int`] of an optional value.
    pub(super) fn opt_int(&mut self, column: &str, v: Option<u64>) -> V<'static> {
        v.map_or(V::Null, |v| self.int(column, v))
    }

    /// An RFC 3339 time as a timestamp, or null when it does not parse.
    pub(super) fn time(&mut self, column: &str, s: &str) -> V<'static> {
        crate::util::parse_rfc3339_us(s).map_or_else(
            || {
                self.null(column, "not an RFC 3339 time");
                V::Null
            },
            V::Time,
        )
    }

    /// The report: one line per column and reason, e.g.
    /// `subrequests.Timeout: 3 not an integer`; empty when every value fit.
    pub(super) fn lines(&self) -> Vec<String> {
        self.reasons
            .iter()
            .map(|((c, r), n)| format!("{c}: {n} {r}"))
            .collect()
    }
}

enum Builder {
    Str(StringBuilder),
    I64(Int64Builder),
    I32(Int32Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Time(TimestampMicrosecondBuilder),
    I64List(ListBuilder<Int64Builder>),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Str => Self::Str(StringBuilder::new()),
            Kind::I64 => Self::I64(Int64Builder::new()),
            Kind::I32 => Self::I32(Int32Builder::new()),
            Kind::F64 => Self::F64(Float64Builder::new()),
            Kind::Bool => Self::Bool(BooleanBuilder::new()),
            Kind::Time => Self::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
            Kind::I64List => Self::I64List(ListBuilder::new(Int64Builder::new())),
        }
    }

    /// Appends `v`; a value of another type than the column's is a null (and a bug:
    /// the tables' rows are written in their columns' order and types).
    fn append(&mut self, v: &V<'_>) {
        match (self, v) {
            (Self::Str(b), V::Str(s)) => b.append_value(s),
            (Self::Str(b), V::Text(s)) => b.append_value(s),
            (Self::I64(b), V::I64(n)) => b.append_value(*n),
            (Self::I32(b), V::I64(n)) => b.append_option(i32::try_from(*n).ok()),
            (Self::F64(b), V::F64(n)) => b.append_value(*n),
            (Self::Bool(b), V::Bool(x)) => b.append_value(*x),
            (Self::Time(b), V::Time(t)) => b.append_value(*t),
            (Self::I64List(b), V::List(xs)) => {
                b.values().append_slice(xs);
                b.append(true);
            }
            (b, v) => {
                debug_assert!(
                    matches!(v, V::Null),
                    "value {v:?} in a column of another type"
                );
                b.append_null();
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::Str(b) => b.append_null(),
            Self::I64(b) => b.append_null(),
            Self::I32(b) => b.append_null(),
            Self::F64(b) => b.append_null(),
            Self::Bool(b) => b.append_null(),
            Self::Time(b) => b.append_null(),
            Self::I64List(b) => b.append(false),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Str(b) => Arc::new(b.finish()),
            Self::I64(b) => Arc::new(b.finish()),
            Self::I32(b) => Arc::new(b.finish()),
            Self::F64(b) => Arc::new(b.finish()),
            Self::Bool(b) => Arc::new(b.finish()),
            Self::Time(b) => Arc::new(b.finish()),
            Self::I64List(b) => Arc::new(b.finish()),
        }
    }
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Str => DataType::Utf8,
        Kind::I64 => DataType::Int64,
        Kind::I32 => DataType::Int32,
        Kind::F64 => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Kind::I64List => DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
    }
}

/// The Arrow schema of a table.
pub(super) fn schema(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name, data_type(c.kind), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// One Parquet file being written.
pub(super) struct Table {
    name: &'static str,
    schema: SchemaRef,
    builders: Vec<Builder>,
    pending: usize,
    rows: u64,
    writer: ArrowWriter<BufWriter<File>>,
}

impl Table {
    /// Creates `DIR/NAME.parquet` with `columns`.
    pub(super) fn create(
        dir: &Path,
        name: &'static str,
        columns: &[Column],
    ) -> anyhow::Result<Self> {
        let path = dir.join(format!("{name}.parquet"));
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("synctap {}", env!("CARGO_PKG_VERSION")))
            .build();
        let schema = schema(columns);
        let writer = ArrowWriter::try_new(BufWriter::new(file), schema.clone(), Some(props))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            name,
            schema,
            builders: columns.iter().map(|c| Builder::new(c.kind)).collect(),
            pending: 0,
            rows: 0,
            writer,
        })
    }

    /// Appends one row, its values in the columns' order.
    pub(super) fn row(&mut self, values: &[V<'_>]) -> anyhow::Result<()> {
        debug_assert_eq!(values.len(), self.builders.len(), "row of {}", self.name);
        for (b, v) in self.builders.iter_mut().zip(values) {
            b.append(v);
        }
        for b in self.builders.iter_mut().skip(values.len()) {
            b.append_null();
        }
        self.pending += 1;
        self.rows += 1;
        if self.pending >= BATCH_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> anyhow::Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let arrays = self.builders.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .with_context(|| format!("{}: a row does not match the schema", self.name))?;
        self.pending = 0;
        self.writer
            .write(&batch)
            .with_context(|| format!("cannot write {}.parquet", self.name))
    }

    /// Writes what is left and the file footer; returns the number of rows.
    pub(super) fn finish(mut self) -> anyhow::Result<u64> {
        self.write_batch()?;
        self.writer
            .close()
            .with_context(|| format!("cannot write {}.parquet", self.name))?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::{Fit, V};

    #[test]
    fn values_that_do_not_fit_are_nulls_counted_by_column_and_reason() {
        let mut fit = Fit::default();
        assert!(matches!(fit.int("t.A", 7), V::I64(7)));
        assert!(matches!(fit.int("t.A", u64::MAX), V::Null));
        assert!(matches!(fit.int("t.A", 1 << 63), V::Null));
        assert!(matches!(
            fit.time("t.start", "2026-01-01T00:00:00.123456Z"),
            V::Time(1_767_225_600_123_456)
        ));
        assert!(matches!(fit.time("t.start", "yesterday"), V::Null));
        assert_eq!(
            fit.lines(),
            [
                "t.A: 2 beyond the signed 64-bit range",
                "t.start: 1 not an RFC 3339 time"
            ]
        );
    }
}
