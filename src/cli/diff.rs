//! `synctap diff`: compare two recordings of the same scenario with replay's semantic
//! comparison (see [`crate::replay::recordings`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;

use super::progress::CaptureInput;
use super::replay::CompareArgs;
use crate::capture::CaptureReader;
use crate::replay::recordings::{Recordings, Side};

/// Arguments of `synctap diff`.
///
/// Record the same scenario twice (against SharePoint and against your server, before
/// and after a change) and ask what the servers answered differently. Exchanges are
/// aligned per client and per file in operation order, not by time or id; ClientIDs,
/// ETags, lock tokens and storage index ids differ from run to run and are paired first
/// seen to first seen. The report lists the differences per exchange (grouped by file and
/// client), the exchanges only in A or only in B, and the two timelines side by side
/// where they diverge. Capture lines that cannot be read are reported with their line
/// number and skipped.
///
/// Exit codes: 0 nothing differs; 1 differences (listed); 2 could not compare (a file
/// missing, unreadable or not a synctap capture).
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Recording A, the reference (a synctap capture, `.jsonl`).
    a: PathBuf,
    /// Recording B, compared with A.
    b: PathBuf,
    #[command(flatten)]
    compare: CompareArgs,
}

pub(super) fn run(args: &DiffArgs) -> anyhow::Result<i32> {
    // One bar per recording, drawn together (nothing when stderr is not a terminal).
    let bars = indicatif::MultiProgress::new();
    let mut inputs = [
        CaptureInput::with_reader(&args.a, open(&args.a)?, "reading A").drawn_in(&bars),
        CaptureInput::with_reader(&args.b, open(&args.b)?, "reading B").drawn_in(&bars),
    ];
    let mut cmp = Recordings::new(
        &args.a.display().to_string(),
        &args.b.display().to_string(),
        args.compare.options(),
    );
    let sides = [Side::A, Side::B];
    let mut open_sides = [true, true];
    // The two recordings are read in step, one exchange each in turn, so what waits for
    // its counterpart stays small: per (client, file) group, the exchanges not yet paired
    // (a look-ahead window each side, more only while one side lacks the group), plus
    // each recording's timeline state and first-seen client numbers.
    while open_sides.iter().any(|o| *o) {
        for i in 0..2 {
            if !open_sides[i] {
                continue;
            }
            let (input, path) = (&mut inputs[i], if i == 0 { &args.a } else { &args.b });
            let next = input.next().map_err(|e| anyhow!("cannot compare: {e}"))?;
            let reader = input.reader();
            for w in reader.take_warnings() {
                cmp.unreadable(sides[i], format!("{}: {w}", path.display()));
            }
            match next {
                Some(x) => cmp.push(sides[i], x),
                None => {
                    let more = reader.warnings_dropped();
                    if more > 0 {
                        cmp.unreadable(
                            sides[i],
                            format!("{}: {more} more warnings", path.display()),
                        );
                    }
                    open_sides[i] = false;
                    cmp.end(sides[i]);
                }
            }
        }
    }
    // The warnings went into the report; the bars go.
    drop(inputs);
    args.compare.emit(&cmp.finish())
}

fn open(path: &Path) -> anyhow::Result<CaptureReader<File>> {
    CaptureReader::open(path).map_err(|e| {
        anyhow!(
            "cannot compare: {}: {e}; both files must be synctap captures (`synctap proxy --capture`, `synctap import`)",
            path.display()
        )
    })
}
