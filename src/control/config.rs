//! Configuration: one TOML key per command-line flag, same kebab-case names.
//!
//! Values come from three layers: built-in defaults (the demo lab, so `xlat64 run` works
//! there unchanged), the config file, and flags; a flag overrides the file, the file
//! overrides the default. List keys (`eam`, `pool6791`) are replaced whole, not merged.
//! Both the file and the flags go through the same per-key parsers, so a bad value gets
//! the same message wherever it came from: the key, the value, the expected form.

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;

use crate::addr::AddrMapper;
use crate::nat64::{Proto, StaticBib};
use crate::xlat::XlatConfig;

/// A bad configuration; `Display` is the whole message. The CLI exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(key: &str, raw: &str, expected: &str) -> ConfigError {
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
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Siit => "siit",
            Mode::Nat64 => "nat64",
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

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    File,
    /// A generic default (e.g. MTU 1500).
    Default,
    /// A default that only makes sense in the demo lab (documentation addresses).
    LabDefault,
    /// Computed from other values (ipv6-addr from prefix and ipv4-addr).
    Derived,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::File => "config file",
            Source::Default => "default",
            Source::LabDefault => "built-in lab default",
            Source::Derived => "derived from prefix and ipv4-addr",
        }
    }
}

/// Every key, in display order. Flag `--K` and TOML key `K` are the same setting.
pub const KEYS: [&str; 33] = [
    "tun",
    "mode",
    "prefix",
    "eam",
    "ipv4-addr",
    "ipv6-addr",
    "pool6791",
    "mtu",
    "lowest-ipv6-mtu",
    "amend-udp-checksum-zero",
    "wkp-strict",
    "mss-clamp",
    "setup-routes",
    "txqueuelen",
    "workers",
    "pin",
    "offload",
    "log-level",
    "control-socket",
    "pool4",
    "pool4-ports",
    "max-sessions",
    "max-sessions-per-subscriber",
    "max-sessions-per-address",
    "subscriber-prefix-len",
    "udp-timeout",
    "tcp-est-timeout",
    "tcp-trans-timeout",
    "tcp-incoming-syn-timeout",
    "icmp-timeout",
    "address-dependent-filtering",
    "icmp-on-refusal",
    "static-bib",
];

pub mod default {
    //! Built-in defaults: the demo lab.
    pub const TUN: &str = "xlat64";
    pub const PREFIX: &str = "2001:db8:64::/96";
    pub const EAM: &str = "2001:db8:1::/120=192.0.2.0/24";
    pub const IPV4_ADDR: &str = "203.0.113.1";
    pub const MTU: u16 = 1500;
    pub const LOWEST_IPV6_MTU: u16 = 1280;
    pub const AMEND_UDP_CHECKSUM_ZERO: bool = false;
    pub const WKP_STRICT: bool = true;
    pub const MSS_CLAMP: bool = true;
    pub const SETUP_ROUTES: bool = false;
    /// The kernel's default of 500 overflows under load before the translator does.
    pub const TXQUEUELEN: u32 = 10_000;
    pub const PIN: bool = true;
    pub const OFFLOAD: bool = true;
    /// RFC 6146 leaves the well-known ports to the host.
    pub const POOL4_PORTS: crate::nat64::PortRange = crate::nat64::PortRange::new(1024, 65535);
    /// Tables are sized for this up front: about 30 MB at roughly 110 bytes a session.
    pub const MAX_SESSIONS: u32 = 262_144;
    /// One subscriber (one prefix) may hold this many sessions.
    pub const MAX_SESSIONS_PER_SUBSCRIBER: u32 = 16_384;
    /// A subscriber is one /64 (one customer LAN).
    pub const SUBSCRIBER_PREFIX_LEN: u8 = 64;
    /// One IPv6 address (one host) may hold this many sessions.
    pub const MAX_SESSIONS_PER_ADDRESS: u32 = 8192;
    /// RFC 6146 §4 defaults, in seconds.
    pub const UDP_TIMEOUT: u32 = 300;
    pub const TCP_EST_TIMEOUT: u32 = 7440;
    pub const TCP_TRANS_TIMEOUT: u32 = 240;
    /// RFC 6146 §3.5.2.2: how long an IPv4 SYN with no mapping waits for a simultaneous
    /// open before it is answered with ICMP port unreachable.
    pub const TCP_INCOMING_SYN_TIMEOUT: u32 = 6;
    pub const ICMP_TIMEOUT: u32 = 60;
}

// ---------------------------------------------------------------------------------------
// Per-key parsers, shared by flags and file.

mod expect {
    pub const CONTROL_SOCKET: &str =
        "a Unix socket path of 1 to 107 bytes, e.g. /run/xlat64/xlat64.sock";
    pub const TUN: &str =
        "an interface name of 1 to 15 bytes without '/', ':' or whitespace, e.g. xlat64";
    pub const MODE: &str = "siit or nat64";
    pub const POOL4: &str = "IPV4/LEN, e.g. 198.51.100.0/28";
    pub const PORTS: &str = "FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 1024-65535";
    pub const MAX_SESSIONS: &str = "an integer from 1 to 100000000 (sessions)";
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
    pub const STATIC_BIB: &str = "PROTO IPV4:PORT [IPV6]:PORT with PROTO tcp, udp or icmp (for \
         icmp the port is the echo identifier) and ports 1 to 65535 (icmp: 0 to 65535), e.g. \
         tcp 203.0.113.16:8080 [2001:db8:1::2]:80";
}

/// The example the messages about `static-bib` show.
const STATIC_BIB_EXAMPLE: &str = "tcp 203.0.113.16:8080 [2001:db8:1::2]:80";

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
        "clat" => Err(ConfigError(format!(
            "mode '{raw}' is not implemented yet (coming next); use --mode siit"
        ))),
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

pub fn parse_ipv4_addr(key: &str, raw: &str) -> Result<Ipv4Addr, ConfigError> {
    Ipv4Addr::from_str(raw).map_err(|_| invalid(key, raw, expect::IPV4_ADDR))
}

pub fn parse_ipv6_addr(key: &str, raw: &str) -> Result<Ipv6Addr, ConfigError> {
    Ipv6Addr::from_str(raw).map_err(|_| invalid(key, raw, expect::IPV6_ADDR))
}

pub fn parse_pool6791(key: &str, raw: &str) -> Result<Ipv4Net, ConfigError> {
    let net = Ipv4Net::from_str(raw).map_err(|_| invalid(key, raw, expect::POOL6791))?;
    if net.addr() != net.network() {
        return Err(ConfigError(format!(
            "{} (bits are set after /{}: did you mean {}?)",
            invalid(key, raw, expect::POOL6791),
            net.prefix_len(),
            net.trunc()
        )));
    }
    Ok(net)
}

pub fn parse_pool4(key: &str, raw: &str) -> Result<Ipv4Net, ConfigError> {
    let net = Ipv4Net::from_str(raw).map_err(|_| invalid(key, raw, expect::POOL4))?;
    if net.addr() != net.network() {
        return Err(ConfigError(format!(
            "{} (bits are set after /{}: did you mean {}?)",
            invalid(key, raw, expect::POOL4),
            net.prefix_len(),
            net.trunc()
        )));
    }
    if net.prefix_len() < 16 {
        return Err(ConfigError(format!(
            "{} (at most 65535 addresses: use a /16 or longer)",
            invalid(key, raw, expect::POOL4)
        )));
    }
    Ok(net)
}

pub fn parse_ports(key: &str, raw: &str) -> Result<crate::nat64::PortRange, ConfigError> {
    let bad = || invalid(key, raw, expect::PORTS);
    let (a, b) = raw.split_once('-').ok_or_else(bad)?;
    let first = a.trim().parse::<u16>().map_err(|_| bad())?;
    let last = b.trim().parse::<u16>().map_err(|_| bad())?;
    if first == 0 || first > last {
        return Err(bad());
    }
    Ok(crate::nat64::PortRange::new(first, last))
}

pub fn parse_max_sessions(key: &str, raw: &str) -> Result<u32, ConfigError> {
    match raw.parse::<u32>() {
        Ok(v) if (1..=100_000_000).contains(&v) => Ok(v),
        _ => Err(invalid(key, raw, expect::MAX_SESSIONS)),
    }
}

/// The prefix length that makes one subscriber (the quota tables hash at most 64 bits).
pub fn parse_subscriber_prefix_len(key: &str, raw: &str) -> Result<u8, ConfigError> {
    match raw.parse::<u8>() {
        Ok(v) if (1..=64).contains(&v) => Ok(v),
        _ => Err(invalid(key, raw, expect::SUBSCRIBER_PREFIX_LEN)),
    }
}

/// Largest timeout in seconds whose milliseconds fit the shard's 31-bit clock deltas.
const MAX_TIMEOUT_S: u32 = 2_147_483;

pub fn parse_timeout(key: &str, raw: &str) -> Result<u32, ConfigError> {
    match raw.parse::<u32>() {
        Ok(v) if (1..=MAX_TIMEOUT_S).contains(&v) => Ok(v),
        _ => Err(invalid(key, raw, expect::TIMEOUT)),
    }
}

/// RFC 6146 §3.5.1: the UDP session lifetime MUST NOT be less than 2 minutes.
pub fn parse_udp_timeout(key: &str, raw: &str) -> Result<u32, ConfigError> {
    match raw.parse::<u32>() {
        Ok(v) if (120..=MAX_TIMEOUT_S).contains(&v) => Ok(v),
        _ => Err(invalid(key, raw, expect::UDP_TIMEOUT)),
    }
}

pub fn parse_mtu(key: &str, raw: &str) -> Result<u16, ConfigError> {
    match raw.parse::<u16>() {
        Ok(v) if v >= 1280 => Ok(v),
        _ => Err(invalid(key, raw, expect::MTU)),
    }
}

pub fn parse_bool(key: &str, raw: &str) -> Result<bool, ConfigError> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, raw, expect::BOOL)),
    }
}

pub fn parse_txqueuelen(key: &str, raw: &str) -> Result<u32, ConfigError> {
    match raw.parse::<u32>() {
        Ok(v) if (1..=i32::MAX as u32).contains(&v) => Ok(v),
        _ => Err(invalid(key, raw, expect::TXQUEUELEN)),
    }
}

pub fn parse_workers(key: &str, raw: &str) -> Result<u16, ConfigError> {
    match raw.parse::<u16>() {
        Ok(v) if (1..=MAX_WORKERS).contains(&v) => Ok(v),
        _ => Err(invalid(key, raw, expect::WORKERS)),
    }
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

// ---------------------------------------------------------------------------------------
// One layer (file or flags).

/// The values one source gave; `None` means "not given here".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Partial {
    pub tun: Option<String>,
    pub mode: Option<Mode>,
    pub prefix: Option<Ipv6Net>,
    pub eam: Option<Vec<Eam>>,
    pub ipv4_addr: Option<Ipv4Addr>,
    pub ipv6_addr: Option<Ipv6Addr>,
    pub pool6791: Option<Vec<Ipv4Net>>,
    pub mtu: Option<u16>,
    pub lowest_ipv6_mtu: Option<u16>,
    pub amend_udp_checksum_zero: Option<bool>,
    pub wkp_strict: Option<bool>,
    pub mss_clamp: Option<bool>,
    pub setup_routes: Option<bool>,
    pub txqueuelen: Option<u32>,
    pub workers: Option<u16>,
    pub pin: Option<bool>,
    pub offload: Option<bool>,
    pub log_level: Option<LogLevel>,
    pub control_socket: Option<PathBuf>,
    pub pool4: Option<Vec<Ipv4Net>>,
    pub pool4_ports: Option<crate::nat64::PortRange>,
    pub max_sessions: Option<u32>,
    pub max_sessions_per_subscriber: Option<u32>,
    pub max_sessions_per_address: Option<u32>,
    pub subscriber_prefix_len: Option<u8>,
    pub udp_timeout: Option<u32>,
    pub tcp_est_timeout: Option<u32>,
    pub tcp_trans_timeout: Option<u32>,
    pub tcp_incoming_syn_timeout: Option<u32>,
    pub icmp_timeout: Option<u32>,
    pub address_dependent_filtering: Option<bool>,
    pub icmp_on_refusal: Option<bool>,
    pub static_bib: Option<Vec<StaticBib>>,
}

/// The file as serde sees it: only the key set is checked here (unknown keys rejected);
/// each value is converted by the per-key parsers so that errors name the key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileKeys {
    tun: Option<toml::Value>,
    mode: Option<toml::Value>,
    prefix: Option<toml::Value>,
    eam: Option<toml::Value>,
    ipv4_addr: Option<toml::Value>,
    ipv6_addr: Option<toml::Value>,
    pool6791: Option<toml::Value>,
    mtu: Option<toml::Value>,
    lowest_ipv6_mtu: Option<toml::Value>,
    amend_udp_checksum_zero: Option<toml::Value>,
    wkp_strict: Option<toml::Value>,
    mss_clamp: Option<toml::Value>,
    setup_routes: Option<toml::Value>,
    txqueuelen: Option<toml::Value>,
    workers: Option<toml::Value>,
    pin: Option<toml::Value>,
    offload: Option<toml::Value>,
    log_level: Option<toml::Value>,
    control_socket: Option<toml::Value>,
    pool4: Option<toml::Value>,
    pool4_ports: Option<toml::Value>,
    max_sessions: Option<toml::Value>,
    max_sessions_per_subscriber: Option<toml::Value>,
    max_sessions_per_address: Option<toml::Value>,
    subscriber_prefix_len: Option<toml::Value>,
    udp_timeout: Option<toml::Value>,
    tcp_est_timeout: Option<toml::Value>,
    tcp_trans_timeout: Option<toml::Value>,
    tcp_incoming_syn_timeout: Option<toml::Value>,
    icmp_timeout: Option<toml::Value>,
    address_dependent_filtering: Option<toml::Value>,
    icmp_on_refusal: Option<toml::Value>,
    static_bib: Option<toml::Value>,
}

type Parser<T> = fn(&str, &str) -> Result<T, ConfigError>;

fn toml_repr(v: &toml::Value) -> String {
    v.to_string()
}

fn from_str_value<T>(
    key: &str,
    v: Option<toml::Value>,
    parse: Parser<T>,
    expected: &str,
) -> Result<Option<T>, ConfigError> {
    match v {
        None => Ok(None),
        Some(toml::Value::String(s)) => parse(key, &s).map(Some),
        Some(other) => Err(ConfigError(format!(
            "invalid value for '{key}': {}: expected a string: {expected}",
            toml_repr(&other)
        ))),
    }
}

fn from_list_value<T>(
    key: &str,
    v: Option<toml::Value>,
    parse: Parser<T>,
    example: &str,
) -> Result<Option<Vec<T>>, ConfigError> {
    let expected = || {
        ConfigError(format!(
            "invalid value for '{key}': expected an array of strings, e.g. {key} = [\"{example}\"]"
        ))
    };
    match v {
        None => Ok(None),
        Some(toml::Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                toml::Value::String(s) => parse(key, &s),
                _ => Err(expected()),
            })
            .collect::<Result<Vec<T>, _>>()
            .map(Some),
        Some(_) => Err(expected()),
    }
}

fn from_int_value<T>(
    key: &str,
    v: Option<toml::Value>,
    parse: Parser<T>,
    expected: &str,
) -> Result<Option<T>, ConfigError> {
    match v {
        None => Ok(None),
        Some(toml::Value::Integer(i)) => parse(key, &i.to_string()).map(Some),
        Some(other) => Err(ConfigError(format!(
            "invalid value for '{key}': {}: expected {expected}",
            toml_repr(&other)
        ))),
    }
}

fn from_bool_value(key: &str, v: Option<toml::Value>) -> Result<Option<bool>, ConfigError> {
    match v {
        None => Ok(None),
        Some(toml::Value::Boolean(b)) => Ok(Some(b)),
        Some(other) => Err(ConfigError(format!(
            "invalid value for '{key}': {}: expected true or false (unquoted)",
            toml_repr(&other)
        ))),
    }
}

/// 1-based line of a byte offset, for pointing at a TOML error.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |s| s.bytes().filter(|&b| b == b'\n').count())
        + 1
}

impl Partial {
    /// Parses config file text. `origin` (the file name) prefixes syntax errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Partial, ConfigError> {
        let keys: FileKeys = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" (line {})", line_of(text, s.start)))
                .unwrap_or_default();
            let msg = e.message().replace("unknown field", "unknown key");
            ConfigError(format!("{origin}{at}: {msg}"))
        })?;
        Partial::from_keys(keys).map_err(|e| ConfigError(format!("{origin}: {e}")))
    }

    fn from_keys(k: FileKeys) -> Result<Partial, ConfigError> {
        Ok(Partial {
            tun: from_str_value("tun", k.tun, parse_tun, expect::TUN)?,
            mode: from_str_value("mode", k.mode, parse_mode, expect::MODE)?,
            prefix: from_str_value("prefix", k.prefix, parse_prefix, expect::PREFIX)?,
            eam: from_list_value("eam", k.eam, parse_eam, default::EAM)?,
            ipv4_addr: from_str_value(
                "ipv4-addr",
                k.ipv4_addr,
                parse_ipv4_addr,
                expect::IPV4_ADDR,
            )?,
            ipv6_addr: from_str_value(
                "ipv6-addr",
                k.ipv6_addr,
                parse_ipv6_addr,
                expect::IPV6_ADDR,
            )?,
            pool6791: from_list_value("pool6791", k.pool6791, parse_pool6791, "198.51.100.0/28")?,
            mtu: from_int_value("mtu", k.mtu, parse_mtu, expect::MTU)?,
            lowest_ipv6_mtu: from_int_value(
                "lowest-ipv6-mtu",
                k.lowest_ipv6_mtu,
                parse_mtu,
                expect::MTU,
            )?,
            amend_udp_checksum_zero: from_bool_value(
                "amend-udp-checksum-zero",
                k.amend_udp_checksum_zero,
            )?,
            wkp_strict: from_bool_value("wkp-strict", k.wkp_strict)?,
            mss_clamp: from_bool_value("mss-clamp", k.mss_clamp)?,
            setup_routes: from_bool_value("setup-routes", k.setup_routes)?,
            txqueuelen: from_int_value(
                "txqueuelen",
                k.txqueuelen,
                parse_txqueuelen,
                expect::TXQUEUELEN,
            )?,
            workers: from_int_value("workers", k.workers, parse_workers, expect::WORKERS)?,
            pin: from_bool_value("pin", k.pin)?,
            offload: from_bool_value("offload", k.offload)?,
            log_level: from_str_value(
                "log-level",
                k.log_level,
                parse_log_level,
                expect::LOG_LEVEL,
            )?,
            control_socket: from_str_value(
                "control-socket",
                k.control_socket,
                parse_control_socket,
                expect::CONTROL_SOCKET,
            )?,
            pool4: from_list_value("pool4", k.pool4, parse_pool4, "198.51.100.0/28")?,
            pool4_ports: from_str_value("pool4-ports", k.pool4_ports, parse_ports, expect::PORTS)?,
            max_sessions: from_int_value(
                "max-sessions",
                k.max_sessions,
                parse_max_sessions,
                expect::MAX_SESSIONS,
            )?,
            max_sessions_per_subscriber: from_int_value(
                "max-sessions-per-subscriber",
                k.max_sessions_per_subscriber,
                parse_max_sessions,
                expect::MAX_SESSIONS,
            )?,
            max_sessions_per_address: from_int_value(
                "max-sessions-per-address",
                k.max_sessions_per_address,
                parse_max_sessions,
                expect::MAX_SESSIONS,
            )?,
            subscriber_prefix_len: from_int_value(
                "subscriber-prefix-len",
                k.subscriber_prefix_len,
                parse_subscriber_prefix_len,
                expect::SUBSCRIBER_PREFIX_LEN,
            )?,
            udp_timeout: from_int_value(
                "udp-timeout",
                k.udp_timeout,
                parse_udp_timeout,
                expect::UDP_TIMEOUT,
            )?,
            tcp_est_timeout: from_int_value(
                "tcp-est-timeout",
                k.tcp_est_timeout,
                parse_timeout,
                expect::TIMEOUT,
            )?,
            tcp_trans_timeout: from_int_value(
                "tcp-trans-timeout",
                k.tcp_trans_timeout,
                parse_timeout,
                expect::TIMEOUT,
            )?,
            tcp_incoming_syn_timeout: from_int_value(
                "tcp-incoming-syn-timeout",
                k.tcp_incoming_syn_timeout,
                parse_timeout,
                expect::TIMEOUT,
            )?,
            icmp_timeout: from_int_value(
                "icmp-timeout",
                k.icmp_timeout,
                parse_timeout,
                expect::TIMEOUT,
            )?,
            address_dependent_filtering: from_bool_value(
                "address-dependent-filtering",
                k.address_dependent_filtering,
            )?,
            icmp_on_refusal: from_bool_value("icmp-on-refusal", k.icmp_on_refusal)?,
            static_bib: from_list_value(
                "static-bib",
                k.static_bib,
                parse_static_bib,
                STATIC_BIB_EXAMPLE,
            )?,
        })
    }

    /// Reads and parses a config file.
    pub fn from_file(path: &Path) -> Result<Partial, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Partial::from_toml(&text, &path.display().to_string())
    }
}

// ---------------------------------------------------------------------------------------
// The effective configuration.

/// The configuration in force after merging defaults, file and flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub tun: String,
    pub mode: Mode,
    pub prefix: Ipv6Net,
    pub eam: Vec<Eam>,
    pub ipv4_addr: Ipv4Addr,
    pub ipv6_addr: Ipv6Addr,
    pub pool6791: Vec<Ipv4Net>,
    pub mtu: u16,
    pub lowest_ipv6_mtu: u16,
    pub amend_udp_checksum_zero: bool,
    pub wkp_strict: bool,
    /// Lower the MSS option of SYNs to what the translated path carries.
    pub mss_clamp: bool,
    pub setup_routes: bool,
    pub txqueuelen: u32,
    /// TUN queues, one worker thread each; 1 opens a single-queue device.
    pub workers: u16,
    /// Pin worker i to usable CPU i mod count.
    pub pin: bool,
    /// IFF_VNET_HDR + TUNSETOFFLOAD (super-packets, partial checksums).
    pub offload: bool,
    pub log_level: LogLevel,
    /// Unix socket of `xlat64 stats` and `xlat64 sessions`.
    pub control_socket: PathBuf,
    /// NAT64: the IPv4 prefixes the clients share (empty in SIIT mode).
    pub pool4: Vec<Ipv4Net>,
    /// NAT64: TCP and UDP ports handed out on pool4 (ICMP identifiers: all).
    pub pool4_ports: crate::nat64::PortRange,
    pub max_sessions: u32,
    /// Sessions one subscriber prefix may hold (new flows beyond it are refused).
    pub max_sessions_per_subscriber: u32,
    /// Sessions one IPv6 address may hold, within its subscriber's share.
    pub max_sessions_per_address: u32,
    /// Length of the IPv6 prefix that is one subscriber.
    pub subscriber_prefix_len: u8,
    /// Session lifetimes, seconds (RFC 6146 §4).
    pub udp_timeout: u32,
    pub tcp_est_timeout: u32,
    pub tcp_trans_timeout: u32,
    /// RFC 6146 §3.5.2.2 TCP_INCOMING_SYN: an unmapped IPv4 SYN waits this long.
    pub tcp_incoming_syn_timeout: u32,
    pub icmp_timeout: u32,
    /// RFC 4787 address-dependent filtering instead of endpoint-independent.
    pub address_dependent_filtering: bool,
    /// ICMP errors for refused packets (RFC 6146 §3.5.1.1 / §3.5.2.2 SHOULDs).
    pub icmp_on_refusal: bool,
    /// NAT64: operator mappings, pool4 address:port → IPv6 server (RFC 6146 §3.1 static
    /// BIB entries), installed at start and never expired.
    pub static_bib: Vec<StaticBib>,
    /// Source of each value, indexed like [`KEYS`].
    sources: [Source; KEYS.len()],
}

/// Picks flag, then file, then default, and records which one won.
fn pick<T>(flag: Option<T>, file: Option<T>, default: impl FnOnce() -> (T, Source)) -> (T, Source) {
    match (flag, file) {
        (Some(v), _) => (v, Source::Flag),
        (None, Some(v)) => (v, Source::File),
        (None, None) => default(),
    }
}

fn d<T>(v: T) -> impl FnOnce() -> (T, Source) {
    move || (v, Source::Default)
}

fn lab<T>(v: Result<T, ConfigError>) -> (T, Source) {
    // The built-in defaults are constants covered by tests; parsing them cannot fail.
    match v {
        Ok(v) => (v, Source::LabDefault),
        Err(e) => unreachable!("built-in default does not parse: {e}"),
    }
}

impl Config {
    /// Merges `flags` over `file` over the built-in defaults.
    pub fn resolve(file: Partial, flags: Partial) -> Result<Config, ConfigError> {
        let (tun, s_tun) = pick(flags.tun, file.tun, d(default::TUN.to_string()));
        let (mode, s_mode) = pick(flags.mode, file.mode, d(Mode::Siit));
        let (prefix, s_prefix) = pick(flags.prefix, file.prefix, || {
            lab(parse_prefix("prefix", default::PREFIX))
        });
        let nat64 = mode == Mode::Nat64;
        let (eam, s_eam) = pick(flags.eam, file.eam, || {
            if nat64 {
                // EAM is SIIT's; NAT64 maps clients through sessions.
                return (Vec::new(), Source::Default);
            }
            let (e, s) = lab(parse_eam("eam", default::EAM));
            (vec![e], s)
        });
        let (ipv4_addr, s_v4) = pick(flags.ipv4_addr, file.ipv4_addr, || {
            lab(parse_ipv4_addr("ipv4-addr", default::IPV4_ADDR))
        });
        let (ipv6_addr, s_v6) = pick(flags.ipv6_addr, file.ipv6_addr, || {
            (rfc6052_embed(prefix, ipv4_addr), Source::Derived)
        });
        let (pool6791, s_pool) = pick(flags.pool6791, file.pool6791, d(Vec::new()));
        let (mtu, s_mtu) = pick(flags.mtu, file.mtu, d(default::MTU));
        let (lowest_ipv6_mtu, s_low) = pick(
            flags.lowest_ipv6_mtu,
            file.lowest_ipv6_mtu,
            d(default::LOWEST_IPV6_MTU),
        );
        let (amend_udp_checksum_zero, s_amend) = pick(
            flags.amend_udp_checksum_zero,
            file.amend_udp_checksum_zero,
            d(default::AMEND_UDP_CHECKSUM_ZERO),
        );
        let (wkp_strict, s_wkp) = pick(flags.wkp_strict, file.wkp_strict, d(default::WKP_STRICT));
        let (mss_clamp, s_mss) = pick(flags.mss_clamp, file.mss_clamp, d(default::MSS_CLAMP));
        let (setup_routes, s_routes) = pick(
            flags.setup_routes,
            file.setup_routes,
            d(default::SETUP_ROUTES),
        );
        let (txqueuelen, s_txq) = pick(flags.txqueuelen, file.txqueuelen, d(default::TXQUEUELEN));
        let (workers, s_workers) = pick(flags.workers, file.workers, || {
            (default_workers(), Source::Default)
        });
        let (pin, s_pin) = pick(flags.pin, file.pin, d(default::PIN));
        let (offload, s_offload) = pick(flags.offload, file.offload, d(default::OFFLOAD));
        let (log_level, s_log) = pick(flags.log_level, file.log_level, d(LogLevel::Info));
        let (control_socket, s_ctl) = pick(flags.control_socket, file.control_socket, || {
            (default_control_socket(&tun), Source::Default)
        });
        let (pool4, s_pool4) = pick(flags.pool4, file.pool4, d(Vec::new()));
        let (pool4_ports, s_ports) =
            pick(flags.pool4_ports, file.pool4_ports, d(default::POOL4_PORTS));
        let (max_sessions, s_maxs) = pick(
            flags.max_sessions,
            file.max_sessions,
            d(default::MAX_SESSIONS),
        );
        let (max_sessions_per_subscriber, s_msub) = pick(
            flags.max_sessions_per_subscriber,
            file.max_sessions_per_subscriber,
            d(default::MAX_SESSIONS_PER_SUBSCRIBER),
        );
        let (max_sessions_per_address, s_maddr) = pick(
            flags.max_sessions_per_address,
            file.max_sessions_per_address,
            d(default::MAX_SESSIONS_PER_ADDRESS),
        );
        let (subscriber_prefix_len, s_sublen) = pick(
            flags.subscriber_prefix_len,
            file.subscriber_prefix_len,
            d(default::SUBSCRIBER_PREFIX_LEN),
        );
        let (udp_timeout, s_udp) =
            pick(flags.udp_timeout, file.udp_timeout, d(default::UDP_TIMEOUT));
        let (tcp_est_timeout, s_est) = pick(
            flags.tcp_est_timeout,
            file.tcp_est_timeout,
            d(default::TCP_EST_TIMEOUT),
        );
        let (tcp_trans_timeout, s_trans) = pick(
            flags.tcp_trans_timeout,
            file.tcp_trans_timeout,
            d(default::TCP_TRANS_TIMEOUT),
        );
        let (tcp_incoming_syn_timeout, s_syn) = pick(
            flags.tcp_incoming_syn_timeout,
            file.tcp_incoming_syn_timeout,
            d(default::TCP_INCOMING_SYN_TIMEOUT),
        );
        let (icmp_timeout, s_icmp) = pick(
            flags.icmp_timeout,
            file.icmp_timeout,
            d(default::ICMP_TIMEOUT),
        );
        let (address_dependent_filtering, s_adf) = pick(
            flags.address_dependent_filtering,
            file.address_dependent_filtering,
            d(false),
        );
        let (icmp_on_refusal, s_ior) = pick(flags.icmp_on_refusal, file.icmp_on_refusal, d(false));
        let (static_bib, s_sbib) = pick(flags.static_bib, file.static_bib, d(Vec::new()));
        let cfg = Config {
            tun,
            mode,
            prefix,
            eam,
            ipv4_addr,
            ipv6_addr,
            pool6791,
            mtu,
            lowest_ipv6_mtu,
            amend_udp_checksum_zero,
            wkp_strict,
            mss_clamp,
            setup_routes,
            txqueuelen,
            workers,
            pin,
            offload,
            log_level,
            control_socket,
            pool4,
            pool4_ports,
            max_sessions,
            max_sessions_per_subscriber,
            max_sessions_per_address,
            subscriber_prefix_len,
            udp_timeout,
            tcp_est_timeout,
            tcp_trans_timeout,
            tcp_incoming_syn_timeout,
            icmp_timeout,
            address_dependent_filtering,
            icmp_on_refusal,
            static_bib,
            sources: [
                s_tun, s_mode, s_prefix, s_eam, s_v4, s_v6, s_pool, s_mtu, s_low, s_amend, s_wkp,
                s_mss, s_routes, s_txq, s_workers, s_pin, s_offload, s_log, s_ctl, s_pool4,
                s_ports, s_maxs, s_msub, s_maddr, s_sublen, s_udp, s_est, s_trans, s_syn, s_icmp,
                s_adf, s_ior, s_sbib,
            ],
        };
        if nat64 {
            cfg.check_nat64()?;
        }
        // Fail now, with the check-config exit code, on anything the mapper refuses.
        cfg.xlat_config()?;
        Ok(cfg)
    }

    /// What NAT64 mode needs on top of the per-key checks.
    fn check_nat64(&self) -> Result<(), ConfigError> {
        if self.pool4.is_empty() {
            return Err(ConfigError(
                "missing 'pool4': nat64 mode needs the IPv4 addresses its clients share, \
                 e.g. --pool4 198.51.100.0/28 or pool4 = [\"198.51.100.0/28\"]"
                    .into(),
            ));
        }
        let n = self.pool4_addrs().len();
        if n > 65535 {
            return Err(ConfigError(format!(
                "invalid value for 'pool4': {n} addresses; expected at most 65535"
            )));
        }
        self.check_static_bib()?;
        self.shard_config()
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        Ok(())
    }

    /// Each static entry's IPv4 side must be a pool4 address (replies to the server leave
    /// from it, and the translator only receives pool4), its IPv6 side a real server, not
    /// a pool6 address (that would be an IPv4 host), and no two entries may claim the
    /// same transport address on either side.
    fn check_static_bib(&self) -> Result<(), ConfigError> {
        let addrs = self.pool4_addrs();
        for (i, st) in self.static_bib.iter().enumerate() {
            let raw = static_bib_string(st);
            let bad = |why: String| {
                ConfigError(format!(
                    "{} ({why})",
                    invalid("static-bib", &raw, expect::STATIC_BIB)
                ))
            };
            if addrs.binary_search(&st.v4).is_err() {
                let pools: Vec<String> = self.pool4.iter().map(ToString::to_string).collect();
                return Err(bad(format!(
                    "{} is not in pool4 ({}): the IPv4 side must be a pool4 address",
                    st.v4,
                    pools.join(", ")
                )));
            }
            if self.prefix.contains(&st.v6) {
                return Err(bad(format!(
                    "{} is inside the pool6 prefix {}: the IPv6 side must be the server's own \
                     address",
                    st.v6, self.prefix
                )));
            }
            for other in &self.static_bib[..i] {
                if other.proto != st.proto {
                    continue;
                }
                if (other.v4, other.v4_port) == (st.v4, st.v4_port)
                    || (other.v6, other.v6_port) == (st.v6, st.v6_port)
                {
                    return Err(bad(format!(
                        "it shares a transport address with \"{}\"",
                        static_bib_string(other)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Keys given by the operator that this mode does not use.
    pub fn ignored_keys(&self) -> Vec<&'static str> {
        let given = |k: &str| matches!(self.source(k), Some(Source::Flag | Source::File));
        match self.mode {
            Mode::Nat64 => ["eam"].into_iter().filter(|k| given(k)).collect(),
            Mode::Siit => KEYS[19..].iter().copied().filter(|k| given(k)).collect(),
        }
    }

    /// The pool4 addresses: every address of every prefix (a /32 is one address).
    pub fn pool4_addrs(&self) -> Vec<Ipv4Addr> {
        let mut v: Vec<u32> = Vec::new();
        for p in &self.pool4 {
            v.extend(u32::from(p.network())..=u32::from(p.broadcast()));
        }
        v.sort_unstable();
        v.dedup();
        v.into_iter().map(Ipv4Addr::from).collect()
    }

    /// The NAT64 state configuration of the (single) worker.
    pub fn shard_config(&self) -> crate::nat64::ShardConfig {
        use crate::nat64::{Filtering, Pool4, PortRange, ShardConfig};
        let mut pool = Pool4::new(self.pool4_addrs());
        pool.tcp = self.pool4_ports;
        pool.udp = self.pool4_ports;
        pool.icmp = PortRange::new(0, 65535);
        let mut c = ShardConfig::new(pool, self.max_sessions as usize);
        let ms = |s: u32| u64::from(s) * 1000;
        c.timeouts.udp = ms(self.udp_timeout);
        c.timeouts.tcp_est = ms(self.tcp_est_timeout);
        c.timeouts.tcp_trans = ms(self.tcp_trans_timeout);
        c.timeouts.tcp_incoming_syn = ms(self.tcp_incoming_syn_timeout);
        c.timeouts.icmp = ms(self.icmp_timeout);
        c.max_sessions_per_prefix = self.max_sessions_per_subscriber;
        c.max_sessions_per_addr = self.max_sessions_per_address;
        c.subscriber_prefix_len = self.subscriber_prefix_len;
        c.max_static = c.max_static.max(self.static_bib.len());
        c.filtering = if self.address_dependent_filtering {
            Filtering::AddressDependent
        } else {
            Filtering::EndpointIndependent
        };
        c
    }

    /// Where the value of `key` came from.
    pub fn source(&self, key: &str) -> Option<Source> {
        KEYS.iter().position(|k| *k == key).map(|i| self.sources[i])
    }

    /// Keys whose value is a built-in lab default (documentation addresses).
    pub fn lab_defaults(&self) -> impl Iterator<Item = &'static str> + '_ {
        KEYS.iter()
            .zip(self.sources.iter())
            .filter(|(_, s)| **s == Source::LabDefault)
            .map(|(k, _)| *k)
    }

    /// The translator's view of this configuration.
    pub fn xlat_config(&self) -> Result<XlatConfig, ConfigError> {
        let eams: Vec<(Ipv6Net, Ipv4Net)> = match self.mode {
            Mode::Siit => self.eam.iter().map(|e| (e.v6, e.v4)).collect(),
            Mode::Nat64 => Vec::new(),
        };
        let map = AddrMapper::new(Some(self.prefix), &eams, self.wkp_strict)
            .map_err(|e| ConfigError(format!("invalid address configuration: {e}")))?;
        Ok(XlatConfig {
            map,
            ipv4_addr: self.ipv4_addr,
            ipv6_addr: self.ipv6_addr,
            pool6791: self.pool6791.clone(),
            mtu: self.mtu,
            lowest_ipv6_mtu: self.lowest_ipv6_mtu,
            amend_udp_checksum_zero: self.amend_udp_checksum_zero,
            mss_clamp: self.mss_clamp,
            // reset-traffic-class / reset-tos have no operator key yet: RFC 7915 defaults.
            ..XlatConfig::default()
        })
    }

    fn value_toml(&self, key: &str) -> String {
        fn list<T: fmt::Display>(items: &[T]) -> String {
            let inner: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
            format!("[{}]", inner.join(", "))
        }
        match key {
            "tun" => format!("\"{}\"", self.tun),
            "mode" => format!("\"{}\"", self.mode),
            "prefix" => format!("\"{}\"", self.prefix),
            "eam" => list(&self.eam),
            "ipv4-addr" => format!("\"{}\"", self.ipv4_addr),
            "ipv6-addr" => format!("\"{}\"", self.ipv6_addr),
            "pool6791" => list(&self.pool6791),
            "mtu" => self.mtu.to_string(),
            "lowest-ipv6-mtu" => self.lowest_ipv6_mtu.to_string(),
            "amend-udp-checksum-zero" => self.amend_udp_checksum_zero.to_string(),
            "wkp-strict" => self.wkp_strict.to_string(),
            "mss-clamp" => self.mss_clamp.to_string(),
            "setup-routes" => self.setup_routes.to_string(),
            "txqueuelen" => self.txqueuelen.to_string(),
            "workers" => self.workers.to_string(),
            "pin" => self.pin.to_string(),
            "offload" => self.offload.to_string(),
            "log-level" => format!("\"{}\"", self.log_level),
            "control-socket" => format!("\"{}\"", self.control_socket.display()),
            "pool4" => list(&self.pool4),
            "pool4-ports" => format!("\"{}-{}\"", self.pool4_ports.first, self.pool4_ports.last),
            "max-sessions" => self.max_sessions.to_string(),
            "max-sessions-per-subscriber" => self.max_sessions_per_subscriber.to_string(),
            "max-sessions-per-address" => self.max_sessions_per_address.to_string(),
            "subscriber-prefix-len" => self.subscriber_prefix_len.to_string(),
            "udp-timeout" => self.udp_timeout.to_string(),
            "tcp-est-timeout" => self.tcp_est_timeout.to_string(),
            "tcp-trans-timeout" => self.tcp_trans_timeout.to_string(),
            "tcp-incoming-syn-timeout" => self.tcp_incoming_syn_timeout.to_string(),
            "icmp-timeout" => self.icmp_timeout.to_string(),
            "address-dependent-filtering" => self.address_dependent_filtering.to_string(),
            "icmp-on-refusal" => self.icmp_on_refusal.to_string(),
            "static-bib" => {
                let items: Vec<String> = self.static_bib.iter().map(static_bib_string).collect();
                list(&items)
            }
            _ => String::new(),
        }
    }

    /// `(key, TOML value, source)` for every key, in [`KEYS`] order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, String, Source)> + '_ {
        KEYS.iter()
            .zip(self.sources.iter())
            .map(|(k, s)| (*k, self.value_toml(k), *s))
    }

    /// The effective configuration as a TOML file (which parses back to the same
    /// values), each line commented with where its value came from.
    pub fn render_toml(&self) -> String {
        let mut s = String::from("# xlat64 effective configuration\n");
        for (k, v, src) in self.entries() {
            let line = format!("{k} = {v}");
            let _ = writeln!(s, "{line:<48} # {}", src.describe());
        }
        s
    }
}

/// RFC 6052 §2.2: the IPv4 address follows the prefix, skipping bits 64-71 (the u
/// octet); the suffix is zero. `prefix` has one of the six lengths (checked on parse).
pub fn rfc6052_embed(prefix: Ipv6Net, v4: Ipv4Addr) -> Ipv6Addr {
    // `prefix` passed `parse_prefix`, so `Prefix6052::new` accepts it; the raw embedding
    // skips the well-known-prefix policy, which is about translated hosts, not about the
    // translator's own address.
    match crate::addr::Prefix6052::new(prefix) {
        Ok(p) => Ipv6Addr::from(p.embed_bits(u32::from(v4))),
        Err(_) => prefix.network(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<Partial, ConfigError> {
        Partial::from_toml(text, "test.toml")
    }

    fn resolve_file(text: &str) -> Result<Config, ConfigError> {
        Config::resolve(file(text)?, Partial::default())
    }

    #[test]
    fn defaults_are_the_demo_lab() {
        let c = Config::resolve(Partial::default(), Partial::default()).unwrap();
        assert_eq!(c.tun, "xlat64");
        assert_eq!(c.mode, Mode::Siit);
        assert_eq!(c.prefix.to_string(), "2001:db8:64::/96");
        assert_eq!(c.eam.len(), 1);
        assert_eq!(c.eam[0].to_string(), "2001:db8:1::/120=192.0.2.0/24");
        assert_eq!(c.ipv4_addr, Ipv4Addr::new(203, 0, 113, 1));
        // 203.0.113.1 = cb00:7101 after the /96 prefix.
        assert_eq!(c.ipv6_addr.to_string(), "2001:db8:64::cb00:7101");
        assert!(c.pool6791.is_empty());
        assert_eq!(c.mtu, 1500);
        assert_eq!(c.lowest_ipv6_mtu, 1280);
        assert!(!c.amend_udp_checksum_zero);
        assert!(c.wkp_strict);
        assert!(c.mss_clamp);
        assert!(!c.setup_routes);
        assert_eq!(c.txqueuelen, 10_000);
        assert!(c.workers >= 1);
        assert_eq!(c.source("workers"), Some(Source::Default));
        assert!(c.pin && c.offload);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.control_socket, PathBuf::from("/run/xlat64/xlat64.sock"));
        let lab: Vec<_> = c.lab_defaults().collect();
        assert_eq!(lab, ["prefix", "eam", "ipv4-addr"]);
        assert_eq!(c.source("ipv6-addr"), Some(Source::Derived));
        assert_eq!(c.source("mtu"), Some(Source::Default));
    }

    #[test]
    fn every_key_parses_from_toml() {
        let c = resolve_file(
            r#"
            tun = "siit0"
            mode = "siit"
            prefix = "64:ff9b::/96"
            eam = ["2001:db8:1::/120=192.0.2.0/24", "2001:db8:2::/128=198.51.100.7/32"]
            ipv4-addr = "198.51.100.1"
            ipv6-addr = "2001:db8::1"
            pool6791 = ["198.51.100.0/28"]
            mtu = 9000
            lowest-ipv6-mtu = 1400
            amend-udp-checksum-zero = true
            wkp-strict = false
            mss-clamp = false
            setup-routes = true
            txqueuelen = 2000
            workers = 4
            pin = false
            offload = false
            log-level = "debug"
            control-socket = "/run/siit0.sock"
            pool4 = ["198.51.100.0/28"]
            pool4-ports = "2000-3000"
            max-sessions = 1000
            max-sessions-per-subscriber = 50
            max-sessions-per-address = 10
            subscriber-prefix-len = 56
            udp-timeout = 120
            tcp-est-timeout = 3600
            tcp-trans-timeout = 100
            tcp-incoming-syn-timeout = 3
            icmp-timeout = 5
            address-dependent-filtering = true
            icmp-on-refusal = true
            static-bib = ["tcp 198.51.100.1:8080 [2001:db8:1::2]:80"]
            "#,
        )
        .unwrap();
        assert_eq!(c.tun, "siit0");
        assert_eq!(c.prefix.to_string(), "64:ff9b::/96");
        assert_eq!(c.eam.len(), 2);
        assert_eq!(c.ipv6_addr.to_string(), "2001:db8::1");
        assert_eq!(c.pool6791.len(), 1);
        assert_eq!((c.mtu, c.lowest_ipv6_mtu), (9000, 1400));
        assert!(c.amend_udp_checksum_zero && !c.wkp_strict && c.setup_routes);
        assert!(!c.mss_clamp && !c.xlat_config().unwrap().mss_clamp);
        assert_eq!(c.txqueuelen, 2000);
        assert_eq!(c.workers, 4);
        assert!(!c.pin && !c.offload);
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.control_socket, PathBuf::from("/run/siit0.sock"));
        let sc = c.shard_config();
        assert_eq!(
            (
                sc.max_sessions_per_prefix,
                sc.max_sessions_per_addr,
                sc.subscriber_prefix_len
            ),
            (50, 10, 56)
        );
        assert_eq!(sc.timeouts.tcp_incoming_syn, 3000);
        assert_eq!(c.static_bib.len(), 1);
        assert!(c.entries().all(|(_, _, s)| s == Source::File));
        assert_eq!(c.lab_defaults().count(), 0);
    }

    #[test]
    fn flags_override_file_and_lists_are_replaced() {
        let f = file("mtu = 9000\neam = [\"2001:db8:1::/120=192.0.2.0/24\"]\ntun = \"a\"").unwrap();
        let flags = Partial {
            mtu: Some(1400),
            eam: Some(vec![
                parse_eam("eam", "2001:db8:2::/120=198.51.100.0/24").unwrap(),
            ]),
            ..Partial::default()
        };
        let c = Config::resolve(f, flags).unwrap();
        assert_eq!(c.mtu, 1400);
        assert_eq!(c.source("mtu"), Some(Source::Flag));
        assert_eq!(c.eam.len(), 1);
        assert_eq!(c.eam[0].v4.to_string(), "198.51.100.0/24");
        assert_eq!(c.tun, "a");
        assert_eq!(c.source("tun"), Some(Source::File));
    }

    #[test]
    fn empty_eam_list_in_file_means_no_eam() {
        let c = resolve_file("eam = []").unwrap();
        assert!(c.eam.is_empty());
        assert_eq!(c.source("eam"), Some(Source::File));
    }

    #[test]
    fn ipv6_addr_follows_prefix_and_ipv4_addr() {
        let c =
            resolve_file("prefix = \"2001:db8:122:344::/64\"\nipv4-addr = \"192.0.2.33\"").unwrap();
        assert_eq!(c.ipv6_addr.to_string(), "2001:db8:122:344:c0:2:2100:0");
    }

    /// RFC 6052 §2.4, the example table (192.0.2.33 under each prefix length).
    #[test]
    fn rfc6052_section_2_4_examples() {
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        for (p, want) in [
            ("2001:db8::/32", "2001:db8:c000:221::"),
            ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
            ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100::"),
            ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
        ] {
            let got = rfc6052_embed(p.parse().unwrap(), v4);
            assert_eq!(got, want.parse::<Ipv6Addr>().unwrap(), "{p}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let e = file("tun = \"a\"\nprefx = \"64:ff9b::/96\"").unwrap_err().0;
        assert!(e.contains("unknown key `prefx`"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.starts_with("test.toml"), "{e}");
    }

    #[test]
    fn toml_syntax_error_names_file_and_line() {
        let e = file("mtu = 1500\nprefix = ").unwrap_err().0;
        assert!(e.starts_with("test.toml (line 2)"), "{e}");
    }

    /// Every key, given a bad value in the file, gets a message naming that key.
    #[test]
    fn each_bad_value_names_its_key() {
        let cases = [
            ("tun", "tun = \"a/b\"", "expected an interface name"),
            ("tun", "tun = 5", "expected a string"),
            ("mode", "mode = \"nat46\"", "expected siit or nat64"),
            ("prefix", "prefix = \"2001:db8::/60\"", "RFC 6052 prefix"),
            (
                "prefix",
                "prefix = \"2001:db8::1/96\"",
                "did you mean 2001:db8::/96",
            ),
            (
                "prefix",
                "prefix = \"2001:db8:0:0:ff00::/96\"",
                "bits 64-71",
            ),
            (
                "eam",
                "eam = \"2001:db8:1::/120=192.0.2.0/24\"",
                "array of strings",
            ),
            ("eam", "eam = [\"2001:db8::/120\"]", "IPV6/LEN=IPV4/LEN"),
            (
                "eam",
                "eam = [\"2001:db8:1::/120=192.0.2.0/25\"]",
                "equal host bits",
            ),
            (
                "eam",
                "eam = [\"2001:db8:1::5/120=192.0.2.0/24\"]",
                "did you mean 2001:db8:1::/120",
            ),
            ("ipv4-addr", "ipv4-addr = \"203.0.113\"", "an IPv4 address"),
            (
                "ipv6-addr",
                "ipv6-addr = \"2001:db8::g\"",
                "an IPv6 address",
            ),
            ("pool6791", "pool6791 = [\"198.51.100.0/33\"]", "IPV4/LEN"),
            ("mtu", "mtu = 1279", "from 1280 to 65535"),
            ("mtu", "mtu = 70000", "from 1280 to 65535"),
            ("mtu", "mtu = \"1500\"", "from 1280 to 65535"),
            (
                "lowest-ipv6-mtu",
                "lowest-ipv6-mtu = 100",
                "from 1280 to 65535",
            ),
            (
                "amend-udp-checksum-zero",
                "amend-udp-checksum-zero = \"yes\"",
                "true or false",
            ),
            ("wkp-strict", "wkp-strict = 1", "true or false"),
            ("setup-routes", "setup-routes = \"true\"", "true or false"),
            ("mss-clamp", "mss-clamp = \"no\"", "true or false"),
            ("txqueuelen", "txqueuelen = 0", "from 1 to 2147483647"),
            ("txqueuelen", "txqueuelen = -5", "from 1 to 2147483647"),
            ("workers", "workers = 0", "from 1 to 256"),
            ("workers", "workers = 257", "from 1 to 256"),
            ("pin", "pin = \"yes\"", "true or false"),
            ("offload", "offload = 0", "true or false"),
            ("log-level", "log-level = \"loud\"", "one of error, warn"),
            (
                "control-socket",
                "control-socket = \"\"",
                "a Unix socket path",
            ),
            ("control-socket", "control-socket = 5", "expected a string"),
        ];
        for (key, text, expected) in cases {
            let e = resolve_file(text).unwrap_err().0;
            assert!(
                e.contains(&format!("invalid value for '{key}'")),
                "{text}: {e}"
            );
            assert!(e.contains(expected), "{text}: {e}");
        }
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
    fn nat64_mode_defaults_and_requirements() {
        let e = resolve_file("mode = \"nat64\"").unwrap_err().0;
        assert!(e.contains("missing 'pool4'"), "{e}");
        let c = resolve_file("mode = \"nat64\"\npool4 = [\"203.0.113.16/28\"]").unwrap();
        // Same defaults as SIIT: a worker per core, offloads on.
        assert_eq!(c.workers, default_workers());
        assert!(c.offload && c.eam.is_empty());
        assert_eq!(c.pool4_addrs().len(), 16);
        assert_eq!((c.pool4_ports.first, c.pool4_ports.last), (1024, 65535));
        assert_eq!(c.max_sessions, 262_144);
        assert_eq!(c.udp_timeout, 300);
        assert!(c.ignored_keys().is_empty());
        let sc = c.shard_config();
        assert_eq!(sc.timeouts.icmp, 60_000);
        assert_eq!(sc.pool.icmp.first, 0);
        assert_eq!(
            (
                sc.max_sessions_per_prefix,
                sc.max_sessions_per_addr,
                sc.subscriber_prefix_len
            ),
            (16_384, 8192, 64)
        );
        // Several workers share the state by owner (see dataplane::handoff).
        let c =
            resolve_file("mode = \"nat64\"\npool4 = [\"203.0.113.16/28\"]\nworkers = 2").unwrap();
        assert_eq!(c.workers, 2);
        let c = resolve_file(
            "mode = \"nat64\"\npool4 = [\"203.0.113.16/28\"]\neam = [\"2001:db8:1::/120=192.0.2.0/24\"]",
        )
        .unwrap();
        assert_eq!(c.ignored_keys(), ["eam"]);
        let text = c.render_toml();
        assert!(text.contains("pool4-ports = \"1024-65535\""), "{text}");
        assert_eq!(resolve_file(&text).unwrap().pool4, c.pool4);
    }

    /// RFC 6146 §3.5.1 (UDP lifetime at least 2 minutes) and the other NAT64 keys: each
    /// bad value names its key.
    #[test]
    fn rfc6146_3_5_1_nat64_bad_values_name_their_key() {
        for (key, text, expected) in [
            ("udp-timeout", "udp-timeout = 60", "from 120"),
            ("icmp-timeout", "icmp-timeout = 0", "from 1 to 2147483"),
            ("tcp-est-timeout", "tcp-est-timeout = \"1\"", "from 1 to"),
            (
                "tcp-trans-timeout",
                "tcp-trans-timeout = 9999999",
                "from 1 to",
            ),
            (
                "pool4",
                "pool4 = [\"203.0.113.1/24\"]",
                "did you mean 203.0.113.0/24",
            ),
            ("pool4", "pool4 = [\"10.0.0.0/8\"]", "/16 or longer"),
            ("pool4-ports", "pool4-ports = \"2000-1000\"", "FIRST-LAST"),
            ("pool4-ports", "pool4-ports = \"0-10\"", "FIRST-LAST"),
            ("max-sessions", "max-sessions = 0", "from 1 to 100000000"),
            (
                "max-sessions-per-subscriber",
                "max-sessions-per-subscriber = 0",
                "from 1 to 100000000",
            ),
            (
                "max-sessions-per-address",
                "max-sessions-per-address = \"9\"",
                "from 1 to 100000000",
            ),
            (
                "subscriber-prefix-len",
                "subscriber-prefix-len = 65",
                "from 1 to 64",
            ),
            ("icmp-on-refusal", "icmp-on-refusal = 1", "true or false"),
            (
                "address-dependent-filtering",
                "address-dependent-filtering = \"x\"",
                "true or false",
            ),
        ] {
            let e = resolve_file(text).unwrap_err().0;
            assert!(
                e.contains(&format!("invalid value for '{key}'")),
                "{text}: {e}"
            );
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    const NAT64: &str =
        "mode = \"nat64\"\npool4 = [\"203.0.113.16/28\"]\nprefix = \"2001:db8:64::/96\"\n";

    /// RFC 6146 §3.1: static BIB entries, one per protocol, parse from the file and from
    /// the form `check-config` prints (round trip).
    #[test]
    fn rfc6146_3_1_static_bib_entries_parse_and_render_back() {
        let c = resolve_file(&format!(
            "{NAT64}static-bib = [\"tcp 203.0.113.16:8080 [2001:db8:1::2]:80\", \
             \"UDP 203.0.113.17:53 [2001:db8:1::3]:5353\", \"icmp 203.0.113.16:0 [2001:db8:1::2]:7\"]"
        ))
        .unwrap();
        assert_eq!(
            c.static_bib[0],
            StaticBib {
                proto: Proto::Tcp,
                v6: "2001:db8:1::2".parse().unwrap(),
                v6_port: 80,
                v4: Ipv4Addr::new(203, 0, 113, 16),
                v4_port: 8080,
            }
        );
        assert_eq!(c.static_bib[1].proto, Proto::Udp);
        // ICMP: the "port" is the echo identifier, and 0 is one.
        assert_eq!(
            (c.static_bib[2].proto, c.static_bib[2].v4_port),
            (Proto::Icmp, 0)
        );
        assert_eq!(c.source("static-bib"), Some(Source::File));
        assert!(c.ignored_keys().is_empty());
        let text = c.render_toml();
        assert!(
            text.contains(
                "static-bib = [\"tcp 203.0.113.16:8080 [2001:db8:1::2]:80\", \
                 \"udp 203.0.113.17:53 [2001:db8:1::3]:5353\", \"icmp 203.0.113.16:0 [2001:db8:1::2]:7\"]"
            ),
            "{text}"
        );
        assert_eq!(resolve_file(&text).unwrap().static_bib, c.static_bib);
        assert_eq!(c.shard_config().max_static, 1024);
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

    /// The IPv4 side must be in pool4, the IPv6 side outside pool6 (RFC 6146 §3.5.4: pool6
    /// addresses stand for IPv4 hosts), and no two entries share a transport address.
    #[test]
    fn static_bib_checked_against_pool4_pool6_and_each_other() {
        for (entries, why) in [
            (
                "[\"tcp 198.51.100.7:80 [2001:db8:1::2]:80\"]",
                "198.51.100.7 is not in pool4 (203.0.113.16/28)",
            ),
            (
                "[\"tcp 203.0.113.16:80 [2001:db8:64::c633:6407]:80\"]",
                "2001:db8:64::c633:6407 is inside the pool6 prefix 2001:db8:64::/96",
            ),
            (
                "[\"tcp 203.0.113.16:80 [2001:db8:1::2]:80\", \"tcp 203.0.113.16:80 [2001:db8:1::3]:80\"]",
                "shares a transport address with \"tcp 203.0.113.16:80 [2001:db8:1::2]:80\"",
            ),
            (
                "[\"udp 203.0.113.16:80 [2001:db8:1::2]:80\", \"udp 203.0.113.17:80 [2001:db8:1::2]:80\"]",
                "shares a transport address",
            ),
        ] {
            let e = resolve_file(&format!("{NAT64}static-bib = {entries}"))
                .unwrap_err()
                .0;
            assert!(e.starts_with("invalid value for 'static-bib'"), "{e}");
            assert!(e.contains(why), "{entries}: {e}");
        }
        // Same transport addresses under different protocols are different entries.
        let c = resolve_file(&format!(
            "{NAT64}static-bib = [\"tcp 203.0.113.16:80 [2001:db8:1::2]:80\", \
             \"udp 203.0.113.16:80 [2001:db8:1::2]:80\"]"
        ))
        .unwrap();
        assert_eq!(c.static_bib.len(), 2);
    }

    /// Like pool4, static-bib is NAT64's: SIIT mode accepts it and warns it is ignored.
    #[test]
    fn static_bib_and_syn_timeout_are_ignored_in_siit_mode() {
        let c = resolve_file(
            "static-bib = [\"tcp 198.51.100.7:80 [2001:db8:1::2]:80\"]\npool4 = [\"203.0.113.16/28\"]\n\
             tcp-incoming-syn-timeout = 2",
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Siit);
        assert_eq!(
            c.ignored_keys(),
            ["pool4", "tcp-incoming-syn-timeout", "static-bib"]
        );
    }

    /// RFC 6146 §3.5.2.2 TCP_INCOMING_SYN: 6 s by default, configurable, never 0.
    #[test]
    fn rfc6146_3_5_2_2_tcp_incoming_syn_timeout() {
        let c = resolve_file(NAT64).unwrap();
        assert_eq!(c.tcp_incoming_syn_timeout, 6);
        assert_eq!(c.shard_config().timeouts.tcp_incoming_syn, 6000);
        assert!(c.render_toml().contains("tcp-incoming-syn-timeout = 6 "));
        let c = resolve_file(&format!("{NAT64}tcp-incoming-syn-timeout = 2")).unwrap();
        assert_eq!(c.shard_config().timeouts.tcp_incoming_syn, 2000);
        for bad in ["0", "\"6\"", "2147484"] {
            let e = resolve_file(&format!("{NAT64}tcp-incoming-syn-timeout = {bad}"))
                .unwrap_err()
                .0;
            assert!(
                e.contains("invalid value for 'tcp-incoming-syn-timeout'")
                    && e.contains("from 1 to 2147483 (seconds)"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn clat_is_recognised_but_not_implemented() {
        let e = parse_mode("mode", "clat").unwrap_err().0;
        assert_eq!(
            e,
            "mode 'clat' is not implemented yet (coming next); use --mode siit"
        );
    }

    #[test]
    fn rendered_config_parses_back_to_itself() {
        let c = resolve_file(
            "pool6791 = [\"198.51.100.0/28\"]\neam = [\"2001:db8:1::/120=192.0.2.0/24\", \
             \"2001:db8:2::/128=198.51.100.7/32\"]",
        )
        .unwrap();
        let text = c.render_toml();
        let back = resolve_file(&text).unwrap();
        assert_eq!(back.tun, c.tun);
        assert_eq!(back.eam, c.eam);
        assert_eq!(back.pool6791, c.pool6791);
        assert_eq!(back.ipv6_addr, c.ipv6_addr);
        assert!(text.contains("# built-in lab default"), "{text}");
    }
}
