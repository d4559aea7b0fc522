//! Writes a large capture for the scale benchmark (`benches/scale.sh`) and for anyone
//! measuring a command at size: N exchanges of the realistic mix of `benches/gen/capture.rs`
//! (MS-FSSHTTP SOAP/MTOM with Cell payloads, WebDAV PROPFIND/LOCK/PUT/UNLOCK, SPFileSync
//! change feed and uploads) over 50 files.
//!
//! Run: `cargo run --release --example gencapture -- N PATH` (`--fsshttp` for the
//! timeline benchmark's SOAP-only mix).
// A bench binary prints its figures.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::Instant;

#[path = "gen/capture.rs"]
mod gen;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mix = match args.iter().position(|a| a == "--fsshttp") {
        Some(i) => {
            args.remove(i);
            gen::Mix::Fsshttp
        }
        None => gen::Mix::Realistic,
    };
    let (Some(n), Some(path), None) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: gencapture [--fsshttp] N PATH");
        std::process::exit(2);
    };
    let n: u64 = n.replace(['_', ','], "").parse()?;
    let path = PathBuf::from(path);
    let t0 = Instant::now();
    gen::generate(&path, n, mix)?;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "wrote {} ({n} exchanges, {:.1} MiB) in {:.2?}",
        path.display(),
        size as f64 / 1_048_576.0,
        t0.elapsed()
    );
    Ok(())
}
