//! `--setup-routes`: steer into the TUN device the traffic the translator can translate.
//!
//! The rule: route every *destination* the translator maps, and nothing else.
//! - IPv6 → IPv4 traffic is addressed to IPv4-embedded addresses: the RFC 6052 prefix.
//! - IPv4 → IPv6 traffic (replies to translated IPv6 clients, or IPv4 clients reaching
//!   IPv6 servers that an EAM gives IPv4 addresses) is addressed to the EAM IPv4 prefixes
//!   in SIIT mode, to pool4 in NAT64 mode.
//! - The translator's own IPv4 address (`ipv4-addr`, the source of the ICMPv4 errors it
//!   generates), so that reverse-path filtering accepts those errors.
//!
//! EAM IPv6 prefixes are not routed: in the usual case they are the IPv6 hosts
//! themselves, and routing them into the TUN would loop the translated packets back into
//! it. An EAM that instead gives IPv6 addresses to *IPv4-side* hosts needs the reverse:
//! the operator routes its IPv6 prefix into the TUN (`ip -6 route add V6 dev TUN`) and
//! must not let us route its IPv4 prefix, which is why we refuse to replace an existing
//! route to any prefix through another device.
//!
//! CLAT mode ([`clat_plan`]) turns it around, as a host's CLAT must (RFC 6877 §6.3): the
//! host's IPv4 address (192.0.0.1/29, RFC 7335) goes on the TUN with the IPv4 default
//! route, the CLAT's IPv6 address (or CPE prefix) is routed into the TUN, and the uplink
//! answers Neighbor Solicitations for that address (a proxy NDP entry), so that the
//! provider's replies reach it without the address being the host's own.
//!
//! We drive iproute2's `ip` rather than speaking rtnetlink: it is a handful of commands
//! at startup and exit, the operator can run the same lines by hand (they are logged),
//! and it spares an async netlink stack. Routes are removed on exit; a non-persistent
//! TUN device takes its routes with it anyway when it disappears.

use std::net::{IpAddr, Ipv6Addr};
use std::process::Command;

use ipnet::{IpNet, Ipv4Net};
use tracing::{debug, info, warn};

use super::config::Config;

/// The destinations to route into the TUN device for `cfg`.
pub fn plan(cfg: &Config) -> Vec<IpNet> {
    let mut v = vec![IpNet::V6(cfg.prefix)];
    // NAT64 replies come back to pool4; SIIT's to the EAM IPv4 prefixes.
    let v4 = match cfg.mode {
        super::config::Mode::Siit => cfg.eam.iter().map(|e| e.v4).collect::<Vec<_>>(),
        super::config::Mode::Nat64 => cfg.pool4.clone(),
        // The CLAT has its own plan: `clat_plan`.
        super::config::Mode::Clat => Vec::new(),
    };
    for p in v4 {
        let n = IpNet::V4(p);
        if !v.contains(&n) {
            v.push(n);
        }
    }
    // The source of the translator's own ICMPv4 errors: packets from it come out of the
    // TUN, and a strict reverse-path filter (rp_filter 1) drops them unless the route
    // back to that address goes into the TUN too.
    let own = IpNet::V4(ipnet::Ipv4Net::from(cfg.ipv4_addr));
    if !v.iter().any(|n| n.contains(&own)) {
        v.push(own);
    }
    v
}

/// What `--setup-routes` sets up for a CLAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClatPlan {
    /// The host's IPv4 address with its prefix, on the TUN (host mode only).
    pub address: Option<Ipv4Net>,
    /// Into the TUN: the IPv4 default route and the CLAT's IPv6 address or prefix.
    pub routes: Vec<IpNet>,
    /// Proxy NDP on the uplink for the CLAT's IPv6 address (host mode with `uplink`).
    pub proxy: Option<(Ipv6Addr, String)>,
}

pub fn clat_plan(cfg: &Config, mapping: &crate::clat::ClatMapping) -> ClatPlan {
    let host = cfg.clat_prefix.is_none();
    let address = host.then(|| {
        let svc = crate::clat::rfc7335();
        let a = mapping.v4.addr();
        // The whole /29 is the CLAT's (RFC 7335): 192.0.0.2, the translator's own ICMP
        // source, is then reached through the TUN and passes reverse-path filtering.
        Ipv4Net::new(
            a,
            if svc.contains(&a) {
                svc.prefix_len()
            } else {
                32
            },
        )
        .unwrap_or(mapping.v4)
    });
    let proxy = match (&cfg.uplink, host) {
        (Some(up), true) => Some((mapping.v6.addr(), up.clone())),
        _ => None,
    };
    ClatPlan {
        address,
        routes: vec![IpNet::V4(Ipv4Net::default()), IpNet::V6(mapping.v6)],
        proxy,
    }
}

fn family(net: &IpNet) -> &'static str {
    match net.addr() {
        IpAddr::V4(_) => "-4",
        IpAddr::V6(_) => "-6",
    }
}

/// Runs `ip ARGS`; the error is a sentence for the operator.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "--setup-routes needs the `ip` command (iproute2): install it, or add the routes \
             yourself and run without --setup-routes"
                .to_string()
        } else {
            format!("cannot run `ip {}`: {e}", args.join(" "))
        }
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether a line of `ip route show` output is a route through `dev`.
fn is_through(line: &str, dev: &str) -> bool {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "dev" {
            return words.next() == Some(dev);
        }
    }
    false
}

/// What already routes exactly `net`.
enum Existing {
    None,
    /// A route through `dev` made by someone else (the operator, a lab): kept as it is,
    /// neither replaced nor removed on exit.
    Through,
    /// A route through another device: `net` belongs to a network on one side.
    Other(String),
}

fn existing_route(net: &IpNet, dev: &str) -> Result<Existing, String> {
    let shown = ip(&[family(net), "route", "show", "exact", &net.to_string()])?;
    let lines: Vec<&str> = shown
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(other) = lines.iter().find(|l| !is_through(l, dev)) {
        return Ok(Existing::Other((*other).to_string()));
    }
    Ok(if lines.is_empty() {
        Existing::None
    } else {
        Existing::Through
    })
}

/// The routes of a running translator, shared with the reloader, which adds the routes
/// of new pool4 addresses; None once removed (or never installed).
pub type SharedRoutes = std::sync::Arc<std::sync::Mutex<Option<Routes>>>;

/// Routes this process installed; removed by [`Routes::remove`] or on drop.
#[derive(Debug)]
pub struct Routes {
    dev: String,
    installed: Vec<IpNet>,
    /// `ip` commands that undo what else was set up (CLAT address, proxy NDP), run in
    /// reverse order after the routes are gone.
    undo: Vec<Vec<String>>,
}

impl Routes {
    /// Installs `wanted` through `dev`. On failure removes what it had installed and
    /// returns the reason.
    pub fn install(dev: &str, wanted: &[IpNet]) -> Result<Routes, String> {
        let mut routes = Routes {
            dev: dev.to_string(),
            installed: Vec::new(),
            undo: Vec::new(),
        };
        routes.add(wanted)?;
        Ok(routes)
    }

    /// Installs `wanted` too (a reload's new pool4 addresses). On failure the routes
    /// installed so far stay installed (and are removed on exit), and the reason is
    /// returned.
    pub fn add(&mut self, wanted: &[IpNet]) -> Result<(), String> {
        let (dev, routes) = (self.dev.clone(), self);
        let dev = dev.as_str();
        for net in wanted {
            let existing = match existing_route(net, dev)? {
                Existing::None => None,
                Existing::Through => {
                    info!("route to {net} through '{dev}' exists already; left as it is");
                    continue;
                }
                Existing::Other(line) => Some(line),
            };
            if let Some(existing) = existing {
                return Err(format!(
                    "refusing to route {net} into '{dev}': the route `{existing}` exists \
                     already (if {net} is a network on the IPv4/IPv6 side, it must not go \
                     into the translator); remove it, or add the routes yourself and run \
                     without --setup-routes"
                ));
            }
            let n = net.to_string();
            let args = [family(net), "route", "replace", &n, "dev", dev];
            ip(&args)?;
            info!("route added: ip {}", args.join(" "));
            routes.installed.push(*net);
        }
        Ok(())
    }

    /// Removes the routes to `nets` that this process installed (a reload undone).
    pub fn remove_nets(&mut self, nets: &[IpNet]) {
        for net in nets {
            if let Some(i) = self.installed.iter().position(|n| n == net) {
                self.installed.remove(i);
                let n = net.to_string();
                let _ = ip(&[family(net), "route", "del", &n, "dev", &self.dev]);
            }
        }
    }

    /// A CLAT's setup ([`clat_plan`]): address, routes, proxy NDP; on failure what was
    /// done is undone.
    pub fn install_clat(dev: &str, plan: &ClatPlan) -> Result<Routes, String> {
        let mut done = Routes {
            dev: dev.to_string(),
            installed: Vec::new(),
            undo: Vec::new(),
        };
        if let Some(a) = plan.address {
            let a = a.to_string();
            done.apply(
                &["-4", "addr", "add", &a, "dev", dev],
                &["-4", "addr", "del", &a, "dev", dev],
            )?;
        }
        let mut routes = Routes::install(dev, &plan.routes)?;
        routes.undo = std::mem::take(&mut done.undo);
        if let Some((a, up)) = &plan.proxy {
            let a = a.to_string();
            if sysctl(&format!("/proc/sys/net/ipv6/conf/{up}/proxy_ndp")).as_deref() == Some("0") {
                warn!(
                    "net.ipv6.conf.{up}.proxy_ndp is 0: the kernel ignores the proxy NDP entry \
                     for {a} and the PLAT's replies go unanswered; enable it with \
                     `sysctl -w net.ipv6.conf.{up}.proxy_ndp=1`"
                );
            }
            routes.apply(
                &["-6", "neigh", "add", "proxy", &a, "dev", up],
                &["-6", "neigh", "del", "proxy", &a, "dev", up],
            )?;
        }
        Ok(routes)
    }

    /// Runs `ip args` and remembers `undo` for exit.
    fn apply(&mut self, args: &[&str], undo: &[&str]) -> Result<(), String> {
        ip(args)?;
        info!("ip {}", args.join(" "));
        self.undo
            .push(undo.iter().map(ToString::to_string).collect());
        Ok(())
    }

    /// The routes installed, in order.
    pub fn installed(&self) -> &[IpNet] {
        &self.installed
    }

    /// Removes the routes (best effort: a failure is logged, not fatal).
    pub fn remove(mut self) {
        self.remove_all();
    }

    fn remove_all(&mut self) {
        for net in self.installed.drain(..).rev() {
            let n = net.to_string();
            let args = [family(&net), "route", "del", &n, "dev", &self.dev];
            match ip(&args) {
                Ok(_) => info!("route removed: ip {}", args.join(" ")),
                // Gone with the device, or removed by someone else: nothing to do.
                Err(e) => debug!("{e}"),
            }
        }
        for args in self.undo.drain(..).rev() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            match ip(&args) {
                Ok(_) => info!("removed: ip {}", args.join(" ")),
                Err(e) => debug!("{e}"),
            }
        }
    }
}

impl Drop for Routes {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// Reads a sysctl from /proc; None when absent (e.g. IPv6 disabled).
fn sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Warns about disabled forwarding. We leave sysctls to the operator: without
/// forwarding only this host's own traffic reaches the translator, which may be intended.
/// A host's CLAT translates only its own IPv4 traffic, but forwards the translated IPv6
/// packets from the TUN to the uplink (and back): IPv6 forwarding is what it needs.
pub fn warn_if_forwarding_disabled(mode: super::config::Mode) {
    let clat = mode == super::config::Mode::Clat;
    for (path, name) in [
        ("/proc/sys/net/ipv4/ip_forward", "net.ipv4.ip_forward"),
        (
            "/proc/sys/net/ipv6/conf/all/forwarding",
            "net.ipv6.conf.all.forwarding",
        ),
    ] {
        if clat && name == "net.ipv4.ip_forward" {
            continue;
        }
        if sysctl(path).as_deref() == Some("0") {
            warn!(
                "{name} is 0: only this host's own traffic will be translated; for a gateway \
                 enable it with `sysctl -w {name}=1`"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::config::{Config, Partial};

    #[test]
    fn routes_the_rfc6052_prefix_and_eam_ipv4_prefixes_only() {
        let f = Partial::from_toml(
            "eam = [\"2001:db8:1::/120=192.0.2.0/24\", \"2001:db8:3::/128=198.51.100.7/32\"]",
            "t",
        )
        .unwrap();
        let c = Config::resolve(f, Partial::default()).unwrap();
        let p: Vec<String> = plan(&c).iter().map(|n| n.to_string()).collect();
        assert_eq!(
            p,
            [
                "2001:db8:64::/96",
                "192.0.2.0/24",
                "198.51.100.7/32",
                "203.0.113.1/32"
            ]
        );
    }

    #[test]
    fn lab_default_plan() {
        let c = Config::resolve(Partial::default(), Partial::default()).unwrap();
        let p: Vec<String> = plan(&c).iter().map(|n| n.to_string()).collect();
        assert_eq!(p, ["2001:db8:64::/96", "192.0.2.0/24", "203.0.113.1/32"]);
    }

    /// NAT64: pool6, pool4 (replies and hairpinned packets come back through the TUN)
    /// and `ipv4-addr`, which needs no route of its own inside pool4.
    #[test]
    fn nat64_plan_routes_pool6_pool4_and_ipv4_addr() {
        let f = Partial::from_toml("mode = \"nat64\"\npool4 = [\"203.0.113.16/28\"]", "t").unwrap();
        let c = Config::resolve(f, Partial::default()).unwrap();
        let p: Vec<String> = plan(&c).iter().map(|n| n.to_string()).collect();
        assert_eq!(p, ["2001:db8:64::/96", "203.0.113.16/28", "203.0.113.1/32"]);
        let f = Partial::from_toml(
            "mode = \"nat64\"\npool4 = [\"203.0.113.0/28\"]\nipv4-addr = \"203.0.113.1\"",
            "t",
        )
        .unwrap();
        let c = Config::resolve(f, Partial::default()).unwrap();
        let p: Vec<String> = plan(&c).iter().map(|n| n.to_string()).collect();
        assert_eq!(p, ["2001:db8:64::/96", "203.0.113.0/28"]);
    }

    /// RFC 6877 §6.3 / RFC 7335: the host's 192.0.0.1/29 and the IPv4 default route on
    /// the TUN, the CLAT's IPv6 address routed into it and proxied on the uplink.
    #[test]
    fn clat_plan_host_and_cpe() {
        let f = Partial::from_toml("mode = \"clat\"\nuplink = \"eth0\"", "t").unwrap();
        let c = Config::resolve(f, Partial::default()).unwrap();
        let m = c
            .clat_mapping(Some("2001:db8:a::c1a7".parse().unwrap()))
            .unwrap();
        let p = clat_plan(&c, &m);
        assert_eq!(p.address, Some("192.0.0.1/29".parse().unwrap()));
        let r: Vec<String> = p.routes.iter().map(|n| n.to_string()).collect();
        assert_eq!(r, ["0.0.0.0/0", "2001:db8:a::c1a7/128"]);
        assert_eq!(
            p.proxy,
            Some(("2001:db8:a::c1a7".parse().unwrap(), "eth0".into()))
        );
        let f = Partial::from_toml(
            "mode = \"clat\"\nclat-ipv4 = \"192.168.1.0/24\"\nclat-prefix = \"2001:db8:aa::/120\"",
            "t",
        )
        .unwrap();
        let c = Config::resolve(f, Partial::default()).unwrap();
        let p = clat_plan(&c, &c.clat_mapping(None).unwrap());
        assert_eq!((p.address, p.proxy), (None, None));
        let r: Vec<String> = p.routes.iter().map(|n| n.to_string()).collect();
        assert_eq!(r, ["0.0.0.0/0", "2001:db8:aa::/120"]);
    }

    #[test]
    fn recognises_routes_through_our_device() {
        assert!(is_through("192.0.2.0/24 dev xlat64 scope link", "xlat64"));
        assert!(is_through(
            "2001:db8:64::/96 dev xlat64 metric 1024 pref medium",
            "xlat64"
        ));
        assert!(!is_through("192.0.2.0/24 dev eth0 proto kernel", "xlat64"));
        assert!(!is_through(
            "192.0.2.0/24 via 198.51.100.1 dev xlat640",
            "xlat64"
        ));
        assert!(!is_through("unreachable 192.0.2.0/24", "xlat64"));
    }
}
