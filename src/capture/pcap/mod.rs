//! Packet captures (`.pcap` from tcpdump, `.pcapng` from Wireshark and dumpcap) to
//! exchanges: HTTP/1.1 over TCP, IPv4 and IPv6, on Ethernet, Linux cooked capture (SLL,
//! SLL2), BSD loopback and raw IP links.
//!
//! The file is streamed block by block (pcap-parser) and each packet's headers are read
//! with etherparse. Each TCP connection ([`conn::Conn`]) is reassembled per direction
//! ([`tcp::Reassembler`]), becomes a `connection_id`, and its HTTP/1.x messages become
//! exchanges whose timings are the packets' timestamps; a TLS connection becomes one
//! tunnel record carrying the SNI of its ClientHello ([`tls`]). Memory is bounded: out-
//! of-order data per direction, heads, bodies per exchange and in total, and open
//! connections all have limits, past which data is marked as a gap instead of held.
//! A file cut mid-packet, packets cut by the snap length, and segments missing from the
//! capture all still import, with the gaps named on the exchanges they hit.

pub mod conn;
pub mod tcp;
pub mod tls;

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};

use self::conn::{Conn, Emit};
use super::import::{Format, ImportError, ImportOptions, ImportReport, Progress, Sink};

/// Most body bytes held across all exchanges in flight; past it bodies are stored only
/// up to what was held (their length and gaps are still right).
pub const STORE_BUDGET: u64 = 512 << 20;
/// Most TCP connections tracked at once; past it the least recently active are ended.
pub const MAX_OPEN_CONNECTIONS: usize = 20_000;
/// Largest packet record read, in bytes.
const MAX_RECORD: usize = 16 << 20;

/// A link layer and how to find the IP packet in it.
#[derive(Debug, Clone, Copy)]
struct Link {
    linktype: i32,
    /// Timestamp units per second (pcapng `if_tsresol`), and offset in seconds.
    ts_per_sec: u64,
    ts_offset: u64,
}

/// Reads a pcap or pcapng stream and writes its exchanges to `sink`, numbering them from
/// `first_id`. `progress` is told the bytes read so far (of `total`).
///
/// # Errors
/// When the input is not a packet capture or the sink fails. Damaged packets, a file
/// cut short and connections that are not HTTP are counted in the report instead.
pub fn import<R: Read + Send>(
    input: R,
    total: u64,
    opts: &ImportOptions,
    first_id: u64,
    sink: &mut Sink<'_>,
    progress: &Progress<'_>,
) -> Result<ImportReport, ImportError> {
    let mut reader = match pcap_parser::create_reader(256 << 10, input) {
        Ok(r) => r,
        Err(PcapError::Eof) => {
            return Err(ImportError::NotThisFormat {
                format: "pcap or pcapng",
                reason: "the file is empty".into(),
            })
        }
        Err(e) => {
            return Err(ImportError::NotThisFormat {
                format: "pcap or pcapng",
                reason: format!("{e}"),
            })
        }
    };
    let mut report = ImportReport::new(Format::Pcap);
    let mut tracker = Tracker::default();
    let mut emit = Emit {
        sink,
        report: &mut report,
        next_id: first_id,
        budget: STORE_BUDGET,
        body_limit: opts.body_limit,
        format: "pcap",
        error: None,
    };
    let mut links: Vec<Link> = Vec::new();
    let mut legacy: Option<(Link, bool)> = None;
    let mut last_progress = 0u64;
    loop {
        let consumed = reader.consumed() as u64;
        if consumed >= last_progress + (1 << 20) {
            progress(consumed, total);
            last_progress = consumed;
        }
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some((
                            Link {
                                linktype: h.network.0,
                                ts_per_sec: 1,
                                ts_offset: 0,
                            },
                            h.is_nanosecond_precision(),
                        ));
                    }
                    PcapBlockOwned::Legacy(b) => {
                        if let Some((link, nanos)) = legacy {
                            let frac = if nanos {
                                i64::from(b.ts_usec)
                            } else {
                                i64::from(b.ts_usec) * 1000
                            };
                            let ts = i64::from(b.ts_sec) * 1_000_000_000 + frac;
                            let caplen = (b.caplen as usize).min(b.data.len());
                            let cut = u64::from(b.origlen.saturating_sub(b.caplen));
                            tracker.packet(link.linktype, &b.data[..caplen], cut, ts, &mut emit);
                        }
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        emit.format = "pcapng";
                        links.clear();
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let per_sec = pcap_parser::pcapng::build_ts_resolution(idb.if_tsresol)
                            .unwrap_or(1_000_000);
                        links.push(Link {
                            linktype: idb.linktype.0,
                            ts_per_sec: per_sec.max(1),
                            ts_offset: u64::try_from(idb.if_tsoffset).unwrap_or(0),
                        });
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        match links.get(epb.if_id as usize) {
                            Some(link) => {
                                let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                let secs = units / link.ts_per_sec + link.ts_offset;
                                let frac = units % link.ts_per_sec;
                                let nanos =
                                    u128::from(frac) * 1_000_000_000 / u128::from(link.ts_per_sec);
                                let ts = i64::try_from(secs)
                                    .unwrap_or(0)
                                    .saturating_mul(1_000_000_000)
                                    + i64::try_from(nanos).unwrap_or(0);
                                let caplen = (epb.caplen as usize).min(epb.data.len());
                                let cut = u64::from(epb.origlen.saturating_sub(epb.caplen));
                                tracker.packet(
                                    link.linktype,
                                    &epb.data[..caplen],
                                    cut,
                                    ts,
                                    &mut emit,
                                );
                            }
                            None => emit
                                .report
                                .problem("packets naming an interface that was never described"),
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => match links.first() {
                        Some(link) => {
                            let n = (spb.origlen as usize).min(spb.data.len());
                            let cut = u64::from(spb.origlen).saturating_sub(n as u64);
                            tracker.packet(link.linktype, &spb.data[..n], cut, 0, &mut emit);
                        }
                        None => emit
                            .report
                            .problem("packets naming an interface that was never described"),
                    },
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    emit.report.problem(format!(
                        "read error at byte {}; the rest was not read",
                        reader.consumed()
                    ));
                    break;
                }
            }
            Err(PcapError::BufferTooSmall) => {
                let want = (reader.data().len() * 2).max(1 << 20);
                if want > MAX_RECORD || !reader.grow(want) {
                    emit.report.problem(format!(
                        "a packet record over {} MiB at byte {}; the rest was not read",
                        MAX_RECORD >> 20,
                        reader.consumed()
                    ));
                    break;
                }
                if reader.refill().is_err() {
                    break;
                }
            }
            Err(PcapError::UnexpectedEof) => {
                emit.report.problem(format!(
                    "the file ends mid-packet at byte {} (cut short); what was before it is imported",
                    reader.consumed()
                ));
                break;
            }
            Err(e) => {
                emit.report.problem(format!(
                    "unreadable block at byte {consumed} ({e}); the rest was not read"
                ));
                break;
            }
        }
        if emit.error.is_some() {
            break;
        }
    }
    tracker.finish_all(&mut emit);
    progress(total, total);
    if emit.format == "pcapng" {
        emit.report.format = Format::PcapNg;
    }
    if let Some(e) = emit.error.take() {
        return Err(ImportError::Io(e));
    }
    Ok(report)
}

/// A connection's key: both endpoints, the lower first.
type Key = ((IpAddr, u16), (IpAddr, u16));

fn key(a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn addr((ip, port): (IpAddr, u16)) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

#[derive(Default)]
struct Tracker {
    /// Open connections: key → (client endpoint, connection).
    open: HashMap<Key, ((IpAddr, u16), Conn)>,
    /// Connections that ended (FIN both ways or RST): late packets of theirs
    /// (retransmissions, the last ACKs) are not a new connection.
    closed: std::collections::HashSet<Key>,
    next_conn: u64,
    packets: u64,
}

impl Tracker {
    fn packet(&mut self, linktype: i32, data: &[u8], cut: u64, ts: i64, emit: &mut Emit<'_, '_>) {
        self.packets += 1;
        let parsed = match linktype {
            // Ethernet.
            1 => LaxSlicedPacket::from_ethernet(data).ok(),
            // BSD loopback (NULL, LOOP): a 4-byte address family, then IP.
            0 | 108 => data.get(4..).and_then(|d| LaxSlicedPacket::from_ip(d).ok()),
            // Raw IP (DLT_RAW and LINKTYPE_IPV4/IPV6).
            12 | 14 | 101 | 228 | 229 => LaxSlicedPacket::from_ip(data).ok(),
            // Linux cooked capture v1: protocol type at 14, payload at 16.
            113 => data.get(14..16).map(|t| {
                LaxSlicedPacket::from_ether_type(
                    EtherType(u16::from_be_bytes([t[0], t[1]])),
                    &data[16..],
                )
            }),
            // Linux cooked capture v2: protocol type at 0, payload at 20.
            276 => match (data.get(0..2), data.get(20..)) {
                (Some(t), Some(rest)) => Some(LaxSlicedPacket::from_ether_type(
                    EtherType(u16::from_be_bytes([t[0], t[1]])),
                    rest,
                )),
                _ => None,
            },
            other => {
                emit.report
                    .skip(format!("packets of link type {other} (not supported)"));
                return;
            }
        };
        let Some(p) = parsed else {
            emit.report
                .note("packets too short to hold their link or IP header (ignored)");
            return;
        };
        let (src, dst, payload) = match &p.net {
            Some(LaxNetSlice::Ipv4(v4)) => (
                IpAddr::V4(v4.header().source_addr()),
                IpAddr::V4(v4.header().destination_addr()),
                v4.payload(),
            ),
            Some(LaxNetSlice::Ipv6(v6)) => (
                IpAddr::V6(v6.header().source_addr()),
                IpAddr::V6(v6.header().destination_addr()),
                v6.payload(),
            ),
            _ => {
                emit.report
                    .note("packets that are not IP (ARP, ...) ignored");
                return;
            }
        };
        let tcp = match &p.transport {
            Some(TransportSlice::Tcp(t)) => t.clone(),
            Some(_) => {
                emit.report
                    .note("packets that are not TCP (UDP, ICMP, ...) ignored");
                return;
            }
            None if payload.fragmented => {
                emit.report
                    .problem("IP fragments (not reassembled; their bytes become gaps)");
                return;
            }
            None => {
                emit.report
                    .problem("TCP packets cut inside their header (ignored)");
                return;
            }
        };
        let cut = if payload.incomplete { cut } else { 0 };
        let a = (src, tcp.source_port());
        let b = (dst, tcp.destination_port());
        let k = key(a, b);
        let data = tcp.payload();
        let syn_only = tcp.syn() && !tcp.ack();
        // A new SYN on a key still open is a new connection (port reuse).
        if syn_only {
            if let Some((_, c)) = self.open.get(&k) {
                if c.up.offset() > 0 || c.down.offset() > 0 || c.fin.0 || c.fin.1 {
                    if let Some((_, old)) = self.open.remove(&k) {
                        old.finish(emit);
                    }
                }
            }
        }
        if syn_only {
            self.closed.remove(&k);
        }
        if !self.open.contains_key(&k) {
            if self.closed.contains(&k) {
                if !data.is_empty() {
                    emit.report
                        .note("packets after their connection ended (retransmissions) ignored");
                }
                return;
            }
            if data.is_empty() && cut == 0 && !tcp.syn() {
                // A stray ACK, FIN or RST of a connection not seen opening.
                return;
            }
            let client_is_a = if tcp.syn() {
                !tcp.ack()
            } else if crate::capture::http1::looks_like_response(data) {
                false
            } else if crate::capture::http1::looks_like_request(data) || data.first() == Some(&0x16)
            {
                true
            } else {
                a.1 > b.1
            };
            let (client, server) = if client_is_a { (a, b) } else { (b, a) };
            self.next_conn += 1;
            emit.report.read += 1;
            let conn = Conn::new(self.next_conn, addr(client), addr(server), ts, self.packets);
            self.open.insert(k, (client, conn));
            if self.open.len() > MAX_OPEN_CONNECTIONS {
                self.evict(emit);
            }
        }
        let Some((client, c)) = self.open.get_mut(&k) else {
            return;
        };
        let up = a == *client;
        if tcp.syn() {
            if up {
                c.syn(ts);
                c.up.syn(tcp.sequence_number());
            } else {
                c.syn_ack(ts);
                c.down.syn(tcp.sequence_number());
            }
        }
        let seq = tcp.sequence_number().wrapping_add(u32::from(tcp.syn()));
        if !data.is_empty() || cut > 0 {
            c.segment(up, seq, data, cut, ts, self.packets, emit);
        } else {
            c.last_ts = ts;
        }
        if tcp.fin() {
            let len = data.len() as u64 + cut;
            if up {
                c.up.fin(seq, len);
                c.fin.0 = true;
            } else {
                c.down.fin(seq, len);
                c.fin.1 = true;
            }
        }
        if tcp.rst() {
            c.reset = true;
        }
        if c.reset || (c.fin.0 && c.fin.1) {
            if let Some((_, c)) = self.open.remove(&k) {
                c.finish(emit);
            }
            if self.closed.len() >= MAX_OPEN_CONNECTIONS * 4 {
                self.closed.clear();
            }
            self.closed.insert(k);
        }
    }

    /// Ends the least recently active tenth of the open connections.
    fn evict(&mut self, emit: &mut Emit<'_, '_>) {
        let mut by_age: Vec<(i64, Key)> = self
            .open
            .iter()
            .map(|(k, (_, c))| (c.last_ts, *k))
            .collect();
        by_age.sort_unstable();
        for (_, k) in by_age.into_iter().take(MAX_OPEN_CONNECTIONS / 10) {
            if let Some((_, c)) = self.open.remove(&k) {
                emit.report.problem(format!(
                    "connections ended early: over {MAX_OPEN_CONNECTIONS} open at once (the least recently active)"
                ));
                c.finish(emit);
            }
        }
    }

    /// The capture ended: every open connection ends here, oldest first.
    fn finish_all(&mut self, emit: &mut Emit<'_, '_>) {
        let mut conns: Vec<Conn> = self.open.drain().map(|(_, (_, c))| c).collect();
        conns.sort_by_key(|c| c.id);
        for c in conns {
            c.finish(emit);
        }
    }
}
