//! Start-up of the XDP dataplane: checks, maps, programs, sockets, attachment.
//!
//! Everything that can refuse (interfaces, MTU, queues, privileges, AF_XDP support) is
//! checked before the programs are attached, and the attachments are BPF links owned by
//! [`Attached`]: an error, a normal exit and SIGKILL all detach them (the kernel drops a
//! link with its last descriptor). A program left by something else (attached without a
//! link, e.g. by `ip link set dev X xdp obj ...` or a crashed older tool) is replaced.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use ipnet::IpNet;
use tracing::{info, warn};

use super::bpf::{self, Map, Prog};
use super::nexthop::NextHops;
use super::nl::{self, Netlink};
use super::port::{Side, XdpPort};
use super::prog::{self, Maps, XDP_PASS};
use super::xsk::{MAX_FRAME, Umem, Xsk};
use crate::dataplane::start::RunError;
use crate::dataplane::sys;

/// The two interfaces and what the programs send to the translator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpSpec {
    pub ipv6_iface: String,
    pub ipv4_iface: String,
    /// Destinations xlat64 translates (prefix, EAMs, pool4, its own addresses).
    pub destinations: Vec<IpNet>,
    /// The translator's `mtu`: the largest packet it sends, which both interfaces must
    /// carry.
    pub mtu: u16,
}

/// What keeps the programs attached; dropping it detaches them.
pub struct Attached {
    _links: Vec<OwnedFd>,
    _progs: Vec<Prog>,
    _xskmaps: Vec<Map>,
    _maps: Maps,
}

const CAPS: &str = "the xdp dataplane needs CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN): run \
                    it as root or grant them (setcap cap_net_admin,cap_bpf+ep, or systemd's \
                    AmbientCapabilities=)";

fn is_perm(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

fn usage(msg: String) -> RunError {
    RunError::Config(msg)
}

/// One interface, checked.
struct Iface {
    name: String,
    key: &'static str,
    index: u32,
    mac: [u8; 6],
}

fn iface(name: &str, key: &'static str, queues: u16, want: u16) -> Result<Iface, RunError> {
    let index = nl::ifindex(name).ok_or_else(|| {
        usage(format!(
            "invalid value for '{key}': no interface {name:?} in this network namespace"
        ))
    })?;
    let mtu = sys::get_mtu(name).map_err(|e| RunError::System(e.to_string()))? as usize;
    let max = MAX_FRAME - 14;
    if mtu > max {
        return Err(usage(format!(
            "interface {name} ('{key}') has MTU {mtu}, more than an AF_XDP frame holds \
             ({max}): lower it (ip link set dev {name} mtu {max}) or use --dataplane tun"
        )));
    }
    // Worker i owns queue i: a queue without a worker would hand translatable frames
    // to the kernel, which has no route for them (an AF_XDP socket only receives its
    // own queue's frames, so the program cannot send them elsewhere).
    if mtu < usize::from(want) {
        return Err(usage(format!(
            "invalid value for 'mtu': {want}: interface {name} ('{key}') carries at most \
             {mtu}: set --mtu {mtu}, or raise the interface's MTU"
        )));
    }
    let rx = rx_queues(name);
    if rx > 0 && usize::from(queues) != rx {
        return Err(usage(format!(
            "interface {name} ('{key}') has {rx} receive queue{}, and the xdp dataplane \
             needs one worker per queue: run with --workers {rx}, or set its queues to \
             the workers (ethtool -L {name} combined {queues})",
            if rx == 1 { "" } else { "s" }
        )));
    }
    let mac = nl::hwaddr(name).map_err(|e| RunError::System(format!("{name}: {e}")))?;
    Ok(Iface {
        name: name.to_string(),
        key,
        index,
        mac,
    })
}

/// The interface's receive queues, from sysfs (0 if unknown).
fn rx_queues(name: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(0)
}

fn bpf_err(what: &str, e: io::Error) -> RunError {
    if is_perm(&e) {
        usage(format!("{CAPS} ({what}: {e})"))
    } else {
        RunError::System(format!("{what}: {e}"))
    }
}

fn fill(maps: &Maps, dst: &[IpNet]) -> io::Result<()> {
    for n in dst {
        match n {
            IpNet::V4(n) => maps.add_v4(*n)?,
            IpNet::V6(n) => maps.add_v6(*n)?,
        }
    }
    Ok(())
}

/// Opens a socket on `umem`: the first of the pair registers it, the second (`share`,
/// the first's descriptor) shares it.
fn socket(ifc: &Iface, queue: u16, umem: &mut Umem, share: Option<RawFd>) -> Result<Xsk, RunError> {
    Xsk::open(ifc.index, u32::from(queue), false, umem, share).map_err(|e| match e.raw_os_error() {
        Some(libc::EAFNOSUPPORT) => usage(
            "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS): use --dataplane tun".into(),
        ),
        _ if is_perm(&e) => usage(format!("{CAPS} (AF_XDP socket: {e})")),
        Some(libc::EINVAL | libc::EOPNOTSUPP) if share.is_some() => usage(format!(
            "this kernel cannot share an AF_XDP UMEM between {} and another interface \
             (Linux 5.10 or later can): use --dataplane tun",
            ifc.name
        )),
        _ => RunError::System(format!(
            "cannot bind an AF_XDP socket to {} queue {queue} ('{}'): {e}",
            ifc.name, ifc.key
        )),
    })
}

/// Attaches `p` to `ifc` in native mode, else in generic mode with a warning;
/// replaces a program attached without a link.
fn attach(p: &Prog, ifc: &Iface, nl: &mut Netlink) -> Result<OwnedFd, RunError> {
    let mut tried_replace = false;
    loop {
        match p.attach(ifc.index, bpf::XDP_FLAGS_DRV_MODE) {
            Ok(link) => {
                info!("xdp: program attached to {} in native mode", ifc.name);
                return Ok(link);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EEXIST)) => {
                if tried_replace {
                    return Err(RunError::System(format!(
                        "{} already has an XDP program attached through a link (another \
                         xlat64 or XDP tool still running?): stop it first",
                        ifc.name
                    )));
                }
                tried_replace = true;
                warn!("xdp: replacing the XDP program already on {}", ifc.name);
                nl.detach_xdp(ifc.index)
                    .map_err(|e| RunError::System(format!("{}: {e}", ifc.name)))?;
            }
            Err(e) if is_perm(&e) => return Err(usage(format!("{CAPS} (attach: {e})"))),
            Err(native) => {
                return match p.attach(ifc.index, bpf::XDP_FLAGS_SKB_MODE) {
                    Ok(link) => {
                        warn!(
                            "xdp: {} has no native XDP ({native}); attached in generic mode, \
                             which is slower",
                            ifc.name
                        );
                        Ok(link)
                    }
                    Err(e) => Err(usage(format!(
                        "interface {} ('{}') does not support XDP ({e}): use --dataplane tun",
                        ifc.name, ifc.key
                    ))),
                };
            }
        }
    }
}

/// [`attach`] for the tests, with a bare interface.
#[cfg(test)]
pub(super) fn attach_for_test(
    p: &Prog,
    name: &str,
    index: u32,
    nl: &mut Netlink,
) -> Result<OwnedFd, RunError> {
    let ifc = Iface {
        name: name.to_string(),
        key: "ipv4-iface",
        index,
        mac: [0; 6],
    };
    attach(p, &ifc, nl)
}

/// Opens `queues` ports (one per worker) and attaches the programs.
pub fn open(spec: &XdpSpec, queues: u16) -> Result<(Attached, Vec<XdpPort>), RunError> {
    let if6 = iface(&spec.ipv6_iface, "ipv6-iface", queues, spec.mtu)?;
    let if4 = iface(&spec.ipv4_iface, "ipv4-iface", queues, spec.mtu)?;
    let maps = Maps::new().map_err(|e| bpf_err("BPF map", e))?;
    fill(&maps, &spec.destinations).map_err(|e| bpf_err("BPF map", e))?;
    let mut xskmaps = Vec::new();
    let mut progs = Vec::new();
    for _ in 0..2 {
        let m = prog::xskmap().map_err(|e| bpf_err("BPF map", e))?;
        progs.push(prog::load(&maps, &m, XDP_PASS).map_err(|e| bpf_err("XDP program", e))?);
        xskmaps.push(m);
    }
    let mut ports = Vec::with_capacity(usize::from(queues));
    for q in 0..queues {
        let mut umem = Umem::new().map_err(|e| RunError::System(format!("UMEM: {e}")))?;
        let x6 = socket(&if6, q, &mut umem, None)?;
        let x4 = socket(&if4, q, &mut umem, Some(x6.raw_fd()))?;
        for (m, x) in xskmaps.iter().zip([&x6, &x4]) {
            let fd = x.raw_fd() as u32;
            m.update(&u32::from(q).to_ne_bytes(), &fd.to_ne_bytes())
                .map_err(|e| bpf_err("XSKMAP", e))?;
        }
        let seed = sys::random_u64().map_err(|e| RunError::System(e.to_string()))?;
        let hops = NextHops::new(if4.index, if6.index, seed)
            .map_err(|e| RunError::System(format!("netlink: {e}")))?;
        let port = XdpPort::new(
            format!("{}+{}/{q}", if6.name, if4.name),
            Side {
                xsk: x4,
                mac: if4.mac,
            },
            Side {
                xsk: x6,
                mac: if6.mac,
            },
            umem,
            hops,
        )
        .map_err(|e| RunError::System(format!("xdp port: {e}")))?;
        ports.push(port);
    }
    let mut nl = Netlink::open().map_err(|e| RunError::System(format!("netlink: {e}")))?;
    let mut links = Vec::new();
    for (p, ifc) in progs.iter().zip([&if6, &if4]) {
        links.push(attach(p, ifc, &mut nl)?);
    }
    let dst: Vec<String> = spec.destinations.iter().map(IpNet::to_string).collect();
    info!(
        "xdp: {queues} socket pair{} on {} (IPv6) and {} (IPv4); translating for {}",
        if queues == 1 { "" } else { "s" },
        if6.name,
        if4.name,
        dst.join(", ")
    );
    Ok((
        Attached {
            _links: links,
            _progs: progs,
            _xskmaps: xskmaps,
            _maps: maps,
        },
        ports,
    ))
}
