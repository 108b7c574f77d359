//! Command line. Flag names are part of the operator interface (scripts use them) and
//! equal the config file keys. Values stay strings here and are parsed by
//! [`config`](super::config), so a bad flag and a bad file value get the same message.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::config::{self, ConfigError, Partial};

#[derive(Debug, Parser)]
#[command(
    name = "xlat64",
    version,
    about = "Userspace IPv6/IPv4 translation gateway (SIIT: RFC 7915, RFC 6052, RFC 7757) on a Linux TUN device"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Create (or attach to) the TUN device and translate until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Validate a configuration file and print the effective configuration (exit 0 if
    /// valid, 2 if not).
    CheckConfig {
        /// TOML file; keys are the `run` flag names without the dashes.
        file: PathBuf,
    },
    /// Print the counters of a running translator (summed over its workers), drops by
    /// reason included. Needs root (the control socket is root's).
    Stats(QueryArgs),
    /// Print the NAT64 sessions of a running translator (BIB entries with their
    /// sessions). Needs root (the control socket is root's).
    Sessions(QueryArgs),
}

/// How `stats` and `sessions` find the translator and what they print.
#[derive(Debug, Default, Args)]
pub struct QueryArgs {
    /// Print one JSON document instead of a table; for stats it has every drop reason,
    /// zeros included (the table lists the non-zero ones).
    #[arg(long)]
    pub json: bool,
    /// The control socket the translator was started with (`run --control-socket`);
    /// overrides --tun [default: /run/xlat64/<tun>.sock].
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
    /// TUN device of the translator to ask; finds its default control socket
    /// [default: xlat64].
    #[arg(long, value_name = "NAME")]
    pub tun: Option<String>,
}

/// `run` options. Each overrides the key of the same name in `--config`.
#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// TOML configuration file (flags override its values).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// TUN device name; created, or attached to if it exists persistently [default: xlat64].
    #[arg(long, value_name = "NAME")]
    pub tun: Option<String>,
    /// Translation mode: siit (stateless) or nat64 (stateful, RFC 6146; needs pool4)
    /// [default: siit].
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
    /// RFC 6052 prefix for IPv4-embedded IPv6 addresses [default: 2001:db8:64::/96, lab only].
    #[arg(long, value_name = "IPV6/LEN")]
    pub prefix: Option<String>,
    /// RFC 7757 explicit address mapping; repeatable; replaces the file's list
    /// [default: 2001:db8:1::/120=192.0.2.0/24, lab only].
    #[arg(long, value_name = "IPV6/LEN=IPV4/LEN")]
    pub eam: Vec<String>,
    /// Source address of ICMPv4 errors the translator generates [default: 203.0.113.1, lab only].
    #[arg(long, value_name = "A")]
    pub ipv4_addr: Option<String>,
    /// Source address of ICMPv6 errors the translator generates [default: ipv4-addr embedded in prefix].
    #[arg(long, value_name = "A")]
    pub ipv6_addr: Option<String>,
    /// RFC 6791 pool for sources of translated ICMP errors from unmappable IPv6 routers;
    /// repeatable; replaces the file's list [default: none, use ipv4-addr].
    #[arg(long, value_name = "IPV4/LEN")]
    pub pool6791: Vec<String>,
    /// MTU of the TUN device [default: 1500].
    #[arg(long, value_name = "N")]
    pub mtu: Option<String>,
    /// RFC 7915 lowest-ipv6-mtu: IPv4 packets with DF=0 are fragmented to fit it [default: 1280].
    #[arg(long, value_name = "N")]
    pub lowest_ipv6_mtu: Option<String>,
    /// Compute the checksum of IPv4 UDP packets with checksum 0 instead of dropping them
    /// [default: false].
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub amend_udp_checksum_zero: Option<String>,
    /// Refuse non-global IPv4 addresses with the well-known prefix 64:ff9b::/96 [default: true].
    #[arg(long, value_name = "true|false")]
    pub wkp_strict: Option<String>,
    /// Lower the MSS option of TCP SYNs to what fits the translated path (MTU minus 40
    /// towards IPv4, minus 60 towards IPv6) [default: true].
    #[arg(long, value_name = "true|false")]
    pub mss_clamp: Option<String>,
    /// Route the RFC 6052 prefix and the EAM IPv4 prefixes into the TUN device (with
    /// `ip route`), and remove those routes on exit [default: false].
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub setup_routes: Option<String>,
    /// Transmit queue length of the TUN device, in packets [default: 10000].
    #[arg(long, value_name = "N")]
    pub txqueuelen: Option<String>,
    /// TUN queues, one worker thread each; 1 opens a single-queue device
    /// [default: the number of CPUs this process may run on].
    #[arg(long, value_name = "N")]
    pub workers: Option<String>,
    /// Pin worker i to CPU i (modulo the CPUs this process may run on) [default: true].
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub pin: Option<String>,
    /// TUN offloads: open the device with a virtio-net header and let the kernel hand
    /// over (and take back) TCP/UDP super-packets with partial checksums; false opens it
    /// as a plain TUN [default: true].
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub offload: Option<String>,
    /// error, warn, info, debug or trace. Precedence: this flag, then RUST_LOG, then the
    /// file [default: info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Unix socket (root only) where `xlat64 stats` and `xlat64 sessions` ask this
    /// translator [default: /run/xlat64/<tun>.sock].
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<String>,
    /// NAT64: IPv4 prefix the IPv6 clients share; repeatable; replaces the file's list
    /// [required in nat64 mode].
    #[arg(long, value_name = "IPV4/LEN")]
    pub pool4: Vec<String>,
    /// NAT64: TCP and UDP ports handed out on pool4 (ICMP identifiers: all) [default: 1024-65535].
    #[arg(long, value_name = "FIRST-LAST")]
    pub pool4_ports: Option<String>,
    /// NAT64: sessions the tables are sized for at startup (about 110 bytes each)
    /// [default: 262144].
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<String>,
    /// NAT64: sessions one subscriber (one IPv6 prefix of --subscriber-prefix-len) may
    /// hold; new flows beyond it are refused [default: 16384].
    #[arg(long, value_name = "N")]
    pub max_sessions_per_subscriber: Option<String>,
    /// NAT64: sessions one IPv6 address may hold [default: 8192].
    #[arg(long, value_name = "N")]
    pub max_sessions_per_address: Option<String>,
    /// NAT64: length of the IPv6 prefix that is one subscriber, 1 to 64 [default: 64].
    #[arg(long, value_name = "LEN")]
    pub subscriber_prefix_len: Option<String>,
    /// NAT64: UDP session lifetime in seconds, at least 120 (RFC 6146) [default: 300].
    #[arg(long, value_name = "SECONDS")]
    pub udp_timeout: Option<String>,
    /// NAT64: established TCP session lifetime in seconds [default: 7440].
    #[arg(long, value_name = "SECONDS")]
    pub tcp_est_timeout: Option<String>,
    /// NAT64: transitory TCP session lifetime in seconds [default: 240].
    #[arg(long, value_name = "SECONDS")]
    pub tcp_trans_timeout: Option<String>,
    /// NAT64: seconds an IPv4 SYN with no mapping is held for a simultaneous open before
    /// it is answered with ICMP port unreachable (RFC 6146 TCP_INCOMING_SYN) [default: 6].
    #[arg(long, value_name = "SECONDS")]
    pub tcp_incoming_syn_timeout: Option<String>,
    /// NAT64: ICMP query session lifetime in seconds [default: 60].
    #[arg(long, value_name = "SECONDS")]
    pub icmp_timeout: Option<String>,
    /// NAT64: accept IPv4 packets to a mapping only from hosts the client has sent to
    /// (RFC 4787 address-dependent filtering) [default: false].
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub address_dependent_filtering: Option<String>,
    /// NAT64: answer refused packets with ICMP errors instead of dropping them silently
    /// [default: false].
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub icmp_on_refusal: Option<String>,
    /// NAT64: static BIB entry forwarding a pool4 address:port to an IPv6 server, e.g.
    /// "tcp 203.0.113.16:8080 [2001:db8:1::2]:80" (PROTO tcp, udp or icmp; for icmp the
    /// port is the echo identifier); repeatable; replaces the file's list [default: none].
    #[arg(long, value_name = "PROTO IPV4:PORT [IPV6]:PORT")]
    pub static_bib: Vec<String>,
}

fn opt<T>(
    key: &str,
    raw: &Option<String>,
    parse: fn(&str, &str) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    raw.as_deref().map(|r| parse(key, r)).transpose()
}

fn list<T>(
    key: &str,
    raw: &[String],
    parse: fn(&str, &str) -> Result<T, ConfigError>,
) -> Result<Option<Vec<T>>, ConfigError> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.iter()
        .map(|r| parse(key, r))
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

impl RunArgs {
    /// The configuration layer the flags form.
    pub fn to_partial(&self) -> Result<Partial, ConfigError> {
        use config::*;
        Ok(Partial {
            tun: opt("tun", &self.tun, parse_tun)?,
            mode: opt("mode", &self.mode, parse_mode)?,
            prefix: opt("prefix", &self.prefix, parse_prefix)?,
            eam: list("eam", &self.eam, parse_eam)?,
            ipv4_addr: opt("ipv4-addr", &self.ipv4_addr, parse_ipv4_addr)?,
            ipv6_addr: opt("ipv6-addr", &self.ipv6_addr, parse_ipv6_addr)?,
            pool6791: list("pool6791", &self.pool6791, parse_pool6791)?,
            mtu: opt("mtu", &self.mtu, parse_mtu)?,
            lowest_ipv6_mtu: opt("lowest-ipv6-mtu", &self.lowest_ipv6_mtu, parse_mtu)?,
            amend_udp_checksum_zero: opt(
                "amend-udp-checksum-zero",
                &self.amend_udp_checksum_zero,
                parse_bool,
            )?,
            wkp_strict: opt("wkp-strict", &self.wkp_strict, parse_bool)?,
            mss_clamp: opt("mss-clamp", &self.mss_clamp, parse_bool)?,
            setup_routes: opt("setup-routes", &self.setup_routes, parse_bool)?,
            txqueuelen: opt("txqueuelen", &self.txqueuelen, parse_txqueuelen)?,
            workers: opt("workers", &self.workers, parse_workers)?,
            pin: opt("pin", &self.pin, parse_bool)?,
            offload: opt("offload", &self.offload, parse_bool)?,
            log_level: opt("log-level", &self.log_level, parse_log_level)?,
            control_socket: opt("control-socket", &self.control_socket, parse_control_socket)?,
            pool4: list("pool4", &self.pool4, parse_pool4)?,
            pool4_ports: opt("pool4-ports", &self.pool4_ports, parse_ports)?,
            max_sessions: opt("max-sessions", &self.max_sessions, parse_max_sessions)?,
            max_sessions_per_subscriber: opt(
                "max-sessions-per-subscriber",
                &self.max_sessions_per_subscriber,
                parse_max_sessions,
            )?,
            max_sessions_per_address: opt(
                "max-sessions-per-address",
                &self.max_sessions_per_address,
                parse_max_sessions,
            )?,
            subscriber_prefix_len: opt(
                "subscriber-prefix-len",
                &self.subscriber_prefix_len,
                parse_subscriber_prefix_len,
            )?,
            udp_timeout: opt("udp-timeout", &self.udp_timeout, parse_udp_timeout)?,
            tcp_est_timeout: opt("tcp-est-timeout", &self.tcp_est_timeout, parse_timeout)?,
            tcp_trans_timeout: opt("tcp-trans-timeout", &self.tcp_trans_timeout, parse_timeout)?,
            tcp_incoming_syn_timeout: opt(
                "tcp-incoming-syn-timeout",
                &self.tcp_incoming_syn_timeout,
                parse_timeout,
            )?,
            icmp_timeout: opt("icmp-timeout", &self.icmp_timeout, parse_timeout)?,
            address_dependent_filtering: opt(
                "address-dependent-filtering",
                &self.address_dependent_filtering,
                parse_bool,
            )?,
            icmp_on_refusal: opt("icmp-on-refusal", &self.icmp_on_refusal, parse_bool)?,
            static_bib: list("static-bib", &self.static_bib, parse_static_bib)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn run(args: &[&str]) -> RunArgs {
        let mut v = vec!["xlat64", "run"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).unwrap().command {
            Command::Run(r) => r,
            c => panic!("not run: {c:?}"),
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_is_a_config_key() {
        let cmd = Cli::command();
        let run = cmd.find_subcommand("run").unwrap();
        let flags: Vec<&str> = run
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "config" && *l != "help")
            .collect();
        assert_eq!(flags, config::KEYS);
    }

    #[test]
    fn parses_all_flags() {
        let r = run(&[
            "--config",
            "x.toml",
            "--tun",
            "xt0",
            "--mode",
            "siit",
            "--prefix",
            "64:ff9b::/96",
            "--eam",
            "2001:db8:1::/120=192.0.2.0/24",
            "--eam",
            "2001:db8:2::/128=198.51.100.7/32",
            "--ipv4-addr",
            "198.51.100.1",
            "--ipv6-addr",
            "2001:db8::1",
            "--pool6791",
            "198.51.100.0/28",
            "--mtu",
            "9000",
            "--lowest-ipv6-mtu",
            "1400",
            "--amend-udp-checksum-zero",
            "--wkp-strict",
            "false",
            "--mss-clamp",
            "false",
            "--setup-routes",
            "--txqueuelen",
            "5000",
            "--workers",
            "3",
            "--pin",
            "false",
            "--offload",
            "false",
            "--log-level",
            "debug",
        ]);
        assert_eq!(r.config.as_deref(), Some(std::path::Path::new("x.toml")));
        let p = r.to_partial().unwrap();
        assert_eq!(p.tun.as_deref(), Some("xt0"));
        assert_eq!(p.eam.as_ref().map(Vec::len), Some(2));
        assert_eq!(p.mtu, Some(9000));
        assert_eq!(p.lowest_ipv6_mtu, Some(1400));
        assert_eq!(p.amend_udp_checksum_zero, Some(true));
        assert_eq!(p.wkp_strict, Some(false));
        assert_eq!(p.mss_clamp, Some(false));
        assert_eq!(p.setup_routes, Some(true));
        assert_eq!(p.txqueuelen, Some(5000));
        assert_eq!(p.workers, Some(3));
        assert_eq!((p.pin, p.offload), (Some(false), Some(false)));
        assert_eq!(p.log_level, Some(config::LogLevel::Debug));
    }

    #[test]
    fn static_bib_repeats_and_syn_timeout_parses() {
        let p = run(&[
            "--static-bib",
            "tcp 203.0.113.16:8080 [2001:db8:1::2]:80",
            "--static-bib",
            "udp 203.0.113.16:5353 [2001:db8:1::2]:53",
            "--tcp-incoming-syn-timeout",
            "2",
        ])
        .to_partial()
        .unwrap();
        let st = p.static_bib.unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!((st[1].v4_port, st[1].v6_port), (5353, 53));
        assert_eq!(p.tcp_incoming_syn_timeout, Some(2));
        let e = run(&["--static-bib", "tcp 203.0.113.16:8080"])
            .to_partial()
            .unwrap_err()
            .0;
        assert!(e.starts_with("invalid value for 'static-bib'"), "{e}");
    }

    #[test]
    fn no_flags_give_an_empty_layer() {
        assert_eq!(run(&[]).to_partial().unwrap(), Partial::default());
    }

    #[test]
    fn boolean_switches_take_an_optional_value() {
        let p = run(&["--setup-routes=false", "--amend-udp-checksum-zero", "false"])
            .to_partial()
            .unwrap();
        assert_eq!(p.setup_routes, Some(false));
        assert_eq!(p.amend_udp_checksum_zero, Some(false));
    }

    #[test]
    fn bad_flag_value_names_the_key() {
        let e = run(&["--eam", "2001:db8::/120=192.0.2.0/33"])
            .to_partial()
            .unwrap_err()
            .0;
        assert!(e.starts_with("invalid value for 'eam'"), "{e}");
        let e = run(&["--wkp-strict", "maybe"]).to_partial().unwrap_err().0;
        assert!(e.starts_with("invalid value for 'wkp-strict'"), "{e}");
        let e = run(&["--mode", "clat"]).to_partial().unwrap_err().0;
        assert_eq!(
            e,
            "mode 'clat' is not implemented yet (coming next); use --mode siit"
        );
        let e = run(&["--pool4-ports", "80"]).to_partial().unwrap_err().0;
        assert!(e.starts_with("invalid value for 'pool4-ports'"), "{e}");
    }

    #[test]
    fn usage_errors_exit_2() {
        let e = Cli::try_parse_from(["xlat64", "run", "--bogus"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = Cli::try_parse_from(["xlat64", "run", "--wkp-strict"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = Cli::try_parse_from(["xlat64", "check-config"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn stats_and_sessions_take_json_socket_and_tun() {
        let c = Cli::try_parse_from(["xlat64", "stats", "--json", "--tun", "xt0"]).unwrap();
        match c.command {
            Command::Stats(q) => {
                assert!(q.json);
                assert_eq!(q.tun.as_deref(), Some("xt0"));
                assert_eq!(q.control_socket, None);
            }
            c => panic!("{c:?}"),
        }
        let c =
            Cli::try_parse_from(["xlat64", "sessions", "--control-socket", "/tmp/x.sock"]).unwrap();
        match c.command {
            Command::Sessions(q) => {
                assert!(!q.json);
                assert_eq!(q.control_socket, Some(PathBuf::from("/tmp/x.sock")));
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn check_config_takes_a_file() {
        match Cli::try_parse_from(["xlat64", "check-config", "a.toml"])
            .unwrap()
            .command
        {
            Command::CheckConfig { file } => assert_eq!(file, PathBuf::from("a.toml")),
            c => panic!("{c:?}"),
        }
    }
}
