//! The end-to-end lab: network namespaces, veth pairs and a translator on a TUN device.
//!
//! Shared by the integration tests and `cargo xtask demo|bench` (included with `#[path]`),
//! so it depends on `std` only and drives the system through `ip`, `sysctl` and `kill`.
//!
//! Every namespace, log and file of one lab carries the prefix `x64-<pid>-<n>-`: a lab
//! never touches anything it did not create, and a later run can recognise (and remove)
//! what a dead run left behind. [`Lab`]'s `Drop` kills the processes it started and
//! deletes its namespaces, so a panicking test still cleans up.
//!
//! Full topology (documentation addresses only):
//!
//! ```text
//!  cli  2001:db8:1::2 ─┐   xlt                              rtr                       srv
//!                      ├─ br0 2001:db8:1::1    v4 198.51.100.1 ── x 198.51.100.126
//!  cli2 2001:db8:1::3 ─┘   TUN xlat64 (translator)             s 198.51.100.129 ── eth0 198.51.100.130
//! ```
//!
//! The bench topology drops `cli2`, the bridge and the router: `cli` ── `xlt` ── `srv`,
//! with `srv` also reachable natively over IPv6 (2001:db8:2::2) for the kernel baseline.
//!
//! The 464XLAT topology ([`Topology::Xlat464`], addresses in [`addr464`]):
//!
//! ```text
//!  phone (CLAT)                  carrier (IPv6 router, RAs,       plat (NAT64)             srv
//!  eth0 2001:db8:a::2/64 ─── c 2001:db8:a::1   unbound DNS64) ─── eth0 2001:db8:b::2
//!  TUN 192.0.0.1/29              p 2001:db8:b::1 ────────────┘   v4 198.51.100.129 ── eth0 198.51.100.130
//! ```
//!
//! `phone` is IPv6-only on the wire; its IPv4-only apps use the CLAT's 192.0.0.1. The
//! lab only wires the links and routes; the tests start both translators and the
//! daemons (RA sender, unbound, servers) themselves.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

#[path = "lab464.rs"]
mod lab464;
pub use lab464::{RA_SENDER, addr464};

/// Name of the TUN device the translator creates in `xlt`.
pub const TUN: &str = "xlat64";
/// Prefix of every namespace and temporary directory a lab creates.
pub const PREFIX: &str = "x64-";

/// Lab addresses. The IPv6 views of IPv4 hosts use the RFC 6052 prefix 2001:db8:64::/96;
/// the clients are mapped by the EAM 2001:db8:1::/120 = 192.0.2.0/24 (RFC 7757).
pub mod addr {
    pub const CLI6: &str = "2001:db8:1::2";
    pub const CLI2_6: &str = "2001:db8:1::3";
    pub const XLT6: &str = "2001:db8:1::1";
    /// `cli` as seen from IPv4 (EAM).
    pub const CLI4: &str = "192.0.2.2";
    /// `cli2` as seen from IPv4 (EAM).
    pub const CLI2_4: &str = "192.0.2.3";
    pub const XLT4: &str = "198.51.100.1";
    pub const RTR4_XLT: &str = "198.51.100.126";
    pub const RTR4_SRV: &str = "198.51.100.129";
    pub const SRV4: &str = "198.51.100.130";
    /// `srv` (198.51.100.130) as seen from IPv6 (RFC 6052 /96).
    pub const SRV6: &str = "2001:db8:64::c633:6482";
    /// `rtr` (198.51.100.126) as seen from IPv6.
    pub const RTR6: &str = "2001:db8:64::c633:647e";
    /// `cli2` (192.0.2.3) embedded in the RFC 6052 prefix: the hairpin address.
    pub const CLI2_VIA_PREFIX: &str = "2001:db8:64::c000:203";
    /// The translator's own IPv4 address (source of the ICMPv4 errors it generates).
    pub const XLAT_IPV4: &str = "203.0.113.1";
    /// The translator's own IPv6 address (source of the ICMPv6 errors it generates).
    pub const XLAT_IPV6: &str = "2001:db8:64::cb00:7101";
    pub const PREFIX6: &str = "2001:db8:64::/96";
    pub const EAM4: &str = "192.0.2.0/24";
    /// Bench only: native IPv6 address of `srv` for the kernel-forwarding baseline.
    pub const SRV6_NATIVE: &str = "2001:db8:2::2";
}

/// A lab error: a message meant for a person, printed as-is (also by `{:?}`, so that
/// `unwrap()` in a test shows readable multi-line text).
pub struct LabError(pub String);

impl fmt::Debug for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabError {}

impl From<io::Error> for LabError {
    fn from(e: io::Error) -> Self {
        LabError(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, LabError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(LabError(msg.into()))
}

/// A host of the lab; each is one network namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Cli,
    Cli2,
    Xlt,
    Rtr,
    Srv,
    /// 464XLAT: the IPv6-only host running the CLAT.
    Phone,
    /// 464XLAT: the provider's IPv6 router (RAs, DNS64).
    Carrier,
    /// 464XLAT: the provider's NAT64.
    Plat,
}

impl Node {
    pub fn role(self) -> &'static str {
        match self {
            Node::Cli => "cli",
            Node::Cli2 => "cli2",
            Node::Xlt => "xlt",
            Node::Rtr => "rtr",
            Node::Srv => "srv",
            Node::Phone => "phone",
            Node::Carrier => "carrier",
            Node::Plat => "plat",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// cli + cli2 on a bridge, translator box, IPv4 router, IPv4-only server.
    Full,
    /// cli ── xlt ── srv, srv dual-stack so the kernel can forward IPv6 natively.
    Bench,
    /// phone ── carrier ── plat ── srv: 464XLAT (see the module docs).
    Xlat464,
}

impl Topology {
    fn nodes(self) -> &'static [Node] {
        match self {
            Topology::Full => &[Node::Cli, Node::Cli2, Node::Xlt, Node::Rtr, Node::Srv],
            Topology::Bench => &[Node::Cli, Node::Xlt, Node::Srv],
            Topology::Xlat464 => &[Node::Phone, Node::Carrier, Node::Plat, Node::Srv],
        }
    }
}

/// Which translator runs in `xlt` on the TUN device.
#[derive(Clone, Debug)]
pub enum Translator {
    /// Our binary: `<bin> run <args>`.
    Xlat64 { bin: PathBuf, args: Vec<String> },
    /// TAYGA (Debian package `tayga`) with the same addresses, as a reference.
    Tayga,
}

impl Translator {
    pub fn xlat64(bin: impl Into<PathBuf>, args: &[&str]) -> Translator {
        Translator::Xlat64 {
            bin: bin.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Whether this is xlat64 on the XDP dataplane (no TUN device to route into).
    pub fn is_xdp(&self) -> bool {
        matches!(self, Translator::Xlat64 { args, .. }
            if args.windows(2).any(|w| w[0] == "--dataplane" && w[1] == "xdp"))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Translator::Xlat64 { .. } => "xlat64",
            Translator::Tayga => "tayga",
        }
    }
}

/// How the lab configures the TUN device once the translator has created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunSetup {
    /// Up, with the IPv6 and IPv4 routes that send traffic through the translator.
    Routed,
    /// IPv6 disabled on the TUN, so the kernel sends nothing (no MLD reports) the
    /// translator would count: for tests that inject packets and count drops exactly.
    Quiet,
    /// Up, but the prefix and EAM routes are left to the translator (`--setup-routes`);
    /// the lab only routes the translator's own IPv4 address.
    ByTranslator,
}

/// Result of a finished command.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmd: String,
    /// Exit code; `None` if killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The output as an error message, for a command that should have succeeded.
    pub fn failure(&self) -> LabError {
        LabError(format!(
            "command failed ({}): {}\n--- stdout ---\n{}--- stderr ---\n{}",
            match self.code {
                Some(c) => format!("exit {c}"),
                None => "killed by a signal".to_string(),
            },
            self.cmd,
            self.stdout,
            self.stderr
        ))
    }

    pub fn ok(self) -> Result<Output> {
        if self.success() {
            Ok(self)
        } else {
            Err(self.failure())
        }
    }
}

/// Handle of a background process started by [`Lab::spawn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcId(usize);

struct Proc {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    exited: Option<Option<i32>>,
}

/// What a stopped translator left: its exit code and output (stdout holds the counters).
#[derive(Debug, Clone)]
pub struct Stopped {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

static INSTANCES: AtomicUsize = AtomicUsize::new(0);

/// One lab instance. Dropping it removes everything it created.
pub struct Lab {
    id: String,
    dir: PathBuf,
    topology: Topology,
    created: Vec<Node>,
    procs: Vec<Proc>,
    translator: Option<ProcId>,
    /// The running translator is on the XDP dataplane: the senders' checksum offload
    /// is off until it stops.
    xdp: bool,
}

impl Lab {
    /// Creates the full topology (see the module docs).
    pub fn new() -> Result<Lab> {
        Lab::with_topology(Topology::Full)
    }

    /// Creates the bench topology: cli ── xlt ── srv.
    pub fn new_bench() -> Result<Lab> {
        Lab::with_topology(Topology::Bench)
    }

    pub fn with_topology(topology: Topology) -> Result<Lab> {
        if !is_root() {
            return err(
                "the lab needs root (network namespaces, veth, TUN): run as root, e.g. \
                 `sudo -E cargo xtask test`",
            );
        }
        remove_stale();
        let n = INSTANCES.fetch_add(1, Ordering::SeqCst);
        let id = format!("{PREFIX}{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&id);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let mut lab = Lab {
            id,
            dir,
            topology,
            created: Vec::new(),
            procs: Vec::new(),
            translator: None,
            xdp: false,
        };
        // On error `lab` is dropped here, which removes what was created so far.
        lab.build()?;
        Ok(lab)
    }

    /// Unique id of this instance (`x64-<pid>-<n>`), also the namespace name prefix.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Scratch directory of this lab (logs, generated files); removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// The flags that run xlat64 on the XDP dataplane on the translator box's two
    /// sides: the veth towards the client (the bridge over the clients' veths in the
    /// full topology, which has generic XDP only) and the veth towards IPv4.
    /// Makes the hosts that send into the translator box fill in their checksums: a veth
    /// passes a packet with a partial checksum (CHECKSUM_PARTIAL, the rest left to a NIC
    /// that never comes) and an XDP program sees it so, where a frame from a real wire
    /// always has a complete one. The TUN path gets the kernel's flag with the packet;
    /// AF_XDP gets only the bytes.
    fn sender_checksum_offload(&self, on: bool) -> Result<()> {
        let ports: &[(Node, &str)] = match self.topology {
            Topology::Full => &[
                (Node::Cli, "eth0"),
                (Node::Cli2, "eth0"),
                (Node::Rtr, "x"),
                (Node::Srv, "eth0"),
            ],
            Topology::Bench => &[(Node::Cli, "eth0"), (Node::Srv, "eth0")],
            // The 464XLAT lab runs its translators on TUN devices.
            Topology::Xlat464 => &[],
        };
        for &(node, dev) in ports {
            let v = if on { "on" } else { "off" };
            self.run(node, &["ethtool", "-K", dev, "tx", v])?.ok()?;
        }
        Ok(())
    }

    /// Callers add `--workers 1` unless they say otherwise: a veth has one queue.
    pub fn xdp_args(&self) -> [&'static str; 6] {
        let v6 = match self.topology {
            Topology::Full => "br0",
            Topology::Bench => "c1",
            Topology::Xlat464 => "eth0",
        };
        [
            "--dataplane",
            "xdp",
            "--ipv6-iface",
            v6,
            "--ipv4-iface",
            "v4",
        ]
    }

    /// Name of the network namespace of `node`.
    pub fn ns(&self, node: Node) -> String {
        format!("{}-{}", self.id, node.role())
    }

    fn build(&mut self) -> Result<()> {
        for &node in self.topology.nodes() {
            let ns = self.ns(node);
            host(&["ip", "netns", "add", &ns])?.ok()?;
            self.created.push(node);
            // DAD off before any interface exists, so addresses are usable at once.
            self.sysctl(
                node,
                &[
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                    "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0",
                ],
            )?;
            self.ip(node, "link set lo up")?;
        }
        match self.topology {
            Topology::Full => self.build_full()?,
            Topology::Bench => self.build_bench()?,
            Topology::Xlat464 => self.build_464()?,
        }
        self.wait_links_up()
    }

    /// Waits until every interface reports operational state UP. Until the kernel's
    /// link watcher has run (up to a second after `link set up`), a fresh veth drops what
    /// it is given, which would cost the first packets of a test a neighbour-discovery
    /// retransmission (1 s).
    fn wait_links_up(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        for &node in self.topology.nodes() {
            loop {
                let out = self.ip(node, "-o link show")?;
                let down: Vec<&str> = out
                    .stdout
                    .lines()
                    .filter(|l| !l.contains(" lo:") && !l.contains("state UP"))
                    .collect();
                if down.is_empty() {
                    break;
                }
                if Instant::now() >= deadline {
                    return err(format!(
                        "interfaces in {} not up after 5 s:\n{}",
                        node.role(),
                        down.join("\n")
                    ));
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    fn build_full(&mut self) -> Result<()> {
        use Node::*;
        self.veth(Cli, "eth0", Xlt, "c1")?;
        self.veth(Cli2, "eth0", Xlt, "c2")?;
        self.veth(Xlt, "v4", Rtr, "x")?;
        self.veth(Rtr, "s", Srv, "eth0")?;

        // Clients: IPv6-only.
        for (node, a) in [(Cli, addr::CLI6), (Cli2, addr::CLI2_6)] {
            self.ip(node, &format!("addr add {a}/64 dev eth0 nodad"))?;
            self.ip(node, "link set eth0 up")?;
            self.ip(node, &format!("-6 route add default via {}", addr::XLT6))?;
        }

        // Translator box: bridge towards the clients, one leg towards the router.
        self.ip(Xlt, "link add br0 type bridge stp_state 0 mcast_snooping 0")?;
        for port in ["c1", "c2"] {
            self.ip(Xlt, &format!("link set {port} master br0"))?;
            self.ip(Xlt, &format!("link set {port} up"))?;
        }
        self.ip(Xlt, &format!("addr add {}/64 dev br0 nodad", addr::XLT6))?;
        self.ip(Xlt, "link set br0 up")?;
        self.ip(Xlt, &format!("addr add {}/25 dev v4", addr::XLT4))?;
        self.ip(Xlt, "link set v4 up")?;
        self.forwarding(Xlt)?;
        self.ip(
            Xlt,
            &format!("route add 198.51.100.128/25 via {}", addr::RTR4_XLT),
        )?;

        // IPv4 router; everything it does not know goes back to the translator box.
        self.ip(Rtr, &format!("addr add {}/25 dev x", addr::RTR4_XLT))?;
        self.ip(Rtr, &format!("addr add {}/25 dev s", addr::RTR4_SRV))?;
        self.ip(Rtr, "link set x up")?;
        self.ip(Rtr, "link set s up")?;
        self.forwarding(Rtr)?;
        self.ip(Rtr, &format!("route add default via {}", addr::XLT4))?;

        // IPv4-only server.
        self.ip(Srv, &format!("addr add {}/25 dev eth0", addr::SRV4))?;
        self.ip(Srv, "link set eth0 up")?;
        self.ip(Srv, &format!("route add default via {}", addr::RTR4_SRV))?;
        Ok(())
    }

    fn build_bench(&mut self) -> Result<()> {
        use Node::*;
        self.veth(Cli, "eth0", Xlt, "c1")?;
        self.veth(Xlt, "v4", Srv, "eth0")?;

        self.ip(Cli, &format!("addr add {}/64 dev eth0 nodad", addr::CLI6))?;
        self.ip(Cli, "link set eth0 up")?;
        self.ip(Cli, &format!("-6 route add default via {}", addr::XLT6))?;

        self.ip(Xlt, &format!("addr add {}/64 dev c1 nodad", addr::XLT6))?;
        self.ip(Xlt, "link set c1 up")?;
        self.ip(Xlt, &format!("addr add {}/25 dev v4", addr::RTR4_SRV))?;
        self.ip(Xlt, "addr add 2001:db8:2::1/64 dev v4 nodad")?;
        self.ip(Xlt, "link set v4 up")?;
        self.forwarding(Xlt)?;

        self.ip(Srv, &format!("addr add {}/25 dev eth0", addr::SRV4))?;
        self.ip(
            Srv,
            &format!("addr add {}/64 dev eth0 nodad", addr::SRV6_NATIVE),
        )?;
        self.ip(Srv, "link set eth0 up")?;
        self.ip(Srv, &format!("route add default via {}", addr::RTR4_SRV))?;
        self.ip(Srv, "-6 route add default via 2001:db8:2::1")?;
        Ok(())
    }

    /// A path in [`Lab::dir`], as a string for argv.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// Creates a veth pair with one end in each namespace (never in the host namespace,
    /// so fixed short interface names cannot collide between labs).
    fn veth(&self, a: Node, a_if: &str, b: Node, b_if: &str) -> Result<()> {
        let (na, nb) = (self.ns(a), self.ns(b));
        host(&[
            "ip", "-n", &na, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns",
            &nb,
        ])?
        .ok()?;
        Ok(())
    }

    fn forwarding(&self, node: Node) -> Result<()> {
        self.sysctl(
            node,
            &["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
        )
    }

    /// `ip -n <ns> <args>` (args split on whitespace); fails on a non-zero exit.
    pub fn ip(&self, node: Node, args: &str) -> Result<Output> {
        let ns = self.ns(node);
        let mut argv = vec!["ip", "-n", ns.as_str()];
        argv.extend(args.split_whitespace());
        host(&argv)?.ok()
    }

    /// Sets sysctls (`key=value`) inside the namespace of `node`.
    pub fn sysctl(&self, node: Node, settings: &[&str]) -> Result<()> {
        let mut argv = vec!["sysctl", "-q", "-w"];
        argv.extend_from_slice(settings);
        self.run(node, &argv)?.ok()?;
        Ok(())
    }

    /// Runs `argv` in the namespace of `node`, killed after 120 s.
    pub fn run(&self, node: Node, argv: &[&str]) -> Result<Output> {
        self.run_timeout(node, Duration::from_secs(120), argv)
    }

    /// Runs `argv` in the namespace of `node`, killed (SIGTERM, then SIGKILL 2 s later)
    /// once `limit` has passed.
    pub fn run_timeout(&self, node: Node, limit: Duration, argv: &[&str]) -> Result<Output> {
        self.check_node(node)?;
        let ns = self.ns(node);
        let secs = format!("{}", limit.as_secs().max(1));
        let mut full = vec!["ip", "netns", "exec", &ns, "timeout", "-k", "2", &secs];
        full.extend_from_slice(argv);
        let mut out = host(&full)?;
        out.cmd = format!("[{}] {}", node.role(), shell_words(argv));
        if out.code == Some(124) {
            out.stderr
                .push_str(&format!("\n(timed out after {} s)\n", limit.as_secs()));
        }
        Ok(out)
    }

    /// Runs a shell snippet in the namespace of `node`.
    pub fn sh(&self, node: Node, script: &str) -> Result<Output> {
        self.run(node, &["sh", "-c", script])
    }

    fn check_node(&self, node: Node) -> Result<()> {
        if self.topology.nodes().contains(&node) {
            Ok(())
        } else {
            err(format!(
                "node {} is not part of the {:?} topology",
                node.role(),
                self.topology
            ))
        }
    }

    /// Starts a background process in the namespace of `node`; it is killed on drop.
    /// Its stdout and stderr go to files in [`Lab::dir`].
    pub fn spawn(&mut self, node: Node, name: &str, argv: &[&str]) -> Result<ProcId> {
        self.check_node(node)?;
        let k = self.procs.len();
        let stdout = self.dir.join(format!("{k}-{name}.out"));
        let stderr = self.dir.join(format!("{k}-{name}.err"));
        let ns = self.ns(node);
        // `ip netns exec` execs the command, so the child pid is the process itself
        // and signals reach it directly.
        let child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout)?)
            .stderr(fs::File::create(&stderr)?)
            .spawn()
            .map_err(|e| LabError(format!("cannot start {}: {e}", shell_words(argv))))?;
        self.procs.push(Proc {
            name: format!("[{}] {name}", node.role()),
            child,
            stdout,
            stderr,
            exited: None,
        });
        Ok(ProcId(k))
    }

    /// True while the process runs.
    pub fn alive(&mut self, id: ProcId) -> bool {
        self.poll(id).is_none()
    }

    /// The exit code once the process has exited (`Some(None)`: killed by a signal).
    fn poll(&mut self, id: ProcId) -> Option<Option<i32>> {
        let p = &mut self.procs[id.0];
        if p.exited.is_none()
            && let Ok(Some(status)) = p.child.try_wait()
        {
            p.exited = Some(status.code());
        }
        p.exited
    }

    /// What the process has written so far (stdout, stderr).
    pub fn output(&self, id: ProcId) -> (String, String) {
        let p = &self.procs[id.0];
        (read_lossy(&p.stdout), read_lossy(&p.stderr))
    }

    pub fn pid(&self, id: ProcId) -> u32 {
        self.procs[id.0].child.id()
    }

    /// Sends `signal` (e.g. "INT") to the process, if it still runs.
    pub fn signal(&mut self, id: ProcId, signal: &str) -> Result<()> {
        if self.alive(id) {
            let pid = self.pid(id).to_string();
            host(&["kill", &format!("-{signal}"), &pid])?;
        }
        Ok(())
    }

    /// Waits up to `limit` for the process to exit; returns its exit code.
    pub fn wait(&mut self, id: ProcId, limit: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(code) = self.poll(id) {
                return Some(code);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub fn kill(&mut self, id: ProcId) {
        let _ = self.signal(id, "TERM");
        if self.wait(id, Duration::from_secs(2)).is_none() {
            let p = &mut self.procs[id.0];
            let _ = p.child.kill();
            if let Ok(status) = p.child.wait() {
                p.exited = Some(status.code());
            }
        }
    }

    /// Waits until the process has printed `needle` (on stdout or stderr).
    pub fn wait_for_output(&mut self, id: ProcId, needle: &str, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let (out, errout) = self.output(id);
            if out.contains(needle) || errout.contains(needle) {
                return Ok(());
            }
            if let Some(code) = self.poll(id) {
                return err(format!(
                    "{} exited ({code:?}) before printing {needle:?}:\n{out}{errout}",
                    self.procs[id.0].name
                ));
            }
            if Instant::now() >= deadline {
                return err(format!(
                    "{} did not print {needle:?} within {} s",
                    self.procs[id.0].name,
                    limit.as_secs()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until something listens on `port` (`proto`: "tcp" or "udp") in `node`.
    pub fn wait_listening(&self, node: Node, proto: &str, port: u16) -> Result<()> {
        let flag = if proto == "udp" { "-Hlun" } else { "-Hltn" };
        let filter = format!("sport = :{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.run(node, &["ss", flag, &filter])?;
            if out.success() && !out.stdout.trim().is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return err(format!(
                    "nothing listens on {proto} port {port} in {} after 10 s",
                    node.role()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the translator in `xlt` and routes traffic through its TUN device.
    pub fn start_translator(&mut self, t: &Translator) -> Result<ProcId> {
        self.start_translator_with(t, TunSetup::Routed)
    }

    pub fn start_translator_with(&mut self, t: &Translator, setup: TunSetup) -> Result<ProcId> {
        if self.translator.is_some() {
            return err("a translator is already running in this lab");
        }
        // New devices inherit `default`: set before the TUN exists, so no race with it.
        let v6 = if setup == TunSetup::Quiet { "1" } else { "0" };
        self.sysctl(
            Node::Xlt,
            &[&format!("net.ipv6.conf.default.disable_ipv6={v6}")],
        )?;
        let id = match t {
            Translator::Xlat64 { bin, args } => {
                let bin = bin.to_string_lossy().into_owned();
                let mut argv = vec![bin.as_str(), "run"];
                argv.extend(args.iter().map(String::as_str));
                self.spawn(Node::Xlt, "xlat64", &argv)?
            }
            Translator::Tayga => {
                let conf = self.dir.join("tayga.conf");
                fs::write(&conf, tayga_config())?;
                let conf = conf.to_string_lossy().into_owned();
                self.spawn(Node::Xlt, "tayga", &["tayga", "-c", &conf, "--nodetach"])?
            }
        };
        let ready = if t.is_xdp() {
            self.xdp = true;
            self.sender_checksum_offload(false)?;
            // No TUN and no route: the XDP programs pick the packets; ready once it says so.
            self.wait_for_output(id, "translating (", Duration::from_secs(10))
        } else {
            self.route_through_tun(id, t.name(), setup)
        };
        if let Err(e) = ready {
            self.kill(id);
            return Err(e);
        }
        self.translator = Some(id);
        Ok(id)
    }

    /// Waits for the translator's TUN device, brings it up and adds the routes through it
    /// (only once the device exists: routes cannot name a missing device).
    fn route_through_tun(&mut self, id: ProcId, name: &str, setup: TunSetup) -> Result<()> {
        self.wait_for_tun(id, name)?;
        self.ip(Node::Xlt, &format!("link set {TUN} up"))?;
        // `replace`, not `add`: the translator may have added the same route already.
        if setup != TunSetup::ByTranslator {
            if setup == TunSetup::Routed {
                self.ip(
                    Node::Xlt,
                    &format!("-6 route replace {} dev {TUN}", addr::PREFIX6),
                )?;
            }
            self.ip(
                Node::Xlt,
                &format!("route replace {} dev {TUN}", addr::EAM4),
            )?;
        }
        self.ip(
            Node::Xlt,
            &format!("route replace {}/32 dev {TUN}", addr::XLAT_IPV4),
        )?;
        Ok(())
    }

    fn wait_for_tun(&mut self, id: ProcId, name: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ns = self.ns(Node::Xlt);
        loop {
            if let Some(code) = self.poll(id) {
                let (out, errout) = self.output(id);
                return err(format!(
                    "{name} exited ({code:?}) before creating TUN {TUN}\n--- stdout ---\n{out}--- stderr ---\n{errout}"
                ));
            }
            if host(&["ip", "-n", &ns, "link", "show", "dev", TUN])?.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return err(format!("{name} did not create TUN {TUN} within 10 s"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The running translator's process, if any.
    pub fn translator(&self) -> Option<ProcId> {
        self.translator
    }

    /// True while the translator runs.
    pub fn translator_alive(&mut self) -> bool {
        match self.translator {
            Some(id) => self.alive(id),
            None => false,
        }
    }

    /// Stops the translator with SIGINT and returns what it printed (the counters).
    /// Fails if it does not exit within 10 s.
    pub fn stop_translator(&mut self) -> Result<Stopped> {
        let Some(id) = self.translator.take() else {
            return err("no translator is running");
        };
        if std::mem::take(&mut self.xdp) {
            // Back to the veths' defaults for whatever runs next (the bench's rows).
            let _ = self.sender_checksum_offload(true);
        }
        self.signal(id, "INT")?;
        let code = match self.wait(id, Duration::from_secs(10)) {
            Some(code) => code,
            None => {
                self.kill(id);
                let (stdout, stderr) = self.output(id);
                return err(format!(
                    "translator did not exit within 10 s of SIGINT\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}"
                ));
            }
        };
        let (stdout, stderr) = self.output(id);
        Ok(Stopped {
            code,
            stdout,
            stderr,
        })
    }

    fn print_logs(&self) {
        for p in &self.procs {
            for (what, path) in [("stdout", &p.stdout), ("stderr", &p.stderr)] {
                let text = read_lossy(path);
                if text.trim().is_empty() {
                    continue;
                }
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                eprintln!(
                    "--- lab {}: {} {what} (last {} lines) ---",
                    self.id,
                    p.name,
                    tail.len()
                );
                for l in tail {
                    eprintln!("{l}");
                }
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for k in 0..self.procs.len() {
            let _ = self.signal(ProcId(k), "TERM");
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for p in &mut self.procs {
            loop {
                match p.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = p.child.kill();
                        let _ = p.child.wait();
                        break;
                    }
                    Ok(None) => thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        if thread::panicking() {
            self.print_logs();
        }
        for node in self.created.iter().rev() {
            delete_namespace(&self.ns(*node));
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// TAYGA configuration with the lab's addresses: same prefix, same translator address,
/// and the EAM entries for the two clients as single-address maps.
pub fn tayga_config() -> String {
    format!(
        "tun-device {TUN}\nipv4-addr {}\nprefix {}\nmap {} {}\nmap {} {}\n",
        addr::XLAT_IPV4,
        addr::PREFIX6,
        addr::CLI4,
        addr::CLI6,
        addr::CLI2_4,
        addr::CLI2_6
    )
}

/// Runs a command in the host namespace and collects its output.
pub fn host(argv: &[&str]) -> Result<Output> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| LabError("empty command".into()))?;
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError(format!("cannot run `{}`: {e}", shell_words(argv))))?;
    Ok(Output {
        cmd: shell_words(argv),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// True when running as root (uid 0), read from /proc so no libc is needed.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Removes namespaces and scratch directories of labs whose process is gone.
pub fn remove_stale() {
    if let Ok(entries) = fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if owner_is_dead(&name) {
                delete_namespace(&name);
            }
        }
    }
    if let Ok(entries) = fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if owner_is_dead(&name) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// For a name `x64-<pid>-...`: true if no process `<pid>` exists any more.
fn owner_is_dead(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Kills every process still inside `ns`, then deletes it.
fn delete_namespace(ns: &str) {
    if let Ok(out) = host(&["ip", "netns", "pids", ns]) {
        for pid in out.stdout.split_whitespace() {
            let _ = host(&["kill", "-KILL", pid]);
        }
    }
    let _ = host(&["ip", "netns", "del", ns]);
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A command line as a person would type it (quoting words that need it).
pub fn shell_words(argv: &[&str]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+[]".contains(c))
            {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses a counters table loosely: every line made of a name and a number
/// (`ipv4_bad_checksum   3`, `rx_packets: 10`) becomes an entry.
pub fn parse_counters(text: &str) -> std::collections::BTreeMap<String, u64> {
    let mut map = std::collections::BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [name, value] = words[..]
            && let Ok(v) = value.parse::<u64>()
        {
            map.insert(name.trim_end_matches(':').to_string(), v);
        }
    }
    map
}
