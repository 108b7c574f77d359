//! RFC 4884 multi-part ICMP errors through the translator, both directions and both
//! modes. Golden packets are built from the RFC figures: RFC 4884 §4 (the length
//! attribute is the sixth octet of ICMPv4 Destination Unreachable, Time Exceeded and
//! Parameter Problem, in 32-bit words, and the fifth octet of ICMPv6 Destination
//! Unreachable and Time Exceeded, in 64-bit words), §7 (extension header: version 2,
//! reserved, checksum over the structure) and §8 (object header: Length, Class-Num,
//! C-Type); RFC 4950 §7 (MPLS Label Stack object) and RFC 5837 §4 (Interface
//! Information object).

use super::*;
use crate::wire::icmpext::ExtensionStructure;
use crate::xlat::DropReason as R;

/// An IPv4 router on the path to the server; 2001:db8:64::c633:6401 through pool6.
const ROUTER4: [u8; 4] = [198, 51, 100, 1];
/// An IPv6 router with no IPv4 mapping: its errors come from the translator's address.
const ROUTER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
];

/// RFC 4884 §7: Version 2, Reserved 0, then the Checksum, "the one's complement of the
/// one's complement sum of the data structure, with the checksum field replaced by zero
/// for the purpose of computing the checksum"; then the objects.
fn extension(objects: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![0x20, 0, 0, 0];
    for o in objects {
        v.extend_from_slice(o);
    }
    with_checksum(v)
}

/// `ext` with its RFC 4884 §7 checksum computed again.
fn with_checksum(mut ext: Vec<u8>) -> Vec<u8> {
    ext[2..4].fill(0);
    let c = checksum::checksum(&ext);
    ext[2..4].copy_from_slice(&c.to_be_bytes());
    ext
}

/// RFC 4884 §8 object header (Length counts the header) in front of `payload`.
fn object(class_num: u8, c_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 4) as u16).to_be_bytes().to_vec();
    v.extend_from_slice(&[class_num, c_type]);
    v.extend_from_slice(payload);
    v
}

/// RFC 4950 §7: MPLS Label Stack Class (Class-Num 1), Incoming MPLS Label Stack (C-Type
/// 1); each entry is Label (20 bits), Exp (3), S (1, bottom of stack) and TTL (8).
fn mpls_object(labels: &[u32]) -> Vec<u8> {
    let mut p = Vec::new();
    for (i, &label) in labels.iter().enumerate() {
        let bottom = u32::from(i + 1 == labels.len());
        p.extend_from_slice(&((label << 12) | (bottom << 8) | 1).to_be_bytes());
    }
    object(1, 1, &p)
}

/// RFC 5837 §4.1: Interface Information Object (Class-Num 2) for the incoming IP
/// interface (Interface Role 0) with the ifIndex, IPAddr, name and MTU bits set (C-Type
/// 0b0000_1111), its fields in that order: ifIndex, §4.2 IP Address Sub-Object (AFI 2:
/// IPv6), §4.3 Interface Name Sub-Object (Length octet, name, zero padding to a multiple
/// of 4), MTU.
fn interface_object() -> Vec<u8> {
    let mut p = 7u32.to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 2, 0, 0]);
    p.extend_from_slice(&ROUTER6);
    p.extend_from_slice(&[8, b'e', b't', b'h', b'0', 0, 0, 0]);
    p.extend_from_slice(&1500u32.to_be_bytes());
    object(2, 0b0000_1111, &p)
}

/// The UDP datagram (ports 53 → 40000, `n` payload bytes) the IPv6 client sends to the
/// server, and its IPv4 form as the IPv4 side sees it (TTL = hop limit).
fn client_udp(hop: u8, n: usize) -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
    let mut v6 = Vec::new();
    PacketBuilder::ipv6(CLIENT6, SERVER6, hop)
        .udp(53, 40000)
        .write(&mut v6, &payload)
        .unwrap();
    let mut v4 = Vec::new();
    PacketBuilder::ipv4(CLIENT4, SERVER4, hop)
        .udp(53, 40000)
        .write(&mut v4, &payload)
        .unwrap();
    (v6, v4)
}

/// The UDP datagram (ports 40000 → 53, `n` payload bytes) the server sends to the
/// client, as the IPv6 side sees it, and as the server sent it.
fn server_udp(hop: u8, n: usize) -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
    let mut v6 = Vec::new();
    PacketBuilder::ipv6(SERVER6, CLIENT6, hop)
        .udp(40000, 53)
        .write(&mut v6, &payload)
        .unwrap();
    let mut v4 = Vec::new();
    PacketBuilder::ipv4(SERVER4, CLIENT4, hop)
        .udp(40000, 53)
        .write(&mut v4, &payload)
        .unwrap();
    (v6, v4)
}

/// An ICMPv4 error from ROUTER4 to the client whose sixth octet (RFC 4884 §4) is
/// `length` and whose body is `original` then `ext`.
fn v4_error(ty: u8, code: u8, rest: [u8; 4], length: u8, original: &[u8], ext: &[u8]) -> Vec<u8> {
    let rest = [rest[0], length, rest[2], rest[3]];
    icmp4_raw(ROUTER4, CLIENT4, ty, code, rest, &[original, ext].concat())
}

/// An ICMPv6 error from ROUTER6 to the server's IPv6 address whose fifth octet (RFC 4884
/// §4) is `length` and whose body is `original` then `ext`.
fn v6_error(ty: u8, code: u8, length: u8, original: &[u8], ext: &[u8]) -> Vec<u8> {
    icmp6_raw(
        ROUTER6,
        SERVER6,
        ty,
        code,
        [length, 0, 0, 0],
        &[original, ext].concat(),
    )
}

/// RFC 4443 §2.3: the ICMPv6 checksum covers the pseudo-header and the whole message,
/// extension included. (etherparse cannot check these: its error types assume the
/// "unused" word is zero, and RFC 4884 puts the length attribute there.)
fn assert_icmp6_checksum(f: &[u8]) {
    let h = parse6(f);
    let len = (f.len() - 40) as u32;
    let ph = checksum::pseudo_v6(h.source, h.destination, IpProtocol::ICMPV6, len);
    assert_eq!(checksum::add(ph, checksum::ones_sum(&f[40..])), 0xffff);
}

/// RFC 792: the ICMPv4 checksum covers the whole message, extension included.
fn assert_icmp4_checksum(f: &[u8]) {
    assert_eq!(checksum::ones_sum(&f[20..]), 0xffff);
}

/// What an RFC 4884 receiver finds in the body of a translated error whose length
/// attribute says `original` bytes: a valid extension structure, returned whole.
fn received_extension(body: &[u8], original: usize) -> &[u8] {
    let e = ExtensionStructure::new_checked(&body[original..]).unwrap();
    assert!(e.verify_checksum());
    &body[original..]
}

// RFC 4884 §4: "For ICMPv4 messages, the length attribute represents 32-bit words"; in
// ICMPv6 64-bit words, the original datagram "zero padded to the nearest 64-bit
// boundary". A Time Exceeded with an RFC 4950 MPLS label stack and a 128-byte original
// datagram (attribute 32): the quoted packet becomes the client's own 148-byte start
// (RFC 7915 §4.3), padded with 4 zeros to 152 bytes = 19 words, and the extension
// follows unchanged (RFC 4884 §7: its checksum covers only the structure).
#[test]
fn rfc4884_v4_to_v6_time_exceeded_mpls() {
    let (native6, inner4) = client_udp(1, 300);
    let ext = extension(&[&mpls_object(&[16005, 16])]);
    assert_eq!(ext.len(), 16);
    let p = v4_error(11, 0, [0; 4], 32, &inner4[..128], &ext);
    let f = one(&p, Verdict::V4ToV6);
    assert_eq!(parse6(&f).source, a6("2001:db8:64::c633:6401"));
    assert_eq!(&f[40..42], &[3, 0]);
    assert_eq!(&f[44..48], &[19, 0, 0, 0]);
    assert_eq!(f.len(), 48 + 152 + 16);
    assert_eq!(&f[48..196], &native6[..148]);
    assert_eq!(&f[196..200], &[0; 4]);
    assert_eq!(received_extension(&f[48..], 19 * 8), &ext[..]);
    assert_icmp6_checksum(&f);
}

// RFC 4884 §4: the translated original datagram (IPv4 length + 20) is zero-padded to the
// next 64-bit word, whatever the IPv4 attribute was.
#[test]
fn rfc4884_v4_to_v6_padding_per_length() {
    let (native6, inner4) = client_udp(1, 300);
    let ext = extension(&[&mpls_object(&[24001])]);
    for words in 32..=48usize {
        let original = words * 4;
        let p = v4_error(11, 0, [0; 4], words as u8, &inner4[..original], &ext);
        let f = one(&p, Verdict::V4ToV6);
        let n6 = original + 20;
        let padded = n6.next_multiple_of(8);
        assert_eq!(usize::from(f[44]) * 8, padded, "attribute {words}");
        assert_eq!(f.len(), 48 + padded + ext.len());
        assert_eq!(&f[48..48 + n6], &native6[..n6]);
        assert!(f[48 + n6..48 + padded].iter().all(|&b| b == 0));
        assert_eq!(received_extension(&f[48..], padded), &ext[..]);
        assert_icmp6_checksum(&f);
    }
}

// RFC 4884 §4: an extension may follow ICMPv4 Destination Unreachable (the attribute in
// the octet before the RFC 1191 Next-Hop MTU) and is kept in ICMPv6 Destination
// Unreachable. ICMPv6 Packet Too Big and Parameter Problem have no length attribute
// ("The ICMP Extension Structure MUST NOT be appended to any of the other ICMP
// messages"): Fragmentation Needed, Protocol Unreachable and Parameter Problem lose the
// extension and come out exactly as the same errors without one.
#[test]
fn rfc4884_v4_to_v6_types_without_length_attribute() {
    let (native6, inner4) = client_udp(1, 300);
    let ext = extension(&[&mpls_object(&[16005])]);
    let f = one(
        &v4_error(3, 3, [0; 4], 32, &inner4[..128], &ext),
        Verdict::V4ToV6,
    );
    assert_eq!(&f[40..42], &[1, 4]);
    assert_eq!(f[44], 19);
    assert_eq!(&f[48..196], &native6[..148]);
    assert_eq!(received_extension(&f[48..], 152), &ext[..]);
    assert_icmp6_checksum(&f);
    for (ty, code, rest) in [
        (3u8, 4u8, [0, 0, 0x05, 0x78]),
        (3, 2, [0; 4]),
        (12, 0, [9, 0, 0, 0]),
    ] {
        let with = one(
            &v4_error(ty, code, rest, 32, &inner4[..128], &ext),
            Verdict::V4ToV6,
        );
        let without = one(
            &v4_error(ty, code, rest, 0, &inner4[..128], &[]),
            Verdict::V4ToV6,
        );
        assert_eq!(with, without, "type {ty} code {code}");
        assert_eq!(with.len(), 48 + 148);
    }
}

// RFC 4884 §4: ICMPv6 Packet Too Big has no length attribute: its fifth octet is the
// top of the 32-bit MTU (RFC 4443 §3.2), and the whole body is the original datagram,
// whatever follows 128 bytes of it.
#[test]
fn rfc4884_v6_packet_too_big_has_no_length_attribute() {
    let (inner6, _) = server_udp(33, 300);
    let ext = extension(&[&interface_object()]);
    let body = [&inner6[..128], &ext[..]].concat();
    let mtu = (16u32 << 24) | 1400;
    let p = icmp6_raw(ROUTER6, SERVER6, 2, 0, mtu.to_be_bytes(), &body);
    let f = one(&p, Verdict::V6ToV4);
    assert_eq!(&f[20..22], &[3, 4]);
    assert_eq!(&f[24..28], &[0, 0, 0x05, 0xc8]);
    // 172 quoted bytes: the IPv6 header becomes 20 bytes, the other 132 stay.
    assert_eq!(f.len(), 28 + 20 + 132);
    assert_eq!(&f[28 + 20 + 88..], &ext[..]);
    assert_icmp4_checksum(&f);
}

// RFC 4884 §4 for ICMPv6 → ICMPv4: a Time Exceeded from an IPv6 router with an RFC 5837
// interface information object and a 128-byte original datagram (attribute 16 words).
// The quoted packet shrinks to 108 bytes, and "the 'original datagram' field MUST
// contain at least 128 octets": zero padding to 128 bytes = 32 words of 32 bits.
#[test]
fn rfc4884_v6_to_v4_time_exceeded_interface_information() {
    let (inner6, native4) = server_udp(33, 300);
    let ext = extension(&[&interface_object()]);
    assert_eq!(ext.len(), 44);
    let f = one(&v6_error(3, 0, 16, &inner6[..128], &ext), Verdict::V6ToV4);
    let h = parse4(&f);
    assert_eq!((h.source, h.destination), (XLAT4, SERVER4));
    assert_eq!(&f[20..22], &[11, 0]);
    assert_eq!(&f[24..28], &[0, 32, 0, 0]);
    assert_eq!(f.len(), 28 + 128 + 44);
    let ih = parse4(&f[28..]);
    assert_eq!((ih.source, ih.destination), (SERVER4, CLIENT4));
    assert_eq!((ih.time_to_live, ih.total_len), (33, 328));
    assert_eq!(&f[48..136], &native4[20..108]);
    assert!(f[136..156].iter().all(|&b| b == 0));
    assert_eq!(received_extension(&f[28..], 128), &ext[..]);
    assert_icmp4_checksum(&f);
    // A 256-byte original datagram (32 words of 64 bits) becomes 236 bytes: 59 words of
    // 32 bits, no padding needed.
    let f = one(&v6_error(1, 4, 32, &inner6[..256], &ext), Verdict::V6ToV4);
    assert_eq!(&f[20..22], &[3, 3]);
    assert_eq!(&f[24..28], &[0, 59, 0, 0]);
    assert_eq!(f.len(), 28 + 236 + 44);
    assert_eq!(&f[48..264], &native4[20..236]);
    assert_eq!(received_extension(&f[28..], 236), &ext[..]);
    assert_icmp4_checksum(&f);
}

// RFC 4884 §4: a length attribute that delimits the whole body or points past it leaves
// no room for an extension: the whole body is the original datagram, as with attribute
// 0 (RFC 4884 §5: zero means no extensions), and the result's attribute is 0.
#[test]
fn rfc4884_non_compliant_length_past_the_message() {
    let (_, inner4) = client_udp(1, 300);
    let ext = extension(&[&mpls_object(&[16005])]);
    let body_words = ((128 + ext.len()) / 4) as u8;
    let zero = one(
        &v4_error(11, 0, [0; 4], 0, &inner4[..128], &ext),
        Verdict::V4ToV6,
    );
    assert_eq!(zero.len(), 48 + 20 + 128 + ext.len());
    for words in [body_words, body_words + 1, 60, 255] {
        let f = one(
            &v4_error(11, 0, [0; 4], words, &inner4[..128], &ext),
            Verdict::V4ToV6,
        );
        assert_eq!(f, zero, "attribute {words}");
    }
    let (inner6, _) = server_udp(33, 300);
    let zero = one(&v6_error(3, 0, 0, &inner6[..128], &ext), Verdict::V6ToV4);
    let f = one(&v6_error(3, 0, 200, &inner6[..128], &ext), Verdict::V6ToV4);
    assert_eq!(f, zero);
}

// RFC 4884 §5: a compliant receiver accepts an extension header only with "a valid
// version number and checksum"; §7: "This is version 2"; §4: the original datagram
// field "MUST contain at least 128 octets". Non-compliant trailing bytes are not carried:
// the attribute still delimits the original datagram, which is translated alone, and the
// result is the same as the error without the bytes (attribute 0).
#[test]
fn rfc4884_non_compliant_extension_dropped() {
    let (_, inner4) = client_udp(1, 300);
    let good = extension(&[&mpls_object(&[16005])]);
    let mut bad_checksum = good.clone();
    bad_checksum[3] ^= 0x01;
    let mut version1 = good.clone();
    version1[0] = 0x10;
    let version1 = with_checksum(version1);
    let mut obj = mpls_object(&[16005]);
    obj[1] = 12;
    let bad_object_len = extension(&[&obj]);
    let plain = |original: &[u8]| {
        let f = one(&v4_error(11, 0, [0; 4], 0, original, &[]), Verdict::V4ToV6);
        assert_eq!(f[44], 0);
        f
    };
    for ext in [&bad_checksum, &version1, &bad_object_len] {
        let f = one(
            &v4_error(11, 0, [0; 4], 32, &inner4[..128], ext),
            Verdict::V4ToV6,
        );
        assert_eq!(f, plain(&inner4[..128]), "{ext:02x?}");
        assert_eq!(f.len(), 48 + 148);
    }
    // A valid extension after a 120-byte original datagram (attribute 30).
    let f = one(
        &v4_error(11, 0, [0; 4], 30, &inner4[..120], &good),
        Verdict::V4ToV6,
    );
    assert_eq!(f, plain(&inner4[..120]));
    // The same from IPv6.
    let (inner6, _) = server_udp(33, 300);
    let plain6 = one(&v6_error(3, 0, 0, &inner6[..128], &[]), Verdict::V6ToV4);
    let f = one(
        &v6_error(3, 0, 16, &inner6[..128], &bad_checksum),
        Verdict::V6ToV4,
    );
    assert_eq!(f, plain6);
    assert_eq!(f[25], 0);
}

// RFC 4884 §7: "An all-zeros value means that no checksum was transmitted": such a
// structure is valid and kept (attribute 32 → 152 bytes, 19 words).
#[test]
fn rfc4884_s7_zero_checksum_kept() {
    let inner = udp4(CLIENT4, SERVER4, 61, &[0x44; 200]);
    let ext = [0x20, 0, 0, 0, 0, 8, 1, 1, 9, 9, 9, 9];
    let p = icmp4_raw(
        SERVER4,
        CLIENT4,
        11,
        0,
        [0, 32, 0, 0],
        &[&inner[..128], &ext[..]].concat(),
    );
    let f = one(&p, Verdict::V4ToV6);
    assert_eq!(&f[44..48], &[19, 0, 0, 0]);
    assert_eq!(f.len(), 48 + 152 + 12);
    assert_eq!(&f[200..], &ext);
    assert_icmp6_checksum(&f);
}

// RFC 4884 §5: senders that predate it append the structure after exactly 128 octets
// without setting the length attribute. The attribute is 0, so the translator treats the
// whole body as the original datagram, as for any error without extensions.
#[test]
fn rfc4884_s5_attribute_zero_is_original_datagram() {
    let (native6, inner4) = client_udp(1, 300);
    let ext = extension(&[&mpls_object(&[16005])]);
    let f = one(
        &v4_error(11, 0, [0; 4], 0, &inner4[..128], &ext),
        Verdict::V4ToV6,
    );
    assert_eq!(&f[44..48], &[0; 4]);
    assert_eq!(f.len(), 48 + 148 + ext.len());
    assert_eq!(&f[48..196], &native6[..148]);
    assert_eq!(&f[196..], &ext[..]);
}

// RFC 4443 §2.4(c): an ICMPv6 error stays within 1280 bytes. With an extension, it is
// the original datagram that is cut, to a multiple of 64 bits: a 1020-byte original
// datagram (attribute 255) becomes 1040 bytes, cut to (1232 − 300) rounded down = 928
// bytes (116 words) before a 300-byte structure: 1276 bytes in all.
#[test]
fn rfc4884_v4_to_v6_size_limit_cuts_original_datagram() {
    let (native6, inner4) = client_udp(1, 1400);
    let labels: Vec<u32> = (16..16 + 73).collect();
    let ext = extension(&[&mpls_object(&labels)]);
    assert_eq!(ext.len(), 300);
    let f = one(
        &v4_error(11, 0, [0; 4], 255, &inner4[..1020], &ext),
        Verdict::V4ToV6,
    );
    assert_eq!(f.len(), 1276);
    assert_eq!(f[44], 116);
    assert_eq!(&f[48..976], &native6[..928]);
    assert_eq!(received_extension(&f[48..], 928), &ext[..]);
    assert_icmp6_checksum(&f);
}

// The largest extension that still leaves RFC 4884's 128 octets of original datagram
// in 1280 bytes is 1232 − 128 = 1104 bytes: kept, the datagram cut to 128 bytes. One
// word more and the extension is dropped: attribute 0, original datagram alone.
#[test]
fn rfc4884_v4_to_v6_extension_too_large_dropped() {
    let (native6, inner4) = client_udp(1, 300);
    let fits = extension(&[&mpls_object(&(0..274).collect::<Vec<u32>>())]);
    assert_eq!(fits.len(), 1104);
    let f = one(
        &v4_error(11, 0, [0; 4], 32, &inner4[..128], &fits),
        Verdict::V4ToV6,
    );
    assert_eq!(f.len(), 1280);
    assert_eq!(f[44], 16);
    assert_eq!(&f[48..176], &native6[..128]);
    assert_eq!(received_extension(&f[48..], 128), &fits[..]);
    let too_big = extension(&[&mpls_object(&(0..275).collect::<Vec<u32>>())]);
    let f = one(
        &v4_error(11, 0, [0; 4], 32, &inner4[..128], &too_big),
        Verdict::V4ToV6,
    );
    let without = one(
        &v4_error(11, 0, [0; 4], 0, &inner4[..128], &[]),
        Verdict::V4ToV6,
    );
    assert_eq!(f, without);
}

// RFC 1812 §4.3.2.3: an ICMPv4 error stays within 576 bytes. A 1024-byte original
// datagram (attribute 128 words of 64 bits) becomes 1004 bytes, cut to 548 − 44 = 504
// bytes (126 words of 32 bits) before the 44-byte interface information: 576 in all.
// With a structure over 548 − 128 = 420 bytes, the extension is dropped.
#[test]
fn rfc4884_v6_to_v4_size_limits() {
    let (inner6, native4) = server_udp(33, 1400);
    let ext = extension(&[&interface_object()]);
    let f = one(&v6_error(3, 0, 128, &inner6[..1024], &ext), Verdict::V6ToV4);
    assert_eq!(f.len(), 576);
    assert_eq!(f[25], 126);
    assert_eq!(parse4(&f[28..]).total_len, 1428);
    assert_eq!(&f[48..532], &native4[20..504]);
    assert_eq!(received_extension(&f[28..], 504), &ext[..]);
    assert_icmp4_checksum(&f);
    let fits = extension(&[&mpls_object(&(0..103).collect::<Vec<u32>>())]);
    assert_eq!(fits.len(), 420);
    let f = one(&v6_error(3, 0, 16, &inner6[..128], &fits), Verdict::V6ToV4);
    assert_eq!(f.len(), 576);
    assert_eq!(f[25], 32);
    assert_eq!(received_extension(&f[28..], 128), &fits[..]);
    let too_big = extension(&[&mpls_object(&(0..104).collect::<Vec<u32>>())]);
    let f = one(
        &v6_error(3, 0, 16, &inner6[..128], &too_big),
        Verdict::V6ToV4,
    );
    let without = one(&v6_error(3, 0, 0, &inner6[..128], &[]), Verdict::V6ToV4);
    assert_eq!(f, without);
}

// An error whose quoted packet cannot be translated is still dropped, extension or not.
#[test]
fn rfc4884_untranslatable_inner_still_dropped() {
    let ext = extension(&[&mpls_object(&[16005])]);
    let p = v4_error(11, 0, [0; 4], 32, &[0x60; 128], &ext);
    assert_eq!(run(&p).verdict, Verdict::Drop(R::IcmpInnerUntranslatable));
}

/// Stateful NAT64 (RFC 6146 §3.4: errors are translated with their inner packet mapped
/// through the session); the extension handling is the same.
mod nat64 {
    use super::super::nat64::{C1, POOL4, SERVER4, SERVER6, nat64, session, shard};
    use super::*;
    use crate::nat64::{Proto, Shard};
    use crate::xlat::Nat64Translator;

    fn one(t: &Nat64Translator, s: &mut Shard, input: &[u8], verdict: Verdict) -> Vec<u8> {
        let mut pkt = PacketBuf::from_packet(input);
        let mut out = Output::new();
        let v = t.translate(s, &mut pkt, &mut out, 0);
        assert_eq!(v.verdict, verdict);
        assert_eq!(out.frames().len(), 1);
        let f = out.frame_bytes(0, &pkt);
        check_emitted(&f).unwrap();
        f
    }

    fn udp6(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv6(src, dst, 64)
            .udp(sport, dport)
            .write(&mut v, &vec![0x5a; n])
            .unwrap();
        v
    }

    // ICMPv4 Time Exceeded from a router about what the session sent (quoted 128
    // bytes, attribute 32, MPLS extension) → ICMPv6 to the client, inner packet mapped
    // back to the client's own, attribute 19 and the extension after 152 bytes.
    #[test]
    fn rfc4884_nat64_v4_to_v6() {
        let (t, mut s) = (nat64(false), shard());
        let sent6 = udp6(a6(C1), a6(SERVER6), 40000, 53, 300);
        let sent4 = one(&t, &mut s, &sent6, Verdict::V6ToV4);
        let ext = extension(&[&mpls_object(&[16005, 16])]);
        let p = icmp4_raw(
            ROUTER4,
            a4(POOL4),
            11,
            0,
            [0, 32, 0, 0],
            &[&sent4[..128], &ext[..]].concat(),
        );
        let f = one(&t, &mut s, &p, Verdict::V4ToV6);
        assert_eq!(&f[24..40], &a6(C1));
        assert_eq!(&f[40..42], &[3, 0]);
        assert_eq!(&f[44..48], &[19, 0, 0, 0]);
        assert_eq!(f.len(), 48 + 152 + ext.len());
        // The quoted packet is the client's own datagram (hop limit as it reached
        // the router, one less than sent).
        assert_eq!(&f[48 + 8..48 + 148], &sent6[8..148]);
        assert_eq!(received_extension(&f[48..], 152), &ext[..]);
        assert_icmp6_checksum(&f);
    }

    // ICMPv6 Destination Unreachable from the client about what the server sent
    // (quoted 128 bytes, attribute 16, interface information) → ICMPv4 to the server,
    // inner packet mapped through the session, padded to 128 bytes (attribute 32).
    #[test]
    fn rfc4884_nat64_v6_to_v4() {
        let (t, mut s) = (nat64(false), shard());
        one(
            &t,
            &mut s,
            &udp6(a6(C1), a6(SERVER6), 40000, 53, 8),
            Verdict::V6ToV4,
        );
        let se = session(&s, Proto::Udp, C1, 40000);
        let mut reply = Vec::new();
        PacketBuilder::ipv4(a4(SERVER4), a4(POOL4), 64)
            .udp(53, se.v4_port)
            .write(&mut reply, &[0xa5; 300])
            .unwrap();
        let delivered = one(&t, &mut s, &reply, Verdict::V4ToV6);
        let ext = extension(&[&interface_object()]);
        let p = icmp6_raw(
            a6(C1),
            a6(SERVER6),
            1,
            4,
            [16, 0, 0, 0],
            &[&delivered[..128], &ext[..]].concat(),
        );
        let f = one(&t, &mut s, &p, Verdict::V6ToV4);
        assert_eq!((&f[12..16], &f[16..20]), (&a4(POOL4)[..], &a4(SERVER4)[..]));
        assert_eq!(&f[20..22], &[3, 3]);
        assert_eq!(&f[24..28], &[0, 32, 0, 0]);
        assert_eq!(f.len(), 28 + 128 + ext.len());
        // The quoted packet is what the server sent, from the ports on.
        assert_eq!(&f[48..48 + 88], &reply[20..108]);
        assert!(f[28 + 108..28 + 128].iter().all(|&b| b == 0));
        assert_eq!(received_extension(&f[28..], 128), &ext[..]);
        assert_icmp4_checksum(&f);
    }
}
