//! Port-block allocation (RFC 7422, RFC 6888 REQ-12): a subscriber's mappings come
//! from blocks of `size` ports on one pool4 address, so that one log record per block
//! (or none at all, with the deterministic formula) says who held a port, instead of
//! one per session.
//!
//! - `block`: a subscriber (its prefix of `subscriber-prefix-len`) gets a random free
//!   block of its worker's slice the first time it needs a port, more blocks on the
//!   same address (RFC 4787 REQ-2 pairing) when those are full, up to
//!   `max_per_subscriber` per protocol; a block is released when its last binding goes
//!   (after `hold_ms`, so a subscriber that comes back soon keeps it without new
//!   records). Each worker owns the blocks of its own port slice: the packet path
//!   takes no lock.
//! - `deterministic`: [`Deterministic`] maps a subscriber's number to one block by a
//!   formula; nothing needs logging, and `xlat64 trace` inverts it.
//!
//! Blocks lie in the 1024–65535 part of a protocol's range: a flow from a well-known
//! port takes a port of its block (RFC 6146 §3.5.1.1 keeps the class only "if
//! possible"); a flow from a higher port never gets a well-known one (RFC 4787 REQ-3).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::config::{PORT_CLASSES, Pool4, PortRange, Proto, intersect, port_slices};

/// How pool4 ports are handed to subscribers (`port-allocation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PortAllocation {
    /// Any free port per mapping; every mapping is logged.
    #[default]
    Session,
    /// Blocks of ports per subscriber, one record per block.
    Block,
    /// RFC 7422: a fixed block per subscriber by formula, no records.
    Deterministic,
}

impl PortAllocation {
    pub fn name(self) -> &'static str {
        match self {
            PortAllocation::Session => "session",
            PortAllocation::Block => "block",
            PortAllocation::Deterministic => "deterministic",
        }
    }
}

impl std::fmt::Display for PortAllocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parameters of block and deterministic allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockConfig {
    pub mode: PortAllocation,
    /// Ports per block.
    pub size: u16,
    /// Blocks one subscriber may hold per protocol (`block` mode).
    pub max_per_subscriber: u16,
    /// How long an emptied block stays its subscriber's before it is released.
    pub hold_ms: u32,
    /// `deterministic`: the IPv6 range whose subscriber prefixes are numbered.
    pub subscribers: Option<(Ipv6Addr, u8)>,
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig {
            mode: PortAllocation::Session,
            size: 128,
            max_per_subscriber: 8,
            hold_ms: 0,
            subscribers: None,
        }
    }
}

/// The part of `range` blocks are cut from: its ports from 1024 up.
pub fn block_span(range: PortRange) -> Option<PortRange> {
    intersect(range, PORT_CLASSES[1])
}

/// The RFC 7422 formula, identical for every protocol whose range is the same.
///
/// With pool4 addresses `A[0..n]` in ascending order, the protocol's range cut to
/// `F..=L` with `F >= 1024`, block size `B` and `K = (L - F + 1) / B` blocks per
/// address, the subscriber prefix `S` (length `s`) inside the configured range `P/p`
/// has the number `i = (S - P) >> (128 - s)`, and holds
///
/// ```text
///   address  A[i / K]
///   ports    F + (i % K) * B  ..=  F + (i % K) * B + B - 1
/// ```
///
/// Subscribers with `i >= n * K` get no mapping (the pool is too small for the range:
/// `check-config` says so). Inverse: port `q` of `A[a]` belongs to subscriber
/// `i = a * K + (q - F) / B`, prefix `P + (i << (128 - s))`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deterministic {
    addrs: Vec<Ipv4Addr>,
    span: PortRange,
    size: u16,
    base: u128,
    range_len: u8,
    sub_len: u8,
}

impl Deterministic {
    /// None when the range has no full block or `subscribers` is not a prefix shorter
    /// than the subscriber prefix.
    pub fn new(pool: &Pool4, proto: Proto, cfg: &BlockConfig, sub_len: u8) -> Option<Self> {
        let (p, plen) = cfg.subscribers?;
        let span = block_span(pool.range(proto))?;
        if cfg.size == 0 || span.len() < u32::from(cfg.size) || plen > sub_len {
            return None;
        }
        let mut addrs = pool.addrs.clone();
        addrs.sort_unstable();
        let mask = if plen == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(plen))
        };
        Some(Deterministic {
            addrs,
            span,
            size: cfg.size,
            base: u128::from(p) & mask,
            range_len: plen,
            sub_len,
        })
    }

    /// Blocks per address (`K`).
    pub fn per_addr(&self) -> u32 {
        self.span.len() / u32::from(self.size)
    }

    /// Subscribers the pool has room for (`n * K`).
    pub fn capacity(&self) -> u64 {
        self.addrs.len() as u64 * u64::from(self.per_addr())
    }

    /// Subscriber prefixes in the configured range (saturating).
    pub fn subscribers(&self) -> u64 {
        1u64.checked_shl(u32::from(self.sub_len - self.range_len))
            .unwrap_or(u64::MAX)
    }

    /// The subscriber number of `a`, if it lies in the range.
    pub fn index(&self, a: Ipv6Addr) -> Option<u64> {
        let a = u128::from(a);
        let plen = u32::from(self.range_len);
        if plen > 0 && (a ^ self.base) >> (128 - plen) != 0 {
            return None;
        }
        let i = (a - self.base) >> (128 - u32::from(self.sub_len));
        u64::try_from(i).ok()
    }

    /// The address and ports of subscriber number `i`.
    pub fn block_of_index(&self, i: u64) -> Option<(usize, PortRange)> {
        let k = u64::from(self.per_addr());
        let a = usize::try_from(i / k)
            .ok()
            .filter(|&a| a < self.addrs.len())?;
        let first = u32::from(self.span.first) + (i % k) as u32 * u32::from(self.size);
        let last = first + u32::from(self.size) - 1;
        Some((a, PortRange::new(first as u16, last as u16)))
    }

    /// The pool4 address and ports of the subscriber `a` belongs to.
    pub fn block_of(&self, a: Ipv6Addr) -> Option<(Ipv4Addr, PortRange)> {
        let (i, r) = self.block_of_index(self.index(a)?)?;
        Some((self.addrs[i], r))
    }

    /// The subscriber prefix (network address, length) holding `v4:port`, with its
    /// block.
    pub fn subscriber_of(&self, v4: Ipv4Addr, port: u16) -> Option<(Ipv6Addr, u8, PortRange)> {
        let a = self.addrs.binary_search(&v4).ok()?;
        if !self.span.contains(port) {
            return None;
        }
        let j = u32::from(port - self.span.first) / u32::from(self.size);
        if j >= self.per_addr() {
            return None;
        }
        let i = a as u64 * u64::from(self.per_addr()) + u64::from(j);
        if i >= self.subscribers() {
            return None;
        }
        let prefix = self.base + (u128::from(i) << (128 - u32::from(self.sub_len)));
        let (_, r) = self.block_of_index(i)?;
        Some((Ipv6Addr::from(prefix), self.sub_len, r))
    }
}

const NIL: u32 = u32::MAX;

/// One protocol's blocks in this shard: per (address, block) its owner, the bindings
/// using it, and the link to its owner's next block.
struct ProtoBlocks {
    /// First port of block 0 (inside this worker's slice).
    base: u16,
    per_addr: u32,
    owner: Vec<u32>,
    used: Vec<u32>,
    next: Vec<u32>,
    held_until: Vec<u64>,
    held: Vec<bool>,
}

impl ProtoBlocks {
    fn new(slice: PortRange, size: u16, naddrs: usize) -> Self {
        let per_addr = if slice.is_empty() {
            0
        } else {
            slice.len() / u32::from(size.max(1))
        };
        let n = per_addr as usize * naddrs;
        ProtoBlocks {
            base: slice.first,
            per_addr,
            owner: vec![NIL; n],
            used: vec![0; n],
            next: vec![NIL; n],
            held_until: vec![0; n],
            held: vec![false; n],
        }
    }
}

/// A subscriber holding blocks: its address and, per protocol, its list of blocks.
#[derive(Clone, Copy)]
struct Sub {
    prefix: u128,
    /// Host that caused the first block (for the records).
    addr: u16,
    head: [u32; 3],
    count: [u16; 3],
}

/// What happened to a block, for the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockChange {
    pub proto: Proto,
    pub prefix: u128,
    pub addr: usize,
    pub ports: PortRange,
}

/// Why a block could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockRefusal {
    /// The subscriber holds `max_per_subscriber` full blocks.
    Limit,
    /// Its address has no free block left in this worker's slice.
    Exhausted,
    /// `max_subscribers` subscribers hold blocks already.
    Full,
}

/// Block ownership in one shard (`block` mode).
pub struct BlockTable {
    cfg: BlockConfig,
    naddrs: usize,
    protos: [ProtoBlocks; 3],
    subs: Vec<Sub>,
    sub_free: Vec<u32>,
    by_prefix: HashMap<u128, u32>,
    max_subs: usize,
    /// Emptied blocks waiting out the hold time: (proto, block).
    holding: std::collections::VecDeque<(u8, u32)>,
}

impl BlockTable {
    /// Room for `naddrs` pool4 addresses (more than now): a reload added addresses,
    /// numbered after the existing ones, whose blocks are all free.
    pub fn grow(&mut self, naddrs: usize) {
        for pb in &mut self.protos {
            let n = pb.per_addr as usize * naddrs;
            pb.owner.resize(n, NIL);
            pb.used.resize(n, 0);
            pb.next.resize(n, NIL);
            pb.held_until.resize(n, 0);
            pb.held.resize(n, false);
        }
        self.naddrs = self.naddrs.max(naddrs);
    }

    /// Tables for `max_subs` subscribers, sized now (the packet path never allocates).
    pub fn new(
        pool: &Pool4,
        worker: usize,
        workers: usize,
        cfg: BlockConfig,
        max_subs: usize,
    ) -> Self {
        let naddrs = pool.addrs.len();
        let protos = Proto::ALL.map(|p| {
            let slice = port_slices(pool.range(p), worker, workers)[1];
            ProtoBlocks::new(slice, cfg.size, naddrs)
        });
        let total: usize = protos.iter().map(|p| p.owner.len()).sum();
        BlockTable {
            cfg,
            naddrs,
            protos,
            subs: Vec::with_capacity(max_subs),
            sub_free: Vec::with_capacity(max_subs),
            // Twice the room: after deletions the table then always rehashes in place
            // (hashbrown does when at most half full), so the packet path never
            // allocates.
            by_prefix: HashMap::with_capacity(max_subs.saturating_mul(2)),
            max_subs,
            holding: std::collections::VecDeque::with_capacity(total),
        }
    }

    pub fn bytes(&self) -> usize {
        let blocks: usize = self.protos.iter().map(|p| p.owner.len() * 26).sum();
        blocks + self.subs.capacity() * size_of::<Sub>() + self.max_subs * 2 * 24
    }

    /// Blocks in use (held by a subscriber), all protocols.
    pub fn in_use(&self) -> usize {
        self.protos
            .iter()
            .map(|p| p.owner.iter().filter(|&&o| o != NIL).count())
            .sum()
    }

    fn ports_of(&self, proto: Proto, blk: u32) -> (usize, PortRange) {
        let pb = &self.protos[proto as usize];
        let addr = (blk / pb.per_addr) as usize;
        let first = u32::from(pb.base) + (blk % pb.per_addr) * u32::from(self.cfg.size);
        let last = first + u32::from(self.cfg.size) - 1;
        (addr, PortRange::new(first as u16, last as u16))
    }

    /// The block holding `port` of address `addr`, if it is a block port.
    fn block_at(&self, proto: Proto, addr: usize, port: u16) -> Option<u32> {
        let pb = &self.protos[proto as usize];
        let off = u32::from(port.checked_sub(pb.base)?) / u32::from(self.cfg.size);
        (off < pb.per_addr).then(|| addr as u32 * pb.per_addr + off)
    }

    /// Calls `try_block(addr, ports)` on each of the subscriber's blocks until one
    /// gives a port, then on new blocks (each recorded through `on_change`) while the
    /// subscriber may have more. Returns the address and the port.
    pub fn allocate(
        &mut self,
        proto: Proto,
        prefix: u128,
        pref_addr: usize,
        mut rand: impl FnMut() -> u64,
        mut try_block: impl FnMut(usize, PortRange) -> Option<u16>,
        mut on_change: impl FnMut(BlockChange),
    ) -> Result<(usize, u16), BlockRefusal> {
        let p = proto as usize;
        let (s, new_sub) = match self.by_prefix.get(&prefix) {
            Some(&s) => (s, false),
            None => (self.new_sub(proto, prefix, pref_addr, &mut rand)?, true),
        };
        let mut b = self.subs[s as usize].head[p];
        while b != NIL {
            let (addr, ports) = self.ports_of(proto, b);
            if let Some(port) = try_block(addr, ports) {
                self.protos[p].used[b as usize] += 1;
                return Ok((addr, port));
            }
            b = self.protos[p].next[b as usize];
        }
        let result = if self.subs[s as usize].count[p] >= self.cfg.max_per_subscriber {
            Err(BlockRefusal::Limit)
        } else {
            self.take_block(proto, s, &mut rand, &mut on_change)
                .and_then(|b| {
                    let (addr, ports) = self.ports_of(proto, b);
                    let port = try_block(addr, ports).ok_or(BlockRefusal::Exhausted)?;
                    self.protos[p].used[b as usize] += 1;
                    Ok((addr, port))
                })
        };
        if result.is_err() && new_sub && self.subs[s as usize].count == [0; 3] {
            self.drop_sub(s);
        }
        result
    }

    fn new_sub(
        &mut self,
        proto: Proto,
        prefix: u128,
        pref_addr: usize,
        rand: &mut impl FnMut() -> u64,
    ) -> Result<u32, BlockRefusal> {
        if self.by_prefix.len() >= self.max_subs || self.naddrs == 0 {
            return Err(BlockRefusal::Full);
        }
        // A random address with a free block, starting from the paired one's
        // neighbourhood so that load spreads.
        let start = (pref_addr as u64 ^ rand()) as usize % self.naddrs;
        let addr = (0..self.naddrs)
            .map(|k| (start + k) % self.naddrs)
            .find(|&a| self.free_block_on(proto, a, 0).is_some())
            .ok_or(BlockRefusal::Exhausted)?;
        let sub = Sub {
            prefix,
            addr: addr as u16,
            head: [NIL; 3],
            count: [0; 3],
        };
        let s = match self.sub_free.pop() {
            Some(s) => {
                self.subs[s as usize] = sub;
                s
            }
            None => {
                self.subs.push(sub);
                (self.subs.len() - 1) as u32
            }
        };
        self.by_prefix.insert(prefix, s);
        Ok(s)
    }

    fn drop_sub(&mut self, s: u32) {
        self.by_prefix.remove(&self.subs[s as usize].prefix);
        self.sub_free.push(s);
    }

    /// A free block on `addr`, scanning from offset `from` (random) and wrapping.
    fn free_block_on(&self, proto: Proto, addr: usize, from: u64) -> Option<u32> {
        let pb = &self.protos[proto as usize];
        let k = pb.per_addr;
        if k == 0 {
            return None;
        }
        let start = (from % u64::from(k)) as u32;
        (0..k)
            .map(|j| addr as u32 * k + (start + j) % k)
            .find(|&b| pb.owner[b as usize] == NIL)
    }

    fn take_block(
        &mut self,
        proto: Proto,
        s: u32,
        rand: &mut impl FnMut() -> u64,
        on_change: &mut impl FnMut(BlockChange),
    ) -> Result<u32, BlockRefusal> {
        let p = proto as usize;
        let addr = usize::from(self.subs[s as usize].addr);
        let b = self
            .free_block_on(proto, addr, rand())
            .ok_or(BlockRefusal::Exhausted)?;
        let pb = &mut self.protos[p];
        pb.owner[b as usize] = s;
        pb.used[b as usize] = 0;
        pb.held[b as usize] = false;
        pb.next[b as usize] = self.subs[s as usize].head[p];
        self.subs[s as usize].head[p] = b;
        self.subs[s as usize].count[p] += 1;
        let (addr, ports) = self.ports_of(proto, b);
        on_change(BlockChange {
            proto,
            prefix: self.subs[s as usize].prefix,
            addr,
            ports,
        });
        Ok(b)
    }

    /// A binding on `addr:port` is gone: its block is released when it was the last
    /// one (at once, or after the hold time from `now`).
    pub fn release(
        &mut self,
        proto: Proto,
        addr: usize,
        port: u16,
        now: u64,
        on_change: impl FnMut(BlockChange),
    ) {
        let Some(b) = self.block_at(proto, addr, port) else {
            return;
        };
        let p = proto as usize;
        let pb = &mut self.protos[p];
        if pb.owner[b as usize] == NIL || pb.used[b as usize] == 0 {
            debug_assert!(false, "release of a port outside a held block");
            return;
        }
        pb.used[b as usize] -= 1;
        if pb.used[b as usize] > 0 {
            return;
        }
        if self.cfg.hold_ms == 0 {
            self.free_block(proto, b, on_change);
            return;
        }
        pb.held_until[b as usize] = now + u64::from(self.cfg.hold_ms);
        if !pb.held[b as usize] {
            pb.held[b as usize] = true;
            self.holding.push_back((proto as u8, b));
        }
    }

    /// Releases held blocks whose hold time has passed (at most `budget` looks). The
    /// queue is in the order blocks first emptied; a block used again meanwhile leaves
    /// it (and re-enters when it empties again); one re-emptied while queued keeps its
    /// place with a later time, which can delay the blocks behind it by one hold time
    /// at most.
    pub fn expire(&mut self, now: u64, budget: usize, mut on_change: impl FnMut(BlockChange)) {
        for _ in 0..budget {
            let Some(&(p, b)) = self.holding.front() else {
                return;
            };
            let pb = &mut self.protos[p as usize];
            if pb.used[b as usize] == 0 && pb.held_until[b as usize] > now {
                return;
            }
            self.holding.pop_front();
            pb.held[b as usize] = false;
            if pb.used[b as usize] == 0 && pb.owner[b as usize] != NIL {
                self.free_block(Proto::from_u8(p), b, &mut on_change);
            }
        }
    }

    fn free_block(&mut self, proto: Proto, b: u32, mut on_change: impl FnMut(BlockChange)) {
        let p = proto as usize;
        let s = self.protos[p].owner[b as usize];
        // Unlink from the subscriber's list.
        let mut cur = self.subs[s as usize].head[p];
        let mut prev = NIL;
        while cur != NIL && cur != b {
            prev = cur;
            cur = self.protos[p].next[cur as usize];
        }
        let next = self.protos[p].next[b as usize];
        if prev == NIL {
            self.subs[s as usize].head[p] = next;
        } else {
            self.protos[p].next[prev as usize] = next;
        }
        self.protos[p].owner[b as usize] = NIL;
        self.protos[p].next[b as usize] = NIL;
        self.subs[s as usize].count[p] -= 1;
        let (addr, ports) = self.ports_of(proto, b);
        on_change(BlockChange {
            proto,
            prefix: self.subs[s as usize].prefix,
            addr,
            ports,
        });
        if self.subs[s as usize].count == [0; 3] {
            self.drop_sub(s);
        }
    }

    /// Each held block: (proto, prefix, address index, ports, bindings using it).
    pub fn blocks(&self) -> impl Iterator<Item = (Proto, u128, usize, PortRange, u32)> + '_ {
        Proto::ALL.into_iter().flat_map(move |proto| {
            let pb = &self.protos[proto as usize];
            (0..pb.owner.len() as u32)
                .filter(|&b| pb.owner[b as usize] != NIL)
                .map(move |b| {
                    let (addr, ports) = self.ports_of(proto, b);
                    let s = pb.owner[b as usize];
                    (
                        proto,
                        self.subs[s as usize].prefix,
                        addr,
                        ports,
                        pb.used[b as usize],
                    )
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: u8) -> Pool4 {
        Pool4::new((1..=n).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect())
    }

    fn det(n: u8, range: &str, size: u16) -> Deterministic {
        let (p, l) = range.split_once('/').unwrap();
        let cfg = BlockConfig {
            mode: PortAllocation::Deterministic,
            size,
            subscribers: Some((p.parse().unwrap(), l.parse().unwrap())),
            ..BlockConfig::default()
        };
        Deterministic::new(&pool(n), Proto::Udp, &cfg, 64).unwrap()
    }

    /// RFC 7422 §2: subscriber i gets a fixed address and port range, and the
    /// reverse mapping needs nothing but the formula.
    #[test]
    fn rfc7422_formula_and_its_inverse() {
        let d = det(2, "2001:db8:100::/48", 128);
        // 1024..=65535 holds 504 blocks of 128.
        assert_eq!(d.per_addr(), 504);
        assert_eq!(d.capacity(), 1008);
        let s0: Ipv6Addr = "2001:db8:100:0::1".parse().unwrap();
        assert_eq!(
            d.block_of(s0),
            Some((Ipv4Addr::new(192, 0, 2, 1), PortRange::new(1024, 1151)))
        );
        let s5: Ipv6Addr = "2001:db8:100:5:1:2:3:4".parse().unwrap();
        assert_eq!(
            d.block_of(s5),
            Some((Ipv4Addr::new(192, 0, 2, 1), PortRange::new(1664, 1791)))
        );
        // Subscriber 504 is the first of the second address.
        let s504: Ipv6Addr = "2001:db8:100:1f8::9".parse().unwrap();
        assert_eq!(
            d.block_of(s504),
            Some((Ipv4Addr::new(192, 0, 2, 2), PortRange::new(1024, 1151)))
        );
        assert_eq!(d.block_of("2001:db8:100:3f0::1".parse().unwrap()), None);
        assert_eq!(d.block_of("2001:db8:200::1".parse().unwrap()), None);
        for (a, port) in [(1u8, 1700u16), (2, 1024), (2, 65000)] {
            let v4 = Ipv4Addr::new(192, 0, 2, a);
            let (prefix, len, r) = d.subscriber_of(v4, port).unwrap();
            assert_eq!(len, 64);
            assert!(r.contains(port));
            assert_eq!(d.block_of(prefix), Some((v4, r)));
        }
        assert_eq!(
            d.subscriber_of(Ipv4Addr::new(192, 0, 2, 1), 1700)
                .unwrap()
                .0,
            "2001:db8:100:5::".parse::<Ipv6Addr>().unwrap()
        );
        // 65535 - 1024 + 1 = 64512 = 504 * 128 exactly; port 1023 is no block port.
        assert_eq!(d.subscriber_of(Ipv4Addr::new(192, 0, 2, 1), 1023), None);
    }

    fn table(naddrs: u8, ports: (u16, u16), cfg: BlockConfig) -> BlockTable {
        let mut p = pool(naddrs);
        p.udp = PortRange::new(ports.0, ports.1);
        BlockTable::new(&p, 0, 1, cfg, 64)
    }

    fn block_cfg(size: u16, max: u16, hold_ms: u32) -> BlockConfig {
        BlockConfig {
            mode: PortAllocation::Block,
            size,
            max_per_subscriber: max,
            hold_ms,
            subscribers: None,
        }
    }

    /// One block per subscriber until it fills, then another on the same address
    /// (RFC 4787 REQ-2), up to the limit; released when the last binding goes.
    #[test]
    fn blocks_fill_grow_and_release() {
        let mut t = table(4, (1024, 2047), block_cfg(4, 2, 0));
        let mut events = Vec::new();
        let mut used: std::collections::HashSet<(usize, u16)> = Default::default();
        let mut x = 7u64;
        let mut got = Vec::new();
        for _ in 0..8 {
            let r = t.allocate(
                Proto::Udp,
                42,
                0,
                || {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    x
                },
                |a, r| (r.first..=r.last).find(|&p| used.insert((a, p))),
                |c| events.push(c),
            );
            got.push(r);
        }
        assert!(got.iter().all(|r| r.is_ok()));
        assert_eq!(events.len(), 2, "two blocks, two records");
        let addr = got[0].unwrap().0;
        assert!(got.iter().all(|r| r.unwrap().0 == addr));
        let r = t.allocate(Proto::Udp, 42, 0, || 3, |_, _| None, |_| {});
        assert_eq!(r, Err(BlockRefusal::Limit));
        assert_eq!(t.in_use(), 2);
        let mut released = Vec::new();
        for (a, p) in got.iter().map(|r| r.unwrap()) {
            t.release(Proto::Udp, a, p, 0, |c| released.push(c));
        }
        assert_eq!(released.len(), 2);
        assert_eq!(t.in_use(), 0);
        assert!(t.by_prefix.is_empty());
    }

    /// With a hold time the emptied block stays the subscriber's: coming back within
    /// it makes no new record; after it, the block is released.
    #[test]
    fn hold_time_keeps_the_block() {
        let mut t = table(1, (1024, 1151), block_cfg(64, 2, 1000));
        let mut n = 0;
        let (a, p) = t
            .allocate(Proto::Udp, 1, 0, || 0, |_, r| Some(r.first), |_| n += 1)
            .unwrap();
        t.release(Proto::Udp, a, p, 10, |_| n += 100);
        t.expire(500, 16, |_| n += 100);
        assert_eq!(n, 1);
        let (a, p) = t
            .allocate(Proto::Udp, 1, 0, || 0, |_, r| Some(r.first), |_| n += 1)
            .unwrap();
        assert_eq!(n, 1, "the held block served again without a record");
        t.release(Proto::Udp, a, p, 600, |_| {});
        t.expire(1000, 16, |_| n += 100);
        assert_eq!(n, 1);
        t.expire(1700, 16, |_| n += 100);
        assert_eq!(n, 101);
        assert_eq!(t.in_use(), 0);
    }

    /// Per-worker ownership: a worker's blocks lie in its own slice of the ports, so
    /// replies to them are steered back to it (`Sharding::owner_of_v4`).
    #[test]
    fn blocks_stay_in_the_workers_slice() {
        let p = pool(1);
        for w in 0..3 {
            let mut t = BlockTable::new(&p, w, 3, block_cfg(128, 64, 0), 256);
            let slice = port_slices(p.udp, w, 3)[1];
            let mut seen = 0;
            for s in 0..200u128 {
                let got = t.allocate(
                    Proto::Udp,
                    s,
                    0,
                    || s as u64 * 7919,
                    |_, r| Some(r.first),
                    |c| {
                        assert!(slice.contains(c.ports.first) && slice.contains(c.ports.last));
                        seen += 1;
                    },
                );
                if got.is_err() {
                    break;
                }
            }
            assert_eq!(
                seen,
                slice.len() / 128,
                "worker {w}: every whole block, once"
            );
        }
    }

    #[test]
    fn exhaustion_is_refused_and_leaves_no_subscriber() {
        let mut t = table(1, (1024, 1151), block_cfg(64, 1, 0));
        for s in 0..2u128 {
            t.allocate(Proto::Udp, s, 0, || 5, |_, r| Some(r.first), |_| {})
                .unwrap();
        }
        let r = t.allocate(Proto::Udp, 9, 0, || 5, |_, r| Some(r.first), |_| {});
        assert_eq!(r, Err(BlockRefusal::Exhausted));
        assert_eq!(t.by_prefix.len(), 2);
    }
}
