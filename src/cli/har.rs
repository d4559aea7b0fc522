//! `synctap export`, `synctap import` and `synctap redact`: captures in and out of
//! synctap, safely.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::progress::CaptureInput;
use crate::capture::har;
use crate::capture::redact::{redact_exchange, RedactOptions, RedactReport};
use crate::capture::CaptureFile;
use crate::decode::exchange::decode_recorded;
use crate::model::Exchange;

/// Arguments of `synctap export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The capture to export.
    capture: PathBuf,
    /// Write HAR 1.2 to this file.
    #[arg(
        long,
        value_name = "OUT",
        required_unless_present_any = ["saz", "parquet"],
        conflicts_with_all = ["saz", "parquet"]
    )]
    har: Option<PathBuf>,
    /// Write a Fiddler Session Archive (.saz) to this file, for Fiddler Classic and
    /// Fiddler Everywhere.
    #[arg(long, value_name = "OUT", conflicts_with = "parquet")]
    saz: Option<PathBuf>,
    /// Write the capture as Parquet tables into this folder (exchanges, subrequests,
    /// fsshttpb, webdav, spfilesync, spans, findings; see docs/parquet.md), for DuckDB,
    /// Spark and any Parquet reader.
    #[arg(long, value_name = "DIR")]
    parquet: Option<PathBuf>,
    /// Replace credentials with stable placeholders (see `synctap redact`).
    #[arg(long)]
    redact: bool,
    /// With --redact: also replace user identities in WhoAmI responses.
    #[arg(long, requires = "redact")]
    redact_identities: bool,
    /// Only exchanges matching this filter expression (as in `synctap show --filter`).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
}

/// Arguments of `synctap redact`.
#[derive(Debug, Args)]
pub struct RedactArgs {
    /// The capture to redact.
    capture: PathBuf,
    /// The redacted capture to create.
    #[arg(long, value_name = "CAPTURE")]
    out: PathBuf,
    /// Also replace user identities (UserLogin, UserEmailAddress, UserSIPAddress) in
    /// WhoAmI responses.
    #[arg(long)]
    redact_identities: bool,
}

pub(super) fn export(args: &ExportArgs) -> anyhow::Result<i32> {
    let filter = args
        .filter
        .as_deref()
        .map(crate::filter::Filter::parse)
        .transpose()?;
    if let Some(dir) = &args.parquet {
        let redact = args.redact.then_some(RedactOptions {
            identities: args.redact_identities,
        });
        let opts = super::parquet::ParquetOptions {
            filter: filter.as_ref(),
            redact,
        };
        return super::parquet::export(&args.capture, dir, &opts);
    }
    if let Some(out) = &args.saz {
        let mut report = RedactReport::default();
        let opts = RedactOptions {
            identities: args.redact_identities,
        };
        let keep = |x: &Exchange| {
            filter
                .as_ref()
                .is_none_or(|f| f.matches(x, &decode_recorded(x)))
        };
        let mut change = |x: &mut Exchange| {
            if args.redact {
                redact_exchange(x, opts, &mut report);
            }
        };
        let n = super::import::export_saz(&args.capture, out, &keep, &mut change)?;
        if args.redact {
            eprintln!("redacted: {}", report.summary());
        }
        eprintln!("wrote {} ({n} sessions)", out.display());
        return Ok(0);
    }
    let Some(har_out) = &args.har else {
        anyhow::bail!("give --har OUT or --saz OUT");
    };
    let mut input = CaptureInput::open(&args.capture, "exporting HAR")?;
    let file = std::fs::File::create(har_out)
        .with_context(|| format!("cannot create {}", har_out.display()))?;
    let written = export_har(&mut input, file, har_out, filter.as_ref(), args);
    input.finish();
    let (n, report) = match written {
        Ok(r) => r,
        Err(e) => {
            // A HAR cut short is not a HAR: leave none behind.
            let _ = std::fs::remove_file(har_out);
            return Err(e);
        }
    };
    if let Some(report) = report {
        eprintln!("redacted: {}", report.summary());
    }
    eprintln!("wrote {} ({n} entries)", har_out.display());
    Ok(0)
}

/// Streams the capture into a HAR document, one exchange at a time: each is decoded
/// once (the filter and the export share that form; after redaction, once more, since
/// the bytes changed and the exported summaries describe what is written). Returns the
/// entries written and, with `--redact`, what was redacted.
fn export_har(
    input: &mut CaptureInput,
    file: std::fs::File,
    path: &Path,
    filter: Option<&crate::filter::Filter>,
    args: &ExportArgs,
) -> anyhow::Result<(u64, Option<RedactReport>)> {
    let mut har = har::HarWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let mut report = args.redact.then(RedactReport::default);
    let opts = RedactOptions {
        identities: args.redact_identities,
    };
    while let Some(mut x) = input.next()? {
        let mut decoded = decode_recorded(&x);
        if filter.is_some_and(|f| !f.matches(&x, &decoded)) {
            continue;
        }
        if let Some(report) = report.as_mut() {
            redact_exchange(&mut x, opts, report);
            decoded = decode_recorded(&x);
        }
        har.push(&x, &decoded)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let n = har
        .finish()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok((n, report))
}

pub(super) fn redact(args: &RedactArgs) -> anyhow::Result<i32> {
    let mut input = CaptureInput::open(&args.capture, "redacting")?;
    let mut out = CaptureFile::create(&args.out, false)?;
    let mut report = RedactReport::default();
    let opts = RedactOptions {
        identities: args.redact_identities,
    };
    // One exchange at a time: read, redact, write.
    while let Some(mut x) = input.next()? {
        redact_exchange(&mut x, opts, &mut report);
        out.write(x)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
    }
    input.finish();
    let n = out.finish()?;
    eprintln!("redacted: {}", report.summary());
    eprintln!("wrote {} ({n} exchanges)", args.out.display());
    Ok(0)
}
