//! Internet checksum: RFC 1071 one's-complement sum, RFC 1624 incremental update and the
//! IPv4/IPv6 pseudo-header sums.
//!
//! All sums here are *folded, uncomplemented* 16-bit one's-complement sums; the checksum
//! written on the wire is the complement of the sum over the covered bytes.

/// Folds a wide accumulator of 16-bit (or 32-bit) big-endian words into 16 bits with
/// end-around carry.
#[inline(always)]
pub fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// One's-complement sum of `data` as big-endian 16-bit words, an odd last byte padded with
/// zero (RFC 1071 §4.1). Summing 32-bit words and folding gives the same result as
/// summing 16-bit words (RFC 1071 §2(B), byte-order and word-size independence).
pub fn ones_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for w in &mut rest {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [b] = rest.remainder() {
        acc += u64::from(*b) << 8;
    }
    fold(acc)
}

/// One's-complement addition of two folded sums.
#[inline(always)]
pub fn add(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// The checksum to write for data whose one's-complement sum is `sum`.
#[inline(always)]
pub fn finish(sum: u16) -> u16 {
    !sum
}

/// RFC 1071 checksum of `data` (complemented sum).
pub fn checksum(data: &[u8]) -> u16 {
    !ones_sum(data)
}

/// RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`, where `m` is the one's-complement sum of
/// the old covered fields and `m'` that of their new values. Unlike eqn. 2 this never
/// turns a valid checksum into the "negative zero" pitfall described in RFC 1624 §3.
#[inline(always)]
pub fn update(hc: u16, old_sum: u16, new_sum: u16) -> u16 {
    !add(add(!hc, !old_sum), new_sum)
}

use super::ip::IpProtocol;

/// Sum of a 4-byte IPv4 address.
#[inline(always)]
pub fn sum_v4_addr(a: [u8; 4]) -> u16 {
    add(
        u16::from_be_bytes([a[0], a[1]]),
        u16::from_be_bytes([a[2], a[3]]),
    )
}

/// Sum of a 16-byte IPv6 address.
#[inline(always)]
pub fn sum_v6_addr(a: [u8; 16]) -> u16 {
    let hi = u64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
    let lo = u64::from_be_bytes([a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]);
    // Split into 32-bit halves so the u64 accumulator cannot overflow.
    fold((hi >> 32) + (hi & 0xffff_ffff) + (lo >> 32) + (lo & 0xffff_ffff))
}

/// Sum of the IPv4 pseudo-header (RFC 768/793): source, destination, zero+protocol,
/// upper-layer length.
pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: IpProtocol, len: u16) -> u16 {
    add(
        add(sum_v4_addr(src), sum_v4_addr(dst)),
        add(u16::from(proto.0), len),
    )
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit
/// upper-layer length, zero+next header.
pub fn pseudo_v6(src: [u8; 16], dst: [u8; 16], next_header: IpProtocol, len: u32) -> u16 {
    let l = add((len >> 16) as u16, len as u16);
    add(
        add(sum_v6_addr(src), sum_v6_addr(dst)),
        add(u16::from(next_header.0), l),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 1071 §3 numerical example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
    #[test]
    fn rfc1071_s3_example() {
        assert_eq!(
            ones_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    // RFC 1071 §4.1: an odd trailing byte is padded with zero on the right.
    #[test]
    fn rfc1071_odd_length() {
        assert_eq!(ones_sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(ones_sum(&[]), 0);
    }

    // A classic IPv4 header (from the RFC 791 layout) whose checksum is known to be b861.
    #[test]
    fn rfc1071_ipv4_header() {
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        let mut h2 = h;
        h2[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(ones_sum(&h2), 0xffff);
    }

    // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 changed to m' = 0x3285 gives HC' = 0x0000.
    #[test]
    fn rfc1624_s4_example() {
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    // Incremental update equals a full recomputation for arbitrary field changes.
    #[test]
    fn rfc1624_matches_recompute() {
        let mut data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        let hc = checksum(&data);
        let old = u16::from_be_bytes([data[10], data[11]]);
        data[10] = 0xab;
        data[11] = 0xcd;
        let new = 0xabcd;
        let inc = update(hc, old, new);
        let full = checksum(&data);
        // 0x0000 and 0xffff are the same one's-complement value.
        assert!(
            inc == full || (inc ^ full) == 0xffff,
            "{inc:04x} {full:04x}"
        );
    }

    #[test]
    fn pseudo_headers() {
        // Sum of 192.0.2.1 + 198.51.100.2 + 17 + 8, computed by hand.
        let s = pseudo_v4([192, 0, 2, 1], [198, 51, 100, 2], IpProtocol(17), 8);
        let manual = ones_sum(&[192, 0, 2, 1, 198, 51, 100, 2, 0, 17, 0, 8]);
        assert_eq!(s, manual);
        let a: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let b: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let mut ph = Vec::new();
        ph.extend_from_slice(&a);
        ph.extend_from_slice(&b);
        ph.extend_from_slice(&70000u32.to_be_bytes());
        ph.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(pseudo_v6(a, b, IpProtocol(58), 70000), ones_sum(&ph));
        assert_eq!(sum_v6_addr([0xff; 16]), 0xffff);
    }
}
