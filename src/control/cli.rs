//! Command line. Flag names are part of the operator interface (scripts use them) and
//! equal the config file keys. Values stay strings here and are parsed by
//! [`config`](super::config), so a bad flag and a bad file value get the same message.

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use super::config::{self, ConfigError, Partial};
use super::ctl::{Query, Request};
use crate::dataplane::{MAX_SESSION_ROWS, SessionsQuery};

#[derive(Debug, Parser)]
#[command(
    name = "xlat64",
    version,
    about = "Userspace IPv6/IPv4 translation gateway on a Linux TUN device or, with --dataplane xdp, AF_XDP sockets: SIIT (RFC 7915, RFC 6052, RFC 7757), stateful NAT64 (RFC 6146) and the 464XLAT CLAT (RFC 6877, PREF64 from RFC 8781 RAs or RFC 7050)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create (or attach to) the TUN device and translate until SIGINT/SIGTERM; SIGHUP
    /// re-reads the configuration file (see reload).
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
    /// sessions), at most 100000 rows a call: page with --offset/--limit, filter with
    /// --subscriber/--pool4. Needs root (the control socket is root's).
    Sessions(SessionsArgs),
    /// Which subscriber held a pool4 address and port, and when: from a JSON-lines NAT
    /// log (--log), from the deterministic formula of a configuration (--config with
    /// port-allocation = "deterministic"), or else from the running translator's live
    /// sessions (needs root). Exit 1 when nothing held it.
    Trace(TraceArgs),
    /// Make a running translator re-read its configuration file, as SIGHUP does: live
    /// keys change without dropping a session; a change to a restart-only key, or a bad
    /// file, is refused (exit 1) and the running configuration stays. Needs root.
    Reload(QueryArgs),
}

/// `trace IPV4:PORT [--at TIME] [--proto tcp|udp] [--log FILE]`.
#[derive(Debug, Default, Args)]
pub struct TraceArgs {
    /// The pool4 address and port, e.g. 192.0.2.1:40000
    #[arg(value_name = "IPV4:PORT")]
    pub target: String,
    /// Only what held it at this time: YYYY-MM-DDTHH:MM[:SS[.mmm]][Z] in UTC, or Unix
    /// seconds [default: every span in the log]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Only this protocol (tcp, udp or icmp) [default: all]
    #[arg(long, value_name = "tcp|udp")]
    pub proto: Option<String>,
    /// A NAT log written by nat-log-file (JSON lines) to answer from
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The translator's configuration file: with port-allocation = "deterministic" the
    /// answer comes from the formula alone; otherwise it gives the subscriber prefix
    /// length for live answers
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// For live answers: the translator's control socket; overrides --tun [default:
    /// /run/xlat64/<tun>.sock]
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
    /// For live answers: the TUN device of the translator to ask [default: xlat64]
    #[arg(long, value_name = "NAME")]
    pub tun: Option<String>,
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

/// `sessions`: which page of which sessions.
#[derive(Debug, Default, Args)]
pub struct SessionsArgs {
    #[command(flatten)]
    pub query_args: QueryArgs,
    /// Skip this many matching rows (the next page starts where the last one's
    /// `offset` + rows ended).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: usize,
    /// At most this many rows, 1 to 100000.
    #[arg(long, value_name = "N", default_value_t = MAX_SESSION_ROWS)]
    pub limit: usize,
    /// Only the sessions of this subscriber: an IPv6 prefix (2001:db8:1::/64) or address.
    #[arg(long, value_name = "PREFIX")]
    pub subscriber: Option<String>,
    /// Only the sessions on this pool4 address.
    #[arg(long, value_name = "IPV4")]
    pub pool4: Option<String>,
}

impl SessionsArgs {
    /// The query the flags describe, checked as the translator would check it.
    pub fn query(&self) -> Result<SessionsQuery, String> {
        let mut line = format!("sessions --offset {} --limit {}", self.offset, self.limit);
        if let Some(s) = &self.subscriber {
            line.push_str(&format!(" --subscriber {s}"));
        }
        if let Some(a) = &self.pool4 {
            line.push_str(&format!(" --pool4 {a}"));
        }
        match Request::parse(&line)?.query {
            Query::Sessions(q) => Ok(q),
            _ => Err(format!("not a sessions request: {line}")),
        }
    }
}

/// `run` options: `--config FILE` and one flag per configuration key (see
/// [`config::flags`]), each overriding the key of the same name in the file. Written
/// against clap's builder API because the flags come from the key table, not from fields.
#[derive(Debug, Default)]
pub struct RunArgs {
    pub config: Option<PathBuf>,
    flags: config::flags::FlagValues,
}

impl RunArgs {
    /// The configuration layer the flags form.
    pub fn to_partial(&self) -> Result<Partial, ConfigError> {
        self.flags.to_partial()
    }
}

impl Args for RunArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.arg(config::flags::config_arg())
            .args(config::flags::key_args())
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        RunArgs::augment_args(cmd)
    }
}

impl FromArgMatches for RunArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(RunArgs {
            config: m.get_one::<PathBuf>(config::flags::CONFIG_FLAG).cloned(),
            flags: config::flags::FlagValues::from_matches(m),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = RunArgs::from_arg_matches(m)?;
        Ok(())
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
        let e = run(&["--mode", "clat", "--plat-prefix", "2001:db8::/33"])
            .to_partial()
            .unwrap_err()
            .0;
        assert!(e.starts_with("invalid value for 'plat-prefix'"), "{e}");
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
            Command::Sessions(s) => {
                let q = s.query_args;
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
