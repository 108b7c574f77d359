//! The TCP session state machine of RFC 6146 §3.5.2.2, as a pure function of
//! (state, direction, flags). The shard applies its result: new state, and whether
//! the packet sets the session lifetime (refresh) — all that timers need.
//!
//! Choices where the RFC leaves room, or where this module narrows it:
//! - A V4 SYN for a transport address with no BIB entry is not a session here: the
//!   shard holds it (`V4Lookup::Held`) for TCP_INCOMING_SYN and then reports it for an
//!   ICMP Port Unreachable, unless a V6 SYN opens the same session first.
//! - A V4 SYN that finds a BIB entry creates a V4 INIT session whose lifetime is
//!   TCP_INCOMING_SYN, where the reference implementation (Jool) gives it TCP_TRANS:
//!   an IPv6 server answers a SYN in well under 6 s, and a SYN flood from IPv4 towards
//!   a static entry then costs 6 s of state per SYN, not 4 min.
//! - A V4 SYN that finds a BIB entry but is refused by address-dependent filtering is
//!   held like a SYN without one (simultaneous open), and a TCP segment other than a
//!   SYN that finds a BIB entry but no session is translated if the filtering allows
//!   it, opening nothing: the CLOSED-state rules as Jool reads them.
//! - When ESTABLISHED times out the session moves to TRANS and the shard reports a
//!   probe (`Event::TcpProbe`), which the worker's core sends to the IPv6 endpoint
//!   (§3.5.2.2's SHOULD; see `xlat::probe`).

/// TCP header flag bits, as in the TCP header (byte 13).
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;

/// RFC 6146 §3.5.2.1 states. CLOSED is the absence of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    Closed = 0,
    V4Init = 1,
    V6Init = 2,
    Established = 3,
    V4FinRcv = 4,
    V6FinRcv = 5,
    V4FinV6FinRcv = 6,
    Trans = 7,
}

impl TcpState {
    pub(crate) fn from_u8(v: u8) -> TcpState {
        match v {
            1 => TcpState::V4Init,
            2 => TcpState::V6Init,
            3 => TcpState::Established,
            4 => TcpState::V4FinRcv,
            5 => TcpState::V6FinRcv,
            6 => TcpState::V4FinV6FinRcv,
            7 => TcpState::Trans,
            _ => TcpState::Closed,
        }
    }

    /// Which lifetime applies in this state.
    pub fn lifetime(self) -> Lifetime {
        match self {
            TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv => Lifetime::Est,
            TcpState::V4Init => Lifetime::IncomingSyn,
            _ => Lifetime::Trans,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::V4Init => "V4 INIT",
            TcpState::V6Init => "V6 INIT",
            TcpState::Established => "ESTABLISHED",
            TcpState::V4FinRcv => "V4 FIN RCV",
            TcpState::V6FinRcv => "V6 FIN RCV",
            TcpState::V4FinV6FinRcv => "V4 FIN + V6 FIN RCV",
            TcpState::Trans => "TRANS",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    Est,
    Trans,
    IncomingSyn,
}

/// Which side a packet came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    V6,
    V4,
}

/// The outcome of one packet on an existing session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub next: TcpState,
    /// The packet (re)sets the lifetime to `next.lifetime()`'s value.
    pub refresh: bool,
}

const fn step(next: TcpState, refresh: bool) -> Step {
    Step { next, refresh }
}

/// RFC 6146 §3.5.2.2 for a session that exists (state ≠ CLOSED). Every packet is
/// translated; only state and lifetime change.
pub fn on_packet(state: TcpState, side: Side, flags: u8) -> Step {
    use TcpState::*;
    let syn = flags & SYN != 0;
    let fin = flags & FIN != 0;
    let rst = flags & RST != 0;
    match (state, side) {
        // "If a V6 SYN is received ... the state is moved to ESTABLISHED; lifetime
        // TCP_EST." Other packets are translated without changing the lifetime.
        (V4Init, Side::V6) if syn => step(Established, true),
        (V4Init, _) => step(V4Init, false),
        // V6 INIT: the V4 SYN completes the open; a repeated V6 SYN restarts TCP_TRANS.
        (V6Init, Side::V4) if syn => step(Established, true),
        (V6Init, Side::V6) if syn => step(V6Init, true),
        (V6Init, _) => step(V6Init, false),
        // ESTABLISHED: FIN moves to the side's FIN RCV without touching the lifetime (the
        // RFC sets one only for RST and "any other packet"), RST to TRANS (lifetime
        // TCP_TRANS), anything else refreshes TCP_EST.
        (Established, _) if rst => step(Trans, true),
        (Established, Side::V4) if fin => step(V4FinRcv, false),
        (Established, Side::V6) if fin => step(V6FinRcv, false),
        (Established, _) => step(Established, true),
        // Half-closed: the other side's FIN finishes; anything else refreshes TCP_EST.
        (V4FinRcv, Side::V6) if fin => step(V4FinV6FinRcv, true),
        (V6FinRcv, Side::V4) if fin => step(V4FinV6FinRcv, true),
        (V4FinRcv | V6FinRcv, _) => step(state, true),
        // Both FINs seen: translate, let TCP_TRANS run out.
        (V4FinV6FinRcv, _) => step(V4FinV6FinRcv, false),
        // TRANS: any packet but a RST brings the connection back to ESTABLISHED.
        (Trans, _) if rst => step(Trans, false),
        (Trans, _) => step(Established, true),
        (Closed, _) => step(Closed, false),
    }
}

/// What happens when the lifetime of a session in `state` runs out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnTimeout {
    Delete,
    /// ESTABLISHED: move to TRANS for TCP_TRANS and (optionally) probe.
    ProbeAndTrans,
}

pub fn on_timeout(state: TcpState) -> OnTimeout {
    match state {
        TcpState::Established => OnTimeout::ProbeAndTrans,
        _ => OnTimeout::Delete,
    }
}

#[cfg(test)]
mod tests {
    //! One test per transition of RFC 6146 §3.5.2.2.
    use super::TcpState::*;
    use super::*;

    const ACK: u8 = 0x10;

    fn t(state: TcpState, side: Side, flags: u8) -> (TcpState, bool) {
        let s = on_packet(state, side, flags);
        (s.next, s.refresh)
    }

    #[test]
    fn rfc6146_3_5_2_2_v4_init() {
        assert_eq!(t(V4Init, Side::V6, SYN | ACK), (Established, true));
        assert_eq!(t(V4Init, Side::V4, SYN), (V4Init, false));
        assert_eq!(t(V4Init, Side::V4, ACK), (V4Init, false));
        assert_eq!(V4Init.lifetime(), Lifetime::IncomingSyn);
        assert_eq!(on_timeout(V4Init), OnTimeout::Delete);
    }

    #[test]
    fn rfc6146_3_5_2_2_v6_init() {
        assert_eq!(t(V6Init, Side::V4, SYN | ACK), (Established, true));
        assert_eq!(t(V6Init, Side::V6, SYN), (V6Init, true));
        assert_eq!(t(V6Init, Side::V6, ACK), (V6Init, false));
        assert_eq!(t(V6Init, Side::V4, ACK), (V6Init, false));
        assert_eq!(V6Init.lifetime(), Lifetime::Trans);
        assert_eq!(on_timeout(V6Init), OnTimeout::Delete);
    }

    #[test]
    fn rfc6146_3_5_2_2_established() {
        // A FIN changes the state only; the peer's ACK of it ("any other packet" in
        // V4/V6 FIN RCV) then sets TCP_EST.
        assert_eq!(t(Established, Side::V4, FIN | ACK), (V4FinRcv, false));
        assert_eq!(t(Established, Side::V6, FIN | ACK), (V6FinRcv, false));
        assert_eq!(t(Established, Side::V4, RST), (Trans, true));
        assert_eq!(t(Established, Side::V6, RST | ACK), (Trans, true));
        assert_eq!(t(Established, Side::V6, ACK), (Established, true));
        assert_eq!(t(Established, Side::V4, ACK), (Established, true));
        assert_eq!(Established.lifetime(), Lifetime::Est);
        assert_eq!(on_timeout(Established), OnTimeout::ProbeAndTrans);
    }

    #[test]
    fn rfc6146_3_5_2_2_v4_fin_rcv() {
        assert_eq!(t(V4FinRcv, Side::V6, FIN | ACK), (V4FinV6FinRcv, true));
        assert_eq!(t(V4FinRcv, Side::V4, FIN), (V4FinRcv, true));
        assert_eq!(t(V4FinRcv, Side::V6, ACK), (V4FinRcv, true));
        assert_eq!(V4FinRcv.lifetime(), Lifetime::Est);
        assert_eq!(on_timeout(V4FinRcv), OnTimeout::Delete);
    }

    #[test]
    fn rfc6146_3_5_2_2_v6_fin_rcv() {
        assert_eq!(t(V6FinRcv, Side::V4, FIN | ACK), (V4FinV6FinRcv, true));
        assert_eq!(t(V6FinRcv, Side::V6, FIN), (V6FinRcv, true));
        assert_eq!(t(V6FinRcv, Side::V4, ACK), (V6FinRcv, true));
        assert_eq!(on_timeout(V6FinRcv), OnTimeout::Delete);
    }

    #[test]
    fn rfc6146_3_5_2_2_v4_fin_v6_fin_rcv() {
        for side in [Side::V4, Side::V6] {
            for flags in [ACK, FIN, RST, SYN] {
                assert_eq!(t(V4FinV6FinRcv, side, flags), (V4FinV6FinRcv, false));
            }
        }
        assert_eq!(V4FinV6FinRcv.lifetime(), Lifetime::Trans);
        assert_eq!(on_timeout(V4FinV6FinRcv), OnTimeout::Delete);
    }

    #[test]
    fn rfc6146_3_5_2_2_trans() {
        assert_eq!(t(Trans, Side::V4, ACK), (Established, true));
        assert_eq!(t(Trans, Side::V6, ACK), (Established, true));
        assert_eq!(t(Trans, Side::V6, RST), (Trans, false));
        assert_eq!(Trans.lifetime(), Lifetime::Trans);
        assert_eq!(on_timeout(Trans), OnTimeout::Delete);
    }
}
