//! Stateful NAT64 state (RFC 6146): BIB and session tables, the TCP state machine,
//! pool4 port allocation, expiry, limits. Sans-IO: every call takes `now` (a
//! millisecond clock value from the caller), so the whole module runs on a fake clock
//! in tests. No packet is parsed or built here; the translator asks for mappings.
//!
//! # API
//! - [`Shard::new`]`(ShardConfig, seed)`: one per worker; all tables allocated now.
//! - [`Shard::lookup_or_create_v6`]`(proto, src6, sport, dst4, dport, tcp_flags, now)
//!   -> Result<Outbound, Refusal>`: the IPv4 source address:port for an IPv6 packet.
//! - [`Shard::lookup_v4`]`(proto, src4, sport, dst4, dport, tcp_flags, now) -> V4Lookup`:
//!   the IPv6 client address:port for an IPv4 packet, or `Held` (a SYN kept for a
//!   simultaneous open), or `Refused(reason)`.
//! - [`Shard::expire`]`(now, budget, on_event) -> freed`: bounded sweeping; events are
//!   held SYNs to answer with ICMP Port Unreachable and optional TCP probes.
//! - [`Shard::add_static`], [`Shard::sessions`]`(now)`, [`Shard::counters`].
//! - [`Sharding::owner_of_v6`] / [`Sharding::owner_of_v4`]: which worker owns a packet;
//!   [`ring()`]: the SPSC hand-off ring for packets that arrive elsewhere.
//!
//! ICMP query identifiers play the port (§3.5.3); the remote "port" of an ICMP session
//! is 0, because the identifier is translated on both sides.
//!
//! # Table design
//! Share-nothing per worker (see the design notes, "State ownership"). A shard holds:
//! - a slab of bindings (BIB entries, 32 B: IPv6 address:port, IPv4 address:port,
//!   protocol, flags, head of its session list) with two index-only hash tables, one
//!   keyed by the IPv6 transport address, one by the IPv4 transport address;
//! - a slab of sessions (36 B: binding index, IPv4 peer address:port, TCP state,
//!   `last_seen`, queue stamp, links of its expiry FIFO and of its binding's list)
//!   with ONE index-only table keyed by (binding, peer). Both directions reach a
//!   session the same way: find the binding by the side's own transport address, then
//!   the session by (binding, peer). So two probes per packet in both directions, and
//!   the endpoint-independent mapping (RFC 4787 REQ-1) is the binding itself.
//! - Index tables hold `u32` slab indices only (keys stay in the slab), linear probing
//!   at most 3/4 full, backward-shift deletion, sized once for `max_sessions`.
//! - Hashes are keyed with the constructor's seed (draw it from the OS per process).
//! - Expiry: one FIFO per lifetime class (UDP, ICMP, TCP established, TCP transitory,
//!   TCP incoming SYN). UDP/ICMP packets write `last_seen` only; TCP moves a session to
//!   another FIFO only when its state changes class. The sweeper looks at a head once
//!   it has waited a quarter of its timeout: idle past the timeout → freed (or, when
//!   ESTABLISHED, moved to TRANS with a probe event); else re-queued (second chance).
//!   An idle session thus lives between 1 and 1.25 times its timeout, and the work per
//!   `expire` call is bounded by its budget.
//! - Quotas: sessions per IPv6 address and per subscriber prefix, in two small
//!   open-addressing count tables sized by `max_subscribers`. `Sharding` hashes the
//!   prefix, not the address, so each subscriber's quota lives in one shard.
//! - Ports: one bitmap per (protocol, pool4 address) over the shard's port slice.
//!
//! ## Alternative considered: one shared lock-free index
//! A concurrent map shared by all workers would let any queue handle any packet and
//! avoid the hand-off rings. It costs more memory (full keys per index entry; the
//! design notes measured 94–120 B per index for a general-purpose concurrent map,
//! about 200 B per session for two), atomic read-modify-write on every `last_seen`
//! update (cache lines bouncing between cores for busy flows), and safe memory
//! reclamation for freed sessions (epochs or hazard pointers) on the packet path.
//! The per-worker shard needs none of that; its cost is the hand-off of packets that
//! arrive on the wrong queue, which TUNSETSTEERINGEBPF can remove entirely.
//!
//! ## Measurements
//! `cargo bench --bench nat64_table`, one thread, 2-core shared VM, one binding per
//! session (the worst case for memory), bytes counted by a global allocator:
//!
//! | sessions | bytes/session | new sessions/s | IPv6→IPv4 hits/s | IPv4→IPv6 hits/s |
//! |---------:|--------------:|---------------:|-----------------:|-----------------:|
//! | 10 M     | 93.0          | 1.1–1.5 M      | 2.9–3.8 M        | 3.3–3.5 M        |
//! | 1 M      | ≈107          | 1.6–2.0 M      | 2.8–4.0 M        | 3.7–4.1 M        |
//! | 200 k    |               | 1.9 M          | 4.1 M            | 5.1 M            |
//! | 20 k     |               | 2.7 M          | 19.5 M           | 23.9 M           |
//!
//! (1 M costs more per session than 10 M because power-of-two index tables are then
//! half empty.) 93 B at 10 M = 32 (binding) + 36 (session) + 3 × 6.7 (index tables at
//! 60 % load) + 4 (quota tables) + port bitmaps. The 20 k row shows the code itself
//! does ~20 M lookups/s: at scale each lookup is bound by dependent DRAM and TLB misses
//! (binding slot → binding → session slot → session; the IPv4 side overlaps the two
//! slot probes, the IPv6 side walks short binding lists instead of the session index).
//! The 5 M lookups/s goal is met up to a few hundred thousand sessions per shard, not
//! at 10 M on one thread. Next steps, measured by nobody yet: huge pages for the tables
//! (`madvise(MADV_HUGEPAGE)` from `dataplane::sys`; THP is `madvise`-only here), and
//! prefetching a batch of packets' slots before looking them up.

pub mod config;
mod hash;
mod index;
mod ports;
mod quota;
pub mod ring;
mod shard;
pub mod sharding;
pub mod tcp;
pub mod types;

#[cfg(test)]
mod tests;

pub use config::{Filtering, Pool4, PortRange, Proto, ShardConfig, Timeouts};
pub use ring::{Consumer, Producer, ring};
pub use shard::Shard;
pub use sharding::Sharding;
pub use tcp::TcpState;
pub use types::{Counters, Event, Inbound, Outbound, Refusal, SessionInfo, StaticBib, V4Lookup};
