//! `--mode clat`, the shell around [`crate::clat`]: the CLAT's address and MTU at start,
//! and the thread that learns the PLAT prefix and hands the workers a new translator
//! when it changes.
//!
//! The thread waits on the uplink's Router Advertisements, one second at a time so that
//! it sees the stop flag: on a raw ICMPv6 socket (`ra_socket`), or, when that is refused
//! for lack of CAP_NET_RAW, on the kernel's copies of their options (`useropt_socket`,
//! rtnetlink, no capability; the kernel has checked the RA and sends one only where it
//! accepts RAs; no Router Solicitation then, the first RA is the routers' next periodic
//! one). It asks the host's resolvers by RFC
//! 7050 when [`PlatPrefix`] says so, and passes every change to the workers through
//! `dataplane::Live`: packets already being translated finish with the old prefix, the
//! next ones use the new one; counters and the TUN device stay. Every change is logged
//! at info with the old and the new prefix and where the new one came from; every
//! option or answer that could not be used is logged at warn with its source.

mod ra_socket;
mod sock;
mod uplink;
mod useropt_socket;

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::config::{Config, ConfigError, Source};
use crate::clat::ClatMapping;
use crate::clat::plat::{Change, PlatPrefix};
use crate::clat::{pref64, useropt};
use crate::dataplane::{Live, Stop};
use crate::xlat::Translator;
use useropt_socket::UseroptSocket;

/// How long the thread blocks in one read of the RA socket.
const POLL: Duration = Duration::from_secs(1);
/// How long one resolver gets to answer an RFC 7050 query.
const DNS_TIMEOUT: Duration = Duration::from_secs(2);
/// Time for routers to answer the first Router Solicitation before "no prefix" is said.
const GRACE_MS: u64 = 3_000;

/// A CLAT ready to start: its configuration with the MTU in force, its mapping, and the
/// translator the workers follow.
pub struct Clat {
    /// The configuration as loaded (what a reload compares the file with).
    pub loaded: Config,
    /// The same with the MTU in force.
    pub cfg: Config,
    pub mapping: ClatMapping,
    pub live: Arc<Live<Translator>>,
}

/// Why the CLAT cannot start.
pub enum PrepareError {
    Config(ConfigError),
    /// The host does not (yet) give what the configuration asks for.
    System(String),
}

impl From<ConfigError> for PrepareError {
    fn from(e: ConfigError) -> Self {
        PrepareError::Config(e)
    }
}

/// The CLAT's IPv6 address (derived from the uplink's /64 if not configured), the TUN
/// MTU (the uplink's − 20, RFC 6877 §6.3, unless configured) and the first translator
/// (with the configured PLAT prefix, or none until one is learned).
pub fn prepare(loaded: &Config) -> Result<Clat, PrepareError> {
    let mut cfg = loaded.clone();
    let derived = match (
        &cfg.uplink,
        cfg.clat_prefix.or(cfg.clat_ipv6.map(Into::into)),
    ) {
        (Some(up), None) => {
            let net = uplink::global_64(up)
                .map_err(|e| {
                    PrepareError::System(format!("cannot read the addresses of '{up}': {e}"))
                })?
                .ok_or_else(|| {
                    PrepareError::System(format!(
                        "uplink '{up}' has no global /64 address to derive the CLAT's IPv6 \
                         address from: wait for it (SLAAC), or give one with --clat-ipv6 ADDR"
                    ))
                })?;
            let a = crate::clat::derived_address(net);
            info!("CLAT IPv6 address {a} (uplink {up}'s {net} with interface identifier ::c1a7)");
            Some(a)
        }
        _ => None,
    };
    if let (Some(up), Some(Source::Default)) = (&cfg.uplink, cfg.source("mtu")) {
        let m = uplink::mtu(up)
            .map_err(|e| PrepareError::System(format!("cannot read the MTU of '{up}': {e}")))?;
        // Translated IPv4 packets grow by 20 bytes (RFC 6877 §6.3); IPv6 needs 1280.
        cfg.mtu = m.saturating_sub(20).max(1280);
        info!("TUN MTU {} (uplink {up}'s {m} − 20)", cfg.mtu);
    }
    let mapping = cfg
        .clat_mapping(derived)
        .ok_or_else(|| PrepareError::System("no IPv6 address for the CLAT".into()))?;
    let xc = cfg.clat_xlat_config(&mapping, cfg.plat_prefix)?;
    let live = Live::new(Translator::new(xc));
    Ok(Clat {
        loaded: loaded.clone(),
        cfg,
        mapping,
        live,
    })
}

impl Clat {
    /// Starts the discovery thread, unless the prefix is configured (then nothing
    /// changes it). The thread ends when `stop` is requested.
    pub fn spawn_discovery(&self, stop: &Stop) -> Option<JoinHandle<()>> {
        if let Some(p) = self.cfg.plat_prefix {
            info!("PLAT prefix {p} (plat-prefix); no discovery");
            return None;
        }
        let d = Discovery {
            cfg: self.cfg.clone(),
            mapping: self.mapping,
            live: Arc::clone(&self.live),
            state: PlatPrefix::new(None),
            start: Instant::now(),
            dns_id: (std::process::id() as u16).wrapping_mul(31),
            reported_missing: false,
        };
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("xlat64-clat".into())
            .spawn(move || d.run(&stop))
            .map_err(|e| warn!("cannot start the PLAT prefix discovery thread: {e}"))
            .ok()
    }
}

struct Discovery {
    cfg: Config,
    mapping: ClatMapping,
    live: Arc<Live<Translator>>,
    state: PlatPrefix,
    start: Instant,
    dns_id: u16,
    /// "No prefix yet" was said (once per streak, not every retry).
    reported_missing: bool,
}

impl Discovery {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn run(mut self, stop: &Stop) {
        let ra = self.cfg.uplink.clone().and_then(|up| open_ra_source(&up));
        let mut buf = vec![0u8; 65536];
        while !stop.is_requested() {
            if self.state.dns_due(self.now_ms()) {
                self.discover_by_dns();
            }
            match &ra {
                Some(RaSource::Raw(sock)) => match sock.recv(&mut buf) {
                    Ok(Some(r)) => self.on_ra(r.from, r.hop_limit, &buf[..r.len]),
                    Ok(None) => {}
                    Err(e) => {
                        warn!("Router Advertisement socket: {e}");
                        std::thread::sleep(POLL);
                    }
                },
                Some(RaSource::Kernel { sock, ifindex }) => {
                    self.recv_kernel(sock, *ifindex, &mut buf)
                }
                None => std::thread::sleep(POLL),
            }
            let c = self.state.tick(self.now_ms());
            self.apply(c);
        }
    }

    fn on_ra(&mut self, from: Ipv6Addr, hop_limit: Option<u8>, msg: &[u8]) {
        let options = match pref64::parse_ra(msg) {
            Ok(o) => o,
            Err(e) => return warn!("Router Advertisement from {from} ignored: {e}"),
        };
        // RFC 4861 §6.1.2: an RA comes from a link-local address with hop limit 255, so
        // that no node off the link can forge one.
        if !from.is_unicast_link_local() || hop_limit.is_some_and(|h| h != 255) {
            return warn!(
                "Router Advertisement from {from} ignored: not from the link (source not \
                 link-local or hop limit {} instead of 255, RFC 4861 §6.1.2)",
                hop_limit.map_or("unknown".into(), |h| h.to_string())
            );
        }
        self.use_options(from, options);
    }

    /// The kernel's copies of RA options (it has checked the RA as RFC 4861 §6.1.2
    /// says). It sends each option of an RA in its own message, all at once: what is
    /// queued is read together, and each router's options in it count as one RA, so
    /// that "the first usable PREF64" means the same as with the raw socket.
    fn recv_kernel(&mut self, sock: &UseroptSocket, ifindex: u32, buf: &mut [u8]) {
        let mut batch: Vec<(Ipv6Addr, Vec<u8>)> = Vec::new();
        let mut wait = true;
        loop {
            match sock.recv(buf, wait) {
                Ok(Some(n)) => collect_options(&buf[..n], ifindex, &mut batch),
                Ok(None) => break,
                Err(e) => {
                    warn!("Router Advertisement options from the kernel (rtnetlink): {e}");
                    if wait {
                        std::thread::sleep(POLL);
                    }
                    break;
                }
            }
            wait = false;
        }
        for (router, opts) in batch {
            match pref64::parse_options(&opts) {
                Ok(o) => self.use_options(router, o),
                Err(e) => warn!("Router Advertisement from {router} ignored: {e}"),
            }
        }
    }

    /// RFC 8781 §5 leaves several options to the host: the first usable one is used.
    fn use_options(
        &mut self,
        from: Ipv6Addr,
        options: Vec<Result<pref64::Pref64, pref64::Pref64Error>>,
    ) {
        let mut used = false;
        for o in options {
            match o {
                Ok(p) if !used => {
                    used = true;
                    debug!(
                        "PREF64 {} lifetime {} s from {from}",
                        p.prefix, p.lifetime_s
                    );
                    let c = self
                        .state
                        .on_ra(from, p.prefix, p.lifetime_s, self.now_ms());
                    self.apply(c);
                }
                Ok(p) => debug!("further PREF64 {} from {from} not used", p.prefix),
                Err(e) => warn!("Router Advertisement from {from}: {e}: ignored"),
            }
        }
    }

    fn discover_by_dns(&mut self) {
        let servers = match uplink::nameservers(&self.cfg.resolv_conf) {
            Ok(s) => s,
            Err(e) => {
                let now = self.now_ms();
                let c = self.state.on_dns_failure(now);
                self.apply(c);
                return self.missing(&format!(
                    "RFC 7050: cannot read {}: {e}",
                    self.cfg.resolv_conf.display()
                ));
            }
        };
        let mut tried = Vec::new();
        for server in servers {
            // A random id (and the kernel's random source port) per query: an off-path
            // attacker has to guess both to slip a forged prefix in (RFC 5452).
            self.dns_id = crate::dataplane::sys::random_u64()
                .map_or(self.dns_id.wrapping_add(1), |r| r as u16);
            match uplink::ask(server, self.dns_id, DNS_TIMEOUT) {
                Ok(d) => {
                    debug!("RFC 7050: {} TTL {} s from {server}", d.prefix, d.ttl_s);
                    let c = self.state.on_dns(server, d.prefix, d.ttl_s, self.now_ms());
                    return self.apply(c);
                }
                Err(e) => {
                    warn!("RFC 7050: {e}");
                    tried.push(server);
                }
            }
        }
        let c = self.state.on_dns_failure(self.now_ms());
        self.apply(c);
        let what = if tried.is_empty() {
            format!("no nameserver in {}", self.cfg.resolv_conf.display())
        } else {
            format!("RFC 7050 through {}", list(&tried))
        };
        self.missing(&what);
    }

    /// Says once per streak that there is no prefix and what was tried.
    fn missing(&mut self, tried_dns: &str) {
        if self.state.current().is_some() || self.reported_missing || self.now_ms() < GRACE_MS {
            return;
        }
        self.reported_missing = true;
        let ra = match &self.cfg.uplink {
            Some(up) => format!("no PREF64 in Router Advertisements on '{up}' yet"),
            None => "no uplink for Router Advertisements".to_string(),
        };
        warn!(
            "no PLAT prefix found ({ra}; {tried_dns}); translating nothing through the PLAT \
             until one is found, still trying (or set --plat-prefix)"
        );
    }

    fn apply(&mut self, change: Option<Change>) {
        let Some(c) = change else { return };
        let show = |p: Option<ipnet::Ipv6Net>| p.map_or("none".to_string(), |p| p.to_string());
        match c.origin {
            Some(o) => info!("PLAT prefix {} -> {} (from {o})", show(c.old), show(c.new)),
            None => warn!("PLAT prefix {} -> none (its lifetime ended)", show(c.old)),
        }
        // A later loss is reported again.
        self.reported_missing = false;
        match self.cfg.clat_xlat_config(&self.mapping, c.new) {
            Ok(xc) => self.live.replace(Translator::new(xc)),
            Err(e) => warn!("PLAT prefix {} not usable: {e}", show(c.new)),
        }
    }
}

/// Where Router Advertisements are heard.
enum RaSource {
    /// The raw ICMPv6 socket (CAP_NET_RAW): every RA, and Router Solicitations.
    Raw(ra_socket::RaSocket),
    /// The kernel's copies of RA options for the uplink `ifindex` (no capability).
    Kernel { sock: UseroptSocket, ifindex: u32 },
}

/// The raw socket if the capability allows, else the kernel's copies; says which at
/// info (and why neither, at warn). With the raw socket a Router Solicitation goes out
/// at once; without it, the first prefix comes with the routers' next periodic RA.
fn open_ra_source(up: &str) -> Option<RaSource> {
    let e = match ra_socket::RaSocket::open(up, POLL) {
        Ok(sock) => {
            info!("PREF64 (RFC 8781): Router Advertisements on '{up}' read on a raw ICMPv6 socket");
            if let Err(e) = sock.solicit() {
                debug!("Router Solicitation not sent: {e}");
            }
            return Some(RaSource::Raw(sock));
        }
        Err(e) => e,
    };
    if !matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
        warn!(
            "cannot listen for Router Advertisements on '{up}' ({e}): PREF64 (RFC 8781) is \
             not used, RFC 7050 is"
        );
        return None;
    }
    let kernel = uplink::ifindex(up).and_then(|i| Ok((UseroptSocket::open(POLL)?, i)));
    match kernel {
        Ok((sock, ifindex)) => {
            info!(
                "PREF64 (RFC 8781): no CAP_NET_RAW for a raw ICMPv6 socket ({e}), so the \
                 options of the Router Advertisements on '{up}' are read as the kernel passes \
                 them on (rtnetlink RTNLGRP_ND_USEROPT); no Router Solicitation without \
                 CAP_NET_RAW: waiting for the routers' next periodic RA"
            );
            if !uplink::accepts_ra(up).unwrap_or(true) {
                warn!(
                    "the kernel does not accept Router Advertisements on '{up}' and so passes \
                     no PREF64 on: set net.ipv6.conf.{up}.accept_ra=2 (IPv6 forwarding is on) \
                     or 1, or give CAP_NET_RAW"
                );
            }
            Some(RaSource::Kernel { sock, ifindex })
        }
        Err(e2) => {
            warn!(
                "cannot listen for Router Advertisements on '{up}' (raw ICMPv6 socket: {e}, \
                 it needs CAP_NET_RAW; rtnetlink RTNLGRP_ND_USEROPT: {e2}): PREF64 (RFC 8781) \
                 is not used, RFC 7050 is"
            );
            None
        }
    }
}

/// The messages of one datagram from the kernel, added to `batch`.
fn collect_options(datagram: &[u8], ifindex: u32, batch: &mut Vec<(Ipv6Addr, Vec<u8>)>) {
    for m in useropt::parse(datagram) {
        match m {
            Ok(u) => useropt::add_ra_options(batch, &u, ifindex),
            Err(e) => warn!("Router Advertisement options from the kernel ignored: {e}"),
        }
    }
}

fn list(v: &[IpAddr]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
