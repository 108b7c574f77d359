//! RFC 7915 §4.4/§5.4 with RFC 1812 §4.3.2.7 and RFC 4443 §2.4(e): when the translator
//! must not generate an ICMP error.

use super::*;
use crate::xlat::DropReason as R;

// No error about an ICMP error (TTL expiring on an ICMPv4 error).
#[test]
fn no_error_about_icmp_error() {
    let inner = udp4(CLIENT4, SERVER4, 61, b"quoted");
    let mut p = icmp4_raw(SERVER4, CLIENT4, 3, 3, [0; 4], &inner);
    p[8] = 1;
    fix_v4_checksum(&mut p);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv4TtlExceeded));
    assert!(r.frames.is_empty());
    let mut q = icmp6_raw(
        CLIENT6,
        SERVER6,
        1,
        4,
        [0; 4],
        &udp6(SERVER6, CLIENT6, 9, b"x"),
    );
    q[7] = 1;
    let r = run(&q);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv6HopLimitExceeded));
    assert!(r.frames.is_empty());
}

// No error about a non-first fragment; a first fragment does get one.
#[test]
fn no_error_about_non_first_fragment() {
    let mut p = udp4(SERVER4, CLIENT4, 1, &[0; 64]);
    set_v4_frag(&mut p, 9, false, false, 20);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv4TtlExceeded));
    assert!(r.frames.is_empty());
    set_v4_frag(&mut p, 9, false, true, 0);
    assert_eq!(run(&p).frames.len(), 1);
    let base = udp6(CLIENT6, SERVER6, 1, &[0; 64]);
    let q = insert_ext(&base, 44, &[17, 0, 0, 0xa1, 0, 0, 0, 9]);
    let r = run(&q);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv6HopLimitExceeded));
    assert!(r.frames.is_empty());
}
