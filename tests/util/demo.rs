//! The demo story run against a real `synctap serve` process, the setup many tests share:
//! serve with its own data folder, optionally a reverse rules proxy in front of it, and
//! `synctap demo --no-ui` recording the story with serve's certificates.

use std::path::{Path, PathBuf};

use super::{assert_ran, demo_command, serve, ProxyProcess, ServerProcess};

/// What to start; `DemoSetup::new(serve_args).run(dir)` runs it.
pub struct DemoSetup<'a> {
    serve_args: &'a [&'a str],
    data: String,
    site: &'a str,
    capture: String,
    rules: Option<&'a [&'a str]>,
    demo_args: Vec<String>,
}

/// A finished demo run: the processes it started are still running (drop them to stop
/// them).
pub struct DemoRun {
    /// The `synctap serve` process the story ran against.
    pub serve: ServerProcess,
    /// The reverse rules proxy in front of serve, when there was one.
    pub proxy: Option<ProxyProcess>,
    /// The demo's own capture.
    pub capture: PathBuf,
    /// What the demo printed.
    pub stdout: String,
}

impl<'a> DemoSetup<'a> {
    /// `synctap serve --listen 127.0.0.1:0 --tls --data DIR/data SERVE_ARGS…`, the demo on
    /// `/sites/remote`, capturing into `DIR/demo.jsonl`.
    pub fn new(serve_args: &'a [&'a str]) -> Self {
        Self {
            serve_args,
            data: "data".to_owned(),
            site: "remote",
            capture: "demo.jsonl".to_owned(),
            rules: None,
            demo_args: Vec::new(),
        }
    }

    /// Serve's data folder, `DIR/NAME`.
    pub fn data(mut self, name: &str) -> Self {
        self.data = name.to_owned();
        self
    }

    /// The site the demo opens, `/sites/SITE`.
    pub fn site(mut self, site: &'a str) -> Self {
        self.site = site;
        self
    }

    /// The demo's capture, `DIR/NAME`.
    pub fn capture(mut self, name: &str) -> Self {
        self.capture = name.to_owned();
        self
    }

    /// A `synctap proxy --reverse SERVE --listen-plain --rule R…` in front of serve: the
    /// demo talks to it.
    pub fn rules(mut self, rules: &'a [&'a str]) -> Self {
        self.rules = Some(rules);
        self
    }

    /// More arguments for the demo (`--upstream-ca`, `--upstream-proxy`...).
    pub fn demo_args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.demo_args
            .extend(args.iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Starts serve (and the proxy), runs the demo into `dir` and asserts that it succeeded.
    pub fn run(self, dir: &Path) -> Result<DemoRun, Box<dyn std::error::Error>> {
        let serve = serve(dir, &self.data, self.serve_args)?;
        let proxy = self.rules.map(|rules| {
            let ca = dir.join("certs").join("synctap-ca.pem");
            let mut args = vec![
                "--reverse".to_owned(),
                serve.url.clone(),
                "--upstream-ca".to_owned(),
                ca.to_string_lossy().into_owned(),
                "--listen-plain".to_owned(),
            ];
            for r in rules {
                args.push("--rule".into());
                args.push((*r).to_owned());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ProxyProcess::start(&args)
        });
        // The demo shares serve's CA, so its own proxy trusts the absolute URLs
        // (PreAuthURL) that the server hands out and the clients fetch directly.
        let base = proxy
            .as_ref()
            .map_or_else(|| serve.url.clone(), |p| format!("http://{}", p.addr));
        let capture = dir.join(&self.capture);
        let out = demo_command(&dir.join("certs"), &capture)
            .arg("--server")
            .arg(format!("{base}/sites/{}", self.site))
            .args(&self.demo_args)
            .output()?;
        assert_ran("demo", &out);
        Ok(DemoRun {
            serve,
            proxy,
            capture,
            stdout: String::from_utf8(out.stdout)?,
        })
    }
}
