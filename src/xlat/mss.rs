//! TCP MSS clamping on SYN and SYN-ACK segments.
//!
//! Translation changes the IP header size, so an MSS chosen for one side's MTU can make
//! full-sized segments too big for the other side. Lowering the MSS option (RFC 9293
//! §3.7.1) during the handshake avoids relying on Path MTU Discovery through the
//! translator, which breaks wherever ICMP is filtered.
//!
//! Packets with a partial checksum (NEEDS_CSUM offload) need no special case here: the
//! offload path rewrites their checksum field from the original pseudo-header sum after
//! translation, and the kernel sums the (clamped) header when it completes it.

use crate::wire::tcp::{TcpPacket, flags, option};
use crate::wire::{be16, checksum, put16};

/// Lowers the MSS option of a SYN segment in `tcp` (the whole TCP header at least) to
/// `max_mss` and updates the checksum incrementally (RFC 1624 eqn. 3). Malformed
/// options end the walk silently: the segment is forwarded as it is.
#[inline]
pub(super) fn clamp(tcp: &mut [u8], max_mss: u16) {
    let Ok(mut seg) = TcpPacket::new_checked(tcp) else {
        return;
    };
    if seg.flags() & flags::SYN == 0 {
        return;
    }
    let Some(at) = mss_value_offset(seg.options()) else {
        return;
    };
    let opts = seg.options_mut();
    let old = be16(opts, at);
    if old <= max_mss {
        return;
    }
    put16(opts, at, max_mss);
    // The checksum sums 16-bit words from the start of the TCP header (whose length is
    // even); a value at an odd offset straddles two words and contributes its bytes
    // swapped.
    let (o, n) = if at % 2 == 0 {
        (old, max_mss)
    } else {
        (old.swap_bytes(), max_mss.swap_bytes())
    };
    seg.set_checksum(checksum::update(seg.checksum(), o, n));
}

/// Offset in `opts` (the TCP options) of the 2-byte MSS value (RFC 9293 §3.2: kind 2,
/// length 4), if they hold a well-formed one.
fn mss_value_offset(opts: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            option::END => return None,
            option::NOP => i += 1,
            _ => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 || i + len > opts.len() {
                    return None;
                }
                if kind == option::MSS && len == usize::from(option::MSS_LEN) {
                    return Some(i + 2);
                }
                i += len;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYN: u8 = flags::SYN;

    fn syn(opts: &[u8], flags: u8) -> Vec<u8> {
        let doff = (20 + opts.len()) / 4;
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[12] = (doff as u8) << 4;
        t[13] = flags;
        t.extend_from_slice(opts);
        // Any starting checksum: the test checks the change, not the value.
        let cs = checksum::checksum(&t);
        t[16..18].copy_from_slice(&cs.to_be_bytes());
        t
    }

    fn sum_ok(before: &[u8], after: &[u8]) -> bool {
        // The checksum over the header alone (no pseudo-header) stays valid after an
        // incremental update iff it was valid before.
        checksum::ones_sum(before) == 0xffff && checksum::ones_sum(after) == 0xffff
    }

    // RFC 9293 §3.2 MSS option (kind 2, length 4) at an even offset.
    #[test]
    fn rfc9293_mss_lowered_even_offset() {
        let t0 = syn(&[2, 4, 0x05, 0xb4, 1, 1, 4, 2], SYN);
        let mut t = t0.clone();
        clamp(&mut t, 1460 - 20);
        assert_eq!(&t[22..24], &1440u16.to_be_bytes());
        assert!(sum_ok(&t0, &t));
    }

    // Behind one NOP the value sits at an odd offset: the update must swap bytes.
    #[test]
    fn rfc1624_mss_lowered_odd_offset() {
        let t0 = syn(&[1, 2, 4, 0x23, 0x28, 1, 1, 0], SYN | 0x10);
        let mut t = t0.clone();
        clamp(&mut t, 1220);
        assert_eq!(&t[23..25], &1220u16.to_be_bytes());
        assert!(sum_ok(&t0, &t));
    }

    #[test]
    fn mss_untouched_when_small_or_not_syn() {
        let t0 = syn(&[2, 4, 0x02, 0x18, 0, 0, 0, 0], SYN);
        let mut t = t0.clone();
        clamp(&mut t, 1440);
        assert_eq!(t, t0);
        let t0 = syn(&[2, 4, 0x05, 0xb4, 0, 0, 0, 0], 0x10);
        let mut t = t0.clone();
        clamp(&mut t, 1000);
        assert_eq!(t, t0);
    }

    #[test]
    fn malformed_options_never_panic() {
        for opts in [
            &[2u8, 4, 0x05][..],
            &[2, 0, 0, 0],
            &[3, 1, 0, 0],
            &[5, 40, 0, 0],
            &[1, 1, 1, 2],
            &[0, 2, 4, 5, 0xb4],
        ] {
            let mut t = syn(opts, SYN);
            clamp(&mut t, 100);
        }
        // Data offset past the bytes, and below 5.
        let mut t = syn(&[2, 4, 0x05, 0xb4], SYN);
        t[12] = 0xf0;
        clamp(&mut t, 100);
        t[12] = 0x10;
        clamp(&mut t, 100);
        clamp(&mut [0u8; 14][..], 100);
    }
}
