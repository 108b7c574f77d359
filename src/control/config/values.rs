//! Value kinds: their types, parsers and "expected ..." messages, and the [`Syntax`] that
//! bundles them for the key table.
//!
//! Flags, the file and the declared defaults go through these same parsers, so a bad value
//! gets the same message wherever it came from: the key, the value, the expected form.
//! Several keys share one kind (every timeout is a [`syntax::TIMEOUT`]), which is why
//! kinds live here and not in the key table.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};

use super::ConfigError;
use super::table::{Form, Syntax, Toml};
use crate::addr::validity;
use crate::nat64::{PortAllocation, PortRange, Proto, StaticBib};

pub(super) fn invalid(key: &str, raw: &str, expected: &str) -> ConfigError {
    ConfigError(format!(
        "invalid value for '{key}': {raw:?}: expected {expected}"
    ))
}

/// Translation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stateless (RFC 7915 + RFC 6052 + RFC 7757).
    Siit,
    /// Stateful (RFC 6146): IPv6 clients share the pool4 addresses.
    Nat64,
    /// The customer side of 464XLAT (RFC 6877): SIIT with the host's IPv4 address mapped
    /// 1:1 to the CLAT's IPv6 address and every other IPv4 address into the PLAT prefix.
    Clat,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Siit => "siit",
            Mode::Nat64 => "nat64",
            Mode::Clat => "clat",
        })
    }
}

/// Where packets come from and go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataplane {
    /// A TUN device the kernel routes into: every packet crosses the kernel's stack.
    Tun,
    /// AF_XDP sockets on two Ethernet interfaces: translated packets skip the stack.
    Xdp,
}

impl fmt::Display for Dataplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dataplane::Tun => "tun",
            Dataplane::Xdp => "xdp",
        })
    }
}

/// How a worker moves packets through its TUN queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunIo {
    /// One read and one write system call per packet.
    Syscalls,
    /// Reads kept queued in an io_uring, one `io_uring_enter` per batch.
    IoUring,
}

impl fmt::Display for TunIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TunIo::Syscalls => "syscalls",
            TunIo::IoUring => "io-uring",
        })
    }
}

/// An RFC 7757 explicit address mapping: an IPv6 prefix and an IPv4 prefix with the same
/// number of host bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eam {
    pub v6: Ipv6Net,
    pub v4: Ipv4Net,
}

impl fmt::Display for Eam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.v6, self.v4)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `metrics-listen`: where `/metrics` is served, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsListen(pub Option<std::net::SocketAddr>);

impl fmt::Display for MetricsListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("off"),
        }
    }
}

pub fn parse_metrics_listen(key: &str, raw: &str) -> Result<MetricsListen, ConfigError> {
    if raw == "off" {
        return Ok(MetricsListen(None));
    }
    raw.parse()
        .map(|a| MetricsListen(Some(a)))
        .map_err(|_| invalid(key, raw, expect::METRICS_LISTEN))
}

// ---------------------------------------------------------------------------------------
// Parsers, shared by flags, file and defaults.

pub(super) mod expect {
    pub const METRICS_LISTEN: &str = "ADDR:PORT ([ADDR]:PORT for IPv6) or off, e.g. 127.0.0.1:9464";
    pub const CONTROL_SOCKET: &str =
        "a Unix socket path of 1 to 107 bytes, e.g. /run/xlat64/xlat64.sock";
    pub const TUN: &str =
        "an interface name of 1 to 15 bytes without '/', ':' or whitespace, e.g. xlat64";
    pub const RESOLV_CONF: &str = "a file path, e.g. /etc/resolv.conf";
    pub const IFACE: &str =
        "an interface name of 1 to 15 bytes without '/', ':' or whitespace, e.g. eth0";
    pub const CLAT_IPV4: &str =
        "IPV4/LEN, the host's address (e.g. 192.0.0.1/32) or a LAN prefix (e.g. 192.168.1.0/24)";
    pub const CLAT_PREFIX: &str =
        "IPV6/LEN with LEN 96 to 128 and no bits set after LEN, e.g. 2001:db8:aa:1::/120";
    pub const MODE: &str = "siit, nat64 or clat";
    pub const DATAPLANE: &str = "tun or xdp";
    pub const TUN_IO: &str = "syscalls or io-uring";
    pub const POOL4: &str = "IPV4/LEN, e.g. 198.51.100.0/28";
    pub const PORTS: &str = "FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 1024-65535";
    pub const MAX_SESSIONS: &str = "an integer from 1 to 100000000 (sessions)";
    pub const MAX_FRAGMENTS: &str = "an integer from 64 to 4194304 (fragments)";
    pub const SUBSCRIBER_PREFIX_LEN: &str = "an integer from 1 to 64 (prefix length), e.g. 56";
    pub const UDP_TIMEOUT: &str =
        "an integer from 120 (RFC 6146's 2-minute minimum) to 2147483 (seconds)";
    pub const TIMEOUT: &str = "an integer from 1 to 2147483 (seconds)";
    pub const PREFIX: &str = "an RFC 6052 prefix IPV6/LEN with LEN one of 32, 40, 48, 56, 64, 96, no bits set after LEN and bits 64-71 zero, e.g. 64:ff9b::/96";
    pub const EAM: &str =
        "IPV6/LEN=IPV4/LEN with equal host bits, e.g. 2001:db8:1::/120=192.0.2.0/24";
    pub const IPV4_ADDR: &str = "an IPv4 address, e.g. 203.0.113.1";
    pub const IPV6_ADDR: &str = "an IPv6 address, e.g. 2001:db8:64::cb00:7101";
    pub const POOL6791: &str = "IPV4/LEN, e.g. 198.51.100.0/28";
    pub const MTU: &str = "an integer from 1280 to 65535";
    pub const BOOL: &str = "true or false";
    pub const TXQUEUELEN: &str = "an integer from 1 to 2147483647 (packets)";
    pub const LOG_LEVEL: &str = "one of error, warn, info, debug, trace";
    pub const WORKERS: &str = "an integer from 1 to 256 (TUN queues, one thread each)";
    pub const ICMP_ERROR_RATE: &str = "an integer from 0 (no limit) to 1000000 (errors per second)";
    pub const ICMP_ERROR_BURST: &str = "an integer from 1 to 1000000 (errors)";
    pub const STATIC_BIB: &str = "PROTO IPV4:PORT [IPV6]:PORT with PROTO tcp, udp or icmp (for \
         icmp the port is the echo identifier) and ports 1 to 65535 (icmp: 0 to 65535), e.g. \
         tcp 203.0.113.16:8080 [2001:db8:1::2]:80";
    pub const PORT_ALLOCATION: &str = "one of session, block, deterministic";
    pub const PORT_BLOCK_SIZE: &str = "an integer from 8 to 32768 (ports)";
    pub const MAX_BLOCKS: &str = "an integer from 1 to 1024 (blocks per protocol)";
    pub const HOLD: &str = "an integer from 0 to 86400 (seconds)";
    pub const V6_RANGE: &str =
        "IPV6/LEN with LEN at most subscriber-prefix-len, e.g. 2001:db8:100::/48";
    pub const LOG_FILE: &str = "an absolute file path, e.g. /var/log/xlat64/nat.jsonl";
    pub const COLLECTOR: &str =
        "ADDR:PORT of an IPFIX collector over UDP, e.g. 192.0.2.9:4739 or [2001:db8::9]:4739";
}

pub fn parse_port_allocation(key: &str, raw: &str) -> Result<PortAllocation, ConfigError> {
    match raw {
        "session" => Ok(PortAllocation::Session),
        "block" => Ok(PortAllocation::Block),
        "deterministic" => Ok(PortAllocation::Deterministic),
        _ => Err(invalid(key, raw, expect::PORT_ALLOCATION)),
    }
}

pub fn parse_port_block_size(key: &str, raw: &str) -> Result<u16, ConfigError> {
    parse_int(key, raw, 8..=32768, expect::PORT_BLOCK_SIZE)
}

pub fn parse_max_blocks(key: &str, raw: &str) -> Result<u16, ConfigError> {
    parse_int(key, raw, 1..=1024, expect::MAX_BLOCKS)
}

pub fn parse_hold(key: &str, raw: &str) -> Result<u32, ConfigError> {
    parse_int(key, raw, 0..=86400, expect::HOLD)
}

/// A range of subscriber prefixes; host bits are refused, so that the formula's
/// numbering starts where the operator wrote.
pub fn parse_v6_range(key: &str, raw: &str) -> Result<Ipv6Net, ConfigError> {
    let net = Ipv6Net::from_str(raw).map_err(|_| invalid(key, raw, expect::V6_RANGE))?;
    if net.network() != net.addr() || net.prefix_len() > 64 {
        return Err(invalid(key, raw, expect::V6_RANGE));
    }
    Ok(net)
}

pub fn parse_log_file(key: &str, raw: &str) -> Result<PathBuf, ConfigError> {
    let p = PathBuf::from(raw);
    if !p.is_absolute() || raw.ends_with('/') {
        return Err(invalid(key, raw, expect::LOG_FILE));
    }
    Ok(p)
}

pub fn parse_collector(key: &str, raw: &str) -> Result<SocketAddr, ConfigError> {
    match SocketAddr::from_str(raw) {
        Ok(a) if a.port() != 0 => Ok(a),
        _ => Err(invalid(key, raw, expect::COLLECTOR)),
    }
}

/// Most queues a TUN device can have (the kernel's MAX_TAP_QUEUES).
pub const MAX_WORKERS: u16 = 256;

/// The default worker count: one per CPU this process may run on.
pub fn default_workers() -> u16 {
    let n = crate::dataplane::sys::usable_cpus().len();
    u16::try_from(n)
        .unwrap_or(MAX_WORKERS)
        .clamp(1, MAX_WORKERS)
}

pub fn parse_tun(key: &str, raw: &str) -> Result<String, ConfigError> {
    crate::dataplane::sys::validate_ifname(raw).map_err(|_| invalid(key, raw, expect::TUN))?;
    Ok(raw.to_string())
}

pub fn parse_resolv_conf(key: &str, raw: &str) -> Result<PathBuf, ConfigError> {
    if raw.is_empty() || raw.contains('\0') {
        return Err(invalid(key, raw, expect::RESOLV_CONF));
    }
    Ok(PathBuf::from(raw))
}

/// An interface name; empty means "not set" (what `check-config` prints for it).
pub fn parse_iface(key: &str, raw: &str) -> Result<String, ConfigError> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    crate::dataplane::sys::validate_ifname(raw).map_err(|_| invalid(key, raw, expect::IFACE))?;
    Ok(raw.to_string())
}

/// The IPv4 side of the CLAT's mapping: addresses it emits, so none it never would.
pub fn parse_clat_ipv4(key: &str, raw: &str) -> Result<Ipv4Net, ConfigError> {
    let net = parse_ipv4_net(key, raw, expect::CLAT_IPV4)?;
    check_v4_unicast(key, raw, net, expect::CLAT_IPV4)
}

/// The IPv6 side of a CPE's 1:1 mapping: at most 32 host bits (an IPv4 prefix's).
pub fn parse_clat_prefix(key: &str, raw: &str) -> Result<Ipv6Net, ConfigError> {
    let bad = || invalid(key, raw, expect::CLAT_PREFIX);
    let net = Ipv6Net::from_str(raw).map_err(|_| bad())?;
    if net.prefix_len() < 96
        || net.addr() != net.network()
        || validity::ipv6_is_never_translated(net.network())
    {
        return Err(bad());
    }
    Ok(net)
}

pub fn parse_dataplane(key: &str, raw: &str) -> Result<Dataplane, ConfigError> {
    match raw {
        "tun" => Ok(Dataplane::Tun),
        "xdp" => Ok(Dataplane::Xdp),
        _ => Err(invalid(key, raw, expect::DATAPLANE)),
    }
}

pub fn parse_tun_io(key: &str, raw: &str) -> Result<TunIo, ConfigError> {
    match raw {
        "syscalls" => Ok(TunIo::Syscalls),
        "io-uring" => Ok(TunIo::IoUring),
        _ => Err(invalid(key, raw, expect::TUN_IO)),
    }
}

/// Where `xlat64 run` listens for `xlat64 stats` / `xlat64 sessions` by default.
pub fn default_control_socket(tun: &str) -> PathBuf {
    PathBuf::from(format!("/run/xlat64/{tun}.sock"))
}

/// A Unix socket path must fit `sockaddr_un.sun_path` (108 bytes with the NUL).
pub fn parse_control_socket(key: &str, raw: &str) -> Result<PathBuf, ConfigError> {
    if raw.is_empty() || raw.len() > 107 || raw.contains('\0') {
        return Err(invalid(key, raw, expect::CONTROL_SOCKET));
    }
    Ok(PathBuf::from(raw))
}

pub fn parse_mode(key: &str, raw: &str) -> Result<Mode, ConfigError> {
    match raw {
        "siit" => Ok(Mode::Siit),
        "nat64" => Ok(Mode::Nat64),
        "clat" => Ok(Mode::Clat),
        _ => Err(invalid(key, raw, expect::MODE)),
    }
}

/// RFC 6052 §2.2: the prefix lengths with a defined address format, and bits 64 to 71
/// (the "u" octet) zero.
pub fn parse_prefix(key: &str, raw: &str) -> Result<Ipv6Net, ConfigError> {
    let net = Ipv6Net::from_str(raw).map_err(|_| invalid(key, raw, expect::PREFIX))?;
    if !matches!(net.prefix_len(), 32 | 40 | 48 | 56 | 64 | 96) {
        return Err(invalid(key, raw, expect::PREFIX));
    }
    if net.addr() != net.network() {
        return Err(ConfigError(format!(
            "{} (bits are set after /{}: did you mean {}?)",
            invalid(key, raw, expect::PREFIX),
            net.prefix_len(),
            net.trunc()
        )));
    }
    if net.network().octets()[8] != 0 {
        return Err(ConfigError(format!(
            "{} (bits 64-71 must be zero, RFC 6052 section 2.2)",
            invalid(key, raw, expect::PREFIX)
        )));
    }
    Ok(net)
}

pub fn parse_eam(key: &str, raw: &str) -> Result<Eam, ConfigError> {
    let bad = || invalid(key, raw, expect::EAM);
    let (a, b) = raw.split_once('=').ok_or_else(bad)?;
    let v6 = Ipv6Net::from_str(a.trim()).map_err(|_| bad())?;
    let v4 = Ipv4Net::from_str(b.trim()).map_err(|_| bad())?;
    if 128 - u32::from(v6.prefix_len()) != 32 - u32::from(v4.prefix_len()) {
        return Err(ConfigError(format!(
            "{} ({} has {} host bits, {} has {})",
            bad(),
            v6,
            128 - u32::from(v6.prefix_len()),
            v4,
            32 - u32::from(v4.prefix_len())
        )));
    }
    for (given, trunc) in [
        (v6.to_string(), v6.trunc().to_string()),
        (v4.to_string(), v4.trunc().to_string()),
    ] {
        if given != trunc {
            return Err(ConfigError(format!(
                "{} ({given} has bits set after the prefix length: did you mean {trunc}?)",
                bad()
            )));
        }
    }
    Ok(Eam { v6, v4 })
}

/// The translator's own address: the source of the ICMPv4 errors it generates, so one
/// the translator would never emit (0/8, 127/8, multicast, 240/4) is refused.
pub fn parse_ipv4_addr(key: &str, raw: &str) -> Result<Ipv4Addr, ConfigError> {
    let a = Ipv4Addr::from_str(raw).map_err(|_| invalid(key, raw, expect::IPV4_ADDR))?;
    if validity::ipv4_is_never_translated(a) {
        return Err(not_unicast(key, raw, expect::IPV4_ADDR));
    }
    Ok(a)
}

/// As [`parse_ipv4_addr`] for the ICMPv6 errors' source (no ::, ::1, multicast or
/// link-local).
pub fn parse_ipv6_addr(key: &str, raw: &str) -> Result<Ipv6Addr, ConfigError> {
    let a = Ipv6Addr::from_str(raw).map_err(|_| invalid(key, raw, expect::IPV6_ADDR))?;
    if validity::ipv6_is_never_translated(a) {
        return Err(not_unicast(key, raw, expect::IPV6_ADDR));
    }
    Ok(a)
}

fn not_unicast(key: &str, raw: &str, expected: &str) -> ConfigError {
    ConfigError(format!(
        "{} (a translator never sends from or to it: unspecified, loopback, multicast, \
         link-local or reserved)",
        invalid(key, raw, expected)
    ))
}

/// A prefix of addresses the translator emits (pool4, pool6791) may not touch the
/// ranges it never emits; they are aligned prefixes, so checking both ends suffices.
fn check_v4_unicast(
    key: &str,
    raw: &str,
    net: Ipv4Net,
    expected: &str,
) -> Result<Ipv4Net, ConfigError> {
    if validity::ipv4_is_never_translated(net.network())
        || validity::ipv4_is_never_translated(net.broadcast())
    {
        return Err(not_unicast(key, raw, expected));
    }
    Ok(net)
}

/// IPV4/LEN with no bits set after LEN (a typo there usually means another network).
fn parse_ipv4_net(key: &str, raw: &str, expected: &str) -> Result<Ipv4Net, ConfigError> {
    let net = Ipv4Net::from_str(raw).map_err(|_| invalid(key, raw, expected))?;
    if net.addr() != net.network() {
        return Err(ConfigError(format!(
            "{} (bits are set after /{}: did you mean {}?)",
            invalid(key, raw, expected),
            net.prefix_len(),
            net.trunc()
        )));
    }
    Ok(net)
}

pub fn parse_pool6791(key: &str, raw: &str) -> Result<Ipv4Net, ConfigError> {
    let net = parse_ipv4_net(key, raw, expect::POOL6791)?;
    check_v4_unicast(key, raw, net, expect::POOL6791)
}

pub fn parse_pool4(key: &str, raw: &str) -> Result<Ipv4Net, ConfigError> {
    let net = parse_ipv4_net(key, raw, expect::POOL4)?;
    let net = check_v4_unicast(key, raw, net, expect::POOL4)?;
    if net.prefix_len() < 16 {
        return Err(ConfigError(format!(
            "{} (at most 65535 addresses: use a /16 or longer)",
            invalid(key, raw, expect::POOL4)
        )));
    }
    Ok(net)
}

pub fn parse_ports(key: &str, raw: &str) -> Result<PortRange, ConfigError> {
    let bad = || invalid(key, raw, expect::PORTS);
    let (a, b) = raw.split_once('-').ok_or_else(bad)?;
    let first = a.trim().parse::<u16>().map_err(|_| bad())?;
    let last = b.trim().parse::<u16>().map_err(|_| bad())?;
    if first == 0 || first > last {
        return Err(bad());
    }
    Ok(PortRange::new(first, last))
}

/// An integer in `range`; anything else (a sign, a space, a fraction) is refused with
/// `expected`.
fn parse_int<T: FromStr + PartialOrd>(
    key: &str,
    raw: &str,
    range: std::ops::RangeInclusive<T>,
    expected: &str,
) -> Result<T, ConfigError> {
    match raw.parse::<T>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(invalid(key, raw, expected)),
    }
}

pub fn parse_max_sessions(key: &str, raw: &str) -> Result<u32, ConfigError> {
    parse_int(key, raw, 1..=100_000_000, expect::MAX_SESSIONS)
}

/// At least a few per worker; at most what 6 GB of MTU-sized buffers hold.
pub fn parse_max_fragments(key: &str, raw: &str) -> Result<u32, ConfigError> {
    parse_int(key, raw, 64..=4_194_304, expect::MAX_FRAGMENTS)
}

/// The prefix length that makes one subscriber (the quota tables hash at most 64 bits).
pub fn parse_subscriber_prefix_len(key: &str, raw: &str) -> Result<u8, ConfigError> {
    parse_int(key, raw, 1..=64, expect::SUBSCRIBER_PREFIX_LEN)
}

/// Largest timeout in seconds whose milliseconds fit the shard's 31-bit clock deltas.
const MAX_TIMEOUT_S: u32 = 2_147_483;

pub fn parse_timeout(key: &str, raw: &str) -> Result<u32, ConfigError> {
    parse_int(key, raw, 1..=MAX_TIMEOUT_S, expect::TIMEOUT)
}

/// RFC 6146 §3.5.1: the UDP session lifetime MUST NOT be less than 2 minutes.
pub fn parse_udp_timeout(key: &str, raw: &str) -> Result<u32, ConfigError> {
    parse_int(key, raw, 120..=MAX_TIMEOUT_S, expect::UDP_TIMEOUT)
}

pub fn parse_mtu(key: &str, raw: &str) -> Result<u16, ConfigError> {
    parse_int(key, raw, 1280..=u16::MAX, expect::MTU)
}

pub fn parse_bool(key: &str, raw: &str) -> Result<bool, ConfigError> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, raw, expect::BOOL)),
    }
}

pub fn parse_txqueuelen(key: &str, raw: &str) -> Result<u32, ConfigError> {
    parse_int(key, raw, 1..=i32::MAX as u32, expect::TXQUEUELEN)
}

pub fn parse_workers(key: &str, raw: &str) -> Result<u16, ConfigError> {
    parse_int(key, raw, 1..=MAX_WORKERS, expect::WORKERS)
}

/// Errors per second; 0 turns the limit off.
pub fn parse_icmp_error_rate(key: &str, raw: &str) -> Result<u32, ConfigError> {
    parse_int(key, raw, 0..=1_000_000, expect::ICMP_ERROR_RATE)
}

/// A bucket that holds no token would send nothing: at least one.
pub fn parse_icmp_error_burst(key: &str, raw: &str) -> Result<u32, ConfigError> {
    parse_int(key, raw, 1..=1_000_000, expect::ICMP_ERROR_BURST)
}

pub fn parse_log_level(key: &str, raw: &str) -> Result<LogLevel, ConfigError> {
    match raw {
        "error" => Ok(LogLevel::Error),
        "warn" => Ok(LogLevel::Warn),
        "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        "trace" => Ok(LogLevel::Trace),
        _ => Err(invalid(key, raw, expect::LOG_LEVEL)),
    }
}

/// One operator mapping: `PROTO IPV4:PORT [IPV6]:PORT`, the IPv4 transport address (in
/// pool4, checked with the other keys) forwarded to the IPv6 server. Port 0 is no TCP or
/// UDP port, but it is a valid ICMP echo identifier.
pub fn parse_static_bib(key: &str, raw: &str) -> Result<StaticBib, ConfigError> {
    let bad = || invalid(key, raw, expect::STATIC_BIB);
    let mut words = raw.split_whitespace();
    let (Some(p), Some(a4), Some(a6), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(bad());
    };
    let proto = match p.to_ascii_lowercase().as_str() {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" => Proto::Icmp,
        _ => return Err(bad()),
    };
    let v4 = SocketAddrV4::from_str(a4).map_err(|_| bad())?;
    let v6 = SocketAddrV6::from_str(a6).map_err(|_| bad())?;
    if v6.scope_id() != 0 || v6.flowinfo() != 0 {
        return Err(bad());
    }
    if proto != Proto::Icmp && (v4.port() == 0 || v6.port() == 0) {
        return Err(ConfigError(format!(
            "{} (port 0 is not a {proto} port)",
            bad()
        )));
    }
    Ok(StaticBib {
        proto,
        v6: *v6.ip(),
        v6_port: v6.port(),
        v4: *v4.ip(),
        v4_port: v4.port(),
    })
}

/// `static-bib` as written in the file and by `check-config` (parses back to itself).
pub fn static_bib_string(st: &StaticBib) -> String {
    format!(
        "{} {}:{} [{}]:{}",
        st.proto, st.v4, st.v4_port, st.v6, st.v6_port
    )
}

/// The value kinds the key table uses: each a parser, its expected form and its value
/// name.
pub mod syntax {
    use super::*;

    pub const TUN: Syntax<String> = Syntax::text(parse_tun, expect::TUN, "NAME");
    pub const RESOLV_CONF: Syntax<PathBuf> = Syntax {
        parse: parse_resolv_conf,
        show: |p: &PathBuf| p.display().to_string(),
        form: Form {
            toml: Toml::String,
            expected: expect::RESOLV_CONF,
            value_name: "PATH",
            switch: false,
        },
    };
    pub const IFACE: Syntax<String> = Syntax::text(parse_iface, expect::IFACE, "IFACE");
    pub const CLAT_IPV4: Syntax<Ipv4Net> =
        Syntax::text(parse_clat_ipv4, expect::CLAT_IPV4, "IPV4/LEN");
    pub const CLAT_PREFIX: Syntax<Ipv6Net> =
        Syntax::text(parse_clat_prefix, expect::CLAT_PREFIX, "IPV6/LEN");
    pub const MODE: Syntax<Mode> = Syntax::text(parse_mode, expect::MODE, "MODE");
    pub const DATAPLANE: Syntax<Dataplane> =
        Syntax::text(parse_dataplane, expect::DATAPLANE, "KIND");
    pub const TUN_IO: Syntax<TunIo> = Syntax::text(parse_tun_io, expect::TUN_IO, "HOW");
    pub const PREFIX: Syntax<Ipv6Net> = Syntax::text(parse_prefix, expect::PREFIX, "IPV6/LEN");
    pub const EAM: Syntax<Eam> = Syntax::text(parse_eam, expect::EAM, "IPV6/LEN=IPV4/LEN");
    pub const IPV4_ADDR: Syntax<Ipv4Addr> = Syntax::text(parse_ipv4_addr, expect::IPV4_ADDR, "A");
    pub const IPV6_ADDR: Syntax<Ipv6Addr> = Syntax::text(parse_ipv6_addr, expect::IPV6_ADDR, "A");
    pub const POOL6791: Syntax<Ipv4Net> =
        Syntax::text(parse_pool6791, expect::POOL6791, "IPV4/LEN");
    pub const MTU: Syntax<u16> = Syntax::int(parse_mtu, expect::MTU, "N");
    pub const TXQUEUELEN: Syntax<u32> = Syntax::int(parse_txqueuelen, expect::TXQUEUELEN, "N");
    pub const WORKERS: Syntax<u16> = Syntax::int(parse_workers, expect::WORKERS, "N");
    pub const ICMP_ERROR_RATE: Syntax<u32> =
        Syntax::int(parse_icmp_error_rate, expect::ICMP_ERROR_RATE, "N");
    pub const ICMP_ERROR_BURST: Syntax<u32> =
        Syntax::int(parse_icmp_error_burst, expect::ICMP_ERROR_BURST, "N");
    pub const LOG_LEVEL: Syntax<LogLevel> =
        Syntax::text(parse_log_level, expect::LOG_LEVEL, "LEVEL");
    pub const CONTROL_SOCKET: Syntax<PathBuf> = Syntax {
        parse: parse_control_socket,
        show: |p: &PathBuf| p.display().to_string(),
        form: Form {
            toml: Toml::String,
            expected: expect::CONTROL_SOCKET,
            value_name: "PATH",
            switch: false,
        },
    };
    pub const METRICS_LISTEN: Syntax<MetricsListen> =
        Syntax::text(parse_metrics_listen, expect::METRICS_LISTEN, "ADDR:PORT");
    pub const POOL4: Syntax<Ipv4Net> = Syntax::text(parse_pool4, expect::POOL4, "IPV4/LEN");
    pub const PORTS: Syntax<PortRange> = Syntax {
        parse: parse_ports,
        show: |p: &PortRange| format!("{}-{}", p.first, p.last),
        form: Form {
            toml: Toml::String,
            expected: expect::PORTS,
            value_name: "FIRST-LAST",
            switch: false,
        },
    };
    pub const MAX_SESSIONS: Syntax<u32> =
        Syntax::int(parse_max_sessions, expect::MAX_SESSIONS, "N");
    pub const MAX_FRAGMENTS: Syntax<u32> =
        Syntax::int(parse_max_fragments, expect::MAX_FRAGMENTS, "N");
    pub const SUBSCRIBER_PREFIX_LEN: Syntax<u8> = Syntax::int(
        parse_subscriber_prefix_len,
        expect::SUBSCRIBER_PREFIX_LEN,
        "LEN",
    );
    pub const TIMEOUT: Syntax<u32> = Syntax::int(parse_timeout, expect::TIMEOUT, "SECONDS");
    pub const UDP_TIMEOUT: Syntax<u32> =
        Syntax::int(parse_udp_timeout, expect::UDP_TIMEOUT, "SECONDS");
    pub const STATIC_BIB: Syntax<StaticBib> = Syntax {
        parse: parse_static_bib,
        show: static_bib_string,
        form: Form {
            toml: Toml::String,
            expected: expect::STATIC_BIB,
            value_name: "PROTO IPV4:PORT [IPV6]:PORT",
            switch: false,
        },
    };
    /// A boolean that needs its value on the command line (`--wkp-strict false`).
    pub const BOOL: Syntax<bool> = Syntax {
        parse: parse_bool,
        show: |b: &bool| b.to_string(),
        form: Form {
            toml: Toml::Boolean,
            expected: expect::BOOL,
            value_name: "true|false",
            switch: false,
        },
    };
    pub const PORT_ALLOCATION: Syntax<PortAllocation> =
        Syntax::text(parse_port_allocation, expect::PORT_ALLOCATION, "MODE");
    pub const PORT_BLOCK_SIZE: Syntax<u16> =
        Syntax::int(parse_port_block_size, expect::PORT_BLOCK_SIZE, "N");
    pub const MAX_BLOCKS: Syntax<u16> = Syntax::int(parse_max_blocks, expect::MAX_BLOCKS, "N");
    pub const HOLD: Syntax<u32> = Syntax::int(parse_hold, expect::HOLD, "SECONDS");
    pub const V6_RANGE: Syntax<Ipv6Net> =
        Syntax::text(parse_v6_range, expect::V6_RANGE, "IPV6/LEN");
    pub const LOG_FILE: Syntax<PathBuf> = Syntax {
        parse: parse_log_file,
        show: |p: &PathBuf| p.display().to_string(),
        form: Form {
            toml: Toml::String,
            expected: expect::LOG_FILE,
            value_name: "PATH",
            switch: false,
        },
    };
    pub const COLLECTOR: Syntax<SocketAddr> =
        Syntax::text(parse_collector, expect::COLLECTOR, "ADDR:PORT");
    /// A boolean whose flag alone means true (`--setup-routes`).
    pub const SWITCH: Syntax<bool> = Syntax {
        form: Form {
            switch: true,
            ..BOOL.form
        },
        ..BOOL
    };
}

#[cfg(test)]
mod tests {
    use super::super::test_support::resolve_file;
    use super::*;

    /// RFC 1812 §5.3.7 / RFC 4291: the sources of the translator's own ICMP errors and the
    /// addresses it hands out must be ones it would emit: refused at configuration time,
    /// naming the key.
    #[test]
    fn addresses_the_translator_never_emits_are_refused() {
        for (key, raw) in [
            ("ipv4-addr", "127.0.0.1"),
            ("ipv4-addr", "224.0.0.9"),
            ("ipv4-addr", "0.0.0.0"),
            ("ipv4-addr", "255.255.255.255"),
        ] {
            let e = parse_ipv4_addr(key, raw).unwrap_err().0;
            assert!(
                e.starts_with("invalid value for 'ipv4-addr'") && e.contains("loopback"),
                "{e}"
            );
        }
        for raw in ["::", "::1", "ff02::1", "fe80::1"] {
            assert!(parse_ipv6_addr("ipv6-addr", raw).is_err(), "{raw}");
        }
        for raw in ["127.0.0.0/24", "96.0.0.0/3", "240.0.0.0/16"] {
            assert!(parse_pool4("pool4", raw).is_err(), "{raw}");
            assert!(parse_pool6791("pool6791", raw).is_err(), "{raw}");
        }
        assert!(parse_ipv4_addr("ipv4-addr", "203.0.113.1").is_ok());
        assert!(parse_pool4("pool4", "203.0.113.16/28").is_ok());
    }

    #[test]
    fn eam_message_has_the_documented_shape() {
        let e = parse_eam("eam", "2001:db8::/120=192.0.2.0/33")
            .unwrap_err()
            .0;
        assert_eq!(
            e,
            "invalid value for 'eam': \"2001:db8::/120=192.0.2.0/33\": expected \
             IPV6/LEN=IPV4/LEN with equal host bits, e.g. 2001:db8:1::/120=192.0.2.0/24"
        );
    }

    #[test]
    fn static_bib_bad_forms_name_the_key_and_the_form() {
        for (text, extra) in [
            (
                "static-bib = \"tcp 203.0.113.16:80 [2001:db8::1]:80\"",
                "array of strings",
            ),
            (
                "static-bib = [\"sctp 203.0.113.16:80 [2001:db8::1]:80\"]",
                "PROTO IPV4:PORT",
            ),
            (
                "static-bib = [\"tcp 203.0.113.16:80 2001:db8::1:80\"]",
                "[IPV6]:PORT",
            ),
            (
                "static-bib = [\"tcp 203.0.113.16 [2001:db8::1]:80\"]",
                "PROTO IPV4:PORT",
            ),
            ("static-bib = [\"tcp 203.0.113.16:80\"]", "PROTO IPV4:PORT"),
            (
                "static-bib = [\"tcp 203.0.113.16:80 [2001:db8::1]:80 x\"]",
                "PROTO IPV4:PORT",
            ),
            (
                "static-bib = [\"tcp 203.0.113.16:70000 [2001:db8::1]:80\"]",
                "PROTO IPV4:PORT",
            ),
            (
                "static-bib = [\"udp 203.0.113.16:0 [2001:db8::1]:80\"]",
                "port 0 is not a udp port",
            ),
            (
                "static-bib = [\"tcp 203.0.113.16:80 [2001:db8::1%2]:80\"]",
                "PROTO IPV4:PORT",
            ),
        ] {
            let e = resolve_file(text).unwrap_err().0;
            assert!(e.contains("invalid value for 'static-bib'"), "{text}: {e}");
            assert!(e.contains(extra), "{text}: {e}");
        }
        let e = parse_static_bib("static-bib", "tcp x y").unwrap_err().0;
        assert_eq!(
            e,
            "invalid value for 'static-bib': \"tcp x y\": expected PROTO IPV4:PORT [IPV6]:PORT \
             with PROTO tcp, udp or icmp (for icmp the port is the echo identifier) and ports 1 \
             to 65535 (icmp: 0 to 65535), e.g. tcp 203.0.113.16:8080 [2001:db8:1::2]:80"
        );
    }

    #[test]
    fn modes_parse_and_a_typo_names_the_three() {
        assert_eq!(parse_mode("mode", "clat").unwrap(), Mode::Clat);
        let e = parse_mode("mode", "clatd").unwrap_err().0;
        assert_eq!(
            e,
            "invalid value for 'mode': \"clatd\": expected siit, nat64 or clat"
        );
    }
}
