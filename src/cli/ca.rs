//! `synctap ca init|show|export`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::net::ca;

/// Arguments of `synctap ca`.
#[derive(Debug, Args)]
pub struct CaArgs {
    #[command(subcommand)]
    action: CaAction,
}

#[derive(Debug, Subcommand)]
enum CaAction {
    /// Create the CA in the certs folder unless one is there (never overwrites).
    Init,
    /// Print the CA's paths, subject, validity, SHA-256 fingerprint and how to trust it.
    Show,
    /// Write the CA certificate (never the key) to a file.
    Export {
        /// Write DER (for Windows/macOS import dialogs) to this file.
        #[arg(
            long,
            value_name = "OUT",
            conflicts_with = "pem",
            required_unless_present = "pem"
        )]
        der: Option<PathBuf>,
        /// Write PEM to this file.
        #[arg(long, value_name = "OUT")]
        pem: Option<PathBuf>,
    },
}

pub(super) fn run(certs: &Path, args: &CaArgs) -> anyhow::Result<i32> {
    match &args.action {
        CaAction::Init => {
            if ca::init(certs)? {
                outln!("created a new CA in {}", certs.display());
            } else {
                outln!("a CA already exists in {} (left as is)", certs.display());
            }
            print_info(certs)?;
        }
        CaAction::Show => print_info(certs)?,
        CaAction::Export { der, pem } => {
            let info = ca::info(certs)?;
            let text = std::fs::read_to_string(&info.cert_path)?;
            if let Some(out) = der {
                let der = ca::pem_to_der(&text)?;
                std::fs::write(out, der.as_ref())
                    .with_context(|| format!("cannot write {}", out.display()))?;
                outln!("wrote {} (DER)", out.display());
            }
            if let Some(out) = pem {
                std::fs::write(out, text.as_bytes())
                    .with_context(|| format!("cannot write {}", out.display()))?;
                outln!("wrote {} (PEM)", out.display());
            }
        }
    }
    Ok(0)
}

fn print_info(certs: &Path) -> anyhow::Result<()> {
    let i = ca::info(certs)?;
    let pem = i.cert_path.display();
    outln!("certificate  {pem}");
    match i.key_mode {
        Some(mode) => outln!(
            "key          {} (mode {mode:04o}; never share or commit it)",
            i.key_path.display()
        ),
        None => outln!(
            "key          {} (never share or commit it)",
            i.key_path.display()
        ),
    }
    if i.key_readable_by_others() {
        eprintln!(
            "warning: the CA key {} can be read by group or others (mode {:04o}): anyone who reads it can intercept your TLS traffic; run `chmod 600 {}`",
            i.key_path.display(),
            i.key_mode.unwrap_or(0),
            i.key_path.display()
        );
    }
    outln!("subject      {}", i.subject);
    outln!("valid        {} .. {}", i.not_before, i.not_after);
    outln!("SHA-256      {}", i.sha256);
    outln!();
    outln!("Trust it:");
    outln!("  curl       curl --proxy http://127.0.0.1:8080 --cacert {pem} https://...");
    outln!("  Windows    certutil -addstore Root synctap-ca.der   (after `synctap ca export --der synctap-ca.der`)");
    outln!("  macOS      sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {pem}");
    outln!("  Debian     cp {pem} /usr/local/share/ca-certificates/synctap-ca.crt && update-ca-certificates");
    Ok(())
}
