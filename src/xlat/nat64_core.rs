//! One worker's stateful translator: the shared RFC 6146 rules ([`Nat64Translator`]),
//! the worker's own shard of sessions, and the packets that outlive their turn (held
//! IPv4 SYNs, see [`super::held`]). Sans-IO like the rest of `xlat`: the caller passes
//! `now`, hands in packets, and writes out what lands in the [`Output`]; the timers
//! (session expiry, held-SYN expiry and the ICMP errors they cause) run when the caller
//! calls [`Nat64Core::expire`].

use crate::nat64::{Event, Expired, Shard};
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::Offload;

use super::held::{HeldSyns, held_key};
use super::reassembly::{self, Reassembly};
use super::stateful::{HeldSynKey, Nat64Translator};
use super::{DropReason, Output, Verdict};

/// What a timer made the core send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generated {
    /// An ICMP error the translator originates (held SYN expired: Port Unreachable).
    IcmpError,
    /// The TCP keepalive probe of an ESTABLISHED session that timed out.
    Probe,
}

pub struct Nat64Core<'a> {
    xlat: &'a Nat64Translator,
    shard: Shard,
    held: HeldSyns,
    /// Fragments waiting for the rest of their datagram (RFC 6146 §3.4).
    frags: Reassembly,
    /// Set by an IPv6 SYN that completed a simultaneous open: the held IPv4 SYN to send
    /// once that SYN's own frames are out.
    release: Option<HeldSynKey>,
}

impl<'a> Nat64Core<'a> {
    pub fn new(xlat: &'a Nat64Translator, shard: Shard, frags: reassembly::Limits) -> Self {
        let slots = shard.config().max_held_syns;
        Nat64Core {
            xlat,
            shard,
            held: HeldSyns::new(slots),
            frags: Reassembly::new(frags),
            release: None,
        }
    }

    pub fn translator(&self) -> &'a Nat64Translator {
        self.xlat
    }

    pub fn shard(&self) -> &Shard {
        &self.shard
    }

    /// For the worker's control-plane chores between packets (draining the NAT
    /// event records, a reload's limits); translation goes through the methods above.
    pub fn shard_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }

    pub fn fragments(&self) -> &Reassembly {
        &self.frags
    }

    /// RFC 6146 §3.4: a fragment is kept until its datagram is whole; the one that
    /// completes it leaves the whole datagram in `pkt`, to be steered and translated
    /// like any packet ([`reassembly::Outcome::Complete`]). Whole packets pass.
    #[inline]
    pub fn reassemble(&mut self, pkt: &mut PacketBuf, now: u64) -> reassembly::Outcome {
        self.frags.push(pkt, now)
    }

    /// Drops the datagrams that did not complete in time (a bounded number); returns
    /// how many fragments went with them, and whether more are due already.
    pub fn expire_fragments(&mut self, now: u64) -> (usize, bool) {
        let dropped = self.frags.expire(now);
        (dropped, self.frags.due(now))
    }

    /// Translates one packet read with `offload` metadata (see
    /// [`Nat64Translator::translate_offload`]); `hairpin_here` false when another
    /// worker owns the IPv4 half of a §3.8 hairpin. An IPv4 SYN the shard holds for a
    /// simultaneous open is copied here, to be released or answered later.
    #[inline]
    pub fn translate(
        &mut self,
        pkt: &mut PacketBuf,
        offload: Offload,
        out: &mut Output,
        now: u64,
        hairpin_here: bool,
    ) -> Verdict {
        let v = self
            .xlat
            .translate_offload(&mut self.shard, pkt, offload, out, now, hairpin_here);
        if v.verdict == Verdict::Drop(DropReason::Nat64HeldSyn)
            && let Some(key) = held_key(pkt.data())
        {
            self.held.insert(key, pkt.data(), offload);
        }
        self.release = v.release_held;
        v.verdict
    }

    /// Translates one datagram of a UDP super-packet the caller split (UDP is never
    /// held and releases nothing).
    #[inline]
    pub fn translate_datagram(
        &mut self,
        pkt: &mut PacketBuf,
        out: &mut Output,
        now: u64,
        hairpin_here: bool,
    ) -> Verdict {
        self.xlat
            .translate_steered(&mut self.shard, pkt, out, now, hairpin_here)
            .verdict
    }

    /// RFC 6146 §3.5.2.2: after the frames of an IPv6 SYN that completed a simultaneous
    /// open were sent, the IPv4 SYN held for it now has its session and goes through
    /// like any other packet: copied into `pkt` and translated into `out`. None when
    /// the last packet released nothing (or its copy was not kept).
    #[inline]
    pub fn release_held(
        &mut self,
        pkt: &mut PacketBuf,
        out: &mut Output,
        now: u64,
    ) -> Option<Verdict> {
        let key = self.release.take()?;
        let offload = self.held.take(key, |b, offload| {
            let n = b.len().min(pkt.receive_area().len());
            pkt.receive_area()[..n].copy_from_slice(&b[..n]);
            pkt.set_received(n);
            offload
        })?;
        let v = self
            .xlat
            .translate_offload(&mut self.shard, pkt, offload, out, now, true);
        Some(v.verdict)
    }

    /// Frees what has timed out, looking at no more than `budget` entries, and answers
    /// each held SYN that saw no simultaneous open with ICMP Port Unreachable: built in
    /// `out`, then handed to `send` (which writes `out`'s frames). Returns how many
    /// sessions were freed and whether due work is left ([`Shard::expire`]): the
    /// caller then calls again soon, before it waits for its next timer tick.
    pub fn expire(
        &mut self,
        now: u64,
        budget: usize,
        out: &mut Output,
        mut send: impl FnMut(&Output, Generated),
    ) -> Expired {
        let (xlat, held) = (self.xlat, &mut self.held);
        self.shard.expire(now, budget, |ev| {
            out.clear();
            match ev {
                Event::HeldSynExpired {
                    src,
                    sport,
                    dst,
                    dport,
                } => {
                    let key = HeldSynKey {
                        src,
                        sport,
                        dst,
                        dport,
                    };
                    let quoted = held.take(key, |b, _| xlat.held_syn_unreachable(b, out));
                    if quoted.is_none() {
                        xlat.held_syn_unreachable_from_key(key, out);
                    }
                    send(out, Generated::IcmpError);
                }
                Event::TcpProbe(info) => {
                    if xlat.tcp_probe(&info, out) {
                        send(out, Generated::Probe);
                    }
                }
            }
        })
    }
}
