//! The effective configuration: the layers merged, the checks that span several keys,
//! and the views other modules take of it (translator, NAT64 state).
//!
//! Per-key parsing has already happened when a layer was read; what is left here is what
//! one key cannot judge alone (a static BIB entry against pool4 and the prefix, the
//! mapper's view of prefix and EAMs), so that `check-config` catches it before `run`.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::values::Dataplane;
use super::values::{expect, invalid, static_bib_string};
use super::{Config, ConfigError, KEY_INFO, KEYS, Mode, Partial};

/// NAT event records a shard buffers between two drains by its worker (about 64 bytes
/// each); beyond, they are counted as `nat_log_lost`.
pub const NAT_EVENT_BUFFER: usize = 16_384;
use crate::addr::AddrMapper;
use crate::xlat::XlatConfig;

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

impl Config {
    /// The keys whose value differs in `new`, in table order (a reload's changes).
    pub fn changed_keys(&self, new: &Config) -> Vec<&'static super::KeyInfo> {
        let (old, new) = (self.values_toml(), new.values_toml());
        super::KEY_INFO
            .iter()
            .zip(old.iter().zip(new.iter()))
            .filter(|(_, (a, b))| a != b)
            .map(|(k, _)| k)
            .collect()
    }

    /// Merges `flags` over `file` over the built-in defaults.
    pub fn resolve(file: Partial, flags: Partial) -> Result<Config, ConfigError> {
        let cfg = Config::merge(file, flags);
        let mut cfg = cfg;
        match cfg.mode {
            Mode::Nat64 => cfg.check_nat64()?,
            Mode::Clat => {
                cfg.check_clat()?;
                cfg.clat_defaults();
            }
            Mode::Siit => {}
        }
        cfg.check_dataplane()?;
        // Fail now, with the check-config exit code, on anything the mapper refuses.
        cfg.xlat_config()?;
        Ok(cfg)
    }

    /// The XDP dataplane needs its two interfaces, and two of them: one interface for
    /// both sides would need both families' sockets on one queue.
    fn check_dataplane(&self) -> Result<(), ConfigError> {
        if self.dataplane != Dataplane::Xdp {
            return Ok(());
        }
        for (key, v) in [
            ("ipv6-iface", &self.ipv6_iface),
            ("ipv4-iface", &self.ipv4_iface),
        ] {
            if v.is_empty() {
                return Err(ConfigError(format!(
                    "missing '{key}': dataplane xdp needs the interfaces it attaches to, \
                     e.g. --dataplane xdp --ipv6-iface eth0 --ipv4-iface eth1"
                )));
            }
        }
        if self.ipv6_iface == self.ipv4_iface {
            return Err(ConfigError(format!(
                "invalid value for 'ipv4-iface': {:?}: expected an interface other than \
                 'ipv6-iface' (one interface for both sides is not supported yet)",
                self.ipv4_iface
            )));
        }
        Ok(())
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
        self.check_port_blocks()?;
        self.shard_config()
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        Ok(())
    }

    /// What CLAT mode needs on top of the per-key checks: a 1:1 mapping with equal host
    /// bits, and a way to its IPv6 side.
    fn check_clat(&self) -> Result<(), ConfigError> {
        let v4 = self.clat_ipv4;
        match self.clat_prefix {
            Some(v6) if 128 - v6.prefix_len() != 32 - v4.prefix_len() => {
                return Err(ConfigError(format!(
                    "invalid value for 'clat-prefix': {v6} has {} host bits, 'clat-ipv4' {v4} \
                     has {}: the LAN prefix maps onto it 1:1, e.g. --clat-ipv4 192.168.1.0/24 \
                     --clat-prefix 2001:db8:aa:1::/120",
                    128 - v6.prefix_len(),
                    32 - v4.prefix_len()
                )));
            }
            Some(_) => {}
            None if v4.prefix_len() != 32 => {
                return Err(ConfigError(format!(
                    "invalid value for 'clat-ipv4': {v4} is a prefix: a host's CLAT maps one \
                     address (e.g. 192.0.0.1/32); a LAN prefix needs 'clat-prefix' (CPE mode)"
                )));
            }
            None if self.clat_ipv6.is_none() && self.uplink.is_none() => {
                return Err(ConfigError(
                    "clat mode needs the CLAT's IPv6 address: --clat-ipv6 ADDR, or --uplink \
                     IFACE to derive one from the uplink's global /64 (CPE mode: --clat-prefix \
                     IPV6/LEN)"
                        .into(),
                ));
            }
            None => {}
        }
        Ok(())
    }

    /// RFC 7335 §4: the translator's own ICMPv4 source is 192.0.0.2 unless the operator
    /// chose one (the SIIT lab default would be an address of another network).
    fn clat_defaults(&mut self) {
        if self.source("ipv4-addr") == Some(Source::LabDefault) {
            self.ipv4_addr = crate::clat::XLAT_V4;
            if let Some(i) = KEYS.iter().position(|k| *k == "ipv4-addr") {
                self.sources[i] = Source::Default;
            }
        }
    }

    /// The CLAT's 1:1 mapping, with `derived` as its IPv6 address when neither
    /// `clat-prefix` nor `clat-ipv6` gives one (None: not known yet).
    pub fn clat_mapping(&self, derived: Option<Ipv6Addr>) -> Option<crate::clat::ClatMapping> {
        let v6 = match (self.clat_prefix, self.clat_ipv6.or(derived)) {
            (Some(p), _) => p,
            (None, Some(a)) => Ipv6Net::from(a),
            (None, None) => return None,
        };
        Some(crate::clat::ClatMapping {
            v4: self.clat_ipv4,
            v6,
        })
    }

    /// The CLAT's translator settings for the PLAT prefix `plat` (None: translate
    /// nothing through the PLAT yet).
    pub fn clat_xlat_config(
        &self,
        mapping: &crate::clat::ClatMapping,
        plat: Option<Ipv6Net>,
    ) -> Result<XlatConfig, ConfigError> {
        let map = mapping
            .mapper(plat, self.wkp_strict)
            .map_err(|e| ConfigError(format!("invalid address configuration: {e}")))?;
        let ipv6_addr = match self.source("ipv6-addr") {
            Some(Source::Flag | Source::File) => self.ipv6_addr,
            _ => mapping.own_v6(),
        };
        Ok(XlatConfig {
            map,
            ipv6_addr,
            // The TUN carries the host's IPv4 packets, 20 bytes smaller than the IPv6
            // packets they become on the uplink (RFC 6877 §6.3): the translator's limit
            // is the uplink's MTU, so a full-sized host packet is never refused.
            mtu: self.mtu.saturating_add(20),
            ..self.common_xlat_config()
        })
    }

    /// `deterministic` needs one range of subscribers, shorter than a subscriber, and a
    /// port range with at least one block per address.
    fn check_port_blocks(&self) -> Result<(), ConfigError> {
        use crate::nat64::PortAllocation;
        if self.port_allocation == PortAllocation::Session {
            return Ok(());
        }
        // Each worker cuts its blocks from its own slice of the range.
        let span = crate::nat64::blocks::block_span(self.pool4_ports);
        let per_worker = span.map_or(0, |s| s.len() / u32::from(self.workers.max(1)));
        if per_worker < u32::from(self.port_block_size) {
            return Err(ConfigError(format!(
                "invalid value for 'port-block-size': {} does not fit one worker's slice of \
                 ports 1024 and up of pool4-ports {}-{} ({per_worker} ports with {} workers); \
                 use a smaller block, a wider range or fewer workers",
                self.port_block_size, self.pool4_ports.first, self.pool4_ports.last, self.workers
            )));
        }
        if self.port_allocation != PortAllocation::Deterministic {
            return Ok(());
        }
        match self.deterministic_subscribers.as_slice() {
            [n] if n.prefix_len() <= self.subscriber_prefix_len => Ok(()),
            [n] => Err(ConfigError(format!(
                "invalid value for 'deterministic-subscribers': \"{n}\": expected {}",
                expect::V6_RANGE
            ))),
            [] => Err(ConfigError(
                "missing 'deterministic-subscribers': port-allocation = \"deterministic\" \
                 numbers the subscriber prefixes of one IPv6 range, e.g. \
                 deterministic-subscribers = [\"2001:db8:100::/48\"]"
                    .into(),
            )),
            _ => Err(ConfigError(
                "invalid value for 'deterministic-subscribers': expected one IPV6/LEN, got several"
                    .into(),
            )),
        }
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
        KEY_INFO
            .iter()
            .zip(&self.sources)
            .filter(|(k, s)| {
                matches!(s, Source::Flag | Source::File) && !k.scope.used_in(self.mode)
            })
            .map(|(k, _)| k.name)
            .collect()
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
        c.blocks = crate::nat64::BlockConfig {
            mode: self.port_allocation,
            size: self.port_block_size,
            max_per_subscriber: self.max_blocks_per_subscriber,
            hold_ms: self.port_block_hold.saturating_mul(1000),
            subscribers: self
                .deterministic_subscribers
                .first()
                .map(|n| (n.network(), n.prefix_len())),
        };
        if self.port_allocation == crate::nat64::PortAllocation::Deterministic {
            // One block per subscriber for every protocol: ICMP identifiers come from
            // the same range, so the formula (and `xlat64 trace`) is one for all.
            c.pool.icmp = self.pool4_ports;
        }
        c.events = crate::nat64::EventConfig {
            enabled: self.nat_logging(),
            remote: self.nat_log_remote,
            buffer: NAT_EVENT_BUFFER,
        };
        c
    }

    /// Whether any NAT event sink is configured.
    pub fn nat_logging(&self) -> bool {
        self.mode == Mode::Nat64
            && (!self.nat_log_file.is_empty()
                || self.nat_log_syslog
                || !self.ipfix_collector.is_empty())
    }

    /// The RFC 7422 formula this configuration gives, in `deterministic` mode.
    pub fn deterministic(&self) -> Option<crate::nat64::Deterministic> {
        let c = self.shard_config();
        (self.port_allocation == crate::nat64::PortAllocation::Deterministic)
            .then(|| {
                crate::nat64::Deterministic::new(
                    &c.pool,
                    crate::nat64::Proto::Tcp,
                    &c.blocks,
                    c.subscriber_prefix_len,
                )
            })
            .flatten()
    }

    /// Where the value of `key` came from.
    pub fn source(&self, key: &str) -> Option<Source> {
        KEYS.iter().position(|k| *k == key).map(|i| self.sources[i])
    }

    /// Keys whose value is a built-in lab default (documentation addresses).
    /// (Only keys this mode uses: a CLAT runs on no lab default.)
    pub fn lab_defaults(&self) -> impl Iterator<Item = &'static str> + '_ {
        KEY_INFO
            .iter()
            .zip(self.sources.iter())
            .filter(|(k, s)| **s == Source::LabDefault && k.scope.used_in(self.mode))
            .map(|(k, _)| k.name)
    }

    /// The translator's view of this configuration.
    /// (CLAT: the mapping as far as the configuration alone knows it; the running CLAT
    /// uses [`clat_xlat_config`](Self::clat_xlat_config).)
    pub fn xlat_config(&self) -> Result<XlatConfig, ConfigError> {
        let eams: Vec<(Ipv6Net, Ipv4Net)> = match self.mode {
            Mode::Siit => self.eam.iter().map(|e| (e.v6, e.v4)).collect(),
            Mode::Nat64 => Vec::new(),
            Mode::Clat => {
                // A placeholder for an address derived at start (documentation prefix):
                // only the mapping's shape is checked here.
                let placeholder = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xc1a7);
                return match self.clat_mapping(Some(placeholder)) {
                    Some(m) => self.clat_xlat_config(&m, self.plat_prefix),
                    None => Ok(self.common_xlat_config()),
                };
            }
        };
        let map = AddrMapper::new(Some(self.prefix), &eams, self.wkp_strict)
            .map_err(|e| ConfigError(format!("invalid address configuration: {e}")))?;
        Ok(XlatConfig {
            map,
            ..self.common_xlat_config()
        })
    }

    /// What every mode's translator takes from the keys as they are.
    fn common_xlat_config(&self) -> XlatConfig {
        XlatConfig {
            ipv4_addr: self.ipv4_addr,
            ipv6_addr: self.ipv6_addr,
            pool6791: self.pool6791.clone(),
            mtu: self.mtu,
            lowest_ipv6_mtu: self.lowest_ipv6_mtu,
            amend_udp_checksum_zero: self.amend_udp_checksum_zero,
            mss_clamp: self.mss_clamp,
            // reset-traffic-class / reset-tos have no operator key yet: RFC 7915 defaults.
            ..XlatConfig::default()
        }
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
    use std::path::PathBuf;

    use super::super::test_support::{file, resolve_file};
    use super::super::{LogLevel, default_workers, parse_eam};
    use super::*;
    use crate::nat64::{Proto, StaticBib};

    /// RFC 7335 §4 / RFC 6877 §6.3: a CLAT maps 192.0.0.1 by default, its ICMPv4 errors
    /// come from 192.0.0.2, and it needs a way to its IPv6 address.
    #[test]
    fn rfc7335_clat_defaults_and_what_it_needs() {
        let c = resolve_file("mode = \"clat\"\nuplink = \"eth0\"").unwrap();
        assert_eq!(c.clat_ipv4.to_string(), "192.0.0.1/32");
        assert_eq!(c.ipv4_addr, crate::clat::XLAT_V4);
        assert_eq!(c.source("ipv4-addr"), Some(Source::Default));
        assert_eq!(c.lab_defaults().filter(|k| *k == "ipv4-addr").count(), 0);
        assert!(c.ignored_keys().is_empty());
        assert_eq!(
            c.lab_defaults().count(),
            0,
            "prefix and eam are not the CLAT's"
        );
        let text = c.render_toml();
        assert!(text.contains("# plat-prefix (not set)"), "{text}");
        assert_eq!(resolve_file(&text).unwrap().ipv4_addr, c.ipv4_addr);
        let m = c
            .clat_mapping(Some("2001:db8:a::c1a7".parse().unwrap()))
            .unwrap();
        let xc = c.clat_xlat_config(&m, None).unwrap();
        assert_eq!(xc.ipv6_addr.to_string(), "2001:db8:a::c1a7");
        assert_eq!(xc.mtu, 1520, "TUN 1500 is an uplink of 1520");
        assert!(xc.map.pool6().is_none(), "no prefix guessed");

        let e = resolve_file("mode = \"clat\"").unwrap_err().0;
        assert!(e.contains("--clat-ipv6 ADDR, or --uplink IFACE"), "{e}");
        let e = resolve_file(
            "mode = \"clat\"\nclat-ipv6 = \"2001:db8::1\"\nclat-ipv4 = \"192.168.1.0/24\"",
        )
        .unwrap_err()
        .0;
        assert!(e.contains("needs 'clat-prefix'"), "{e}");
        let e = resolve_file(
            "mode = \"clat\"\nclat-ipv4 = \"192.168.1.0/24\"\nclat-prefix = \"2001:db8:aa::/112\"",
        )
        .unwrap_err()
        .0;
        assert!(
            e.contains("has 16 host bits, 'clat-ipv4' 192.168.1.0/24 has 8"),
            "{e}"
        );
        let e = resolve_file("mode = \"clat\"\nuplink = \"eth0\"\nplat-prefix = \"2001:db8::/33\"")
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("test.toml: invalid value for 'plat-prefix'"),
            "{e}"
        );
        // The SIIT keys are not the CLAT's.
        let c =
            resolve_file("mode = \"clat\"\nuplink = \"eth0\"\nprefix = \"64:ff9b::/96\"").unwrap();
        assert_eq!(c.ignored_keys(), ["prefix"]);
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

    /// Port blocks come from each worker's slice of ports 1024 and up: a block that
    /// fits no slice is refused at configuration time, naming the key.
    #[test]
    fn port_blocks_must_fit_a_workers_slice() {
        let base = "mode = \"nat64\"\npool4 = [\"198.51.100.0/28\"]\nport-allocation = \"block\"\n";
        let ok = format!("{base}pool4-ports = \"1024-2047\"\nworkers = 4\nport-block-size = 256");
        assert!(resolve_file(&ok).is_ok());
        let bad = format!("{base}pool4-ports = \"1024-2047\"\nworkers = 8\nport-block-size = 256");
        let e = resolve_file(&bad).unwrap_err().to_string();
        assert!(
            e.contains("'port-block-size'") && e.contains("128 ports with 8 workers"),
            "{e}"
        );
        let det = format!("{base}port-allocation = \"deterministic\"");
        let det = det.replace("port-allocation = \"block\"\n", "");
        let e = resolve_file(&det).unwrap_err().to_string();
        assert!(e.contains("missing 'deterministic-subscribers'"), "{e}");
    }

    #[test]
    fn every_key_parses_from_toml() {
        let c = resolve_file(
            r#"
            tun = "siit0"
            dataplane = "xdp"
            ipv6-iface = "eth6"
            ipv4-iface = "eth4"
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
            icmp-error-rate = 0
            icmp-error-burst = 5
            icmp-error-destination-rate = 2
            setup-routes = true
            txqueuelen = 2000
            workers = 4
            pin = false
            offload = false
            tun-io = "io-uring"
            log-level = "debug"
            control-socket = "/run/siit0.sock"
            metrics-listen = "[::1]:9464"
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
            fragment-timeout = 3
            max-fragments = 1024
            plat-prefix = "2001:db8:64::/96"
            uplink = "eth0"
            clat-ipv4 = "192.0.0.1/32"
            clat-ipv6 = "2001:db8:a::c1a7"
            clat-prefix = "2001:db8:aa::/128"
            resolv-conf = "/run/resolv.conf"
            port-allocation = "block"
            port-block-size = 64
            max-blocks-per-subscriber = 2
            port-block-hold = 30
            deterministic-subscribers = ["2001:db8:100::/48"]
            nat-log-file = ["/var/log/xlat64/nat.jsonl"]
            nat-log-syslog = true
            ipfix-collector = ["192.0.2.9:4739"]
            nat-log-remote = true
            "#,
        )
        .unwrap();
        assert_eq!(c.tun, "siit0");
        assert_eq!(c.dataplane, Dataplane::Xdp);
        assert_eq!(
            (c.ipv6_iface.as_str(), c.ipv4_iface.as_str()),
            ("eth6", "eth4")
        );
        assert_eq!(c.prefix.to_string(), "64:ff9b::/96");
        assert_eq!(c.eam.len(), 2);
        assert_eq!(c.ipv6_addr.to_string(), "2001:db8::1");
        assert_eq!(c.pool6791.len(), 1);
        assert_eq!((c.mtu, c.lowest_ipv6_mtu), (9000, 1400));
        assert!(c.amend_udp_checksum_zero && !c.wkp_strict && c.setup_routes);
        assert!(!c.mss_clamp && !c.xlat_config().unwrap().mss_clamp);
        assert_eq!(
            (
                c.icmp_error_rate,
                c.icmp_error_burst,
                c.icmp_error_destination_rate
            ),
            (0, 5, 2)
        );
        assert_eq!(c.txqueuelen, 2000);
        assert_eq!(c.workers, 4);
        assert!(!c.pin && !c.offload);
        assert_eq!(c.tun_io, super::super::TunIo::IoUring);
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.control_socket, PathBuf::from("/run/siit0.sock"));
        assert_eq!(c.metrics_listen.to_string(), "[::1]:9464");
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
        assert_eq!((c.fragment_timeout, c.max_fragments), (3, 1024));
        assert_eq!(
            (
                sc.blocks.size,
                sc.blocks.max_per_subscriber,
                sc.blocks.hold_ms
            ),
            (64, 2, 30_000)
        );
        // The file is in siit mode: NAT64 records are made only in nat64 mode.
        assert!(!sc.events.enabled && sc.events.remote);
        assert_eq!(c.ipfix_collector[0].to_string(), "192.0.2.9:4739");
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

    /// The XDP dataplane names both interfaces, two different ones; TUN is the default.
    #[test]
    fn xdp_dataplane_needs_two_interfaces() {
        let c = resolve_file("").unwrap();
        assert_eq!(c.dataplane, Dataplane::Tun);
        let e = resolve_file("dataplane = \"xdp\"\nipv4-iface = \"v4\"")
            .unwrap_err()
            .0;
        assert!(
            e.contains("missing 'ipv6-iface'") && e.contains("--ipv6-iface"),
            "{e}"
        );
        let e = resolve_file("dataplane = \"xdp\"\nipv6-iface = \"a\"\nipv4-iface = \"a\"")
            .unwrap_err()
            .0;
        assert!(e.contains("'ipv4-iface'"), "{e}");
        let e = resolve_file("dataplane = \"dpdk\"").unwrap_err().0;
        assert!(e.contains("expected tun or xdp"), "{e}");
        let c = resolve_file("dataplane = \"xdp\"\nipv6-iface = \"a\"\nipv4-iface = \"b\"");
        assert_eq!(c.unwrap().ipv4_iface, "b");
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
        assert_eq!((c.pool4_ports.first, c.pool4_ports.last), (1, 65535));
        assert_eq!(c.max_sessions, 262_144);
        assert_eq!(c.udp_timeout, 300);
        assert!(c.ignored_keys().is_empty());
        let sc = c.shard_config();
        assert_eq!(sc.timeouts.icmp, 60_000);
        assert_eq!(sc.pool.icmp.first, 0);
        // The limits are 1/8 of a worker's share (`limits`); with a /28 the share is the
        // worker's table, 262 144 sessions split over the workers.
        let per_sub = (262_144u32.div_ceil(u32::from(c.workers)) / 8).min(16_384);
        assert_eq!(
            (
                sc.max_sessions_per_prefix,
                sc.max_sessions_per_addr,
                sc.subscriber_prefix_len
            ),
            (per_sub, per_sub / 2, 64)
        );
        // Several workers share the state by owner (see dataplane::handoff).
        let c =
            resolve_file("mode = \"nat64\"\npool4 = [\"203.0.113.16/28\"]\nworkers = 2").unwrap();
        assert_eq!(c.workers, 2);
        let sc = c.shard_config();
        assert_eq!(
            (sc.max_sessions_per_prefix, sc.max_sessions_per_addr),
            (16_384, 8192)
        );
        let c = resolve_file(
            "mode = \"nat64\"\npool4 = [\"203.0.113.16/28\"]\neam = [\"2001:db8:1::/120=192.0.2.0/24\"]",
        )
        .unwrap();
        assert_eq!(c.ignored_keys(), ["eam"]);
        let text = c.render_toml();
        assert!(text.contains("pool4-ports = \"1-65535\""), "{text}");
        assert_eq!(resolve_file(&text).unwrap().pool4, c.pool4);
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
}
