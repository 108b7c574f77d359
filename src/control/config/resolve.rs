//! The effective configuration: the layers merged, the checks that span several keys,
//! and the views other modules take of it (translator, NAT64 state).
//!
//! Per-key parsing has already happened when a layer was read; what is left here is what
//! one key cannot judge alone (a static BIB entry against pool4 and the prefix, the
//! mapper's view of prefix and EAMs), so that `check-config` catches it before `run`.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::values::{expect, invalid, static_bib_string};
use super::{Config, ConfigError, KEY_INFO, KEYS, Mode, Partial};
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
        if cfg.mode == Mode::Nat64 {
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
            icmp-error-rate = 0
            icmp-error-burst = 5
            icmp-error-destination-rate = 2
            setup-routes = true
            txqueuelen = 2000
            workers = 4
            pin = false
            offload = false
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
