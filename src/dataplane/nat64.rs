//! The NAT64 engine of a worker: its shard of session state, the IPv4 SYNs held for a
//! simultaneous open, and the expiry timer. With several workers it first asks whose
//! packet it read (`Nat64Translator::steer`) and hands other workers' packets to them
//! (`handoff`); the parcels handed to it are translated on every `tick`, that is after
//! every batch of reads and whenever a sender wakes it.
//!
//! Held SYNs (RFC 6146 §3.5.2.2) are the one place a packet outlives its loop turn: the
//! shard only remembers the flow, so the worker keeps a copy of the packet, to translate
//! it if the IPv6 side opens the same connection, or to quote it in the ICMP port
//! unreachable when the hold expires (the sender's TCP matches the quoted sequence
//! number). The store is allocated once and bounded; a SYN that does not fit is still
//! held by the shard, and answered from its key alone.

use std::net::Ipv4Addr;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

use std::sync::Arc;

use super::handoff::Handoff;
use super::worker::{Engine, Io};
use crate::nat64::{Event, SessionInfo, Shard, Sharding};
use crate::wire::vnet::{Offload, gso};
use crate::xlat::{DropReason, HeldSynKey, Nat64Translator, Verdict};

/// Sessions looked at per expiry call: bounds the pause a sweep adds to a batch.
pub const EXPIRE_BUDGET: usize = 256;

/// How often an idle worker wakes up to expire sessions (held SYNs wait 6 s, so this
/// is their resolution too).
pub const TICK: Duration = Duration::from_secs(1);

/// Rows one `xlat64 sessions` answer carries at most: bounds the copy the worker makes.
pub const MAX_SESSION_ROWS: usize = 100_000;

/// The worker's answer to a sessions request: at most [`MAX_SESSION_ROWS`] rows, and
/// how many sessions there were in all.
#[derive(Debug, Default)]
pub struct SessionsReply {
    pub rows: Vec<SessionInfo>,
    pub total: usize,
}

/// A sessions request: where the worker sends its reply. The shard belongs to the
/// worker thread, so the control thread asks through a channel instead of reading it.
pub type SessionsRequest = SyncSender<SessionsReply>;

/// Bytes kept per held SYN: IPv4 header with options (60) + TCP header with options
/// (60) and some room; a SYN carrying more data (TCP Fast Open) is answered from its key.
const HELD_SLOT: usize = 256;

/// Preallocated copies of held IPv4 SYNs, looked up by linear scan (a rare path: one
/// scan per held SYN, per simultaneous open and per expiry).
pub struct HeldSyns {
    keys: Vec<Option<HeldSynKey>>,
    lens: Vec<usize>,
    /// The offload metadata each SYN was read with (a partial checksum must be
    /// translated as one when the SYN is released).
    offloads: Vec<Offload>,
    bytes: Vec<[u8; HELD_SLOT]>,
}

impl HeldSyns {
    pub fn new(slots: usize) -> Self {
        HeldSyns {
            keys: vec![None; slots],
            lens: vec![0; slots],
            offloads: vec![Offload::NONE; slots],
            bytes: vec![[0; HELD_SLOT]; slots],
        }
    }

    /// Keeps a copy of `pkt` under `key` (replacing an older copy of the same flow);
    /// false if it does not fit.
    pub fn insert(&mut self, key: HeldSynKey, pkt: &[u8], offload: Offload) -> bool {
        if pkt.len() > HELD_SLOT {
            return false;
        }
        let slot = self
            .keys
            .iter()
            .position(|k| *k == Some(key))
            .or_else(|| self.keys.iter().position(Option::is_none));
        let Some(i) = slot else { return false };
        let (Some(k), Some(l), Some(o), Some(b)) = (
            self.keys.get_mut(i),
            self.lens.get_mut(i),
            self.offloads.get_mut(i),
            self.bytes.get_mut(i),
        ) else {
            return false;
        };
        *k = Some(key);
        *l = pkt.len();
        *o = offload;
        b[..pkt.len()].copy_from_slice(pkt);
        true
    }

    /// Removes the copy held under `key`, handing its bytes and offload metadata to `f`.
    pub fn take<R>(&mut self, key: HeldSynKey, f: impl FnOnce(&[u8], Offload) -> R) -> Option<R> {
        let i = self.keys.iter().position(|k| *k == Some(key))?;
        self.keys[i] = None;
        let b = self.bytes.get(i)?.get(..self.lens[i])?;
        Some(f(b, self.offloads.get(i).copied().unwrap_or(Offload::NONE)))
    }
}

/// The flow key of an IPv4 TCP packet as the shard names held SYNs.
pub fn held_key(pkt: &[u8]) -> Option<HeldSynKey> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let a = |at: usize| -> Option<Ipv4Addr> {
        let b = pkt.get(at..at + 4)?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let p = |at: usize| -> Option<u16> {
        let b = pkt.get(at..at + 2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    };
    Some(HeldSynKey {
        src: a(12)?,
        dst: a(16)?,
        sport: p(ihl)?,
        dport: p(ihl + 2)?,
    })
}

/// One worker's NAT64 state and the shared stateful translator.
pub struct Nat64Engine<'a> {
    core: Core<'a>,
    /// With several workers: who owns which flow, and the rings to the owners.
    steer: Option<Steer>,
    requests: Option<Receiver<SessionsRequest>>,
}

/// What translating on this worker's shard needs.
struct Core<'a> {
    xlat: &'a Nat64Translator,
    shard: Shard,
    held: HeldSyns,
    release: Option<HeldSynKey>,
}

struct Steer {
    sharding: Arc<Sharding>,
    handoff: Handoff,
}

/// Parcels from other workers translated per `tick`: bounds how long the TUN waits.
pub const HANDOFF_BUDGET: usize = 256;

impl<'a> Nat64Engine<'a> {
    pub fn new(xlat: &'a Nat64Translator, shard: Shard) -> Self {
        let slots = shard.config().max_held_syns;
        Nat64Engine {
            core: Core {
                xlat,
                shard,
                held: HeldSyns::new(slots),
                release: None,
            },
            steer: None,
            requests: None,
        }
    }

    /// Makes this engine one of several: packets whose flow `sharding` gives to
    /// another worker go there through `handoff`.
    pub fn with_handoff(mut self, sharding: Arc<Sharding>, handoff: Handoff) -> Self {
        if sharding.workers() > 1 {
            self.steer = Some(Steer { sharding, handoff });
        }
        self
    }

    /// Answers the sessions requests arriving on `rx` (checked on every tick).
    pub fn serve_sessions(&mut self, rx: Receiver<SessionsRequest>) {
        self.requests = Some(rx);
    }

    /// Copies the session table for each pending request: a control-plane path, so it
    /// may allocate; the copy is bounded by [`MAX_SESSION_ROWS`].
    fn answer_requests(&mut self, now: u64) {
        let Some(rx) = &self.requests else { return };
        let shard = &self.core.shard;
        while let Ok(reply_to) = rx.try_recv() {
            let rows: Vec<SessionInfo> = shard.sessions(now).take(MAX_SESSION_ROWS).collect();
            let total = if rows.len() < MAX_SESSION_ROWS {
                rows.len()
            } else {
                shard.sessions(now).count()
            };
            // The requester may have given up waiting; nothing to do then.
            let _ = reply_to.try_send(SessionsReply { rows, total });
        }
    }

    pub fn shard(&self) -> &Shard {
        &self.core.shard
    }

    /// Translates the parcels other workers handed us.
    fn serve_handoffs(&mut self, io: &mut Io, now: u64) {
        let Some(st) = &mut self.steer else { return };
        let (core, sharding, me) = (&mut self.core, &st.sharding, st.handoff.me());
        st.handoff.serve(HANDOFF_BUDGET, |parcel| {
            std::mem::swap(&mut io.pkt, &mut parcel.buf);
            let s = core.xlat.steer(sharding, io.pkt.data());
            let here = s.hairpin.is_none_or(|w| w == me);
            if let Some(v) = core.translate(io, parcel.offload, now, here) {
                let dropped = io.account(v);
                io.send_out(dropped);
            }
            core.after_packet(io, now);
        });
    }
}

impl Core<'_> {
    #[inline]
    fn translate(
        &mut self,
        io: &mut Io,
        offload: Offload,
        now: u64,
        hairpin_here: bool,
    ) -> Option<Verdict> {
        if offload.gso_type != gso::NONE && self.xlat.udp_needs_split(io.pkt.data(), offload) {
            let (xlat, shard) = (self.xlat, &mut self.shard);
            io.split_udp(offload, |p, o| {
                xlat.translate_steered(shard, p, o, now, hairpin_here)
                    .verdict
            });
            return None;
        }
        let v = self.xlat.translate_offload(
            &mut self.shard,
            &mut io.pkt,
            offload,
            &mut io.out,
            now,
            hairpin_here,
        );
        if v.verdict == Verdict::Drop(DropReason::Nat64HeldSyn)
            && let Some(key) = held_key(io.pkt.data())
        {
            self.held.insert(key, io.pkt.data(), offload);
        }
        self.release = v.release_held;
        Some(v.verdict)
    }

    #[inline]
    fn after_packet(&mut self, io: &mut Io, now: u64) {
        let Some(key) = self.release.take() else {
            return;
        };
        // RFC 6146 §3.5.2.2: the IPv6 SYN completed a simultaneous open; the IPv4 SYN
        // we held now has its session and goes through like any other packet.
        let copied = self.held.take(key, |b, offload| {
            let n = b.len().min(io.pkt.receive_area().len());
            io.pkt.receive_area()[..n].copy_from_slice(&b[..n]);
            io.pkt.set_received(n);
            offload
        });
        if let Some(offload) = copied {
            let v = self.xlat.translate_offload(
                &mut self.shard,
                &mut io.pkt,
                offload,
                &mut io.out,
                now,
                true,
            );
            let dropped = io.account(v.verdict);
            io.send_out(dropped);
        }
    }

    fn expire(&mut self, io: &mut Io, now: u64) {
        let (xlat, held) = (self.xlat, &mut self.held);
        self.shard.expire(now, EXPIRE_BUDGET, |ev| {
            if let Event::HeldSynExpired {
                src,
                sport,
                dst,
                dport,
            } = ev
            {
                let key = HeldSynKey {
                    src,
                    sport,
                    dst,
                    dport,
                };
                io.out.clear();
                let quoted = held.take(key, |b, _| xlat.held_syn_unreachable(b, &mut io.out));
                if quoted.is_none() {
                    xlat.held_syn_unreachable_from_key(key, &mut io.out);
                }
                io.send_out(true);
            }
        });
        io.counters.sessions.set(self.shard.session_count() as u64);
    }
}

impl Engine for Nat64Engine<'_> {
    fn idle_timeout(&self) -> Option<Duration> {
        Some(TICK)
    }

    #[inline]
    fn translate(&mut self, io: &mut Io, offload: Offload, now: u64) -> Option<Verdict> {
        let mut hairpin_here = true;
        if let Some(st) = &mut self.steer {
            let me = st.handoff.me();
            let s = self.core.xlat.steer(&st.sharding, io.pkt.data());
            if let Some(owner) = s.owner.filter(|&w| w != me) {
                if st.handoff.send(owner, &mut io.pkt, offload) {
                    io.counters.handed_off.add(1);
                    return None;
                }
                io.out.clear();
                return Some(Verdict::Drop(DropReason::Nat64HandoffFull));
            }
            hairpin_here = s.hairpin.is_none_or(|w| w == me);
        }
        self.core.translate(io, offload, now, hairpin_here)
    }

    #[inline]
    fn after_packet(&mut self, io: &mut Io, now: u64) {
        self.core.after_packet(io, now);
    }

    fn tick(&mut self, io: &mut Io, now: u64) {
        self.serve_handoffs(io, now);
        self.core.expire(io, now);
        self.answer_requests(now);
    }

    #[inline]
    fn park(&mut self) -> bool {
        self.steer.as_ref().is_none_or(|st| st.handoff.park())
    }

    #[inline]
    fn unpark(&mut self) {
        if let Some(st) = &self.steer {
            st.handoff.unpark();
        }
    }
}

/// Asks for transparent huge pages under the shard's large tables. At millions of
/// sessions nearly every lookup misses the TLB with 4 KiB pages; 2 MiB pages cover the
/// tables with a few hundred TLB entries (see "Measurements" in [`crate::nat64`]).
/// Call it right after `Shard::new`, before the worker sees a packet: the advice only
/// shapes pages touched later. An error (THP disabled: EINVAL) means 4 KiB pages, which
/// work, only slower; log it once and go on.
pub fn advise_shard_hugepages(shard: &Shard) -> std::io::Result<()> {
    let mut result = Ok(());
    shard.for_each_table(|ptr, len| {
        if let Err(e) = super::sys::advise_hugepages(ptr, len)
            && result.is_ok()
        {
            result = Err(e);
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sport: u16) -> HeldSynKey {
        HeldSynKey {
            src: Ipv4Addr::new(198, 51, 100, 130),
            sport,
            dst: Ipv4Addr::new(203, 0, 113, 16),
            dport: 2000,
        }
    }

    /// RFC 6146 §3.5.2.2: held SYNs are kept (bounded) and handed back once.
    #[test]
    fn rfc6146_3_5_2_2_held_store_is_bounded_and_take_once() {
        let mut h = HeldSyns::new(2);
        let n = Offload::NONE;
        assert!(h.insert(key(1), &[1, 2, 3], n));
        assert!(h.insert(key(2), &[4], n));
        assert!(!h.insert(key(3), &[5], n));
        assert!(h.insert(key(1), &[9, 9], n));
        assert!(!h.insert(key(4), &[0; HELD_SLOT + 1], n));
        assert_eq!(h.take(key(1), |b, _| b.to_vec()), Some(vec![9, 9]));
        assert_eq!(h.take(key(1), |b, _| b.to_vec()), None);
        assert!(h.insert(key(3), &[5], n));
    }

    /// RFC 6146 §3.5.2.2 names held SYNs by the IPv4 flow: source, destination, ports.
    #[test]
    fn rfc6146_3_5_2_2_held_key_from_ipv4_tcp() {
        let mut p = [0u8; 40];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&[198, 51, 100, 130]);
        p[16..20].copy_from_slice(&[203, 0, 113, 16]);
        p[20..22].copy_from_slice(&7u16.to_be_bytes());
        p[22..24].copy_from_slice(&2000u16.to_be_bytes());
        assert_eq!(held_key(&p), Some(key(7)));
        assert_eq!(held_key(&p[..22]), None);
        assert_eq!(held_key(&[]), None);
    }
}
