//! The NAT64 engine of a worker: the IO shell around its sans-IO [`Nat64Core`] (the
//! worker's shard of session state and its held SYNs). With several workers it first
//! asks whose packet it read (`Nat64Translator::steer`) and hands other workers'
//! packets to them (`handoff`); the parcels handed to it are translated on every
//! `tick`, that is after every batch of reads and whenever a sender wakes it. The tick
//! also runs the core's timers and answers the control thread's session requests.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::time::Duration;

use ipnet::Ipv6Net;
use mio::Waker;

use super::counters::Counters;
use super::device::Device;
use super::engine::Engine;
use super::handoff::{Handoff, Outbox, Refused};
use super::io::{Io, send_errors, send_frames};
use super::live::{Follower, Live};
use crate::nat64::config::Timeouts;
use crate::nat64::{LOOKS_PER_SESSION, NatEvent, Refusal, SessionInfo, Shard, Sharding, StaticBib};
use crate::wire::vnet::{Offload, gso};
use crate::xlat::reassembly::{self, Outcome};
use crate::xlat::{DropReason, Generated, Nat64Core, Nat64Translator, Verdict};

/// Sessions looked at per expiry call: bounds the pause a sweep adds to a batch.
pub const EXPIRE_BUDGET: usize = 256;

/// The budget of one expiry call when `created` sessions were created since the last
/// one: [`EXPIRE_BUDGET`] plus the looks those sessions will cost the sweeper
/// ([`LOOKS_PER_SESSION`] each). A busy worker runs its timers once per turn of its
/// loop (a batch of reads, then up to [`HANDOFF_BUDGET`] hand-offs), so each turn
/// budgets more expiry work than it brings and expiry keeps up with any flood; the
/// call stays bounded, since a turn creates at most one or two sessions (a hairpin)
/// per packet it translates.
pub fn expire_budget(created: u64) -> usize {
    let created = usize::try_from(created).unwrap_or(usize::MAX);
    EXPIRE_BUDGET.saturating_add(created.saturating_mul(LOOKS_PER_SESSION))
}

/// How often an idle worker wakes up to expire sessions (held SYNs wait 6 s, so this
/// is their resolution too).
pub const TICK: Duration = Duration::from_secs(1);

/// Rows one `xlat64 sessions` answer carries at most: bounds the copy the worker makes.
pub const MAX_SESSION_ROWS: usize = 100_000;

/// Which sessions a caller wants: those of one subscriber (an IPv6 prefix, or one
/// address as a /128) and/or on one pool4 address. Applied by the worker while it copies,
/// so that the row limit counts matching rows only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub subscriber: Option<Ipv6Net>,
    pub pool4: Option<Ipv4Addr>,
}

impl SessionFilter {
    pub fn matches(&self, i: &SessionInfo) -> bool {
        self.subscriber.is_none_or(|p| p.contains(&i.v6)) && self.pool4.is_none_or(|a| a == i.v4)
    }
}

/// One page of the session table: the matching rows from `offset` on, at most `limit`
/// (itself at most [`MAX_SESSION_ROWS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionsQuery {
    pub filter: SessionFilter,
    pub offset: usize,
    pub limit: usize,
}

impl Default for SessionsQuery {
    fn default() -> Self {
        SessionsQuery {
            filter: SessionFilter::default(),
            offset: 0,
            limit: MAX_SESSION_ROWS,
        }
    }
}

/// The answer to a sessions query: the page's rows, how many sessions matched the
/// filter, and how many there were in all.
#[derive(Debug, Default)]
pub struct SessionsReply {
    pub rows: Vec<SessionInfo>,
    pub matched: usize,
    pub total: usize,
}

impl SessionsReply {
    /// Whether matching rows exist past this page.
    pub fn truncated(&self, offset: usize) -> bool {
        offset.saturating_add(self.rows.len()) < self.matched
    }
}

/// A sessions request to one worker: the page wanted, and where the worker sends its
/// reply. The shard belongs to the worker thread, so the control thread asks through a
/// channel instead of reading it.
pub struct SessionsRequest {
    pub query: SessionsQuery,
    pub reply: SyncSender<SessionsReply>,
}

/// How long the control thread waits for a worker to copy its sessions.
pub const SESSIONS_TIMEOUT: Duration = Duration::from_secs(5);

/// How the control thread reaches one NAT64 worker: its request channel, and its waker
/// so that a sleeping worker answers at once instead of at its next tick.
#[derive(Clone)]
pub struct SessionsLink {
    pub requests: Sender<SessionsRequest>,
    /// Reloads' changes, applied on the worker's next tick.
    pub control: Sender<WorkerControl>,
    pub waker: Arc<Waker>,
}

/// What a reload changes in a running NAT64 worker's shard, in the order sent.
pub enum WorkerControl {
    Limits(Nat64Limits),
    Statics(StaticChange, SyncSender<Result<(), String>>),
    /// New pool4 addresses (`Shard::add_pool4`).
    AddPool4(Vec<Ipv4Addr>, SyncSender<Result<(), String>>),
}

/// Static BIB entries a reload removes from and adds to one worker's shard, all or
/// nothing (`Shard::change_statics`); the worker answers on `reply`.
#[derive(Clone, Default)]
pub struct StaticChange {
    pub remove: Vec<StaticBib>,
    pub add: Vec<StaticBib>,
    /// Entries added on another worker whose IPv6 side this worker may have mapped
    /// (it owns the subscriber): refused if it has.
    pub check: Vec<StaticBib>,
}

impl StaticChange {
    /// The change that undoes this one.
    pub fn inverse(&self) -> StaticChange {
        StaticChange {
            remove: self.add.clone(),
            add: self.remove.clone(),
            check: Vec::new(),
        }
    }

    fn apply(&self, shard: &mut Shard) -> Result<(), String> {
        if let Some(st) = self.check.iter().find(|st| shard.maps_v6(st)) {
            return Err(format!(
                "\"{st}\": its IPv4 or IPv6 address and port are already mapped"
            ));
        }
        shard.change_statics(&self.remove, &self.add)
    }
}

/// Gives every worker its slices of the new pool4 addresses and waits for them all.
pub fn add_pool4(links: &[SessionsLink], addrs: &[Ipv4Addr]) -> Result<(), String> {
    for w in 0..links.len() {
        ask(links, w, |reply| {
            WorkerControl::AddPool4(addrs.to_vec(), reply)
        })?;
    }
    Ok(())
}

/// Sends worker `w` a change and waits for its answer.
fn ask(
    links: &[SessionsLink],
    w: usize,
    msg: impl FnOnce(SyncSender<Result<(), String>>) -> WorkerControl,
) -> Result<(), String> {
    let link = links.get(w).ok_or_else(|| format!("no NAT64 worker {w}"))?;
    let (reply, rx) = sync_channel(1);
    link.control
        .send(msg(reply))
        .map_err(|_| "a NAT64 worker has stopped".to_string())?;
    let _ = link.waker.wake();
    rx.recv_timeout(SESSIONS_TIMEOUT)
        .map_err(|_| "a NAT64 worker did not answer within 5 s".to_string())?
}

/// Has worker `w` change its static entries and waits for its answer (the message of
/// a refusal names the entry).
pub fn change_statics(
    links: &[SessionsLink],
    w: usize,
    change: StaticChange,
) -> Result<(), String> {
    ask(links, w, |reply| WorkerControl::Statics(change, reply))
}

/// What a reload changes in a running NAT64 worker's shard (see `Shard::set_limits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nat64Limits {
    pub timeouts: Timeouts,
    pub max_sessions_per_addr: u32,
    pub max_sessions_per_prefix: u32,
}

/// Sends reloaded limits to every worker and wakes it; Err if a worker has stopped.
pub fn send_limits(links: &[SessionsLink], limits: Nat64Limits) -> Result<(), String> {
    for link in links {
        link.control
            .send(WorkerControl::Limits(limits))
            .map_err(|_| "a NAT64 worker has stopped".to_string())?;
        let _ = link.waker.wake();
    }
    Ok(())
}

/// Asks the workers for one page of their sessions, worker after worker: the page is
/// cut from the workers' tables laid end to end, so each worker is told how many
/// matching rows the ones before it already covered. `total` and `matched` count every
/// worker's sessions. The workers never wait on this: each copies on its next loop turn.
/// Pages are not a snapshot: sessions come and go between two calls.
pub fn collect_sessions(
    links: &[SessionsLink],
    query: SessionsQuery,
) -> Result<SessionsReply, String> {
    let limit = query.limit.min(MAX_SESSION_ROWS);
    let mut all = SessionsReply::default();
    for link in links {
        let (tx, rx) = sync_channel(1);
        let part = SessionsQuery {
            filter: query.filter,
            offset: query.offset.saturating_sub(all.matched),
            limit: limit - all.rows.len(),
        };
        link.requests
            .send(SessionsRequest {
                query: part,
                reply: tx,
            })
            .map_err(|_| "a NAT64 worker has stopped".to_string())?;
        // A failed wake only delays the answer to the worker's next 1 s tick.
        let _ = link.waker.wake();
        let r = rx
            .recv_timeout(SESSIONS_TIMEOUT)
            .map_err(|_| "a NAT64 worker did not answer within 5 s".to_string())?;
        let room = limit - all.rows.len();
        all.rows.extend(r.rows.into_iter().take(room));
        all.matched += r.matched;
        all.total += r.total;
    }
    Ok(all)
}

/// One worker's part of a page: its matching sessions from `offset` on, at most
/// `limit`, and its counts.
pub fn page_of(sessions: impl Iterator<Item = SessionInfo>, q: &SessionsQuery) -> SessionsReply {
    let mut r = SessionsReply::default();
    for s in sessions {
        r.total += 1;
        if !q.filter.matches(&s) {
            continue;
        }
        if r.matched >= q.offset && r.rows.len() < q.limit {
            r.rows.push(s);
        }
        r.matched += 1;
    }
    r
}

/// One worker's NAT64 state and the shared stateful translator.
pub struct Nat64Engine<'a> {
    core: Nat64Core<'a>,
    /// With several workers: who owns which flow, and the rings to the owners.
    steer: Option<Steer>,
    requests: Option<Receiver<SessionsRequest>>,
    control: Option<Receiver<WorkerControl>>,
    /// The last expiry call stopped on its budget with due work left: tick again
    /// before blocking (see `park`).
    expiry_due: bool,
    /// The shard's `sessions_created` at the last expiry call.
    created_seen: u64,
    /// Reassembly's counts at the last expiry call: fragments it dropped since (timed
    /// out, or evicted to make room) are counted as drops then.
    frags_seen: reassembly::Counts,
    /// This worker's bounded queue to the NAT logging thread, if logging is on.
    nat_log: Option<SyncSender<NatEvent>>,
    /// The shard's lost records at the last drain.
    log_lost_seen: u64,
}

struct Steer {
    /// Replaced by a reload that changes the static entries.
    sharding: Follower<Sharding>,
    handoff: Handoff,
}

/// Parcels from other workers translated per `tick`: bounds how long the device waits.
pub const HANDOFF_BUDGET: usize = 256;

impl<'a> Nat64Engine<'a> {
    pub fn new(xlat: &'a Nat64Translator, shard: Shard, frags: reassembly::Limits) -> Self {
        Nat64Engine {
            core: Nat64Core::new(xlat, shard, frags),
            steer: None,
            requests: None,
            control: None,
            expiry_due: false,
            created_seen: 0,
            frags_seen: reassembly::Counts::default(),
            nat_log: None,
            log_lost_seen: 0,
        }
    }

    /// Sends the shard's NAT event records to the logging thread through `queue`
    /// (bounded: when it is full, records are counted as `nat_log_lost`).
    pub fn log_to(&mut self, queue: SyncSender<NatEvent>) {
        self.nat_log = Some(queue);
    }

    /// Moves the shard's records to the logging queue, stamped with the wall clock
    /// (the shard's `now` is this worker's monotonic milliseconds). Never blocks: a
    /// full queue costs the record, counted.
    fn drain_events(&mut self, c: &Counters, now: u64) {
        let shard = self.core.shard_mut();
        let lost = shard.events_lost();
        c.nat_log_lost.add(lost - self.log_lost_seen);
        self.log_lost_seen = lost;
        let Some(tx) = &self.nat_log else { return };
        if shard.pending_events() == 0 {
            return;
        }
        let wall = unix_ms();
        let (mut sent, mut dropped) = (0, 0);
        shard.drain_events(|mut e| {
            e.time_ms = wall.saturating_sub(now.saturating_sub(e.time_ms));
            match tx.try_send(e) {
                Ok(()) => sent += 1,
                Err(_) => dropped += 1,
            }
        });
        c.nat_log_records.add(sent);
        c.nat_log_lost.add(dropped);
    }

    /// Makes this engine one of several: packets whose flow `sharding` gives to
    /// another worker go there through `handoff`.
    pub fn with_handoff(mut self, sharding: &Arc<Live<Sharding>>, handoff: Handoff) -> Self {
        if sharding.current().workers() > 1 {
            self.steer = Some(Steer {
                sharding: sharding.follow(),
                handoff,
            });
        }
        self
    }

    /// Answers the sessions requests arriving on `rx` and applies the reloads' changes
    /// arriving on `control` (both checked on every tick).
    pub fn serve_sessions(
        &mut self,
        rx: Receiver<SessionsRequest>,
        control: Receiver<WorkerControl>,
    ) {
        self.requests = Some(rx);
        self.control = Some(control);
    }

    /// Applies reloads' changes in the order they were sent.
    fn apply_control(&mut self) {
        let Some(rx) = &self.control else { return };
        let shard = self.core.shard_mut();
        for c in rx.try_iter() {
            match c {
                WorkerControl::Limits(l) => shard.set_limits(
                    &l.timeouts,
                    l.max_sessions_per_addr,
                    l.max_sessions_per_prefix,
                ),
                WorkerControl::Statics(ch, reply) => {
                    // The reloader may have given up waiting; it then reports that.
                    let _ = reply.try_send(ch.apply(shard));
                }
                WorkerControl::AddPool4(addrs, reply) => {
                    let _ = reply.try_send(shard.add_pool4(&addrs));
                }
            }
        }
    }

    /// Copies one page of the session table for each pending request: a control-plane
    /// path, so it may allocate; the copy is bounded by [`MAX_SESSION_ROWS`].
    fn answer_requests(&mut self, now: u64) {
        let Some(rx) = &self.requests else { return };
        let shard = self.core.shard();
        while let Ok(req) = rx.try_recv() {
            let reply = page_of(shard.sessions(now), &req.query);
            // The requester may have given up waiting; nothing to do then.
            let _ = req.reply.try_send(reply);
        }
    }

    pub fn shard(&self) -> &Shard {
        self.core.shard()
    }

    /// Translates the parcels other workers handed us (fragments to reassemble here
    /// among them: a datagram completed here goes on to its owner).
    fn serve_handoffs<D: Device>(&mut self, io: &mut Io<D>, now: u64) {
        let Some(st) = &mut self.steer else { return };
        let (core, sharding) = (&mut self.core, st.sharding.get());
        st.handoff.serve(HANDOFF_BUDGET, |parcel, outbox| {
            std::mem::swap(&mut io.pkt, &mut parcel.buf);
            let s = core.translator().steer(sharding, io.pkt.data());
            let here = s.hairpin.is_none_or(|w| w == outbox.me());
            let steer = Some((sharding, outbox));
            if let Some(v) = process(core, steer, io, parcel.offload, now, here) {
                let dropped = io.account(v);
                io.send_out(dropped);
            }
            release_held(core, io, now);
        });
    }

    /// One bounded expiry step; what it leaves due is done on the next turns of the
    /// loop, which then does not block (`park`), not at the next [`TICK`].
    fn expire<D: Device>(&mut self, io: &mut Io<D>, now: u64) {
        let created = self.core.shard().counters().sessions_created;
        let budget = expire_budget(created.wrapping_sub(self.created_seen));
        self.created_seen = created;
        let (dev, pkt, counters, limit) = (&mut io.dev, &io.pkt, &io.counters, &mut io.icmp_limit);
        let done = self
            .core
            .expire(now, budget, &mut io.out, |out, what| match what {
                Generated::IcmpError => send_errors(dev, out, pkt, counters, limit),
                Generated::Probe => send_frames(dev, out, pkt, counters),
            });
        let (_, frags_due) = self.core.expire_fragments(now);
        self.expiry_due = done.due || frags_due;
        self.drain_events(&io.counters, now);
        self.count_fragment_drops(&io.counters);
        publish(&self.core, &io.counters);
    }
}

impl Nat64Engine<'_> {
    /// Fragments reassembly dropped since the last call, under their reasons: a
    /// datagram that timed out, or the oldest one evicted for a source at its share
    /// or when every slot was taken.
    fn count_fragment_drops(&mut self, c: &Counters) {
        let now = self.core.fragments().counts();
        let seen = std::mem::replace(&mut self.frags_seen, now);
        c.drop_many(DropReason::FragmentTimeout, now.timed_out - seen.timed_out);
        c.drop_many(
            DropReason::FragmentSourceLimit,
            now.evicted_share - seen.evicted_share,
        );
        c.drop_many(
            DropReason::FragmentLimit,
            now.evicted_limit - seen.evicted_limit,
        );
    }
}

/// Copies the shard's own counts (plain integers only its worker writes) into the
/// worker's counters, which other threads may read.
fn publish(core: &Nat64Core<'_>, c: &Counters) {
    let shard = core.shard();
    let sc = shard.counters();
    let frags = core.fragments();
    c.fragments_queued.set(frags.counts().queued);
    c.fragments_reassembled.set(frags.counts().reassembled);
    c.fragments_held.set(frags.held() as u64);
    c.sessions.set(shard.session_count() as u64);
    c.bibs.set(shard.bib_count() as u64);
    c.sessions_created.set(sc.sessions_created);
    c.sessions_expired.set(sc.sessions_expired);
    c.bibs_created.set(sc.bibs_created);
    c.held_syns.set(sc.held_syns);
    c.held_syns_expired.set(sc.held_syns_expired);
    c.simultaneous_opens.set(sc.simultaneous_opens);
    c.tcp_probes.set(sc.tcp_probes);
    let u = shard.usage();
    let [tcp, udp, icmp] = u.sessions.map(|n| n as u64);
    c.sessions_tcp.set(tcp);
    c.sessions_udp.set(udp);
    c.sessions_icmp.set(icmp);
    let [tcp, udp, icmp] = u.bibs.map(|n| n as u64);
    c.bibs_tcp.set(tcp);
    c.bibs_udp.set(udp);
    c.bibs_icmp.set(icmp);
    c.set_pool4_ports(&u.ports);
    let refused = |r| sc.refused(r);
    c.refused_table_full.set(refused(Refusal::TableFull));
    c.refused_address_limit.set(refused(Refusal::AddrLimit));
    c.refused_subscriber_limit
        .set(refused(Refusal::PrefixLimit));
    c.refused_subscriber_table_full
        .set(refused(Refusal::SubscriberTableFull));
    c.refused_pool_exhausted
        .set(refused(Refusal::PoolExhausted));
    c.refused_held_table_full
        .set(refused(Refusal::HeldTableFull));
    c.port_blocks.set(shard.blocks_in_use() as u64);
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where a packet goes: translated here (with whether the IPv4 half of a §3.8 hairpin
/// is ours too), or passed to its owner (with the verdict to count, if any).
enum Route {
    Here { hairpin_here: bool },
    Away(Option<Verdict>),
}

/// Passes the packet in `io.pkt` to the worker that owns it, when that is another one.
#[inline]
fn route<D: Device>(
    core: &Nat64Core<'_>,
    sharding: &Sharding,
    outbox: &mut Outbox,
    io: &mut Io<D>,
    offload: Offload,
) -> Route {
    let me = outbox.me();
    let s = core.translator().steer(sharding, io.pkt.data());
    if let Some(owner) = s.owner.filter(|&w| w != me) {
        let why = match outbox.send(owner, &mut io.pkt, offload, s.source) {
            Ok(()) => {
                io.counters.handed_off.add(1);
                return Route::Away(None);
            }
            Err(Refused::Full) => DropReason::Nat64HandoffFull,
            Err(Refused::Share) => DropReason::Nat64HandoffShare,
        };
        io.out.clear();
        return Route::Away(Some(Verdict::Drop(why)));
    }
    Route::Here {
        hairpin_here: s.hairpin.is_none_or(|w| w == me),
    }
}

/// A packet this worker owns or collects: reassembly first (RFC 6146 §3.4), then
/// translation. A datagram completed here is steered again (`steer`, with several
/// workers): its ports may name another owner.
#[inline]
fn process<D: Device>(
    core: &mut Nat64Core<'_>,
    steer: Option<(&Sharding, &mut Outbox)>,
    io: &mut Io<D>,
    offload: Offload,
    now: u64,
    hairpin_here: bool,
) -> Option<Verdict> {
    let (mut offload, mut here) = (offload, hairpin_here);
    match core.reassemble(&mut io.pkt, now) {
        Outcome::Whole => {}
        Outcome::Queued => return None,
        Outcome::Drop(r) => {
            io.out.clear();
            return Some(Verdict::Drop(r));
        }
        Outcome::Complete => {
            offload = Offload::NONE;
            if let Some((sharding, outbox)) = steer {
                match route(core, sharding, outbox, io, offload) {
                    Route::Away(v) => return v,
                    Route::Here { hairpin_here } => here = hairpin_here,
                }
            }
        }
    }
    translate(core, io, offload, now, here)
}

/// Translates the packet in `io.pkt` on this worker's core; a UDP super-packet whose
/// datagrams get fragmented is split and sent here (None).
#[inline]
fn translate<D: Device>(
    core: &mut Nat64Core<'_>,
    io: &mut Io<D>,
    offload: Offload,
    now: u64,
    hairpin_here: bool,
) -> Option<Verdict> {
    if offload.gso_type != gso::NONE && core.translator().udp_needs_split(io.pkt.data(), offload) {
        io.split_udp(offload, |p, o| {
            core.translate_datagram(p, o, now, hairpin_here)
        });
        return None;
    }
    Some(core.translate(&mut io.pkt, offload, &mut io.out, now, hairpin_here))
}

/// Sends the held IPv4 SYN the last packet released, if any.
#[inline]
fn release_held<D: Device>(core: &mut Nat64Core<'_>, io: &mut Io<D>, now: u64) {
    if let Some(v) = core.release_held(&mut io.pkt, &mut io.out, now) {
        let dropped = io.account(v);
        io.send_out(dropped);
    }
}

impl Engine for Nat64Engine<'_> {
    fn idle_timeout(&self) -> Option<Duration> {
        Some(TICK)
    }

    #[inline]
    fn translate<D: Device>(
        &mut self,
        io: &mut Io<D>,
        offload: Offload,
        now: u64,
    ) -> Option<Verdict> {
        let Some(st) = &mut self.steer else {
            return process(&mut self.core, None, io, offload, now, true);
        };
        let (sharding, outbox) = (st.sharding.get(), st.handoff.outbox());
        match route(&self.core, sharding, outbox, io, offload) {
            Route::Away(v) => v,
            Route::Here { hairpin_here } => {
                let steer = Some((sharding, outbox));
                process(&mut self.core, steer, io, offload, now, hairpin_here)
            }
        }
    }

    #[inline]
    fn after_packet<D: Device>(&mut self, io: &mut Io<D>, now: u64) {
        release_held(&mut self.core, io, now);
    }

    fn tick<D: Device>(&mut self, io: &mut Io<D>, now: u64) {
        self.serve_handoffs(io, now);
        self.apply_control();
        self.expire(io, now);
        self.answer_requests(now);
    }

    /// False while expiry has due work left: the loop then polls without blocking and
    /// ticks again, so a backlog of expired sessions drains in bounded steps between
    /// packets instead of [`EXPIRE_BUDGET`] per idle [`TICK`].
    #[inline]
    fn park(&mut self) -> bool {
        !self.expiry_due && self.steer.as_ref().is_none_or(|st| st.handoff.park())
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
