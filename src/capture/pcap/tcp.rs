//! TCP reassembly for one direction of one connection: segments in, the byte stream out.
//!
//! Sequence numbers are compared modulo 2^32 (RFC 9293 section 3.4) against the next
//! byte expected. A segment at that byte is delivered at once, followed by any buffered
//! segments it makes contiguous; an old segment (a retransmission) is trimmed to what is
//! new, or counted and dropped when nothing is; a segment from the future is buffered.
//! Buffering is bounded: past [`Reassembler::new`]'s limit the missing bytes are given
//! up on and delivered as a [`Piece::Gap`], as they are at the end of the connection.
//! Bytes a snap length cut off a packet are gaps too.

use std::collections::BTreeMap;

/// What the stream delivers, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Bytes of the stream.
    Data(&'a [u8]),
    /// This many bytes of the stream are missing from the capture.
    Gap(u64),
}

/// Counters for the import report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments that carried only bytes already delivered.
    pub retransmissions: u64,
    /// Segments that arrived before bytes preceding them.
    pub out_of_order: u64,
    /// Gaps delivered, and the bytes they stood for.
    pub gaps: u64,
    /// Bytes missing from the capture.
    pub gap_bytes: u64,
}

/// One direction's reassembly state.
#[derive(Debug)]
pub struct Reassembler {
    /// The sequence number of the next byte expected, once known.
    next: Option<u32>,
    /// Bytes delivered (or given up as gaps) so far: the stream offset of `next`.
    offset: u64,
    /// Segments from the future, by stream offset: (captured bytes, bytes they stand for).
    pending: BTreeMap<u64, (Vec<u8>, u64)>,
    pending_bytes: usize,
    limit: usize,
    /// Stream offset of the FIN, once seen.
    fin: Option<u64>,
    /// Counters.
    pub stats: TcpStats,
}

impl Reassembler {
    /// A reassembler buffering at most `limit` bytes of out-of-order segments.
    pub fn new(limit: usize) -> Self {
        Self {
            next: None,
            offset: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            limit,
            fin: None,
            stats: TcpStats::default(),
        }
    }

    /// A SYN with sequence number `seq`: the stream's first byte is `seq + 1`.
    pub fn syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some(seq.wrapping_add(1));
        }
    }

    /// Whether the stream has delivered anything or knows where it starts.
    pub fn started(&self) -> bool {
        self.next.is_some()
    }

    /// Bytes delivered or given up so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// A FIN at sequence number `seq` (after `len` bytes of data in the same segment).
    pub fn fin(&mut self, seq: u32, len: u64) {
        let Some(next) = self.next else {
            return;
        };
        let diff = i64::from(seq.wrapping_sub(next) as i32);
        let at = self.offset as i64 + diff + len as i64;
        if at >= self.offset as i64 && self.fin.is_none() {
            self.fin = Some(at as u64);
        }
    }

    /// A segment: `seq`, the captured payload, and how many more payload bytes the
    /// packet had beyond what was captured (snap length). Delivers what became
    /// contiguous to `out`.
    pub fn segment(&mut self, seq: u32, data: &[u8], cut: u64, out: &mut dyn FnMut(Piece<'_>)) {
        let full = data.len() as u64 + cut;
        if full == 0 {
            return;
        }
        let next = *self.next.get_or_insert(seq);
        let diff = i64::from(seq.wrapping_sub(next) as i32);
        if diff < 0 {
            let skip = diff.unsigned_abs();
            if skip >= full {
                self.stats.retransmissions += 1;
                return;
            }
            // Overlap: deliver only what is new.
            let skip_data = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
            let rest_cut = cut - (skip - skip_data as u64).min(cut);
            self.deliver(&data[skip_data..], rest_cut, out);
            self.drain(out);
            return;
        }
        if diff == 0 {
            self.deliver(data, cut, out);
            self.drain(out);
            return;
        }
        self.stats.out_of_order += 1;
        let at = self.offset + diff as u64;
        while self.pending_bytes + data.len() > self.limit && !self.pending.is_empty() {
            self.give_up_first(out);
        }
        if self.pending_bytes + data.len() > self.limit {
            // Even alone it does not fit: what precedes it is lost.
            self.gap(at - self.offset, out);
            self.deliver(data, cut, out);
            self.drain(out);
            return;
        }
        self.pending_bytes += data.len();
        self.pending
            .entry(at)
            .and_modify(|e| {
                if full > e.1 {
                    *e = (data.to_vec(), full);
                }
            })
            .or_insert_with(|| (data.to_vec(), full));
    }

    /// The connection is over: buffered segments are delivered with gaps for what never
    /// came, and a gap up to the FIN if bytes before it are missing.
    pub fn finish(&mut self, out: &mut dyn FnMut(Piece<'_>)) {
        while !self.pending.is_empty() {
            self.give_up_first(out);
        }
        if let Some(fin) = self.fin {
            if fin > self.offset {
                let n = fin - self.offset;
                self.gap(n, out);
            }
        }
    }

    fn deliver(&mut self, data: &[u8], cut: u64, out: &mut dyn FnMut(Piece<'_>)) {
        if !data.is_empty() {
            out(Piece::Data(data));
        }
        self.advance(data.len() as u64);
        if cut > 0 {
            self.gap(cut, out);
        }
    }

    fn gap(&mut self, n: u64, out: &mut dyn FnMut(Piece<'_>)) {
        if n == 0 {
            return;
        }
        self.stats.gaps += 1;
        self.stats.gap_bytes += n;
        out(Piece::Gap(n));
        self.advance(n);
    }

    fn advance(&mut self, n: u64) {
        self.offset += n;
        if let Some(next) = self.next.as_mut() {
            *next = next.wrapping_add(n as u32);
        }
    }

    /// Delivers buffered segments that start at or before the stream's offset.
    fn drain(&mut self, out: &mut dyn FnMut(Piece<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let at = *entry.key();
            if at > self.offset {
                break;
            }
            let (data, full) = entry.remove();
            self.pending_bytes -= data.len();
            let skip = self.offset - at;
            if skip >= full {
                self.stats.retransmissions += 1;
                continue;
            }
            let cut = full - data.len() as u64;
            let skip_data = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
            let rest_cut = cut - (skip - skip_data as u64).min(cut);
            self.deliver(&data[skip_data..], rest_cut, out);
        }
    }

    /// Gives up waiting for the bytes before the first buffered segment.
    fn give_up_first(&mut self, out: &mut dyn FnMut(Piece<'_>)) {
        if let Some((&at, _)) = self.pending.first_key_value() {
            if at > self.offset {
                self.gap(at - self.offset, out);
            }
            self.drain(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(segments: &[(u32, &[u8])], limit: usize) -> (Vec<String>, TcpStats) {
        let mut r = Reassembler::new(limit);
        r.syn(999);
        let mut got = Vec::new();
        for (seq, data) in segments {
            r.segment(*seq, data, 0, &mut |p| got.push(show(&p)));
        }
        r.finish(&mut |p| got.push(show(&p)));
        (got, r.stats)
    }

    fn show(p: &Piece<'_>) -> String {
        match p {
            Piece::Data(d) => String::from_utf8_lossy(d).into_owned(),
            Piece::Gap(n) => format!("<gap {n}>"),
        }
    }

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let (got, stats) = run(
            &[
                (1000, b"abc"),
                (1006, b"ghi"),
                (1003, b"def"),
                (1003, b"def"),
                (1001, b"bcdX"),
            ],
            1 << 20,
        );
        assert_eq!(got.concat(), "abcdefghi");
        assert_eq!(stats.out_of_order, 1);
        assert_eq!(stats.retransmissions, 2);
        assert_eq!(stats.gaps, 0);
    }

    #[test]
    fn overlapping_segments_deliver_only_new_bytes() {
        let (got, _) = run(&[(1000, b"abc"), (1002, b"cdef")], 1 << 20);
        assert_eq!(got, ["abc", "def"]);
    }

    #[test]
    fn a_missing_segment_becomes_a_gap_at_the_end() {
        let (got, stats) = run(&[(1000, b"abc"), (1006, b"ghi")], 1 << 20);
        assert_eq!(got, ["abc", "<gap 3>", "ghi"]);
        assert_eq!((stats.gaps, stats.gap_bytes), (1, 3));
    }

    #[test]
    fn the_buffer_limit_gives_up_on_missing_bytes() {
        let (got, _) = run(
            &[(1000, b"a"), (1002, b"cc"), (1005, b"ee"), (1001, b"b")],
            3,
        );
        assert_eq!(got, ["a", "<gap 1>", "cc", "<gap 1>", "ee"]);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = Reassembler::new(1 << 20);
        r.syn(u32::MAX - 1);
        let mut got = Vec::new();
        r.segment(u32::MAX, b"ab", 0, &mut |p| got.push(show(&p)));
        r.segment(1, b"cd", 0, &mut |p| got.push(show(&p)));
        assert_eq!(got.concat(), "abcd");
    }

    #[test]
    fn snap_length_cuts_and_a_missing_tail_before_fin_are_gaps() {
        let mut r = Reassembler::new(1 << 20);
        r.syn(0);
        let mut got = Vec::new();
        r.segment(1, b"ab", 3, &mut |p| got.push(show(&p)));
        r.segment(6, b"f", 0, &mut |p| got.push(show(&p)));
        r.fin(10, 0);
        r.finish(&mut |p| got.push(show(&p)));
        assert_eq!(got, ["ab", "<gap 3>", "f", "<gap 3>"]);
    }
}
