//! Configuration: one TOML key per command-line flag, same kebab-case names.
//!
//! Values come from three layers: built-in defaults (the demo lab, so `xlat64 run` works
//! there unchanged), the config file, and flags; a flag overrides the file, the file
//! overrides the default. List keys (`eam`, `pool6791`) are replaced whole, not merged.
//! Both the file and the flags go through the same per-key parsers, so a bad value gets
//! the same message wherever it came from: the key, the value, the expected form.

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;

use crate::addr::AddrMapper;
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

/// Translation mode. Only SIIT exists today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Siit,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Siit => "siit",
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
pub const KEYS: [&str; 18] = [
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
}

// ---------------------------------------------------------------------------------------
// Per-key parsers, shared by flags and file.

mod expect {
    pub const TUN: &str =
        "an interface name of 1 to 15 bytes without '/', ':' or whitespace, e.g. xlat64";
    pub const MODE: &str = "siit";
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

pub fn parse_mode(key: &str, raw: &str) -> Result<Mode, ConfigError> {
    match raw {
        "siit" => Ok(Mode::Siit),
        "nat64" | "clat" => Err(ConfigError(format!(
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
        let (eam, s_eam) = pick(flags.eam, file.eam, || {
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
            sources: [
                s_tun, s_mode, s_prefix, s_eam, s_v4, s_v6, s_pool, s_mtu, s_low, s_amend, s_wkp,
                s_mss, s_routes, s_txq, s_workers, s_pin, s_offload, s_log,
            ],
        };
        // Fail now, with the check-config exit code, on anything the mapper refuses.
        cfg.xlat_config()?;
        Ok(cfg)
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
        let eams: Vec<(Ipv6Net, Ipv4Net)> = self.eam.iter().map(|e| (e.v6, e.v4)).collect();
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
            ("mode", "mode = \"nat46\"", "expected siit"),
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
    fn nat64_and_clat_are_recognised_but_not_implemented() {
        for m in ["nat64", "clat"] {
            let e = parse_mode("mode", m).unwrap_err().0;
            assert_eq!(
                e,
                format!("mode '{m}' is not implemented yet (coming next); use --mode siit")
            );
        }
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
