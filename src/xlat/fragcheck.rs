//! Fuzzing support for NAT64 reassembly (test and fuzzing builds only): turns fuzz bytes
//! into a sequence of fragments (any order, overlaps, duplicates, bad lengths, stray
//! bytes) and checks what [`Reassembly`] makes of them: never a panic, never more held
//! than its slots, every rebuilt datagram a valid packet of the length its fragments
//! announced, and nothing left once the timeout has passed.

use super::reassembly::{Limits, Outcome, Reassembly};
use super::selfcheck::check_lengths;
use crate::wire::buf::PacketBuf;

const SLOTS: usize = 32;

/// One fragment taken from the fuzz input: `[kind, off_hi, off_lo, len_hi, len_lo,
/// flags, id, ...]`; kind selects IPv4 or IPv6 and a source, the rest its fields.
fn fragment(op: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let [kind, oh, ol, lh, ll, flags, id, ..] = *op else {
        return None;
    };
    let off = usize::from(u16::from_be_bytes([oh, ol]) & 0x1fff);
    let len = usize::from(u16::from_be_bytes([lh, ll])) % 1500;
    let more = flags & 1 != 0;
    let payload: Vec<u8> = (0..len)
        .map(|i| data.get(i % data.len().max(1)).copied().unwrap_or(0))
        .collect();
    if kind & 1 == 0 {
        let mut p = vec![
            0x45,
            0,
            0,
            0,
            0,
            id,
            0,
            0,
            64,
            17,
            0,
            0,
            198,
            51,
            100,
            kind >> 4,
            203,
            0,
            113,
            10,
        ];
        let fo = (u16::from(more) << 13) | off as u16;
        p[6..8].copy_from_slice(&fo.to_be_bytes());
        p.extend_from_slice(&payload);
        let total = (p.len() as u16).to_be_bytes();
        p[2..4].copy_from_slice(&total);
        let c = !crate::wire::checksum::ones_sum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        Some(p)
    } else {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, 44, 64];
        p.extend_from_slice(&[
            0x20,
            1,
            0x0d,
            0xb8,
            0,
            kind >> 4,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            1,
        ]);
        p.extend_from_slice(&[0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 198, 51, 100, 7]);
        let om = ((off as u16) << 3) | u16::from(more);
        p.extend_from_slice(&[17, 0]);
        p.extend_from_slice(&om.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, id]);
        p.extend_from_slice(&payload);
        let plen = ((p.len() - 40) as u16).to_be_bytes();
        p[4..6].copy_from_slice(&plen);
        Some(p)
    }
}

/// Fuzz entry: the input is a list of 7-byte fragment descriptions followed by payload
/// bytes; descriptions with their top kind bit set are fed as raw bytes instead.
/// Returns how many datagrams were rebuilt.
pub fn fuzz_reassembly(input: &[u8]) -> usize {
    let limits = Limits {
        slots: SLOTS,
        slot_len: 1500,
        timeout_ms: 2000,
        subscriber_prefix_len: 64,
    };
    let mut r = Reassembly::new(limits);
    let split = input.len().min(7 * 64) / 7 * 7;
    let (ops, data) = input.split_at(split);
    let (mut now, mut rebuilt) = (0u64, 0);
    for op in ops.chunks(7) {
        let bytes = if op[0] & 0x80 != 0 {
            data.get(..usize::from(op[1]).min(data.len()))
                .map(<[u8]>::to_vec)
        } else {
            fragment(op, data)
        };
        let Some(bytes) = bytes else { continue };
        let mut pkt = PacketBuf::from_packet(&bytes);
        if let Outcome::Complete = r.push(&mut pkt, now) {
            check_lengths(pkt.data()).unwrap_or_else(|e| panic!("rebuilt datagram: {e}"));
            rebuilt += 1;
        }
        assert!(r.held() <= SLOTS, "held {} > {SLOTS}", r.held());
        now += u64::from(op[6] & 0x0f) * 100;
        r.expire(now);
    }
    r.expire(now + 2000);
    assert_eq!(r.held(), 0, "fragments left after the timeout");
    rebuilt
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fuzz seeds each rebuild their datagram, so the fuzzer starts from inputs
    /// that reach the assembly code.
    #[test]
    fn seeds_rebuild_a_datagram() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/frag");
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            assert_eq!(fuzz_reassembly(&input), 1, "{}", path.display());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The fuzz entry on random inputs (the libFuzzer target runs it further).
        #[test]
        fn reassembly_survives_any_fragment_sequence(input in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = fuzz_reassembly(&input);
        }
    }
}
