//! Consistency checks on emitted packets, for tests and fuzz targets (not the data
//! path: it allocates and panics).

use std::sync::OnceLock;

use crate::addr::AddrMapper;
use crate::wire::buf::PacketBuf;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::tcp::{self, flags::CWR, flags::FIN, flags::PSH};
use crate::wire::udp::{self, UdpPacket};
use crate::wire::vnet::Offload;
use crate::wire::{be16, be32, checksum, icmpv4, icmpv6, ip::IpProtocol, ipv6ext, put16};

use super::{Output, Translator, XlatConfig};

mod addresses;
mod gso;

use gso::csum_at;

pub use addresses::check_addresses;
pub use gso::{
    PartialLen, check_gso_equivalence, fuzz_offload_segments, gso_input_from_bytes,
    normalize_segment, soft_gso,
};

/// Checks that `frame` (one emitted packet) has consistent lengths — IPv4 Total Length
/// or IPv6 40 + Payload Length equal to the bytes —, no address a translator must never
/// emit ([`check_addresses`]) and, unless it is a fragment, valid checksums: IPv4
/// header, and TCP/UDP/ICMP/ICMPv6 when the transport header is complete. A UDP Length
/// must match the datagram.
pub fn check_emitted(frame: &[u8]) -> Result<(), String> {
    check_lengths(frame)?;
    check_addresses(frame)?;
    match frame.first().map(|b| b >> 4) {
        Some(4) => check_v4(frame),
        Some(6) => check_v6(frame),
        _ => Err("unknown version".into()),
    }
}

/// Only the IP-level length and header checks of [`check_emitted`].
pub fn check_lengths(frame: &[u8]) -> Result<(), String> {
    match frame.first().map(|b| b >> 4) {
        Some(4) => {
            let ip = Ipv4Packet::new_checked(frame).map_err(|e| format!("ipv4 header: {e:?}"))?;
            if usize::from(ip.total_len()) != frame.len() {
                return Err(format!(
                    "ipv4 total length {} != {} bytes",
                    ip.total_len(),
                    frame.len()
                ));
            }
            if !ip.verify_checksum() {
                return Err("ipv4 header checksum".into());
            }
            Ok(())
        }
        Some(6) => {
            let ip = Ipv6Packet::new_checked(frame).map_err(|e| format!("ipv6 header: {e:?}"))?;
            if ip.total_len() != frame.len() {
                return Err(format!(
                    "ipv6 payload length {} + 40 != {} bytes",
                    ip.payload_len(),
                    frame.len()
                ));
            }
            Ok(())
        }
        _ => Err("unknown version".into()),
    }
}

fn check_v4(frame: &[u8]) -> Result<(), String> {
    let ip = Ipv4Packet::new_checked(frame).map_err(|e| format!("{e:?}"))?;
    if ip.is_fragment() {
        return Ok(());
    }
    let l4 = ip.payload();
    let ph = checksum::pseudo_v4(ip.src_addr(), ip.dst_addr(), ip.protocol(), l4.len() as u16);
    check_l4(ip.protocol(), l4, ph, false)
}

fn check_v6(frame: &[u8]) -> Result<(), String> {
    let ip = Ipv6Packet::new_checked(frame).map_err(|e| format!("{e:?}"))?;
    // Payloads whose protocol number names an extension header are opaque here.
    let Ok(chain) = ipv6ext::walk(frame) else {
        return Ok(());
    };
    if chain.is_fragment() {
        return Ok(());
    }
    let l4 = frame.get(chain.upper_off..).unwrap_or(&[]);
    let ph = checksum::pseudo_v6(
        ip.src_addr(),
        ip.dst_addr(),
        chain.upper_proto,
        l4.len() as u32,
    );
    check_l4(chain.upper_proto, l4, ph, true)
}

fn check_l4(proto: IpProtocol, l4: &[u8], pseudo: u16, v6: bool) -> Result<(), String> {
    let with_ph = checksum::add(pseudo, checksum::ones_sum(l4));
    match proto {
        IpProtocol::TCP if l4.len() >= tcp::HEADER_LEN && with_ph != 0xffff => {
            Err("tcp checksum".into())
        }
        IpProtocol::UDP if l4.len() >= udp::HEADER_LEN => {
            let u = UdpPacket::new_checked(l4).map_err(|e| format!("{e:?}"))?;
            let (ulen, cs) = (u.len(), u.checksum());
            if usize::from(ulen) != l4.len() {
                Err(format!("udp length {ulen} != {}", l4.len()))
            } else if cs == 0 && v6 {
                Err("udp checksum zero in ipv6".into())
            } else if cs != 0 && with_ph != 0xffff {
                Err("udp checksum".into())
            } else {
                Ok(())
            }
        }
        IpProtocol::ICMP
            if !v6 && l4.len() >= icmpv4::HEADER_LEN && checksum::ones_sum(l4) != 0xffff =>
        {
            Err("icmpv4 checksum".into())
        }
        IpProtocol::ICMPV6 if v6 && l4.len() >= icmpv6::HEADER_LEN && with_ph != 0xffff => {
            Err("icmpv6 checksum".into())
        }
        _ => Ok(()),
    }
}

/// The fixed translator of the fuzz targets and property tests: pool6 2001:db8:64::/96,
/// EAM 2001:db8:1::/120 = 192.0.2.0/24, error sources 203.0.113.1 and
/// 2001:db8:64::cb00:7101, MTU 1500, lowest IPv6 MTU 1280.
pub fn test_translator() -> Translator {
    let map = AddrMapper::new(
        Some("2001:db8:64::/96".parse().expect("literal")),
        &[(
            "2001:db8:1::/120".parse().expect("literal"),
            "192.0.2.0/24".parse().expect("literal"),
        )],
        false,
    )
    .expect("valid test mapping");
    Translator::new(XlatConfig {
        map,
        ipv4_addr: "203.0.113.1".parse().expect("literal"),
        ipv6_addr: "2001:db8:64::cb00:7101".parse().expect("literal"),
        ..XlatConfig::default()
    })
}

/// Whether `data`, cut to its IP length field, would itself pass [`check_emitted`]:
/// only then must the translation of its checksums verify.
fn input_is_valid(data: &[u8]) -> bool {
    let len = match data.first().map(|b| b >> 4) {
        Some(4) => Ipv4Packet::new_checked_header(data).map(|ip| usize::from(ip.total_len())),
        Some(6) => Ipv6Packet::new_checked_header(data).map(|ip| ip.total_len()),
        _ => return false,
    };
    let whole = len.ok().and_then(|l| data.get(..l));
    whole.is_some_and(|d| check_emitted(d).is_ok())
}

/// Translates `data` with [`test_translator`] and panics if an emitted frame has
/// inconsistent lengths or an address no packet may carry ([`check_addresses`]), or
/// invalid checksums although the input's were valid.
pub fn fuzz_one(data: &[u8]) {
    static T: OnceLock<Translator> = OnceLock::new();
    let t = T.get_or_init(test_translator);
    let valid = input_is_valid(data);
    let mut pkt = PacketBuf::from_packet(data);
    let mut out = Output::new();
    let verdict = t.translate(&mut pkt, &mut out, 0);
    for i in 0..out.frames().len() {
        let f = out.frame_bytes(i, &pkt);
        if let Err(e) = check_lengths(&f).and_then(|()| check_addresses(&f)) {
            panic!("frame {i} of {verdict:?}: {e}\ninput {data:02x?}\noutput {f:02x?}");
        }
        if let (true, Err(e)) = (valid, check_emitted(&f)) {
            panic!("frame {i} of {verdict:?}: {e}\ninput {data:02x?}\noutput {f:02x?}");
        }
    }
}

/// Fuzz entry for one translation direction (`version` 4 or 6).
///
/// Random bytes rarely pass the IP length and IPv4 header-checksum checks, so most of the
/// translator would go unexplored. The last input byte is a control byte: bit 0 asks for
/// the IP length field to be made consistent with the input, bit 1 for the IPv4 header
/// checksum to be made valid. The version nibble is forced so each target stays on its
/// direction. Then [`fuzz_one`] checks every emitted frame.
pub fn fuzz_direction(data: &[u8], version: u8) {
    let Some((&ctl, body)) = data.split_last() else {
        return;
    };
    if body.is_empty() {
        return;
    }
    fuzz_one(&steer(body, version, ctl));
}

/// `body` with its version nibble forced and, as `ctl` asks, its IP length field made
/// consistent (bit 0) and its IPv4 header checksum made valid (bit 1).
fn steer(body: &[u8], version: u8, ctl: u8) -> Vec<u8> {
    let mut p = body.to_vec();
    if let Some(b) = p.first_mut() {
        *b = (*b & 0x0f) | (version << 4);
    }
    let fix_len = ctl & 1 != 0;
    let fix_csum = ctl & 2 != 0;
    if version == 4 && p.len() >= 20 {
        if fix_len {
            let n = (p.len().min(0xffff) as u16).to_be_bytes();
            p[2..4].copy_from_slice(&n);
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        if fix_csum && ihl >= 20 && ihl <= p.len() {
            p[10..12].copy_from_slice(&[0, 0]);
            let c = crate::wire::checksum::checksum(&p[..ihl]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
    } else if version == 6 && p.len() >= 40 && fix_len {
        let n = ((p.len() - 40).min(0xffff) as u16).to_be_bytes();
        p[4..6].copy_from_slice(&n);
    }
    p
}

/// Fuzz entry for [`Translator::translate_offload`]: the first 10 bytes are a
/// `virtio_net_hdr` (little-endian fields), the last a control byte, the rest a packet.
/// Control bits 0–1 as in [`fuzz_direction`]; bit 2 picks IPv4 (else IPv6); bit 3 points
/// csum_start/csum_offset at the transport checksum (IHL or 40, TCP 16 / UDP 6) so the
/// fast paths are reached; bit 4 sets NEEDS_CSUM. No panic; every emitted frame has
/// consistent IP lengths and allowed addresses, and its offload metadata stays inside
/// the frame.
pub fn fuzz_offload(data: &[u8]) {
    static T: OnceLock<Translator> = OnceLock::new();
    let t = T.get_or_init(test_translator);
    let Some((hdr, rest)) = data.split_at_checked(crate::wire::vnet::HEADER_LEN) else {
        return;
    };
    let Some(mut off) = Offload::parse(hdr) else {
        return;
    };
    let Some((&ctl, body)) = rest.split_last() else {
        return;
    };
    if body.is_empty() {
        return;
    }
    let version = if ctl & 4 != 0 { 4 } else { 6 };
    let p = steer(body, version, ctl);
    if ctl & 8 != 0 {
        let (l4, proto) = match version {
            4 => (usize::from(p[0] & 0x0f) * 4, p.get(ipv4::field::PROTOCOL)),
            _ => (ipv6::HEADER_LEN, p.get(ipv6::field::NEXT_HEADER)),
        };
        off.csum_start = l4 as u16;
        let udp = proto.is_some_and(|&p| IpProtocol(p) == IpProtocol::UDP);
        off.csum_offset = csum_at(udp) as u16;
    }
    if ctl & 16 != 0 {
        off.flags |= crate::wire::vnet::FLAG_NEEDS_CSUM;
    }
    let mut pkt = PacketBuf::from_packet(&p);
    let mut out = Output::new();
    let verdict = t.translate_offload(&mut pkt, off, &mut out, 0);
    for (i, f) in out.frames().iter().enumerate() {
        let bytes = out.frame_bytes(i, &pkt);
        if let Err(e) = check_lengths(&bytes).and_then(|()| check_addresses(&bytes)) {
            panic!("frame {i} of {verdict:?} ({off:?}): {e}\ninput {p:02x?}");
        }
        if let Err(e) = check_offload(&f.offload, bytes.len()) {
            panic!("frame {i} of {verdict:?} ({off:?} → {:?}): {e}", f.offload);
        }
    }
}

/// Emitted offload metadata a device would accept: the checksum field inside the
/// frame, a segment size for GSO, a header length inside the frame.
fn check_offload(o: &Offload, len: usize) -> Result<(), String> {
    if o.is_none() {
        return Ok(());
    }
    let field_end = usize::from(o.csum_start) + usize::from(o.csum_offset) + 2;
    if o.flags & crate::wire::vnet::FLAG_NEEDS_CSUM != 0 && field_end > len {
        return Err(format!("checksum field ends at {field_end} > {len}"));
    }
    if o.gso_type != crate::wire::vnet::gso::NONE && o.gso_size == 0 {
        return Err("gso without gso_size".into());
    }
    if usize::from(o.hdr_len) > len {
        return Err(format!("hdr_len {} > {len}", o.hdr_len));
    }
    Ok(())
}
