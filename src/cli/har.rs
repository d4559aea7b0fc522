//! `synctap export`, `synctap import` and `synctap redact`: captures in and out of
//! synctap, safely.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::capture::har;
use crate::capture::redact::{redact_exchange, RedactOptions, RedactReport};
use crate::capture::write_capture;
use crate::decode::exchange::DecodedRecord;
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

fn redact_all(xs: &mut [Exchange], identities: bool) -> RedactReport {
    let mut report = RedactReport::default();
    let opts = RedactOptions { identities };
    for x in xs {
        redact_exchange(x, opts, &mut report);
    }
    report
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
        let mut keep = |x: &mut Exchange| {
            if filter
                .as_ref()
                .is_some_and(|f| !f.matches(x, &crate::decode::exchange::decode_recorded(x)))
            {
                return false;
            }
            if args.redact {
                redact_exchange(x, opts, &mut report);
            }
            true
        };
        let n = super::import::export_saz(&args.capture, out, &mut keep)?;
        if args.redact {
            eprintln!("redacted: {}", report.summary());
        }
        eprintln!("wrote {} ({n} sessions)", out.display());
        return Ok(0);
    }
    let Some(har_out) = &args.har else {
        anyhow::bail!("give --har OUT or --saz OUT");
    };
    // Each exchange is decoded once; the filter and the export share that form.
    let mut xs: Vec<DecodedRecord> = super::read_capture(&args.capture)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.capture.display()))?
        .into_iter()
        .map(DecodedRecord::new)
        .collect();
    if let Some(f) = &filter {
        xs.retain(|r| f.matches(&r.exchange, &r.decoded));
    }
    if args.redact {
        let mut raw: Vec<Exchange> = xs.into_iter().map(|r| r.exchange).collect();
        let report = redact_all(&mut raw, args.redact_identities);
        eprintln!("redacted: {}", report.summary());
        // Redaction changed the bytes: the exported summaries describe what is written.
        xs = raw.into_iter().map(DecodedRecord::new).collect();
    }
    let doc = har::export(&xs);
    let file = std::fs::File::create(har_out)
        .with_context(|| format!("cannot create {}", har_out.display()))?;
    serde_json::to_writer_pretty(std::io::BufWriter::new(file), &doc)
        .with_context(|| format!("cannot write {}", har_out.display()))?;
    let n = doc["log"]["entries"].as_array().map_or(0, Vec::len);
    eprintln!("wrote {} ({n} entries)", har_out.display());
    Ok(0)
}

pub(super) fn redact(args: &RedactArgs) -> anyhow::Result<i32> {
    let mut xs = super::read_capture(&args.capture)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.capture.display()))?;
    let report = redact_all(&mut xs, args.redact_identities);
    write_capture(&args.out, &xs, false)?;
    eprintln!("redacted: {}", report.summary());
    eprintln!("wrote {} ({} exchanges)", args.out.display(), xs.len());
    Ok(0)
}
