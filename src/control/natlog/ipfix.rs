//! IPFIX export (RFC 7011) of NAT event records with the RFC 8158 information
//! elements, over UDP.
//!
//! Three templates, one per record shape (RFC 8158 §4 lists the fields per event):
//! - 256, NAT64 BIB create/delete (natEvent 8/9): observationTimeMilliseconds,
//!   natEvent, sourceIPv6Address, sourceTransportPort, postNATSourceIPv4Address,
//!   postNAPTSourceTransportPort, protocolIdentifier;
//! - 257, NAT64 session create/delete (4/5): the same plus
//!   postNATDestinationIPv4Address and postNAPTDestinationTransportPort;
//! - 258, port block allocation/de-allocation (14/15): observationTimeMilliseconds,
//!   natEvent, sourceIPv6Address, sourceIPv6PrefixLength, postNATSourceIPv4Address,
//!   protocolIdentifier, portRangeStart, portRangeEnd, portRangeStepSize,
//!   portRangeNumPorts.
//!
//! Over UDP a collector may start listening at any time and keeps templates only for a
//! while, so the templates go with the first records and again every
//! [`TEMPLATE_INTERVAL_S`] (RFC 7011 §8.4), with or without records. A message holds the records of one flush
//! of one template, at most [`MAX_MESSAGE`] bytes (no IP fragmentation on a 1500-byte
//! path); its sequence number counts the data records sent before it (§3.1).

use std::net::{SocketAddr, UdpSocket};

use crate::nat64::{NatEvent, NatEventKind, Proto};

/// Re-send the templates this often over UDP.
pub const TEMPLATE_INTERVAL_S: u64 = 60;
/// Largest message: fits a 1500-byte path (IPv6 + UDP headers).
pub const MAX_MESSAGE: usize = 1400;

const VERSION: u16 = 10;
const TEMPLATE_SET: u16 = 2;

/// Information elements (IANA IPFIX registry), with their lengths.
mod ie {
    pub const PROTOCOL_IDENTIFIER: (u16, u16) = (4, 1);
    pub const SOURCE_TRANSPORT_PORT: (u16, u16) = (7, 2);
    pub const SOURCE_IPV6_ADDRESS: (u16, u16) = (27, 16);
    pub const SOURCE_IPV6_PREFIX_LENGTH: (u16, u16) = (29, 1);
    pub const POST_NAT_SOURCE_IPV4_ADDRESS: (u16, u16) = (225, 4);
    pub const POST_NAT_DESTINATION_IPV4_ADDRESS: (u16, u16) = (226, 4);
    pub const POST_NAPT_SOURCE_TRANSPORT_PORT: (u16, u16) = (227, 2);
    pub const POST_NAPT_DESTINATION_TRANSPORT_PORT: (u16, u16) = (228, 2);
    pub const NAT_EVENT: (u16, u16) = (230, 1);
    pub const OBSERVATION_TIME_MILLISECONDS: (u16, u16) = (323, 8);
    pub const PORT_RANGE_START: (u16, u16) = (361, 2);
    pub const PORT_RANGE_END: (u16, u16) = (362, 2);
    pub const PORT_RANGE_STEP_SIZE: (u16, u16) = (363, 2);
    pub const PORT_RANGE_NUM_PORTS: (u16, u16) = (364, 2);
}

use ie::*;

const BIB_FIELDS: &[(u16, u16)] = &[
    OBSERVATION_TIME_MILLISECONDS,
    NAT_EVENT,
    SOURCE_IPV6_ADDRESS,
    SOURCE_TRANSPORT_PORT,
    POST_NAT_SOURCE_IPV4_ADDRESS,
    POST_NAPT_SOURCE_TRANSPORT_PORT,
    PROTOCOL_IDENTIFIER,
];

const SESSION_FIELDS: &[(u16, u16)] = &[
    OBSERVATION_TIME_MILLISECONDS,
    NAT_EVENT,
    SOURCE_IPV6_ADDRESS,
    SOURCE_TRANSPORT_PORT,
    POST_NAT_SOURCE_IPV4_ADDRESS,
    POST_NAPT_SOURCE_TRANSPORT_PORT,
    PROTOCOL_IDENTIFIER,
    POST_NAT_DESTINATION_IPV4_ADDRESS,
    POST_NAPT_DESTINATION_TRANSPORT_PORT,
];

const BLOCK_FIELDS: &[(u16, u16)] = &[
    OBSERVATION_TIME_MILLISECONDS,
    NAT_EVENT,
    SOURCE_IPV6_ADDRESS,
    SOURCE_IPV6_PREFIX_LENGTH,
    POST_NAT_SOURCE_IPV4_ADDRESS,
    PROTOCOL_IDENTIFIER,
    PORT_RANGE_START,
    PORT_RANGE_END,
    PORT_RANGE_STEP_SIZE,
    PORT_RANGE_NUM_PORTS,
];

/// The templates: (template ID, fields).
pub const TEMPLATES: [(u16, &[(u16, u16)]); 3] = [
    (256, BIB_FIELDS),
    (257, SESSION_FIELDS),
    (258, BLOCK_FIELDS),
];

/// The template a record goes with (index into [`TEMPLATES`]).
fn template_of(kind: NatEventKind) -> usize {
    match kind {
        NatEventKind::BibCreate | NatEventKind::BibDelete => 0,
        NatEventKind::SessionCreate | NatEventKind::SessionDelete => 1,
        NatEventKind::BlockAlloc | NatEventKind::BlockRelease => 2,
    }
}

fn record_len(t: usize) -> usize {
    TEMPLATES[t].1.iter().map(|&(_, l)| usize::from(l)).sum()
}

/// IANA protocol numbers; an ICMP query session of NAT64 is ICMPv6 on the subscriber's
/// side, but the pool4 side (what an abuse report names) is ICMP.
fn protocol_number(p: Proto) -> u8 {
    match p {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Icmp => 1,
    }
}

/// The data record of `e` in its template's field order.
fn encode_record(out: &mut Vec<u8>, e: &NatEvent) {
    out.extend_from_slice(&e.time_ms.to_be_bytes());
    out.push(e.kind.nat_event());
    match template_of(e.kind) {
        2 => {
            out.extend_from_slice(&e.prefix().octets());
            out.push(e.prefix_len);
            out.extend_from_slice(&e.v4.octets());
            out.push(protocol_number(e.proto));
            let n = e.port_last - e.port_first + 1;
            for v in [e.port_first, e.port_last, 1, n] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        t => {
            out.extend_from_slice(&e.v6.octets());
            out.extend_from_slice(&e.v6_port.to_be_bytes());
            out.extend_from_slice(&e.v4.octets());
            out.extend_from_slice(&e.port_first.to_be_bytes());
            out.push(protocol_number(e.proto));
            if t == 1 {
                let (ra, rp) = e.remote.unwrap_or((std::net::Ipv4Addr::UNSPECIFIED, 0));
                out.extend_from_slice(&ra.octets());
                out.extend_from_slice(&rp.to_be_bytes());
            }
        }
    }
}

/// The template set announcing every template.
fn encode_templates(out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&TEMPLATE_SET.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    for (id, fields) in TEMPLATES {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for &(ie, len) in fields {
            out.extend_from_slice(&ie.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    let len = (out.len() - start) as u16;
    out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Builds IPFIX messages: header, optional template set, data sets.
pub struct Encoder {
    domain: u32,
    /// Data records sent before the next message (RFC 7011 §3.1).
    sequence: u32,
    last_templates: Option<u64>,
}

impl Encoder {
    pub fn new(domain: u32) -> Self {
        Encoder {
            domain,
            sequence: 0,
            last_templates: None,
        }
    }

    /// The messages carrying `events` at export time `now_s` (seconds since the Unix
    /// epoch): templates first when due, then the records batched by template, each
    /// message within [`MAX_MESSAGE`] bytes.
    pub fn encode(&mut self, events: &[NatEvent], now_s: u64) -> Vec<Vec<u8>> {
        let mut msgs = Vec::new();
        // The first templates go with the first records, not at start-up, when the
        // collector may not be listening yet; afterwards they are refreshed on time
        // even without records.
        if events.is_empty() && self.last_templates.is_none() {
            return msgs;
        }
        let due = self
            .last_templates
            .is_none_or(|t| now_s.saturating_sub(t) >= TEMPLATE_INTERVAL_S);
        let mut cur: Option<Vec<u8>> = None;
        if due {
            let mut m = self.header(now_s);
            encode_templates(&mut m);
            cur = Some(m);
            self.last_templates = Some(now_s);
        }
        for (t, _) in TEMPLATES.iter().enumerate() {
            let mut recs = events
                .iter()
                .filter(|e| template_of(e.kind) == t)
                .peekable();
            let rl = record_len(t);
            while recs.peek().is_some() {
                let mut m = match cur.take() {
                    Some(m) if m.len() + 4 + rl <= MAX_MESSAGE => m,
                    Some(m) => {
                        msgs.push(finish(m));
                        self.header(now_s)
                    }
                    None => self.header(now_s),
                };
                let set = m.len();
                m.extend_from_slice(&TEMPLATES[t].0.to_be_bytes());
                m.extend_from_slice(&[0, 0]);
                let mut n = 0u32;
                while m.len() + rl <= MAX_MESSAGE {
                    let Some(e) = recs.next() else { break };
                    encode_record(&mut m, e);
                    n += 1;
                }
                let len = (m.len() - set) as u16;
                m[set + 2..set + 4].copy_from_slice(&len.to_be_bytes());
                // This message's records count for the next one's sequence number;
                // its own header carries the count before it (set in `header`).
                self.sequence = self.sequence.wrapping_add(n);
                cur = Some(m);
            }
        }
        if let Some(m) = cur {
            msgs.push(finish(m));
        }
        msgs
    }

    fn header(&self, now_s: u64) -> Vec<u8> {
        let mut m = Vec::with_capacity(MAX_MESSAGE);
        m.extend_from_slice(&VERSION.to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&(now_s as u32).to_be_bytes());
        m.extend_from_slice(&self.sequence.to_be_bytes());
        m.extend_from_slice(&self.domain.to_be_bytes());
        m
    }
}

/// Writes the message length into the header.
fn finish(mut m: Vec<u8>) -> Vec<u8> {
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// An IPFIX exporter to one collector over UDP.
pub struct Exporter {
    socket: UdpSocket,
    collector: SocketAddr,
    encoder: Encoder,
}

impl Exporter {
    pub fn new(collector: SocketAddr, domain: u32) -> std::io::Result<Self> {
        let bind: SocketAddr = if collector.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        // Not connected: a connected UDP socket reports the ICMP port unreachable of a
        // collector not yet listening as an error on the next send, losing a message
        // that the collector (up by then) would have read.
        let socket = UdpSocket::bind(bind)?;
        Ok(Exporter {
            socket,
            collector,
            encoder: Encoder::new(domain),
        })
    }

    /// Sends `events` (possibly none: templates still go out when due). A send error
    /// (no collector listening yet) loses those messages, which the caller counts.
    pub fn send(&mut self, events: &[NatEvent], now_s: u64) -> Result<(), usize> {
        let mut lost = 0;
        let msgs = self.encoder.encode(events, now_s);
        let n = msgs.len();
        for m in msgs {
            if self.socket.send_to(&m, self.collector).is_err() {
                lost += 1;
            }
        }
        if lost > 0 && !events.is_empty() {
            // Without per-message counts, charge the records proportionally.
            return Err(events.len() * lost / n.max(1));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn block_event() -> NatEvent {
        NatEvent {
            kind: NatEventKind::BlockAlloc,
            time_ms: 0x0000_018c_2f4e_a000,
            proto: Proto::Udp,
            v6: "2001:db8:100:7::1".parse::<Ipv6Addr>().unwrap(),
            v6_port: 0,
            prefix_len: 64,
            v4: Ipv4Addr::new(192, 0, 2, 1),
            port_first: 1024,
            port_last: 1151,
            remote: None,
        }
    }

    /// RFC 7011 §3.1 (message header), §3.3.2 (set header), §3.4.1 (template record),
    /// with the RFC 8158 port block allocation event (natEvent 14, §4.2.11 fields
    /// portRangeStart/End/StepSize/NumPorts): written byte by byte from the RFC
    /// definitions and the IANA element numbers and lengths.
    #[test]
    fn golden_rfc7011_message_with_rfc8158_port_block_record() {
        let mut enc = Encoder::new(7);
        let msgs = enc.encode(&[block_event()], 1_701_000_000);
        assert_eq!(msgs.len(), 1);
        #[rustfmt::skip]
        let mut want: Vec<u8> = vec![
            // Message header: version 10, length (below), export time, sequence 0,
            // observation domain 7.
            0x00, 0x0a, 0x00, 0x00, 0x65, 0x63, 0x33, 0x40, 0, 0, 0, 0, 0, 0, 0, 7,
            // Template set (ID 2), length 4 + 4+7*4 + 4+9*4 + 4+10*4 = 120.
            0x00, 0x02, 0x00, 120,
            // Template 256: 7 fields.
            0x01, 0x00, 0x00, 0x07,
            0x01, 0x43, 0x00, 0x08, // 323 observationTimeMilliseconds, 8
            0x00, 0xe6, 0x00, 0x01, // 230 natEvent, 1
            0x00, 0x1b, 0x00, 0x10, // 27 sourceIPv6Address, 16
            0x00, 0x07, 0x00, 0x02, // 7 sourceTransportPort, 2
            0x00, 0xe1, 0x00, 0x04, // 225 postNATSourceIPv4Address, 4
            0x00, 0xe3, 0x00, 0x02, // 227 postNAPTSourceTransportPort, 2
            0x00, 0x04, 0x00, 0x01, // 4 protocolIdentifier, 1
            // Template 257: 9 fields.
            0x01, 0x01, 0x00, 0x09,
            0x01, 0x43, 0x00, 0x08,
            0x00, 0xe6, 0x00, 0x01,
            0x00, 0x1b, 0x00, 0x10,
            0x00, 0x07, 0x00, 0x02,
            0x00, 0xe1, 0x00, 0x04,
            0x00, 0xe3, 0x00, 0x02,
            0x00, 0x04, 0x00, 0x01,
            0x00, 0xe2, 0x00, 0x04, // 226 postNATDestinationIPv4Address, 4
            0x00, 0xe4, 0x00, 0x02, // 228 postNAPTDestinationTransportPort, 2
            // Template 258: 10 fields.
            0x01, 0x02, 0x00, 0x0a,
            0x01, 0x43, 0x00, 0x08,
            0x00, 0xe6, 0x00, 0x01,
            0x00, 0x1b, 0x00, 0x10,
            0x00, 0x1d, 0x00, 0x01, // 29 sourceIPv6PrefixLength, 1
            0x00, 0xe1, 0x00, 0x04,
            0x00, 0x04, 0x00, 0x01,
            0x01, 0x69, 0x00, 0x02, // 361 portRangeStart, 2
            0x01, 0x6a, 0x00, 0x02, // 362 portRangeEnd, 2
            0x01, 0x6b, 0x00, 0x02, // 363 portRangeStepSize, 2
            0x01, 0x6c, 0x00, 0x02, // 364 portRangeNumPorts, 2
            // Data set 258, length 4 + 39.
            0x01, 0x02, 0x00, 43,
            0x00, 0x00, 0x01, 0x8c, 0x2f, 0x4e, 0xa0, 0x00, // time, ms
            14, // natEvent: port block allocation
            0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0, 0,
            64, // prefix length
            192, 0, 2, 1,
            17, // UDP
            0x04, 0x00, 0x04, 0x7f, 0x00, 0x01, 0x00, 0x80, // 1024, 1151, step 1, 128
        ];
        let len = want.len() as u16;
        want[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(msgs[0], want);
    }

    /// RFC 7011 §3.1: the sequence number counts the data records sent before the
    /// message; templates are not re-sent until the interval passes (§8.4).
    #[test]
    fn sequence_numbers_batching_and_template_refresh_rfc7011() {
        let mut enc = Encoder::new(1);
        let events = vec![block_event(); 100];
        let msgs = enc.encode(&events, 1000);
        // 39-byte records, 1400-byte messages: several messages.
        assert!(msgs.len() >= 3, "{}", msgs.len());
        let mut seq = 0u32;
        let mut records = 0usize;
        for m in &msgs {
            assert!(m.len() <= MAX_MESSAGE);
            assert_eq!(u16::from_be_bytes([m[2], m[3]]) as usize, m.len());
            assert_eq!(u32::from_be_bytes([m[8], m[9], m[10], m[11]]), seq);
            // Walk the sets.
            let mut off = 16;
            while off < m.len() {
                let id = u16::from_be_bytes([m[off], m[off + 1]]);
                let len = usize::from(u16::from_be_bytes([m[off + 2], m[off + 3]]));
                if id == 258 {
                    let n = (len - 4) / 39;
                    records += n;
                    seq += n as u32;
                }
                off += len;
            }
            assert_eq!(off, m.len());
        }
        assert_eq!(records, 100);
        let again = enc.encode(&events[..1], 1030);
        assert_eq!(u16::from_be_bytes([again[0][16], again[0][17]]), 258);
        let later = enc.encode(&events[..1], 1060);
        assert_eq!(u16::from_be_bytes([later[0][16], later[0][17]]), 2);
        // Nothing at all before the first records; an idle refresh afterwards.
        assert!(Encoder::new(1).encode(&[], 0).is_empty());
        let idle = enc.encode(&[], 1120);
        assert_eq!(idle.len(), 1);
        assert_eq!(u16::from_be_bytes([idle[0][16], idle[0][17]]), 2);
    }
}
