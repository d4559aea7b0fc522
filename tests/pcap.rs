//! pcap and pcapng import through the real binary: real loopback traffic captured with
//! `tcpdump -i lo` (the demo's clients against `synctap serve` over plain HTTP; curl
//! over IPv6 with 100-continue, keep-alive and chunked uploads), the same capture
//! rewritten as pcapng, with a segment dropped and cut mid-packet, and packets built
//! here for what real clients rarely do on loopback (pipelining, retransmissions,
//! out-of-order segments, TLS, snap-length cuts).

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use synctap::capture::pcap::tls;
use synctap::decode::exchange::decode_recorded;
use synctap::model::{Exchange, ExchangeKind};

use crate::util::{read_capture, synctap, TestResult};

/// A free loopback port on `ip`.
fn free_port(ip: &str) -> u16 {
    let l = TcpListener::bind(format!("{ip}:0")).expect("bind");
    l.local_addr().expect("addr").port()
}

/// `synctap serve` (plain HTTP) on `addr`, ready when it prints its address.
struct Serve(Child);

impl Serve {
    fn start(dir: &Path, addr: SocketAddr) -> Self {
        let mut child = synctap()
            .arg("--certs")
            .arg(dir.join("certs"))
            .args([
                "serve",
                "--listen",
                &addr.to_string(),
                "--max-coauthors",
                "2",
                "--data",
            ])
            .arg(dir.join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start synctap serve");
        let out = child.stdout.take().expect("stdout");
        let mut out = BufReader::new(out);
        let mut line = String::new();
        out.read_line(&mut line).expect("banner");
        assert!(line.contains("listening on"), "{line}");
        // Keep reading: serve ends on a closed stdout.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Self(child)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tcpdump -i lo` writing `file` (the TCP port `port`), ready when it says it is
/// listening; stopped, with every packet sent before it in the file, by [`Tcpdump::stop`].
struct Tcpdump {
    child: Child,
    file: PathBuf,
    /// Receives the end marker: a UDP datagram the capture also takes, which the
    /// importer ignores (not TCP).
    marker: UdpSocket,
}

impl Tcpdump {
    fn start(file: &Path, port: u16) -> Self {
        assert!(
            Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"0")),
            "capturing with tcpdump needs root (CI runs as root)"
        );
        let marker = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let udp = marker.local_addr().expect("addr").port();
        // A 64 MiB kernel buffer (-B, KiB): loopback segments are up to 64 KiB, and on a
        // loaded machine the default 2 MiB overflowed before tcpdump was scheduled, so the
        // kernel dropped packets (a server response went missing and the import, rightly,
        // reported a capture gap).
        let mut child = Command::new("tcpdump")
            .args([
                "-i",
                "lo",
                "--immediate-mode",
                "-U",
                "-s",
                "0",
                "-B",
                "65536",
                "-w",
            ])
            .arg(file)
            .args([
                "tcp",
                "port",
                &port.to_string(),
                "or",
                "udp",
                "port",
                &udp.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump (.ci/run installs it)");
        let err = child.stderr.take().expect("stderr");
        let mut r = BufReader::new(err);
        let mut line = String::new();
        while r.read_line(&mut line).expect("tcpdump stderr") > 0 {
            if line.contains("listening on") {
                break;
            }
            line.clear();
        }
        assert!(line.contains("listening on"), "tcpdump: {line}");
        // Keep draining stderr so tcpdump never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut r, &mut std::io::sink()));
        Self {
            child,
            file: file.to_owned(),
            marker,
        }
    }

    /// Sends the end marker and waits until tcpdump wrote it (packets are written in
    /// the order they were taken, so everything before it is in the file), then stops.
    fn stop(mut self) {
        let mark = format!("synctap-end-of-capture-{}", std::process::id());
        let to = self.marker.local_addr().expect("addr");
        let mut written = false;
        for _ in 0..600 {
            self.marker
                .send_to(mark.as_bytes(), to)
                .expect("send marker");
            let data = std::fs::read(&self.file).unwrap_or_default();
            if data.windows(mark.len()).any(|w| w == mark.as_bytes()) {
                written = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let _ = self.child.wait();
        assert!(written, "tcpdump never wrote the end marker");
    }
}

fn import(file: &Path, out: &Path) -> String {
    let run = crate::util::import(file, out);
    let err = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{err}");
    err
}

/// What "the same exchange, decoded the same way" compares.
fn fingerprint(x: &Exchange) -> String {
    let d = decode_recorded(x);
    let req = x.request.as_ref();
    let resp = x.response.as_ref();
    format!(
        "{} {} -> {} | req {} bytes {} | resp {} bytes {} | {} {:?} {:?} diags {}",
        req.map_or("-", |r| r.method.as_str()),
        req.map_or("-", |r| r.url.as_str()),
        resp.map_or(0, |r| r.status),
        req.map_or(0, |r| r.body.len),
        synctap_sha(req.map_or(&[][..], |r| &r.body.bytes)),
        resp.map_or(0, |r| r.body.len),
        synctap_sha(resp.map_or(&[][..], |r| &r.body.bytes)),
        d.protocol().name(),
        d.summary,
        d.client_id(),
        d.diagnostics.len()
    )
}

fn synctap_sha(b: &[u8]) -> String {
    crate::util::sha256(b)[..12].to_owned()
}

#[test]
fn the_demo_over_plain_http_imports_as_the_demo_recorded_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let port = free_port("127.0.0.1");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let serve = Serve::start(dir.path(), addr);
    let pcap = dir.path().join("demo.pcap");
    // Only the proxy-to-server leg: the demo's own capture is the client-to-proxy leg.
    let dump = Tcpdump::start(&pcap, port);
    let capture = dir.path().join("demo.jsonl");
    let demo = crate::util::demo_command(&dir.path().join("certs"), &capture)
        .args(["--server", &format!("http://{addr}/sites/demo")])
        .output()?;
    dump.stop();
    drop(serve);
    crate::util::assert_ran("demo", &demo);
    let out = dir.path().join("from-pcap.jsonl");
    let report = import(&pcap, &out);
    assert!(
        report.contains("read ") && report.contains(" pcap TCP connections"),
        "{report}"
    );
    assert!(report.contains("skipped 0"), "{report}");

    let mut recorded: Vec<Exchange> = read_capture(&capture)
        .into_iter()
        .filter(|x| x.request.is_some())
        .collect();
    let mut imported = read_capture(&out);
    recorded.sort_by_key(|x| x.id);
    imported.sort_by_key(|x| x.id);
    assert!(recorded.len() > 40, "{}", recorded.len());
    // The same exchanges: the demo's clients run side by side, so requests of different
    // connections may reach the server leg in another order than the proxy numbered them.
    let mut want: Vec<String> = recorded.iter().map(fingerprint).collect();
    let mut got: Vec<String> = imported.iter().map(fingerprint).collect();
    want.sort();
    got.sort();
    let missing: Vec<&String> = want.iter().filter(|f| !got.contains(f)).collect();
    let extra: Vec<&String> = got.iter().filter(|f| !want.contains(f)).collect();
    assert_eq!(got, want, "missing {missing:#?}\nextra {extra:#?}");
    assert!(
        want.iter()
            .any(|f| f.contains("CellRequestFail") || f.contains("Coherency")),
        "{want:#?}"
    );
    for x in &imported {
        assert!(x.error.is_none(), "{:?}", x.error);
        assert_eq!(x.imported.as_ref().map(|i| i.format.as_str()), Some("pcap"));
        let t = &x.timings;
        assert!(
            t.request_sent_ms.is_some() && t.first_response_byte_ms <= t.done_ms,
            "{t:?}"
        );
    }
    // One connection id per TCP connection, reused by keep-alive.
    let conns: std::collections::BTreeSet<u64> = imported.iter().map(|x| x.connection_id).collect();
    assert!(
        conns.len() < imported.len(),
        "keep-alive: several exchanges per connection"
    );
    Ok(())
}

/// A loopback capture of curl against `serve` on `ip`: a 300 KB PUT with
/// `Expect: 100-continue` over a file of the demo library (serve creates none), a GET of
/// it on the same connection, a chunked upload.
fn curl_capture(dir: &Path, ip: &str) -> (PathBuf, Vec<u8>) {
    let port = free_port(ip);
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_owned()
    };
    let addr: SocketAddr = format!("{host}:{port}").parse().expect("addr");
    let serve = Serve::start(dir, addr);
    let pcap = dir.join(format!(
        "curl-{}.pcap",
        if ip.contains(':') { "v6" } else { "v4" }
    ));
    let dump = Tcpdump::start(&pcap, port);
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let file = dir.join("big.bin");
    std::fs::write(&file, &big).expect("write");
    let small = dir.join("small.txt");
    std::fs::write(&small, b"chunked upload\n").expect("write");
    let url = |name: &str| format!("http://{host}:{port}/sites/t/Shared%20Documents/{name}");
    let status = Command::new("curl")
        .args([
            "-g",
            "-sS",
            "-o",
            "/dev/null",
            "-H",
            "Expect: 100-continue",
            "-T",
        ])
        .arg(&file)
        .arg(url("Budget.xlsx"))
        .args(["--next", "-g", "-s", "-o", "/dev/null"])
        .arg(url("Budget.xlsx"))
        .args([
            "--next",
            "-g",
            "-s",
            "-o",
            "/dev/null",
            "-H",
            "Transfer-Encoding: chunked",
            "-T",
        ])
        .arg(&small)
        .arg(url("Notes.txt"))
        .output()
        .expect("curl");
    dump.stop();
    drop(serve);
    assert!(
        status.status.success(),
        "curl: {:?} {}",
        status.status,
        String::from_utf8_lossy(&status.stderr)
    );
    (pcap, big)
}

fn check_curl_exchanges(xs: &[Exchange], big: &[u8]) {
    let lines: Vec<String> = xs
        .iter()
        .map(|x| {
            let r = x.request.as_ref().expect("request");
            format!(
                "{} {} {}",
                r.method,
                r.url.rsplit('/').next().unwrap_or(""),
                x.response.as_ref().map_or(0, |r| r.status)
            )
        })
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("PUT Budget.xlsx 204"), "{lines:?}");
    assert_eq!(lines[1], "GET Budget.xlsx 200");
    assert!(lines[2].starts_with("PUT Notes.txt 204"), "{lines:?}");
    assert_eq!(
        xs[0].request.as_ref().map(|r| r.body.bytes.as_slice()),
        Some(big),
        "100-continue upload"
    );
    assert_eq!(
        xs[1].response.as_ref().map(|r| r.body.bytes.as_slice()),
        Some(big)
    );
    assert_eq!(
        xs[2].request.as_ref().map(|r| r.body.bytes.as_slice()),
        Some(&b"chunked upload\n"[..]),
        "unchunked"
    );
    assert_eq!(xs[0].connection_id, xs[1].connection_id, "keep-alive");
    for x in xs {
        assert!(x.error.is_none(), "{:?}", x.error);
    }
}

#[test]
fn ipv6_loopback_as_pcap_and_pcapng() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (pcap, big) = curl_capture(dir.path(), "::1");
    let out = dir.path().join("v6.jsonl");
    import(&pcap, &out);
    let xs = read_capture(&out);
    check_curl_exchanges(&xs, &big);
    assert!(
        xs[0].client_addr.starts_with("[::1]:"),
        "{}",
        xs[0].client_addr
    );

    let ng = dir.path().join("v6.pcapng");
    std::fs::write(&ng, to_pcapng(&std::fs::read(&pcap)?))?;
    let out_ng = dir.path().join("v6-ng.jsonl");
    let report = import(&ng, &out_ng);
    assert!(report.contains("pcapng"), "{report}");
    let mut ng_xs = read_capture(&out_ng);
    for x in &mut ng_xs {
        let imported = x.imported.as_mut().ok_or("imported")?;
        assert_eq!(imported.format, "pcapng");
        imported.format = "pcap".into();
    }
    assert_eq!(ng_xs, xs, "pcap and pcapng give the same exchanges");
    Ok(())
}

/// A legacy pcap record: its 16-byte header and its data.
type Record = (Vec<u8>, Vec<u8>);

/// The records of a legacy pcap, after its 24-byte header.
fn records(pcap: &[u8]) -> (Vec<u8>, Vec<Record>) {
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= pcap.len() {
        let h = pcap[at..at + 16].to_vec();
        let caplen = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let data = pcap[at + 16..(at + 16 + caplen).min(pcap.len())].to_vec();
        at += 16 + caplen;
        out.push((h, data));
    }
    (pcap[..24].to_vec(), out)
}

fn join(header: &[u8], recs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = header.to_vec();
    for (h, d) in recs {
        out.extend_from_slice(h);
        out.extend_from_slice(d);
    }
    out
}

/// The same packets as pcapng: a section header, one interface (microseconds), one
/// enhanced packet block per record.
fn to_pcapng(pcap: &[u8]) -> Vec<u8> {
    let (h, recs) = records(pcap);
    let linktype = u32::from_le_bytes([h[20], h[21], h[22], h[23]]);
    let block = |ty: u32, body: &[u8]| {
        let len = 12 + body.len().div_ceil(4) * 4;
        let mut b = ty.to_le_bytes().to_vec();
        b.extend_from_slice(&(len as u32).to_le_bytes());
        b.extend_from_slice(body);
        b.resize(len - 4, 0);
        b.extend_from_slice(&(len as u32).to_le_bytes());
        b
    };
    let mut out = block(
        0x0a0d_0d0a,
        &[
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    let mut idb = (linktype as u16).to_le_bytes().to_vec();
    idb.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    out.extend(block(1, &idb));
    for (rh, data) in recs {
        let secs = u64::from(u32::from_le_bytes([rh[0], rh[1], rh[2], rh[3]]));
        let usecs = u64::from(u32::from_le_bytes([rh[4], rh[5], rh[6], rh[7]]));
        let ts = secs * 1_000_000 + usecs;
        let mut body = 0u32.to_le_bytes().to_vec();
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&rh[8..16]);
        body.extend_from_slice(&data);
        body.resize(20 + data.len().div_ceil(4) * 4, 0);
        out.extend(block(6, &body));
    }
    out
}

/// TCP payload and source port of an Ethernet frame.
fn tcp_of(frame: &[u8]) -> Option<(u16, Vec<u8>)> {
    let p = etherparse::SlicedPacket::from_ethernet(frame).ok()?;
    match p.transport? {
        etherparse::TransportSlice::Tcp(t) => Some((t.source_port(), t.payload().to_vec())),
        _ => None,
    }
}

#[test]
fn a_dropped_segment_and_a_cut_file_are_marked_not_lost() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (pcap, big) = curl_capture(dir.path(), "127.0.0.1");
    let bytes = std::fs::read(&pcap)?;
    let (header, recs) = records(&bytes);
    // The server's port is the destination of the first packet (the client's SYN).
    let server_port = {
        let p = etherparse::SlicedPacket::from_ethernet(&recs[0].1).map_err(|e| e.to_string())?;
        match p.transport {
            Some(etherparse::TransportSlice::Tcp(t)) => t.destination_port(),
            _ => return Err("not TCP".into()),
        }
    };
    // Drop a segment from the middle of the GET's response body: a server data
    // segment that is not a head.
    let victim = recs
        .iter()
        .position(|(_, d)| {
            tcp_of(d).is_some_and(|(sport, payload)| {
                sport == server_port && payload.len() > 1000 && !payload.starts_with(b"HTTP/1.1")
            })
        })
        .ok_or("no body segment")?;
    let dropped_len = tcp_of(&recs[victim].1).map_or(0, |(_, p)| p.len());
    let mut edited = recs.clone();
    edited.remove(victim);
    let holed = dir.path().join("holed.pcap");
    std::fs::write(&holed, join(&header, &edited))?;
    let out = dir.path().join("holed.jsonl");
    let report = import(&holed, &out);
    assert!(report.contains("TCP gaps"), "{report}");
    let xs = read_capture(&out);
    assert_eq!(xs.len(), 3, "no exchange lost: {report}");
    let get = &xs[1];
    let err = get.error.as_deref().unwrap_or("");
    assert!(
        err.contains(&format!(
            "capture gap: {dropped_len} bytes of the response body missing"
        )),
        "{err}"
    );
    let body = &get.response.as_ref().ok_or("response")?.body;
    assert_eq!(body.len, big.len() as u64, "the gap counts in the length");
    assert!(body.truncated && body.bytes.len() < big.len());
    assert_eq!(
        &big[..body.bytes.len()],
        body.bytes.as_slice(),
        "what is stored is a true prefix"
    );
    assert!(
        xs[2].error.is_none(),
        "the next exchange is whole: {:?}",
        xs[2].error
    );

    // Cut mid-packet: everything before the cut imports; the report says where.
    let whole = join(&header, &recs);
    let cut = dir.path().join("cut.pcap");
    let at = whole.len() - 3 * recs.last().map_or(10, |r| r.1.len()) / 2;
    std::fs::write(&cut, &whole[..at])?;
    let out = dir.path().join("cut.jsonl");
    let report = import(&cut, &out);
    assert!(report.contains("ends mid-packet"), "{report}");
    assert!(read_capture(&out).len() >= 2, "{report}");
    Ok(())
}

/// Packets built here: Ethernet + IPv4 + TCP between a client and a server.
struct Built {
    frames: Vec<(u64, Vec<u8>, u32)>,
    seq: [u32; 2],
    ts: u64,
    linktype: u32,
}

impl Built {
    fn new() -> Self {
        Self {
            frames: Vec::new(),
            seq: [1000, 5000],
            ts: 1_700_000_000_000_000,
            linktype: 1,
        }
    }

    fn raw(
        &mut self,
        from_client: bool,
        seq: u32,
        flags: &str,
        payload: &[u8],
        snap: Option<usize>,
    ) {
        let (src, dst, sp, dp) = if from_client {
            ([10, 0, 0, 1], [10, 0, 0, 2], 50000, 80)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], 80, 50000)
        };
        let mut b = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(src, dst, 64)
            .tcp(sp, dp, seq, 65535);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('A') {
            b = b.ack(self.seq[usize::from(from_client)]);
        }
        if flags.contains('F') {
            b = b.fin();
        }
        if flags.contains('R') {
            b = b.rst();
        }
        let mut frame = Vec::new();
        b.write(&mut frame, payload).expect("build");
        let orig = frame.len() as u32;
        if let Some(n) = snap {
            frame.truncate(frame.len() - n);
        }
        self.ts += 1000;
        self.frames.push((self.ts, frame, orig));
    }

    fn handshake(&mut self) {
        self.raw(true, 999, "S", b"", None);
        self.raw(false, 4999, "SA", b"", None);
    }

    /// Sends `payload` in order and advances the sequence number.
    fn send(&mut self, from_client: bool, payload: &[u8]) {
        let i = usize::from(!from_client);
        let seq = self.seq[i];
        self.raw(from_client, seq, "A", payload, None);
        self.seq[i] = seq.wrapping_add(payload.len() as u32);
    }

    /// The same packets under another link type: `head` makes its header from the
    /// EtherType and the IP packet follows.
    fn relinked(&self, linktype: u32, head: impl Fn(u16) -> Vec<u8>) -> Self {
        let frames = self
            .frames
            .iter()
            .map(|(ts, f, orig)| {
                let mut g = head(u16::from_be_bytes([f[12], f[13]]));
                let grown = g.len() as u32;
                g.extend_from_slice(&f[14..]);
                (*ts, g, orig - 14 + grown)
            })
            .collect();
        Self {
            frames,
            seq: self.seq,
            ts: self.ts,
            linktype,
        }
    }

    fn pcap(&self) -> Vec<u8> {
        let mut out = vec![
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0,
        ];
        out.extend_from_slice(&self.linktype.to_le_bytes());
        for (ts, f, orig) in &self.frames {
            out.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&orig.to_le_bytes());
            out.extend_from_slice(f);
        }
        out
    }
}

fn import_built(
    b: &Built,
    name: &str,
) -> Result<(Vec<Exchange>, String), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let f = dir.path().join(format!("{name}.pcap"));
    std::fs::write(&f, b.pcap())?;
    let out = dir.path().join(format!("{name}.jsonl"));
    let report = import(&f, &out);
    Ok((read_capture(&out), report))
}

#[test]
fn pipelining_retransmissions_and_reordering() -> TestResult {
    let mut b = Built::new();
    b.handshake();
    // Two pipelined requests in one segment.
    b.send(
        true,
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    // The first response in two segments, sent out of order, one retransmitted.
    let r1 = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    let s = b.seq[1];
    b.raw(false, s + 20, "A", &r1[20..], None);
    b.raw(false, s, "A", &r1[..20], None);
    b.raw(false, s, "A", &r1[..20], None);
    b.seq[1] += r1.len() as u32;
    // The second response chunked, then the server closes.
    b.send(
        false,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let (c, s) = (b.seq[0], b.seq[1]);
    b.raw(true, c, "FA", b"", None);
    b.raw(false, s, "FA", b"", None);
    let (xs, report) = import_built(&b, "pipelined")?;
    assert!(
        report.contains("read 1 pcap TCP connections, 2 exchanges, skipped 0"),
        "{report}"
    );
    let bodies: Vec<(&str, &[u8])> = xs
        .iter()
        .map(|x| {
            (
                x.request.as_ref().map_or("", |r| r.url.as_str()),
                x.response
                    .as_ref()
                    .map_or(&b""[..], |r| r.body.bytes.as_slice()),
            )
        })
        .collect();
    assert_eq!(
        bodies,
        [
            ("http://h/a", &b"0123456789"[..]),
            ("http://h/b", &b"abc"[..])
        ]
    );
    assert!(xs.iter().all(|x| x.error.is_none()), "{xs:?}");
    assert_eq!(xs[0].timings.start, "2023-11-14T22:13:20.003Z");
    assert!(xs[0]
        .timings
        .connect_ms
        .is_some_and(|c| (c - 1.0).abs() < 1e-6));
    Ok(())
}

#[test]
fn linux_cooked_bsd_loopback_and_raw_ip_link_types() -> TestResult {
    let mut b = Built::new();
    b.handshake();
    b.send(
        true,
        b"PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    );
    b.send(false, b"HTTP/1.1 204 No Content\r\n\r\n");
    let (want, _) = import_built(&b, "ethernet")?;
    assert_eq!(want.len(), 1);
    assert_eq!(want[0].response.as_ref().map(|r| r.status), Some(204));
    let sll = |t: u16| {
        // Packet type, ARPHRD_LOOPBACK, address length, address, protocol.
        let mut h = vec![0, 0, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        h.extend_from_slice(&t.to_be_bytes());
        h
    };
    let sll2 = |t: u16| {
        // Protocol, reserved, interface index, ARPHRD_LOOPBACK, packet type, address.
        let mut h = t.to_be_bytes().to_vec();
        h.extend_from_slice(&[0, 0, 0, 0, 0, 1, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        h
    };
    // BSD loopback: the address family in the capturing host's order (AF_INET = 2).
    let null = |_: u16| 2u32.to_le_bytes().to_vec();
    let raw = |_: u16| Vec::new();
    for (name, linktype, got) in [
        ("sll", 113, b.relinked(113, sll)),
        ("sll2", 276, b.relinked(276, sll2)),
        ("null", 0, b.relinked(0, null)),
        ("raw", 101, b.relinked(101, raw)),
    ] {
        let (xs, report) = import_built(&got, name)?;
        assert!(
            report.contains("skipped 0"),
            "{name} ({linktype}): {report}"
        );
        assert_eq!(xs, want, "{name} ({linktype})");
    }
    Ok(())
}

#[test]
fn cut_connections_tls_and_snap_lengths() -> TestResult {
    let mut b = Built::new();
    b.handshake();
    // A response cut mid-body by a reset: incomplete, named.
    b.send(
        true,
        b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd",
    );
    b.send(
        false,
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial",
    );
    // A packet cut by the snap length: its missing bytes are a gap.
    let s = b.seq[1];
    b.raw(false, s, "A", b"0123456789", Some(4));
    b.seq[1] += 10;
    let s = b.seq[1];
    b.raw(false, s, "RA", b"", None);
    let (xs, report) = import_built(&b, "cut")?;
    assert_eq!(xs.len(), 1, "{report}");
    let body = &xs[0].response.as_ref().ok_or("response")?.body;
    assert!(body.incomplete, "{body:?}");
    assert_eq!(body.bytes, b"partial012345");
    assert_eq!(body.len, 17);
    let err = xs[0].error.as_deref().unwrap_or("");
    assert!(
        err.contains("capture gap: 4 bytes") && err.contains("reset mid-response-body"),
        "{err}"
    );

    // TLS: one tunnel with the SNI; HTTPS is not readable, and the report says so.
    let mut t = Built::new();
    t.handshake();
    t.send(true, &client_hello("contoso.sharepoint.com", &[]));
    t.send(false, &[0x16, 3, 3, 0, 2, 2, 0]);
    let (xs, report) = import_built(&t, "tls")?;
    assert_eq!(xs.len(), 1);
    assert_eq!(xs[0].kind, ExchangeKind::Tunnel);
    assert_eq!(xs[0].server, "contoso.sharepoint.com:80");
    assert_eq!(
        xs[0].tls.as_ref().and_then(|t| t.sni.as_deref()),
        Some("contoso.sharepoint.com")
    );
    assert!(
        report.contains("TLS connections recorded as tunnels"),
        "{report}"
    );

    // Neither HTTP nor TLS: counted as skipped, not silently dropped.
    let mut o = Built::new();
    o.handshake();
    o.send(true, b"\x00\x01binary protocol");
    let (xs, report) = import_built(&o, "other")?;
    assert!(xs.is_empty());
    assert!(
        report.contains("skipped 1:") && report.contains("neither HTTP/1.x nor TLS"),
        "{report}"
    );
    Ok(())
}

/// A TLS 1.3-style ClientHello record with `server_name` = `host` and, when `alpn` names
/// any, the ALPN extension (RFC 8446 section 4.1.2, RFC 6066 section 3, RFC 7301).
fn client_hello(host: &str, alpn: &[&str]) -> Vec<u8> {
    let name = host.as_bytes();
    let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    let mut list = Vec::new();
    for p in alpn {
        list.push(p.len() as u8);
        list.extend_from_slice(p.as_bytes());
    }
    let mut protocols = (list.len() as u16).to_be_bytes().to_vec();
    protocols.extend_from_slice(&list);
    let mut exts = Vec::new();
    let with_alpn = (!alpn.is_empty()).then_some((0x10, protocols));
    for (ty, data) in std::iter::once((0u16, sni)).chain(with_alpn) {
        exts.extend_from_slice(&ty.to_be_bytes());
        exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
        exts.extend_from_slice(&data);
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[9; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 1, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// A ClientHello with `server_name` = `host` and ALPN `h2`, `http/1.1`.
fn hello_record(host: &str) -> Vec<u8> {
    client_hello(host, &["h2", "http/1.1"])
}

#[test]
fn reads_sni_and_alpn_from_any_prefix_on() {
    let h = hello_record("contoso.sharepoint.com");
    for n in 0..h.len() {
        assert_eq!(
            tls::client_hello(&h[..n]),
            tls::Hello::NeedMore,
            "prefix {n}"
        );
    }
    assert_eq!(
        tls::client_hello(&h),
        tls::Hello::ClientHello {
            sni: Some("contoso.sharepoint.com".into()),
            alpn: vec!["h2".into(), "http/1.1".into()]
        }
    );
}

#[test]
fn hostile_lengths_are_unreadable_not_panics() {
    assert_eq!(tls::client_hello(b"GET / HTTP/1.1\r\n"), tls::Hello::NotTls);
    let mut h = hello_record("a.example");
    h[5] = 2; // not a ClientHello
    assert_eq!(tls::client_hello(&h), tls::Hello::Unreadable);
    let mut h = hello_record("a.example");
    let n = h.len();
    h[n - 20] = 0xff; // a length running past the end
    assert!(matches!(
        tls::client_hello(&h),
        tls::Hello::Unreadable | tls::Hello::ClientHello { .. }
    ));
    for cut in 0..60 {
        let mut h = hello_record("a.example");
        h.truncate(h.len() - cut);
        let _ = tls::client_hello(&h);
    }
}
