//! The keepalive probe of RFC 6146 §3.5.2.2: when an ESTABLISHED session's lifetime
//! expires, "the NAT64 SHOULD send a probe packet ... to at least one of the endpoints
//! of the TCP connection. The probe packet is a TCP segment for the connection with no
//! data. The sequence number and the acknowledgment number are set to zero. All flags
//! but the ACK flag are set to zero. The state is moved to TRANS."
//!
//! The probe goes to the IPv6 endpoint, the NAT64's own client: a live TCP answers a
//! segment outside its window with an ACK (RFC 9293 §3.10.7.4), which passes through the
//! NAT64 and brings the session back to ESTABLISHED; a host that is gone answers with a
//! reset or not at all, and the session ends after TCP_TRANS.

use crate::nat64::SessionInfo;
use crate::wire::checksum;
use crate::wire::ip::IpProtocol;
use crate::wire::ipv6::{self, Ipv6Repr};
use crate::wire::tcp::{self, TcpPacket, flags};

use super::{Nat64Translator, Output};

/// Hop limit of the probe: it crosses the client's network, nothing more.
const PROBE_HOP_LIMIT: u8 = 64;

impl Nat64Translator {
    /// Queues the probe for `session` (a TCP session whose ESTABLISHED lifetime just
    /// expired) towards its IPv6 endpoint, from the IPv4 peer's pool6 address. False if
    /// the peer has no pool6 form or `out` has no room. `out` is not cleared.
    pub fn tcp_probe(&self, session: &SessionInfo, out: &mut Output) -> bool {
        let Some(src6) = self.pool6().embed(session.remote) else {
            return false;
        };
        let len = ipv6::HEADER_LEN + tcp::HEADER_LEN;
        let Some(range) = out.alloc_scratch(len) else {
            return false;
        };
        let b = &mut out.scratch_mut()[range.clone()];
        b.fill(0);
        let (src, dst) = (src6.octets(), session.v6.octets());
        let ip = Ipv6Repr {
            traffic_class: 0,
            flow_label: 0,
            payload_len: tcp::HEADER_LEN as u16,
            next_header: IpProtocol::TCP,
            hop_limit: PROBE_HOP_LIMIT,
            src,
            dst,
        };
        if !ip.emit(b) {
            return false;
        }
        let Ok(mut seg) = TcpPacket::new_checked(&mut b[ipv6::HEADER_LEN..]) else {
            return false;
        };
        seg.set_src_port(session.remote_port);
        seg.set_dst_port(session.v6_port);
        seg.set_header_len(tcp::HEADER_LEN);
        seg.set_flags(flags::ACK);
        let pseudo = checksum::pseudo_v6(src, dst, IpProtocol::TCP, tcp::HEADER_LEN as u32);
        let sum = !checksum::add(pseudo, checksum::ones_sum(&b[ipv6::HEADER_LEN..len]));
        TcpPacket::new_unchecked(&mut b[ipv6::HEADER_LEN..]).set_checksum(sum);
        out.push(range, 0..0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::AddrMapper;
    use crate::nat64::{Proto, TcpState};
    use crate::xlat::XlatConfig;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// RFC 6146 §3.5.2.2: "a TCP segment for the connection with no data. The sequence
    /// number and the acknowledgment number are set to zero. All flags but the ACK flag
    /// are set to zero", sent to the IPv6 endpoint from the peer's pool6 address.
    #[test]
    fn rfc6146_3_5_2_2_probe_is_an_empty_ack_with_zero_numbers() {
        let map = AddrMapper::new(Some("64:ff9b::/96".parse().unwrap()), &[], false).unwrap();
        let t = Nat64Translator::new(
            XlatConfig {
                map,
                ..XlatConfig::default()
            },
            false,
        )
        .unwrap();
        let s = SessionInfo {
            proto: Proto::Tcp,
            v6: "2001:db8:1::2".parse::<Ipv6Addr>().unwrap(),
            v6_port: 40000,
            v4: Ipv4Addr::new(203, 0, 113, 10),
            v4_port: 2000,
            remote: Ipv4Addr::new(198, 51, 100, 7),
            remote_port: 443,
            state: Some(TcpState::Trans),
            expires_in_ms: 0,
            is_static: false,
        };
        let mut out = Output::new();
        assert!(t.tcp_probe(&s, &mut out));
        let f = out.frame_bytes(0, &crate::wire::buf::PacketBuf::new());
        crate::xlat::selfcheck::check_emitted(&f).unwrap();
        let p = SlicedPacket::from_ip(&f).unwrap();
        let Some(NetSlice::Ipv6(ip)) = p.net else {
            panic!("not IPv6")
        };
        assert_eq!(
            ip.header().source_addr(),
            "64:ff9b::c633:6407".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(ip.header().destination_addr(), s.v6);
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            panic!("not TCP")
        };
        assert_eq!((tcp.source_port(), tcp.destination_port()), (443, 40000));
        assert_eq!((tcp.sequence_number(), tcp.acknowledgment_number()), (0, 0));
        assert!(tcp.ack() && !tcp.syn() && !tcp.fin() && !tcp.rst() && !tcp.psh());
        assert!(tcp.payload().is_empty());
    }
}
