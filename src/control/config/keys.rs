//! The configuration keys: one declaration each, and the only place a key is declared.
//!
//! Flag, TOML key, default, parser, `check-config` line and README row all come from the
//! declaration (see [`table`](super::table) for why). A declaration reads:
//!
//! ```text
//! /// Help of `--the-key` (plain text; `--help` appends the default).
//! the_key: Type = One(KIND) => {     // KIND from values::syntax; List(KIND): repeatable
//!     key: "the-key",                // flag and TOML name: the field's, kebab-case
//!     scope: All,                    // the modes that use it: All, Siit or Nat64
//!     reload: Live,                  // optional: a reload may change it while running
//!     default: Value("raw"),         // see below
//!     readme: "Markdown for the README's meaning column",
//! }
//! ```
//!
//! `reload: Live` marks a key that SIGHUP and `xlat64 reload` apply without a restart
//! (see [`crate::control::reload`], which must then know how to apply it); a key without
//! it is restart-only: a reload that changes it is refused, naming it. `check-config`
//! and the README say which is which.
//!
//! Defaults: `Value("raw")` is read by the key's parser, so `--help`, the README and
//! `check-config` show exactly what is used; `Lab("raw")` is the same for a demo-lab
//! value (documentation addresses), and `run` warns when it is in force; lists take
//! `Value([...])`/`Lab([...])`, or `Empty("what none means")`. `Computed("how", expr)`
//! and `Derived("how", expr)` evaluate `expr` at resolution, where the keys declared
//! above are in scope by their field names ("how" is what `--help` and the README say;
//! `check-config` calls a `Derived` value "derived from prefix and ipv4-addr", so it
//! fits `ipv6-addr` only). A default followed by `if cond` (a condition on the keys
//! above) applies only while `cond` holds; otherwise the value is empty.
//!
//! A new key is its declaration here plus its use (a field read where it matters); a new
//! kind of value adds a parser and a `syntax` constant in `values.rs`. Then
//! `XLAT64_BLESS=1 cargo test --lib readme_reference_tables` rewrites the README's tables.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};

use super::limits::{default_per_address, default_per_subscriber};
use super::resolve::rfc6052_embed;
use super::table::{List, One, Opt, keys};
use super::values::syntax::*;
use super::values::{
    Dataplane, Eam, LogLevel, MetricsListen, Mode, TunIo, default_control_socket, default_workers,
};
use crate::nat64::{PortAllocation, PortRange, StaticBib};

pub mod default {
    //! Built-in defaults other modules need on their own.
    /// `xlat64 stats` and `xlat64 sessions` ask this device's translator by default.
    pub const TUN: &str = "xlat64";
}

keys! {
    /// TUN device name; created, or attached to if it exists persistently
    tun: String = One(TUN) => {
        key: "tun",
        scope: All,
        default: Value(default::TUN),
        readme: "TUN device name",
    }
    /// Dataplane: tun (a TUN device the kernel routes into) or xdp (AF_XDP sockets on
    /// --ipv6-iface and --ipv4-iface)
    dataplane: Dataplane = One(DATAPLANE) => {
        key: "dataplane",
        scope: All,
        default: Value("tun"),
        readme: "`tun`: a TUN device the kernel routes into (offloads, bulk TCP); `xdp`: an XDP program and AF_XDP sockets on `ipv6-iface` and `ipv4-iface` (small packets); see [Dataplanes](#dataplanes)",
    }
    /// XDP dataplane: the Ethernet interface facing the IPv6 side
    ipv6_iface: String = One(IFACE) => {
        key: "ipv6-iface",
        scope: All,
        default: Empty("required with `dataplane = \"xdp\"`"),
        readme: "`xdp` dataplane: the interface IPv6 packets to translate arrive on and translated IPv6 packets leave by",
    }
    /// XDP dataplane: the Ethernet interface facing the IPv4 side
    ipv4_iface: String = One(IFACE) => {
        key: "ipv4-iface",
        scope: All,
        default: Empty("required with `dataplane = \"xdp\"`"),
        readme: "`xdp` dataplane: the interface IPv4 packets to translate arrive on and translated IPv4 packets leave by",
    }
    /// Translation mode: siit (stateless), nat64 (stateful, RFC 6146; needs pool4) or clat
    /// (the customer side of 464XLAT, RFC 6877)
    mode: Mode = One(MODE) => {
        key: "mode",
        scope: All,
        default: Value("siit"),
        readme: "`siit` (stateless), `nat64` (stateful, RFC 6146) or `clat` (the customer side of 464XLAT, RFC 6877; see [CLAT](#clat-464xlat-customer-side))",
    }
    /// RFC 6052 prefix for IPv4-embedded IPv6 addresses
    prefix: Ipv6Net = One(PREFIX) => {
        key: "prefix",
        scope: Provider,
        default: Lab("2001:db8:64::/96"),
        readme: "RFC 6052 prefix: /32, /40, /48, /56, /64 or /96, bits 64–71 zero",
    }
    /// RFC 7757 explicit address mapping; repeatable; replaces the file's list
    eam: Vec<Eam> = List(EAM) => {
        key: "eam",
        scope: Siit,
        reload: Live,
        // NAT64 maps its clients through sessions.
        default: Lab(["2001:db8:1::/120=192.0.2.0/24"]) if mode != Mode::Nat64,
        readme: "RFC 7757 explicit address mappings, equal host bits on both sides; a list given by flags replaces the file's, `eam = []` means none",
    }
    /// Source address of ICMPv4 errors the translator generates (clat: 192.0.0.2 unless
    /// given)
    ipv4_addr: Ipv4Addr = One(IPV4_ADDR) => {
        key: "ipv4-addr",
        scope: All,
        default: Lab("203.0.113.1"),
        readme: "the translator's IPv4 address: source of the ICMPv4 errors it generates; route it into the TUN, do not assign it to an interface; `clat` mode: `192.0.0.2` (RFC 7335) unless given",
    }
    /// Source address of ICMPv6 errors the translator generates
    ipv6_addr: Ipv6Addr = One(IPV6_ADDR) => {
        key: "ipv6-addr",
        scope: All,
        default: Derived("`ipv4-addr` embedded in `prefix`", rfc6052_embed(prefix, ipv4_addr)),
        readme: "source of the ICMPv6 errors it generates; `clat` mode: the CLAT's IPv6 address unless given",
    }
    /// RFC 6791 pool for sources of translated ICMP errors from unmappable IPv6 routers;
    /// repeatable; replaces the file's list
    pool6791: Vec<Ipv4Net> = List(POOL6791) => {
        key: "pool6791",
        scope: All,
        reload: Live,
        default: Empty("use `ipv4-addr`"),
        readme: "RFC 6791 pool: sources for ICMPv4 errors translated from IPv6 routers whose address has no IPv4 mapping",
    }
    /// MTU of the TUN device
    mtu: u16 = One(MTU) => {
        key: "mtu",
        scope: All,
        default: Value("1500"),
        readme: "TUN MTU (`clat` mode: with `uplink` the uplink's MTU − 20, RFC 6877 §6.3, unless given; translated packets may then be 20 bytes larger); IPv4 DF=1 packets that do not fit once translated get Fragmentation Needed (MTU − 20)",
    }
    /// RFC 7915 lowest-ipv6-mtu: IPv4 packets with DF=0 are fragmented to fit it
    lowest_ipv6_mtu: u16 = One(MTU) => {
        key: "lowest-ipv6-mtu",
        scope: All,
        default: Value("1280"),
        readme: "IPv4 DF=0 packets larger than this once translated are fragmented (RFC 7915 §4)",
    }
    /// Compute the checksum of IPv4 UDP packets with checksum 0 instead of dropping them
    amend_udp_checksum_zero: bool = One(SWITCH) => {
        key: "amend-udp-checksum-zero",
        scope: All,
        default: Value("false"),
        readme: "compute the checksum of unfragmented IPv4 UDP with checksum 0 instead of dropping it (RFC 7915 §4.5)",
    }
    /// Refuse non-global IPv4 addresses with the well-known prefix 64:ff9b::/96
    wkp_strict: bool = One(BOOL) => {
        key: "wkp-strict",
        scope: All,
        default: Value("true"),
        readme: "with `64:ff9b::/96`, refuse non-global IPv4 addresses (RFC 6052 §3.1)",
    }
    /// Lower the MSS option of TCP SYNs to what fits the translated path (MTU minus 40
    /// towards IPv4, minus 60 towards IPv6)
    mss_clamp: bool = One(BOOL) => {
        key: "mss-clamp",
        scope: All,
        default: Value("true"),
        readme: "lower the MSS option of TCP SYNs to what the translated path carries (MTU − 40 towards IPv4, MTU − 60 towards IPv6)",
    }
    /// ICMP errors the translator originates, per second per worker (0: no limit); ICMP
    /// errors of other routers that it translates are not limited
    icmp_error_rate: u32 = One(ICMP_ERROR_RATE) => {
        key: "icmp-error-rate",
        scope: All,
        // Linux's net.ipv4.icmp_msgs_per_sec: a worker is one CPU's worth of host.
        default: Value("1000"),
        readme: "ICMP errors the translator originates (Time Exceeded, Packet Too Big / Fragmentation Needed, Parameter Problem, Destination Unreachable for source routes, NAT64 refusals and held SYNs), per second per worker: a token bucket (RFC 4443 §2.4(f)); errors beyond it are not sent and are counted as `icmp_errors_rate_limited`; errors of other routers that it translates are never limited; `0`: no limit",
    }
    /// Depth of each worker's ICMP error bucket: errors sent at once before
    /// icmp-error-rate paces them
    icmp_error_burst: u32 = One(ICMP_ERROR_BURST) => {
        key: "icmp-error-burst",
        scope: All,
        // Linux's net.ipv4.icmp_msgs_burst.
        default: Value("50"),
        readme: "the bucket's depth: errors one worker sends at once before `icmp-error-rate` paces them",
    }
    /// ICMP errors the translator originates per second to one destination /24 (IPv4) or
    /// /64 (IPv6), per worker, in bursts of 10; Packet Too Big and Fragmentation Needed
    /// are exempt (0: no per-destination limit)
    icmp_error_destination_rate: u32 = One(ICMP_ERROR_RATE) => {
        key: "icmp-error-destination-rate",
        scope: All,
        // RFC 4443 §2.4(f)'s example for a small device (B=10, N=10/s), per prefix.
        default: Value("10"),
        readme: "the same per destination /24 (IPv4) or /64 (IPv6), per worker, in bursts of 10: one scanner, or one victim of spoofed sources, gets only its share of `icmp-error-rate`; Packet Too Big and Fragmentation Needed are exempt (path MTU discovery needs them); `0`: no per-destination limit",
    }
    /// Route into the TUN device (with `ip route`) what it translates: the RFC 6052
    /// prefix, the EAM IPv4 prefixes (siit) or pool4 (nat64), and ipv4-addr; remove those
    /// routes on exit
    setup_routes: bool = One(SWITCH) => {
        key: "setup-routes",
        scope: All,
        default: Value("false"),
        readme: "route into the TUN (with `ip route`) the prefix, each EAM IPv4 prefix (siit) or pool4 (nat64), and `ipv4-addr` (so that reverse-path filtering accepts the translator's own ICMPv4 errors); removed on exit; a route that already goes through the TUN is left alone",
    }
    /// Transmit queue length of the TUN device, in packets
    txqueuelen: u32 = One(TXQUEUELEN) => {
        key: "txqueuelen",
        scope: All,
        // The kernel's default of 500 overflows under load before the translator does.
        default: Value("10000"),
        readme: "TUN transmit queue; the kernel default of 500 overflows under load",
    }
    /// TUN queues, one worker thread each; 1 opens a single-queue device
    workers: u16 = One(WORKERS) => {
        key: "workers",
        scope: All,
        default: Computed("the number of CPUs this process may run on", default_workers()),
        readme: "TUN queues (IFF_MULTI_QUEUE), one worker thread each, 1 to 256; `1` opens a single-queue device as before",
    }
    /// Pin worker i to CPU i (modulo the CPUs this process may run on)
    pin: bool = One(SWITCH) => {
        key: "pin",
        scope: All,
        default: Value("true"),
        readme: "pin worker *i* to CPU *i* (modulo the usable CPUs)",
    }
    /// TUN offloads: open the device with a virtio-net header and let the kernel hand
    /// over (and take back) TCP/UDP super-packets with partial checksums; false opens it
    /// as a plain TUN
    offload: bool = One(SWITCH) => {
        key: "offload",
        scope: All,
        default: Value("true"),
        readme: "TUN offloads: virtio-net header (IFF_VNET_HDR) and TUNSETOFFLOAD, so TCP/UDP super-packets of up to 64 KB with partial checksums cross the TUN whole; `false` opens a plain TUN",
    }
    /// How a worker moves packets through its TUN queue: syscalls (a read and a write
    /// per packet) or io-uring (a multishot read kept armed, one io_uring_enter per batch)
    tun_io: TunIo = One(TUN_IO) => {
        key: "tun-io",
        scope: All,
        default: Value("syscalls"),
        readme: "`syscalls`: one read and one write system call per packet; `io-uring`: a multishot read kept armed on the TUN and one `io_uring_enter` per batch of up to 64 packets (Linux 6.7+, `kernel.io_uring_disabled = 0`); see [Dataplanes](#dataplanes)",
    }
    /// error, warn, info, debug or trace. Precedence: this flag, then RUST_LOG, then the
    /// file
    log_level: LogLevel = One(LOG_LEVEL) => {
        key: "log-level",
        scope: All,
        reload: Live,
        default: Value("info"),
        readme: "`error`, `warn`, `info`, `debug`, `trace` (or `RUST_LOG`)",
    }
    /// Unix socket (root only) where `xlat64 stats` and `xlat64 sessions` ask this
    /// translator
    control_socket: PathBuf = One(CONTROL_SOCKET) => {
        key: "control-socket",
        scope: All,
        default: Computed("`/run/xlat64/<tun>.sock`", default_control_socket(&tun)),
        readme: "Unix socket of `xlat64 stats` / `xlat64 sessions` (see below)",
    }
    /// Serve the counters for Prometheus on http://ADDR:PORT/metrics (off: not at all)
    metrics_listen: MetricsListen = One(METRICS_LISTEN) => {
        key: "metrics-listen",
        scope: All,
        default: Value("off"),
        readme: "`ADDR:PORT` where `GET /metrics` serves every counter in the Prometheus text format (see below), or `off`; unauthenticated: bind it to a management address",
    }
    /// NAT64: IPv4 prefix the IPv6 clients share; repeatable; replaces the file's list
    pool4: Vec<Ipv4Net> = List(POOL4) => {
        key: "pool4",
        scope: Nat64,
        reload: Live,
        default: Empty("required in nat64 mode"),
        readme: "IPv4 addresses the IPv6 clients share (RFC 6146 pool4)",
    }
    /// NAT64: TCP and UDP ports handed out on pool4 (ICMP identifiers: all); a flow from
    /// a well-known source port (0-1023) gets one of 1-1023 while any is free, a flow
    /// from a higher port never does
    pool4_ports: PortRange = One(PORTS) => {
        key: "pool4-ports",
        scope: Nat64,
        // RFC 6146 §3.5.1.1 keeps well-known source ports well-known "if possible": the
        // default makes it possible. Pool4 is routed into the TUN, never the host's own
        // address, so its low ports serve no local service; 0 is no port.
        default: Value("1-65535"),
        readme: "TCP and UDP ports handed out (ICMP identifiers: all); every worker gets a slice of the well-known ports (1-1023) and of the rest: a flow from a well-known source port gets a well-known pool4 port while one is free, a flow from a higher port never gets one (RFC 6146 §3.5.1.1, RFC 4787 REQ-3)",
    }
    /// NAT64: sessions the tables are sized for at startup (about 110 bytes each)
    max_sessions: u32 = One(MAX_SESSIONS) => {
        key: "max-sessions",
        scope: Nat64,
        // About 30 MB.
        default: Value("262144"),
        readme: "tables are sized for this at startup (no resize stalls)",
    }
    /// NAT64: sessions one subscriber (one IPv6 prefix of --subscriber-prefix-len) may
    /// hold; new flows beyond it are refused
    max_sessions_per_subscriber: u32 = One(MAX_SESSIONS) => {
        key: "max-sessions-per-subscriber",
        scope: Nat64,
        reload: Live,
        // A subscriber only ever uses its own worker's ports and table: see `limits`.
        default: Computed(
            "1/8 of what one worker holds: the smaller of its pool4 ports (addresses × `pool4-ports` ÷ `workers`) and its sessions (`max-sessions` ÷ `workers`), at most 16384",
            default_per_subscriber(&pool4, pool4_ports, workers, max_sessions)
        ),
        readme: "sessions one subscriber may hold; its new flows beyond that are refused (counted as `nat64_subscriber_limit`); a value above one worker's share is warned about at start (see below)",
    }
    /// NAT64: sessions one IPv6 address may hold
    max_sessions_per_address: u32 = One(MAX_SESSIONS) => {
        key: "max-sessions-per-address",
        scope: Nat64,
        reload: Live,
        default: Computed(
            "half of `max-sessions-per-subscriber`",
            default_per_address(max_sessions_per_subscriber)
        ),
        readme: "sessions one IPv6 address may hold (also counted as `nat64_subscriber_limit` when refused)",
    }
    /// NAT64: length of the IPv6 prefix that is one subscriber, 1 to 64
    subscriber_prefix_len: u8 = One(SUBSCRIBER_PREFIX_LEN) => {
        key: "subscriber-prefix-len",
        scope: Nat64,
        // One customer LAN.
        default: Value("64"),
        readme: "the IPv6 prefix length (1–64) that is one subscriber",
    }
    /// NAT64: UDP session lifetime in seconds, at least 120 (RFC 6146)
    udp_timeout: u32 = One(UDP_TIMEOUT) => {
        key: "udp-timeout",
        scope: Nat64,
        reload: Live,
        // The timeouts' defaults are RFC 6146 §4's.
        default: Value("300"),
        readme: "UDP session lifetime, at least 120 s (RFC 6146)",
    }
    /// NAT64: established TCP session lifetime in seconds
    tcp_est_timeout: u32 = One(TIMEOUT) => {
        key: "tcp-est-timeout",
        scope: Nat64,
        reload: Live,
        default: Value("7440"),
        readme: "established TCP (2 h 4 min)",
    }
    /// NAT64: transitory TCP session lifetime in seconds
    tcp_trans_timeout: u32 = One(TIMEOUT) => {
        key: "tcp-trans-timeout",
        scope: Nat64,
        reload: Live,
        default: Value("240"),
        readme: "transitory TCP (4 min)",
    }
    /// NAT64: seconds an IPv4 SYN with no mapping is held for a simultaneous open before
    /// it is answered with ICMP port unreachable (RFC 6146 TCP_INCOMING_SYN)
    tcp_incoming_syn_timeout: u32 = One(TIMEOUT) => {
        key: "tcp-incoming-syn-timeout",
        scope: Nat64,
        reload: Live,
        default: Value("6"),
        readme: "an IPv4 SYN to a pool4 address:port with no mapping is held this long for a simultaneous open, then answered with ICMP port unreachable (RFC 6146 TCP_INCOMING_SYN)",
    }
    /// NAT64: ICMP query session lifetime in seconds
    icmp_timeout: u32 = One(TIMEOUT) => {
        key: "icmp-timeout",
        scope: Nat64,
        reload: Live,
        default: Value("60"),
        readme: "ICMP query sessions",
    }
    /// NAT64: accept IPv4 packets to a mapping only from hosts the client has sent to
    /// (RFC 4787 address-dependent filtering)
    address_dependent_filtering: bool = One(SWITCH) => {
        key: "address-dependent-filtering",
        scope: Nat64,
        default: Value("false"),
        readme: "RFC 4787 REQ-8: only hosts the client contacted may answer (default: endpoint-independent)",
    }
    /// NAT64: answer refused packets with ICMP errors instead of dropping them silently
    icmp_on_refusal: bool = One(SWITCH) => {
        key: "icmp-on-refusal",
        scope: Nat64,
        default: Value("false"),
        readme: "answer refused packets with ICMP errors instead of dropping them silently (IPv4 senders with no mapping: 3/13 administratively prohibited; IPv6 senders refused for lack of resources: 1/3)",
    }
    /// NAT64: static BIB entry forwarding a pool4 address:port to an IPv6 server, e.g.
    /// "tcp 203.0.113.16:8080 [2001:db8:1::2]:80" (PROTO tcp, udp or icmp; for icmp the
    /// port is the echo identifier); repeatable; replaces the file's list
    static_bib: Vec<StaticBib> = List(STATIC_BIB) => {
        key: "static-bib",
        scope: Nat64,
        reload: Live,
        default: Empty(),
        readme: "static BIB entry: the pool4 address:port forwarded to an IPv6 server, e.g. `tcp 203.0.113.16:8080 [2001:db8:1::2]:80`; PROTO `tcp`, `udp` or `icmp` (the port is then the echo identifier); the IPv4 address must be in pool4, the IPv6 one outside the prefix",
    }
    /// NAT64: seconds the fragments of a datagram may take to all arrive (RFC 6146
    /// FRAGMENT_MIN is 2)
    fragment_timeout: u32 = One(TIMEOUT) => {
        key: "fragment-timeout",
        scope: Nat64,
        default: Value("2"),
        readme: "fragments are reassembled (RFC 6146 §3.4), in any order, if the whole datagram arrives within this time (FRAGMENT_MIN); then dropped (`fragment_timeout`)",
    }
    /// NAT64: fragments held for reassembly at most, over all workers (one MTU-sized
    /// buffer each, allocated at start); one source may hold an eighth of a worker's share;
    /// at a limit the oldest datagram gives way, so lost fragments cost room only until
    /// newer datagrams need it
    max_fragments: u32 = One(MAX_FRAGMENTS) => {
        key: "max-fragments",
        scope: Nat64,
        default: Value("8192"),
        readme: "fragments held for reassembly at most, over all workers: one `mtu`-sized buffer each, reserved at start (13 MB at MTU 1500); one source (a subscriber prefix, an IPv4 address) holds at most an eighth of a worker's share; at a limit the oldest datagram (the source's own at its share) gives way to the newest, so lost fragments and floods cost room only until newer ones need it (`fragment_source_limit`, `fragment_limit`)",
    }
    /// CLAT: the PLAT's RFC 6052 prefix (PREF64); unset: discovered from Router
    /// Advertisements on --uplink (RFC 8781), else by RFC 7050
    plat_prefix: Option<Ipv6Net> = Opt(PREFIX) => {
        key: "plat-prefix",
        scope: Clat,
        default: Empty("discovered: the PREF64 option of Router Advertisements on `uplink` (RFC 8781), else the AAAA of `ipv4only.arpa` through the host's resolver (RFC 7050)"),
        readme: "the PLAT's RFC 6052 prefix, fixed; when unset the CLAT discovers it and follows its changes without a restart, and translates nothing until it has one",
    }
    /// CLAT: the IPv6 uplink interface: its Router Advertisements carry PREF64, its MTU
    /// sets the TUN's, its global /64 gives the CLAT's IPv6 address
    uplink: Option<String> = Opt(IFACE) => {
        key: "uplink",
        scope: Clat,
        default: Empty("no RA discovery; `plat-prefix`, `clat-ipv6` or `clat-prefix` needed as the case may be"),
        readme: "the IPv6 uplink: RFC 8781 PREF64 is read from its Router Advertisements (raw ICMPv6 socket with CAP_NET_RAW, else the kernel's copies over rtnetlink), `mtu` defaults to its MTU − 20, `clat-ipv6` to a dedicated address in its global /64",
    }
    /// CLAT: the host's IPv4 address (RFC 7335), or the LAN's IPv4 prefix translated 1:1
    /// onto clat-prefix (CPE mode)
    clat_ipv4: Ipv4Net = One(CLAT_IPV4) => {
        key: "clat-ipv4",
        scope: Clat,
        default: Value("192.0.0.1/32"),
        readme: "the IPv4 side of the CLAT's 1:1 mapping: the host's address from 192.0.0.0/29 (RFC 7335), or with `clat-prefix` a private LAN prefix (CPE mode)",
    }
    /// CLAT: the dedicated IPv6 address the host's IPv4 address maps to (RFC 6877 §6.3)
    clat_ipv6: Option<Ipv6Addr> = Opt(IPV6_ADDR) => {
        key: "clat-ipv6",
        scope: Clat,
        default: Empty("derived from `uplink`'s global /64: the prefix with interface identifier `::c1a7`"),
        readme: "the CLAT's own IPv6 address (RFC 6877 §6.3), not one of the host's; with `setup-routes` it is routed into the TUN and answered for on `uplink` by proxy NDP",
    }
    /// CLAT, CPE mode: the dedicated IPv6 prefix that clat-ipv4's prefix maps onto 1:1
    /// (equal host bits)
    clat_prefix: Option<Ipv6Net> = Opt(CLAT_PREFIX) => {
        key: "clat-prefix",
        scope: Clat,
        default: Empty("host mode: `clat-ipv4` is one address"),
        readme: "CPE mode: the IPv6 prefix (routed to this CPE by the provider) that the LAN prefix `clat-ipv4` maps onto 1:1, equal host bits, no NAT44 (see [CLAT](#clat-464xlat-customer-side))",
    }
    /// CLAT: the resolver list for RFC 7050 discovery (its nameserver lines)
    resolv_conf: PathBuf = One(RESOLV_CONF) => {
        key: "resolv-conf",
        scope: Clat,
        default: Value("/etc/resolv.conf"),
        readme: "where RFC 7050 discovery finds the host's resolvers (`nameserver` lines; e.g. `/run/systemd/resolve/resolv.conf` behind systemd-resolved's stub)",
    }
    /// NAT64: how pool4 ports are handed out: per session (every mapping logged), in
    /// blocks per subscriber (one record per block, RFC 7422), or deterministic (a fixed
    /// block per subscriber by formula, nothing logged)
    port_allocation: PortAllocation = One(PORT_ALLOCATION) => {
        key: "port-allocation",
        scope: Nat64,
        default: Value("session"),
        readme: "`session`: any free port per mapping, one log record per mapping; `block`: a subscriber (prefix of `subscriber-prefix-len`) gets a random block of `port-block-size` ports on one pool4 address when it first needs one, more on the same address up to `max-blocks-per-subscriber`, released when its last mapping ends (after `port-block-hold`): one record per block; `deterministic`: RFC 7422, subscriber *i* of `deterministic-subscribers` always holds block *i* (formula in the README's NAT logging section), nothing logged, `xlat64 trace` answers from the formula",
    }
    /// NAT64: ports per block (block and deterministic allocation)
    port_block_size: u16 = One(PORT_BLOCK_SIZE) => {
        key: "port-block-size",
        scope: Nat64,
        default: Value("128"),
        readme: "ports per block (`block`, `deterministic`), taken from ports 1024 and up of `pool4-ports`",
    }
    /// NAT64: blocks one subscriber may hold per protocol (block allocation)
    max_blocks_per_subscriber: u16 = One(MAX_BLOCKS) => {
        key: "max-blocks-per-subscriber",
        scope: Nat64,
        default: Value("8"),
        readme: "blocks one subscriber may hold per protocol; new flows beyond them are refused (`nat64_subscriber_limit`)",
    }
    /// NAT64: seconds an emptied port block stays its subscriber's before it is released
    port_block_hold: u32 = One(HOLD) => {
        key: "port-block-hold",
        scope: Nat64,
        default: Value("0"),
        readme: "an emptied block stays its subscriber's this long (no new records if it comes back), then is released",
    }
    /// NAT64: the IPv6 range whose subscriber prefixes the deterministic formula numbers
    deterministic_subscribers: Vec<Ipv6Net> = List(V6_RANGE) => {
        key: "deterministic-subscribers",
        scope: Nat64,
        default: Empty("required with `port-allocation = \"deterministic\"`"),
        readme: "the IPv6 range (one prefix) whose subscriber prefixes `deterministic` numbers 0, 1, 2, ...",
    }
    /// NAT64: write NAT event records as JSON lines to this file (reopened on SIGHUP,
    /// for logrotate); repeatable
    nat_log_file: Vec<PathBuf> = List(LOG_FILE) => {
        key: "nat-log-file",
        scope: Nat64,
        reload: Live,
        default: Empty("no file"),
        readme: "NAT event records (mapping or block create/delete) as JSON lines, appended; reopened on SIGHUP (logrotate); read by `xlat64 trace --log`",
    }
    /// NAT64: send NAT event records to syslog (facility daemon, ident xlat64)
    nat_log_syslog: bool = One(SWITCH) => {
        key: "nat-log-syslog",
        scope: Nat64,
        reload: Live,
        default: Value("false"),
        readme: "NAT event records to syslog (facility `daemon`, ident `xlat64-nat`), one line each",
    }
    /// NAT64: export NAT event records by IPFIX (RFC 7011, RFC 8158 elements) over UDP to
    /// this collector; repeatable
    ipfix_collector: Vec<SocketAddr> = List(COLLECTOR) => {
        key: "ipfix-collector",
        scope: Nat64,
        reload: Live,
        default: Empty("no export"),
        readme: "IPFIX (RFC 7011) export over UDP of the NAT event records with the RFC 8158 information elements; templates re-sent every 60 s and with the first message, records batched per message",
    }
    /// NAT64: put the IPv4 peer in the records (one per session; off for privacy)
    nat_log_remote: bool = One(SWITCH) => {
        key: "nat-log-remote",
        scope: Nat64,
        default: Value("false"),
        readme: "also record every session with its IPv4 peer (NAT64 session events), in any allocation mode; off by default for privacy",
    }
}

#[cfg(test)]
mod tests {
    use super::super::Toml;
    use super::*;

    /// The flag and TOML name is the field's name, kebab-case, and names are unique.
    #[test]
    fn key_names_are_the_field_names() {
        for (k, f) in KEYS.iter().zip(FIELDS) {
            assert_eq!(k.replace('-', "_"), f);
        }
        let mut names = KEYS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
    }

    /// `--help` appends the default from the declaration; a help text that wrote it by
    /// hand would drift from it.
    #[test]
    fn help_texts_leave_the_default_to_the_declaration() {
        for k in KEY_INFO {
            let h = k.help();
            assert!(
                !h.is_empty() && !h.contains("[default") && !h.contains("[required"),
                "{h}"
            );
            assert!(
                !h.ends_with('.'),
                "{}: clap prints help without a final period",
                k.name
            );
        }
    }

    /// The ICMP error limits: Linux's 1000/s in bursts of 50 per worker and 10/s per
    /// destination by default; 0 turns a rate off, a burst of 0 would send nothing and
    /// is refused with the expected form.
    #[test]
    fn icmp_error_limits_default_and_refuse_what_cannot_work() {
        use super::super::test_support::resolve_file;
        let c = resolve_file("").unwrap();
        assert_eq!(
            (
                c.icmp_error_rate,
                c.icmp_error_burst,
                c.icmp_error_destination_rate
            ),
            (1000, 50, 10)
        );
        let c = resolve_file("icmp-error-rate = 0\nicmp-error-destination-rate = 0").unwrap();
        assert_eq!((c.icmp_error_rate, c.icmp_error_destination_rate), (0, 0));
        for (text, expected) in [
            (
                "icmp-error-burst = 0",
                "an integer from 1 to 1000000 (errors)",
            ),
            (
                "icmp-error-rate = -1",
                "an integer from 0 (no limit) to 1000000 (errors per second)",
            ),
            (
                "icmp-error-destination-rate = 1000001",
                "an integer from 0 (no limit) to 1000000",
            ),
        ] {
            let e = resolve_file(text).unwrap_err().0;
            let key = text.split(' ').next().unwrap();
            assert!(
                e.contains(&format!("invalid value for '{key}'")) && e.contains(expected),
                "{text}: {e}"
            );
        }
    }

    /// Switches and value-taking booleans are both TOML booleans.
    #[test]
    fn switches_are_booleans() {
        for k in KEY_INFO.iter().filter(|k| k.form.switch) {
            assert_eq!(k.form.toml, Toml::Boolean, "{}", k.name);
        }
    }
}
