//! SyncToken fields, .NET ticks and Microsoft's QuickXorHash.

use super::url::normalise_guid;
use super::SyncTokenInfo;
use crate::decode::text::percent_decode;

/// Read the fields of a SyncToken (percent-encoded or not); `None` when it has no GUID
/// field followed by two numbers.
pub fn parse_sync_token(token: &str) -> Option<SyncTokenInfo> {
    let decoded = percent_decode(token);
    let fields: Vec<&str> = decoded.split(';').map(str::trim).collect();
    let at = fields.iter().position(|f| normalise_guid(f).is_some())?;
    let ticks = fields.get(at + 1).and_then(|f| f.parse::<u64>().ok());
    let change_number = fields.get(at + 2).and_then(|f| f.parse::<u64>().ok());
    ticks.or(change_number)?;
    Some(SyncTokenInfo {
        list_guid: normalise_guid(fields[at]),
        ticks,
        time: ticks.and_then(dotnet_ticks_to_iso),
        change_number,
    })
}

/// .NET ticks (100 ns since 0001-01-01T00:00:00Z) as `YYYY-MM-DDTHH:MM:SS.fffffffZ`.
pub fn dotnet_ticks_to_iso(ticks: u64) -> Option<String> {
    crate::util::ticks_to_iso7(i128::from(ticks), crate::util::DOTNET_UNIX_OFFSET)
}

/// Microsoft's QuickXorHash of `data`, base64 (the `XORHash` of `DocumentStream`): a
/// 160-bit circular state where byte *i* is XORed in at bit `11 * i mod 160`, then the
/// 64-bit little-endian length XORed into the last 8 bytes.
pub fn quick_xor_hash(data: &[u8]) -> String {
    use base64::Engine as _;
    let mut state = [0u8; 20];
    let mut bit = 0usize;
    for &b in data {
        let v = u16::from(b) << (bit % 8);
        let at = bit / 8;
        state[at] ^= v.to_le_bytes()[0];
        state[(at + 1) % 20] ^= v.to_le_bytes()[1];
        bit = (bit + 11) % 160;
    }
    let len = u64::try_from(data.len()).unwrap_or(u64::MAX).to_le_bytes();
    for (s, l) in state[12..].iter_mut().zip(len) {
        *s ^= l;
    }
    base64::engine::general_purpose::STANDARD.encode(state)
}
