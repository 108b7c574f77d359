//! Stateful NAT64 state (RFC 6146): BIB and session tables, the TCP state machine,
//! pool4 port allocation, expiry, limits. Sans-IO: every call takes `now` (a
//! millisecond clock value from the caller), so the whole module runs on a fake clock
//! in tests. No packet is parsed or built here; the translator asks for mappings.
//!
//! # API
//! - [`Shard::new`]`(ShardConfig, seed) -> Result<Shard, ShardConfigError>`: one per
//!   worker; all tables allocated now.
//! - [`Shard::lookup_or_create_v6`]`(Tuple6, tcp_flags, now) -> Result<Outbound, Refusal>`:
//!   the IPv4 source address:port for an IPv6 packet.
//! - [`Shard::lookup_v4`]`(Tuple4, tcp_flags, now) -> V4Lookup`: the IPv6 client
//!   address:port for an IPv4 packet, or `Held` (a SYN kept for a simultaneous open),
//!   or `Refused(reason)`.
//! - [`Shard::find_v6`]`(Tuple6)` / [`Shard::find_v4`]`(Tuple4)`: the same mappings,
//!   read-only, for the packets quoted in ICMP errors.
//! - [`Shard::expire`]`(now, budget, on_event) -> Expired { freed, due }`: bounded
//!   sweeping; call again at once while `due`. Events are held SYNs to answer with
//!   ICMP Port Unreachable and optional TCP probes.
//! - [`Shard::add_static`], [`Shard::sessions`]`(now)`, [`Shard::counters`].
//! - Between packets, for a reload: [`Shard::change_statics`] (all or nothing) and
//!   [`Shard::add_pool4`] (new addresses numbered after the old ones; allocates).
//! - [`Shard::prefetch_v6`]`(Tuple6)` / [`Shard::prefetch_v4`]`(Tuple4)`: optional cache
//!   hints for a batch of packets before their lookups; [`Shard::for_each_table`]: the
//!   large tables' memory, for huge-page advice (`dataplane::nat64::advise_shard_hugepages`).
//! - [`Shard::drain_events`]`(f)`: the NAT event records ([`NatEvent`]) made since the
//!   last drain, from a bounded buffer (what does not fit is counted,
//!   [`Shard::events_lost`]); which records depends on [`PortAllocation`] (`blocks`).
//! - [`Sharding::owner_of_v6`] / [`Sharding::owner_of_v4`]: which worker owns a packet;
//!   `dataplane::ring`: the SPSC hand-off ring for packets that arrive elsewhere.
//!
//! A [`Tuple6`] or [`Tuple4`] names a flow's five values by their role in the session
//! (IPv6 host, IPv4 peer, pool4 address), so that swapped ports or addresses show.
//! ICMP query identifiers play the port (§3.5.3); the remote "port" of an ICMP session
//! is 0, because the identifier is translated on both sides.
//!
//! # Table design
//! Share-nothing per worker: each worker owns its state and no lookup ever waits for
//! another core (see "Chosen" below). A shard holds:
//! - a slab of bindings (BIB entries, 32 B, cache-line aligned: IPv6 address:port,
//!   IPv4 address:port, protocol, flags, head of its session list) with two index-only
//!   hash tables, one keyed by the IPv6 transport address, one by the IPv4 transport
//!   address;
//! - a slab of sessions (36 B: binding index, IPv4 peer address:port, TCP state,
//!   `last_seen`, queue stamp, links of its expiry FIFO and of its binding's list)
//!   with ONE index-only table keyed by (binding's IPv4 transport address, peer). Both
//!   directions reach a session the same way: find the binding by the side's own
//!   transport address, then the session by (binding, peer). The endpoint-independent
//!   mapping (RFC 4787 REQ-1) is the binding itself. The IPv4 side probes both
//!   indexes at once (both keys are in the packet). The IPv6 side first tries the
//!   session slot with the binding's own index: every binding with sessions keeps one
//!   there (a session of another binding in that slot is moved out when the binding
//!   needs it), so that slot loads in parallel with the binding itself; the binding's
//!   session list and then the index cover the rest.
//! - Index tables hold a `u32` per slot: the slab index, plus a tag of the hash in
//!   the bits the index does not need (8 bits up to 2^24 entries), so passing a foreign
//!   entry on a probe costs no slab read. Linear probing at most 3/4 full,
//!   backward-shift deletion, sized once for `max_sessions`, zero meaning empty (so a
//!   new table is untouched memory until used, and huge-page advice still applies).
//! - Hashes are keyed with the constructor's seed (draw it from the OS per process).
//! - Expiry: one FIFO per lifetime class (UDP, ICMP, TCP established, TCP transitory,
//!   TCP incoming SYN). UDP/ICMP packets write `last_seen` only; TCP moves a session to
//!   another FIFO only when its state changes class. The sweeper looks at a head once
//!   it has waited a quarter of its timeout: idle past the timeout → freed (or, when
//!   ESTABLISHED, moved to TRANS with a probe event); else re-queued (second chance).
//!   An idle session thus lives between 1 and 1.25 times its timeout (RFC 6146 §3.5.1
//!   and §4 set the lifetimes: UDP at least 2 minutes, TCP_EST, TCP_TRANS, ICMP),
//!   and the work per `expire` call is bounded by its budget. The bound holds only if
//!   the sweeper keeps up with creation: `expire` reports due work left when its
//!   budget ran out, and the worker (`dataplane::nat64`) then calls it again without
//!   sleeping, between its packets, until none is left; a busy worker, which calls it
//!   once per turn of its loop, budgets [`LOOKS_PER_SESSION`] looks per session that
//!   turn created on top of the base budget. A flood of a million sessions is gone
//!   1.25 timeouts later, a few hundred per call (≈ 0.5 µs per session freed, see
//!   "Measurements"), instead of 256 per idle second.
//! - Quotas: sessions per IPv6 address and per subscriber prefix, in two small
//!   open-addressing count tables sized by `max_subscribers`. `Sharding` hashes the
//!   prefix, not the address, so each subscriber's quota lives in one shard.
//! - Ports: one bitmap per (protocol, pool4 address) over the shard's port slice;
//!   with `port-allocation = "block"` a subscriber's ports come from blocks of that
//!   slice it holds (`blocks::BlockTable`, one owner per block, no lock), with
//!   `"deterministic"` from the one block the RFC 7422 formula gives it
//!   ([`Deterministic`]; [`Sharding`] then steers the subscriber to that block's worker).
//!
//! ## Alternative considered: one shared lock-free index
//! A concurrent map shared by all workers would let any queue handle any packet and
//! avoid the hand-off rings. It costs more memory (full keys per index entry: a
//! general-purpose concurrent map measured 94–120 B per index on this machine type,
//! about 200 B per session for two), atomic read-modify-write on every `last_seen`
//! update (cache lines bouncing between cores for busy flows), and safe memory
//! reclamation for freed sessions (epochs or hazard pointers) on the packet path.
//! The per-worker shard needs none of that; its cost is the hand-off of packets that
//! arrive on the wrong queue, which TUNSETSTEERINGEBPF can remove entirely.
//!
//! ## Chosen: share nothing, hand packets to their owner
//! Each worker owns one shard (`ShardConfig::worker`): its slice of every pool4
//! address's ports and `max_sessions / workers` sessions. [`Sharding`] names the owner
//! of any packet from its headers alone (`xlat::Nat64Translator::steer`: IPv6 by
//! subscriber prefix, IPv4 by destination port slice, ICMP errors by the quoted
//! packet), and `dataplane::handoff` moves a packet read by another worker to its
//! owner: the buffer itself (swapped for a spare, no copy) through one SPSC ring (`dataplane::ring`)
//! per ordered worker pair, with the empties coming back on a second ring and a
//! parked-flag protocol so that busy owners are never woken. So lookups stay
//! single-threaded (the figures below apply per worker), no packet waits for a lock,
//! and the only cross-core traffic is the hand-off itself: about (N−1)/N of the
//! packets with N workers, since the kernel picks TUN queues by its own flow hash. The
//! ring is checked by `loom` (`dataplane::ring::loom`, run by `cargo xtask test`) and by
//! multi-thread stress tests of rings and shards. End-to-end figures with one and two
//! workers are in the README (`cargo xtask bench`, rows `xlat64 nat64 1q/Nq`).
//!
//! ### What per-worker slices cost with small pools
//! The slices are what makes a reply find its owner from its destination port alone,
//! and the subscriber hash is what keeps a subscriber's quotas exact on one worker.
//! The price: subscribers are spread over the workers by hash, not by load, and each
//! worker holds only 1/N of every address's ports (and of `max_sessions`). A worker
//! whose slice is full refuses new mappings (`nat64_pool_exhausted`) while the other
//! workers' slices sit unused, so refusals can start with only 1/N of pool4 in use;
//! and every subscriber of that worker loses its new flows, not only the one that
//! filled it. With a large pool that is far away; with a small one it is near: one
//! address with ports 1024–2047 on two workers leaves 512 ports per worker, and a
//! single subscriber allowed 16 384 sessions took all of them.
//!
//! So the default limits follow the share (`control::config::limits`): one subscriber
//! may hold 1/8 of what its worker holds (the smaller of its pool4 ports and its
//! sessions), at most 16 384, and one IPv6 address half of that. At least eight
//! subscribers at their limit then fit in every worker before it refuses anyone, and
//! a flood from one subscriber costs only that subscriber's own quota (the example
//! above: 64 per subscriber, 32 per address). Explicit limits are kept as given, with
//! a warning at start when one exceeds a worker's share. An operator with a small
//! pool should give each worker enough: a slice of addresses × ports ÷ workers at least
//! 8 × what one subscriber needs; or run fewer workers (`--workers 1` gives one shard
//! the whole pool, at the cost of the other cores); and watch `nat64_pool_exhausted`
//! against `nat64_subscriber_limit`.
//!
//! ## Measurements
//! `cargo bench --bench nat64_table`, one thread, 2-core shared VM (AMD EPYC, 32 MiB
//! L3), one binding per session (the worst case for memory), bytes counted by a
//! global allocator. Lookup keys come from a pre-built array read in order (as headers
//! from a receive batch); rates are per second of on-CPU time, the median of 5 passes
//! of 2 M random flows; ranges span several runs. "One at a time": each packet's
//! lookup alone, the headline figure. "Batch of 16": `prefetch_v6`/`prefetch_v4` for
//! 16 packets, then their lookups. Huge pages advised (`advise_shard_hugepages`).
//!
//! | sessions | bytes/session | new sessions/s | IPv6→IPv4 hits/s | IPv4→IPv6 hits/s | batch of 16 (v6 / v4) |
//! |---------:|--------------:|---------------:|-----------------:|-----------------:|----------------------:|
//! | 10 M     | 93.0          | 1.1–1.6 M      | 6.4–7.3 M        | 5.9–6.4 M        | 9.7–10.9 M / 8.5–9.3 M |
//! | 1 M      | 104.7         | 1.9 M          | 7.5 M            | 7.4 M            | 11.9 M / 10.6 M       |
//! | 200 k    | 137           | 2.0 M          | 11.9 M           | 10.6 M           | 15.2 M / 13.5 M       |
//! | 20 k     | 406           | 3.4 M          | ≈60 M            | ≈45 M            |                       |
//!
//! Expiry frees 1.6–2.2 M sessions/s at 1 M (≈ 450–600 ns each: the session's index
//! slot, its binding's two, its port and quotas, mostly DRAM misses), called as a
//! worker drains a backlog: a budget of 256 per call, again while due.
//!
//! (Smaller tables cost more per session: power-of-two index tables are then half
//! empty, and the quota tables and port bitmaps have fixed minimum sizes. The 20 k
//! row is within the 4 ms resolution of the on-CPU clock.)
//! 93 B at 10 M = 32 (binding) + 36 (session) + 3 × 6.7 (index tables at 60 % load) +
//! 4 (quota tables) + port bitmaps. At scale a lookup is bound by dependent DRAM
//! misses: index slot → binding and session, two round trips in both directions now.
//!
//! Each part of the design, measured alone against the rest of it at 10 M sessions
//! (IPv6 / IPv4 side, M/s, one at a time; the row above is all of them):
//! - without huge pages (830 of 886 MB are 2 MiB pages with them; THP is `madvise`
//!   here): 5.1–5.3 / 4.8–5.0. Nearly every access then also misses the TLB (a nested
//!   page walk under KVM).
//! - without tags in index slots: 5.0 / 4.5 (a hit at 60 % load passes 0.75 foreign
//!   entries on average, each a slab miss without the tag);
//! - without the session at its binding's index, IPv6 side 4.7–5.0 (three round
//!   trips: slot → binding → session).
//!
//! Batching with prefetch adds 40–50 % on top; the worker loop could use it (it holds
//! a batch of packets), but no figure above assumes it except the last column. A probe
//! judging 4 slots at once without per-slot branches (to spare mispredictions) was
//! slower, 3.9–4.8 / 3.3–3.8: the plain loop's well-predicted branches let the CPU
//! start the binding and session loads before the slot compare resolves. Hashing is two
//! multiplies per key, and the 20 k row shows the code without memory stalls runs at
//! 45–60 M lookups/s, so a cheaper hash has little to give.

pub mod blocks;
pub mod config;
pub mod events;
mod hash;
mod index;
mod ports;
mod quota;
mod shard;
pub mod sharding;
pub mod tcp;
pub mod tuple;
pub mod types;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_alloc;

pub use blocks::{BlockConfig, Deterministic, PortAllocation};
pub use config::{
    Filtering, Pool4, PortRange, Proto, ShardConfig, ShardConfigError, Timeouts, owner_of_port,
};
pub use events::{EventConfig, NatEvent, NatEventKind};
pub use shard::{Expired, LOOKS_PER_SESSION, Shard, Usage};
pub use sharding::Sharding;
pub use tcp::TcpState;
pub use tuple::{Endpoint4, Endpoint6, Tuple4, Tuple6};
pub use types::{
    Event, Inbound, Outbound, Refusal, SessionInfo, ShardCounters, StaticBib, V4Lookup,
};
