//! synctap: an intercepting debug proxy and traffic inspector for Microsoft Office
//! file-sync traffic (MS-FSSHTTP, MS-FSSHTTPB, SPFileSync REST, WebDAV).
//!
//! The crate is layered one way (see ARCHITECTURE.md): [`model`] (what was seen) ←
//! [`decode`] (pure decoders) ← [`timeline`] (lock and coauthoring state, checks) ;
//! [`capture`] (JSON-lines files, HAR, redaction) ; [`filter`] (filter expressions) ;
//! [`net`] (CA, TLS, routes to servers, the HTTP client, the accept loop) ;
//! [`proxy`] (the intercepting proxy) ; [`server`] (the reference server and scripted
//! clients) ; [`cli`] (the command line, wiring the rest together).
#![warn(unreachable_pub)]

pub mod capture;
pub mod cli;
pub mod decode;
pub mod filter;
pub mod model;
pub mod net;
pub mod proxy;
pub mod replay;
pub mod rules;
pub mod server;
pub mod timeline;
pub mod tui;
pub mod util;
