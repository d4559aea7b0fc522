//! `synctap mock`: serve a capture's recorded responses to matching requests (fixtures for
//! client tests), until Ctrl-C. See [`crate::replay::mock`] for how requests match.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use clap::Args;

use crate::replay::mock::{Mock, MockConfig};

/// Arguments of `synctap mock`.
#[derive(Debug, Args)]
pub struct MockArgs {
    /// The capture whose responses are served.
    capture: PathBuf,
    /// Address to listen on (port 0 picks a free port). The first line printed names the
    /// URL actually bound.
    #[arg(long, default_value = "127.0.0.1:8444")]
    listen: SocketAddr,
    /// Serve HTTPS with a certificate from synctap's CA (see --certs).
    #[arg(long)]
    tls: bool,
}

pub(super) fn run(certs: &Path, args: &MockArgs) -> anyhow::Result<i32> {
    let recorded = super::read_capture(&args.capture)
        .map_err(|e| anyhow!("cannot read the capture {}: {e}", args.capture.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let mock = Mock::bind(
            MockConfig {
                listen: args.listen,
                tls: args.tls,
                certs_dir: certs.to_path_buf(),
            },
            recorded,
        )
        .await?;
        outln!("synctap mock listening on {}", mock.url());
        outln!(
            "serving {} recorded responses from {}",
            mock.len(),
            args.capture.display()
        );
        let _ = std::io::stdout().flush();
        mock.run(super::proxy::shutdown_signal()).await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}
