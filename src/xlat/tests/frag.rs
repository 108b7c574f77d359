//! Fragmentation limits (RFC 7915 §4.1 lowest-ipv6-mtu; RFC 791 13-bit offsets).

use super::*;
use crate::xlat::DropReason as R;

// A configured lowest-ipv6-mtu above 1280 is honoured.
#[test]
fn rfc7915_s4_1_lowest_ipv6_mtu_configurable() {
    let t = translator_with(|c| c.lowest_ipv6_mtu = 1400);
    let mut p = udp4(SERVER4, CLIENT4, 64, &[0u8; 1472]);
    set_v4_frag(&mut p, 1, false, false, 0);
    let r = run_with(&t, &p);
    assert_eq!(r.verdict, Verdict::V4ToV6);
    assert_eq!(r.frames[0].len(), 48 + 1352);
    assert!(r.frames.iter().all(|f| f.len() <= 1400));
}

// A fragment whose pieces would pass the 13-bit offset field is dropped, not wrapped.
#[test]
fn fragment_offset_overflow_dropped() {
    let mut p = udp4(SERVER4, CLIENT4, 64, &[0u8; 1472]);
    set_v4_frag(&mut p, 1, false, false, 8100);
    assert_eq!(run(&p).verdict, Verdict::Drop(R::FragmentOverflow));
}

// A fragment that fits gets a Fragment header without being split.
#[test]
fn rfc7915_s4_1_small_fragment_single_frame() {
    let mut p = udp4(SERVER4, CLIENT4, 64, &[0u8; 100]);
    set_v4_frag(&mut p, 0x55, true, false, 40);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::V4ToV6);
    assert_eq!(r.zero_copy, vec![true]);
    assert_eq!(r.frames[0].len(), 48 + 108);
}
