//! The only module that talks to the kernel directly: TUN creation/attachment, link
//! configuration ioctls, and the read/writev calls of the packet loop.
//!
//! Everything else in the crate goes through the safe functions here. Each `unsafe` block
//! states why it is sound. Errors keep the raw `io::Error` plus what we were doing and on
//! which device, so [`SysError`]'s `Display` can tell the operator what to do.

use std::ffi::CString;
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// Path of the TUN/TAP clone device.
pub const TUN_CLONE_DEVICE: &str = "/dev/net/tun";

/// Longest interface name the kernel accepts (IFNAMSIZ - 1 for the NUL).
pub const MAX_IFNAME_LEN: usize = libc::IFNAMSIZ - 1;

/// Optional TUN features; both default to off (one queue, no virtio-net header), which is
/// how the device is opened with `--workers 1 --offload false`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunFlags {
    /// IFF_MULTI_QUEUE: opening the same name again adds a queue. An existing device
    /// only accepts attachments whose multi-queue flag matches its own.
    pub multi_queue: bool,
    /// IFF_VNET_HDR: every read/write starts with a virtio-net header (offloads).
    pub vnet_hdr: bool,
}

impl TunFlags {
    fn ifr_flags(self) -> libc::c_short {
        let mut f = libc::IFF_TUN | libc::IFF_NO_PI;
        if self.multi_queue {
            f |= libc::IFF_MULTI_QUEUE;
        }
        if self.vnet_hdr {
            f |= libc::IFF_VNET_HDR;
        }
        // All TUN flags fit in 16 bits (the ifreq field is a short).
        f as libc::c_short
    }
}

/// What we were doing when a system call failed; selects the advice in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysOp {
    OpenCloneDevice,
    CreateTun,
    SetNonBlocking,
    GetMtu,
    SetMtu,
    GetTxQueueLen,
    SetTxQueueLen,
    GetFlags,
    SetUp,
}

impl SysOp {
    fn doing(self) -> &'static str {
        match self {
            SysOp::OpenCloneDevice => "open /dev/net/tun for",
            SysOp::CreateTun => "create TUN device",
            SysOp::SetNonBlocking => "make non-blocking the fd of",
            SysOp::GetMtu => "read the MTU of",
            SysOp::SetMtu => "set the MTU of",
            SysOp::GetTxQueueLen => "read the txqueuelen of",
            SysOp::SetTxQueueLen => "set the txqueuelen of",
            SysOp::GetFlags => "read the link flags of",
            SysOp::SetUp => "bring up",
        }
    }
}

/// A failed system call during device setup, rendered as one actionable line.
#[derive(Debug)]
pub struct SysError {
    pub op: SysOp,
    pub dev: String,
    pub source: io::Error,
    /// What was true when a permission error happened, to name the real obstacle.
    pub privileges: Privileges,
}

/// Read when the error happens, so that `Display` stays a pure function of the error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privileges {
    /// Whether CAP_NET_ADMIN is in the effective set; None when it could not be read.
    pub cap_net_admin: Option<bool>,
    /// Mode and owner of the clone device; None when not read.
    pub clone_node: Option<NodeOwner>,
}

/// Who may open the clone device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeOwner {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Bit number of CAP_NET_ADMIN in the capability sets (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;

/// Whether the `CapEff:` line of a `/proc/<pid>/status` text has CAP_NET_ADMIN.
fn cap_net_admin_in(status: &str) -> Option<bool> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    let caps = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some(caps & (1 << CAP_NET_ADMIN) != 0)
}

impl Privileges {
    fn observe() -> Privileges {
        use std::os::unix::fs::MetadataExt;
        Privileges {
            cap_net_admin: std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| cap_net_admin_in(&s)),
            clone_node: std::fs::metadata(TUN_CLONE_DEVICE).ok().map(|m| NodeOwner {
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
            }),
        }
    }
}

impl SysError {
    fn new(op: SysOp, dev: &str, source: io::Error) -> Self {
        SysError {
            op,
            dev: dev.to_string(),
            source,
            privileges: Privileges::default(),
        }
    }

    /// Records the process's capability and the clone device's owner on a permission
    /// error, which happens once at start-up.
    fn observing_privileges(mut self) -> Self {
        if self.is_permission() {
            self.privileges = Privileges::observe();
        }
        self
    }

    /// Whether the failure was a missing privilege (CAP_NET_ADMIN).
    pub fn is_permission(&self) -> bool {
        matches!(
            self.source.raw_os_error(),
            Some(libc::EPERM) | Some(libc::EACCES)
        )
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dev = &self.dev;
        let errno = self.source.raw_os_error();
        match (self.op, errno) {
            (SysOp::OpenCloneDevice, Some(libc::ENOENT | libc::ENODEV | libc::ENXIO)) => write!(
                f,
                "{TUN_CLONE_DEVICE} is missing ({}): load the tun module (`modprobe tun`) \
                 or create the node (`mknod {TUN_CLONE_DEVICE} c 10 200`)",
                self.source
            ),
            (SysOp::OpenCloneDevice, Some(libc::EACCES)) => self.fmt_clone_node_denied(f),
            (SysOp::OpenCloneDevice, Some(libc::EPERM)) => write!(
                f,
                "cannot open {TUN_CLONE_DEVICE} ({}): neither its file mode nor CAP_NET_ADMIN \
                 is the obstacle but a device policy: a container's device cgroup or a \
                 security module (SELinux, AppArmor); allow the character device 10:200 \
                 (for a container, e.g. `--device {TUN_CLONE_DEVICE}`)",
                self.source
            ),
            (SysOp::CreateTun, Some(libc::EPERM | libc::EACCES))
                if self.privileges.cap_net_admin == Some(true) =>
            {
                write!(
                    f,
                    "the kernel refused to create TUN device '{dev}' ({}) although xlat64 \
                     holds CAP_NET_ADMIN: a security module (SELinux, AppArmor) denies it, or \
                     the capability does not reach this network namespace (it belongs to \
                     another user namespace)",
                    self.source
                )
            }
            (SysOp::CreateTun, Some(libc::EPERM | libc::EACCES)) => {
                write!(
                    f,
                    "xlat64 needs CAP_NET_ADMIN to create TUN device '{dev}': run as root or \
                     grant it with `setcap cap_net_admin+ep` (an unprivileged user can only \
                     attach to a persistent device it owns: `ip tuntap add dev {dev} mode tun \
                     user USER`)"
                )
            }
            (_, Some(libc::EPERM | libc::EACCES)) => write!(
                f,
                "xlat64 needs CAP_NET_ADMIN to {} TUN device '{dev}': run as root or grant it \
                 with `setcap cap_net_admin+ep`, or configure the device beforehand with `ip \
                 link` so that xlat64 finds nothing to change",
                self.op.doing()
            ),
            (SysOp::CreateTun, Some(libc::EBUSY)) => write!(
                f,
                "cannot attach to TUN device '{dev}': another process holds it (a single-queue \
                 TUN has one reader); stop that process or choose another name with --tun"
            ),
            (SysOp::CreateTun, Some(libc::EINVAL)) => write!(
                f,
                "cannot attach to '{dev}': a network device of that name exists but is not a \
                 TUN device with matching flags (TUN, not TAP; same multi-queue setting); \
                 delete it (`ip link del {dev}`) or choose another name with --tun"
            ),
            (SysOp::SetMtu, Some(libc::EINVAL)) => write!(
                f,
                "the kernel refused the MTU of TUN device '{dev}' ({}): choose a value the \
                 device accepts (68..=65535; at least 1280 to carry IPv6)",
                self.source
            ),
            _ => write!(
                f,
                "cannot {} TUN device '{dev}': {}",
                self.op.doing(),
                self.source
            ),
        }
    }
}

impl SysError {
    /// EACCES on opening the clone device: its mode and owner keep this user out (the
    /// kernel creates it 0666, root's); CAP_NET_ADMIN does not open files.
    fn fmt_clone_node_denied(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open {TUN_CLONE_DEVICE} ({})", self.source)?;
        match self.privileges.clone_node {
            Some(n) if n.mode & 0o006 == 0o006 => write!(
                f,
                ": its mode {:04o} lets everyone read and write it, so a security module \
                 (SELinux, AppArmor) or a `nodev` mount refuses it",
                n.mode
            )?,
            node => {
                write!(
                    f,
                    ": the device node's permissions keep this user out (TUN needs it readable \
                     and writable; the kernel makes it mode 0666, owned by root"
                )?;
                if let Some(n) = node {
                    write!(
                        f,
                        "; here mode {:04o}, owner uid {} gid {}",
                        n.mode, n.uid, n.gid
                    )?;
                }
                write!(
                    f,
                    "): `chmod 0666 {TUN_CLONE_DEVICE}` as root, or run xlat64 as root"
                )?;
            }
        }
        match self.privileges.cap_net_admin {
            Some(true) => write!(
                f,
                "; CAP_NET_ADMIN is held, so the node is the only obstacle"
            ),
            Some(false) => write!(
                f,
                "; creating TUN device '{}' needs CAP_NET_ADMIN as well (`setcap \
                 cap_net_admin+ep`), unless this user attaches to a persistent device it owns",
                self.dev
            ),
            None => Ok(()),
        }
    }
}

impl std::error::Error for SysError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Builds an `ifreq` for `name`; the caller validated the name's length.
fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is a plain C struct (char array + union of integers, sockaddrs and a
    // pointer); all-zero bytes are a valid value for every member.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(MAX_IFNAME_LEN))
    {
        *dst = src as libc::c_char;
    }
    req
}

fn ifreq_name(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Checks what the kernel's `dev_valid_name` checks, so a bad name is reported as such
/// rather than as a bare EINVAL from the ioctl.
pub fn validate_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_IFNAME_LEN {
        return Err(format!("1 to {MAX_IFNAME_LEN} bytes"));
    }
    if name == "." || name == ".." {
        return Err("a name other than '.' or '..'".into());
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return Err("no '/', ':', NUL or whitespace".into());
    }
    Ok(())
}

/// Opens the clone device and creates (or attaches to a persistent) TUN device named
/// `name`. Returns the queue fd (blocking) and the name the kernel used.
///
/// Attaching to an existing persistent device works when it is a TUN (not TAP) device
/// with the same multi-queue setting and either we have CAP_NET_ADMIN or the device's
/// owner/group (`ip tuntap add ... user U group G`) is ours.
pub fn tun_open(name: &str, flags: TunFlags) -> Result<(OwnedFd, String), SysError> {
    if let Err(expected) = validate_ifname(name) {
        return Err(SysError::new(
            SysOp::CreateTun,
            name,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid interface name: expected {expected}"),
            ),
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(TUN_CLONE_DEVICE)
        .map_err(|e| SysError::new(SysOp::OpenCloneDevice, name, e).observing_privileges())?;
    let fd: OwnedFd = file.into();
    let mut req = ifreq(name);
    req.ifr_ifru.ifru_flags = flags.ifr_flags();
    // SAFETY: fd is an open /dev/net/tun descriptor; TUNSETIFF reads and writes one
    // `struct ifreq`, and `req` is a live, properly aligned ifreq for the whole call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) };
    if rc < 0 {
        return Err(
            SysError::new(SysOp::CreateTun, name, io::Error::last_os_error())
                .observing_privileges(),
        );
    }
    Ok((fd, ifreq_name(&req)))
}

/// Sets O_NONBLOCK so reads return EAGAIN instead of blocking the event loop.
pub fn set_nonblocking(fd: BorrowedFd<'_>, dev: &str) -> Result<(), SysError> {
    let err = |e| SysError::new(SysOp::SetNonBlocking, dev, e);
    // SAFETY: F_GETFL on a valid, borrowed fd takes no pointer argument.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if fl < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: F_SETFL on a valid, borrowed fd with an integer flag argument.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) };
    if rc < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(())
}

/// A throwaway datagram socket: interface ioctls (SIOC*IF*) need some socket to go
/// through, and it must belong to the network namespace the device lives in (ours).
fn ctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call with constant arguments; no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2), is valid and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs one interface ioctl (`req` carries the name and the in/out value).
fn if_ioctl(
    op: SysOp,
    dev: &str,
    request: libc::Ioctl,
    req: &mut libc::ifreq,
) -> Result<(), SysError> {
    let sock = ctl_socket().map_err(|e| SysError::new(op, dev, e))?;
    // SAFETY: `sock` is a valid socket; every SIOC[GS]IF* request used here reads/writes
    // exactly one `struct ifreq`, and `req` is a live, aligned ifreq for the whole call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request, req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(SysError::new(op, dev, io::Error::last_os_error()));
    }
    Ok(())
}

/// Current MTU of `dev`.
pub fn get_mtu(dev: &str) -> Result<u32, SysError> {
    let mut req = ifreq(dev);
    if_ioctl(SysOp::GetMtu, dev, libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member (an int) of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    Ok(mtu.max(0) as u32)
}

/// Sets the MTU of `dev`.
pub fn set_mtu(dev: &str, mtu: u32) -> Result<(), SysError> {
    let mut req = ifreq(dev);
    req.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu).unwrap_or(libc::c_int::MAX);
    if_ioctl(SysOp::SetMtu, dev, libc::SIOCSIFMTU, &mut req)
}

/// Current transmit queue length of `dev`.
pub fn get_txqueuelen(dev: &str) -> Result<u32, SysError> {
    let mut req = ifreq(dev);
    if_ioctl(SysOp::GetTxQueueLen, dev, libc::SIOCGIFTXQLEN, &mut req)?;
    // SAFETY: SIOCGIFTXQLEN filled `ifr_qlen`, an int at the start of the union, the same
    // place and type as `ifru_mtu` (libc names no `ifru_ivalue`).
    let qlen = unsafe { req.ifr_ifru.ifru_mtu };
    Ok(qlen.max(0) as u32)
}

/// Sets the transmit queue length of `dev` (packets the kernel queues towards us).
pub fn set_txqueuelen(dev: &str, qlen: u32) -> Result<(), SysError> {
    let mut req = ifreq(dev);
    // `ifr_qlen` is the int at the start of the union, like `ifru_mtu`.
    req.ifr_ifru.ifru_mtu = libc::c_int::try_from(qlen).unwrap_or(libc::c_int::MAX);
    if_ioctl(SysOp::SetTxQueueLen, dev, libc::SIOCSIFTXQLEN, &mut req)
}

/// Whether `dev` is administratively up.
pub fn is_up(dev: &str) -> Result<bool, SysError> {
    let mut req = ifreq(dev);
    if_ioctl(SysOp::GetFlags, dev, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member (a short) of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(flags as libc::c_int & libc::IFF_UP != 0)
}

/// Sets IFF_UP on `dev`, keeping its other flags.
pub fn set_up(dev: &str) -> Result<(), SysError> {
    let mut req = ifreq(dev);
    if_ioctl(SysOp::GetFlags, dev, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member (a short) of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    if_ioctl(SysOp::SetUp, dev, libc::SIOCSIFFLAGS, &mut req)
}

/// Turns off IPv6 address generation on `dev` (`addr_gen_mode` 1, "none"), before it
/// goes up: the link then gets no link-local address, so the kernel sends no Router
/// Solicitations and MLD reports into the TUN, which the translator could only drop.
/// IPv6 routes through the device work without an address. Best effort: a host without
/// IPv6 has no such file, and nothing is lost then.
pub fn no_ipv6_link_local(dev: &str) -> io::Result<()> {
    validate_ifname(dev).map_err(io::Error::other)?;
    std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/addr_gen_mode"), "1")
}

/// One read(2): a TUN read returns exactly one packet (truncated if `buf` is short).
#[inline]
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, writable slice of `buf.len()` bytes for the whole call,
    // and the kernel writes at most that many.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One writev(2): a TUN write takes the gathered iovecs as exactly one packet.
#[inline]
pub fn writev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let cnt = libc::c_int::try_from(bufs.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `IoSlice` is guaranteed ABI-compatible with `struct iovec` on Unix; the
    // slices it points to stay borrowed (alive, unmodified) for the whole call, and
    // `cnt` does not exceed the number of elements.
    let n = unsafe { libc::writev(fd.as_raw_fd(), bufs.as_ptr().cast(), cnt) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Size of a transparent huge page (PMD-mapped) on x86_64 and 4 KiB-page aarch64.
pub const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back `[ptr, ptr + len)` with transparent huge pages
/// (MADV_HUGEPAGE), for tables too large for the TLB to cover with 4 KiB pages. Only
/// the whole 2 MiB pages inside the range are advised (a range smaller than that is
/// left alone). Pages take the advice when first touched, so give it before filling the
/// memory. Where THP is `never` or compiled out this fails with EINVAL; callers treat
/// that as "no huge pages", not as an error to stop for.
pub fn advise_hugepages(ptr: *const u8, len: usize) -> io::Result<()> {
    let addr = ptr as usize;
    let Some(start) = addr.checked_next_multiple_of(HUGE_PAGE) else {
        return Ok(());
    };
    let end = addr.saturating_add(len) & !(HUGE_PAGE - 1);
    if end <= start {
        return Ok(());
    }
    // Derived from `ptr` to keep its provenance; only its address matters to the kernel.
    let first = ptr.wrapping_add(start - addr);
    // SAFETY: MADV_HUGEPAGE only sets a flag on the mappings covering the range; it
    // neither changes their contents nor unmaps anything, so no Rust reference to that
    // memory can be invalidated. An unmapped range just makes the call fail (ENOMEM).
    let rc = unsafe { libc::madvise(first.cast_mut().cast(), end - start, libc::MADV_HUGEPAGE) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether an interface of this name exists in our network namespace.
pub fn if_exists(dev: &str) -> bool {
    let Ok(c) = CString::new(dev) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}

/// TUN offload features (TUNSETOFFLOAD): which super-packets and partial checksums the
/// kernel may hand us, and so which ones it accepts back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OffloadFlags(pub libc::c_uint);

impl OffloadFlags {
    pub const NONE: OffloadFlags = OffloadFlags(0);
    /// Partial checksums only (NEEDS_CSUM), no segmentation offload.
    pub const CSUM: OffloadFlags = OffloadFlags(libc::TUN_F_CSUM);
    /// Checksums and TCP segmentation offload (IPv4, IPv6, with ECN).
    pub const TSO: OffloadFlags =
        OffloadFlags(libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN);
    /// Everything we handle: TSO plus UDP segmentation offload (Linux 6.2+).
    pub const ALL: OffloadFlags = OffloadFlags(Self::TSO.0 | libc::TUN_F_USO4 | libc::TUN_F_USO6);

    /// The fallback order of the start-up probe: newest kernels first.
    pub const PROBE_ORDER: [OffloadFlags; 3] = [Self::ALL, Self::TSO, Self::CSUM];

    /// Feature names in `ethtool -k` spirit, for the start-up log.
    pub fn describe(self) -> String {
        let names = [
            (libc::TUN_F_CSUM, "csum"),
            (libc::TUN_F_TSO4, "tso4"),
            (libc::TUN_F_TSO6, "tso6"),
            (libc::TUN_F_TSO_ECN, "tso-ecn"),
            (libc::TUN_F_USO4, "uso4"),
            (libc::TUN_F_USO6, "uso6"),
        ];
        let on: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|(_, n)| *n)
            .collect();
        if on.is_empty() {
            "none".to_string()
        } else {
            on.join(" ")
        }
    }
}

/// TUNSETOFFLOAD on a queue fd (the setting is device-wide). EINVAL means the kernel does
/// not know one of the flags (USO before Linux 6.2).
pub fn set_offload(fd: BorrowedFd<'_>, flags: OffloadFlags) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned long of flag bits),
    // no pointer; `fd` is a valid TUN fd for the call.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(flags.0),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One readv(2) into a header buffer and a packet buffer: with IFF_VNET_HDR a TUN read
/// returns the virtio-net header and the packet as one datagram, and two iovecs split
/// it without a copy.
#[inline]
pub fn readv2(fd: BorrowedFd<'_>, hdr: &mut [u8], pkt: &mut [u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: hdr.as_mut_ptr().cast(),
            iov_len: hdr.len(),
        },
        libc::iovec {
            iov_base: pkt.as_mut_ptr().cast(),
            iov_len: pkt.len(),
        },
    ];
    // SAFETY: both iovecs point at live, writable slices of the stated lengths, which
    // stay mutably borrowed (unaliased) for the whole call; the kernel writes at most
    // that many bytes into each.
    let n = unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), 2) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// The CPUs this process may run on (its affinity mask), in ascending order. Equals the
/// online CPUs unless a cpuset or `taskset` restricts us, in which case workers beyond
/// it would only compete for the same cores.
pub fn usable_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is a live cpu_set_t of the size passed.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    let n = libc::CPU_SETSIZE as usize;
    let cpus: Vec<usize> = if rc == 0 {
        // SAFETY: CPU_ISSET reads one bit of the initialised set; `i` < CPU_SETSIZE.
        (0..n)
            .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
            .collect()
    } else {
        Vec::new()
    };
    if cpus.is_empty() {
        // SAFETY: sysconf takes a constant and has no memory effects.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        (0..usize::try_from(online).unwrap_or(1).max(1)).collect()
    } else {
        cpus
    }
}

/// Pins the calling thread to one CPU, so a queue's worker keeps its caches and does not
/// bounce between cores.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("CPU {cpu} is beyond CPU_SETSIZE"),
        ));
    }
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of `set`; `cpu` < CPU_SETSIZE was checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a live cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// 64 random bits from the kernel (getrandom(2)), to key the NAT64 table hashes per
/// process so that nobody outside can aim flows at one hash chain.
pub fn random_u64() -> io::Result<u64> {
    let mut b = [0u8; 8];
    let mut got = 0usize;
    while got < b.len() {
        let rest = &mut b[got..];
        // SAFETY: the pointer and length describe `rest`, a live mutable slice that
        // getrandom(2) writes at most `rest.len()` bytes into; flags 0 = urandom pool.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += n as usize;
    }
    Ok(u64::from_ne_bytes(b))
}

/// Whether we run as root (tests that need CAP_NET_ADMIN skip otherwise).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The PID of the process at the other end of a connected Unix socket (SO_PEERCRED;
/// for a socket connected to a listener, the process that called listen). None when
/// that process is not visible from our PID namespace: the kernel then reports 0.
pub fn peer_pid(fd: BorrowedFd<'_>) -> io::Result<Option<u32>> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `fd` is a valid, borrowed socket; SO_PEERCRED writes at most `len` bytes
    // (one `struct ucred`, plain integers, any bit pattern valid) into `cred`, a live
    // local of exactly that size, and updates `len`, a live local too.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u32::try_from(cred.pid).ok().filter(|&p| p != 0))
}

/// Moves the calling *thread* into a new, empty network namespace (tests: a TUN device
/// and routes that vanish when the thread ends). Threads it spawns inherit it.
pub fn unshare_netns() -> io::Result<()> {
    // SAFETY: unshare(2) with a constant flag; no pointers. CLONE_NEWNET affects only
    // the calling thread and is allowed in a multi-threaded process.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_rules_match_kernel_dev_valid_name() {
        assert!(validate_ifname("xlat64").is_ok());
        assert!(validate_ifname("abcdefghijklmno").is_ok()); // 15 bytes
        assert!(validate_ifname("abcdefghijklmnop").is_err()); // 16 bytes
        assert!(validate_ifname("").is_err());
        assert!(validate_ifname(".").is_err());
        assert!(validate_ifname("..").is_err());
        assert!(validate_ifname("a/b").is_err());
        assert!(validate_ifname("a:b").is_err());
        assert!(validate_ifname("a b").is_err());
    }

    #[test]
    fn ifreq_round_trips_the_name() {
        let r = ifreq("xt0");
        assert_eq!(ifreq_name(&r), "xt0");
    }

    #[test]
    fn tun_flags_are_tun_no_pi_by_default() {
        let f = TunFlags::default().ifr_flags() as libc::c_int;
        assert_eq!(f, libc::IFF_TUN | libc::IFF_NO_PI);
        let f = TunFlags {
            multi_queue: true,
            vnet_hdr: true,
        }
        .ifr_flags() as libc::c_int;
        assert_ne!(f & libc::IFF_MULTI_QUEUE, 0);
        assert_ne!(f & libc::IFF_VNET_HDR, 0);
    }

    #[test]
    fn permission_errors_name_cap_net_admin() {
        let e = SysError::new(
            SysOp::CreateTun,
            "xlat64",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert!(e.is_permission());
        let msg = e.to_string();
        assert!(msg.starts_with(
            "xlat64 needs CAP_NET_ADMIN to create TUN device 'xlat64': run as root or grant \
             it with `setcap cap_net_admin+ep`"
        ));
        let e = SysError::new(
            SysOp::SetMtu,
            "t",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert!(
            e.to_string()
                .contains("CAP_NET_ADMIN to set the MTU of TUN device 't'")
        );
    }

    fn denied(op: SysOp, errno: i32, privileges: Privileges) -> String {
        SysError {
            privileges,
            ..SysError::new(op, "xlat64", io::Error::from_raw_os_error(errno))
        }
        .to_string()
    }

    const NODE_0600: NodeOwner = NodeOwner {
        mode: 0o600,
        uid: 0,
        gid: 0,
    };

    #[test]
    fn eacces_on_the_clone_device_blames_its_mode_not_the_capability() {
        let with_cap = Privileges {
            cap_net_admin: Some(true),
            clone_node: Some(NODE_0600),
        };
        let m = denied(SysOp::OpenCloneDevice, libc::EACCES, with_cap);
        assert!(
            m.starts_with("cannot open /dev/net/tun (Permission denied"),
            "{m}"
        );
        assert!(!m.starts_with("xlat64 needs CAP_NET_ADMIN"), "{m}");
        assert!(m.contains("here mode 0600, owner uid 0 gid 0"), "{m}");
        assert!(m.contains("`chmod 0666 /dev/net/tun`"), "{m}");
        assert!(m.ends_with("CAP_NET_ADMIN is held, so the node is the only obstacle"));
        // Without the capability the message says that it is needed too.
        let m = denied(
            SysOp::OpenCloneDevice,
            libc::EACCES,
            Privileges {
                cap_net_admin: Some(false),
                ..with_cap
            },
        );
        assert!(m.contains("`chmod 0666 /dev/net/tun`"), "{m}");
        assert!(m.contains("needs CAP_NET_ADMIN as well"), "{m}");
        // Nothing observed: the advice stands without the details.
        let m = denied(SysOp::OpenCloneDevice, libc::EACCES, Privileges::default());
        assert!(m.contains("owned by root): `chmod 0666"), "{m}");
        assert!(!m.contains("CAP_NET_ADMIN"), "{m}");
        // A node everyone may open was refused by something else than its mode.
        let m = denied(
            SysOp::OpenCloneDevice,
            libc::EACCES,
            Privileges {
                cap_net_admin: None,
                clone_node: Some(NodeOwner {
                    mode: 0o666,
                    ..NODE_0600
                }),
            },
        );
        assert!(m.contains("its mode 0666 lets everyone"), "{m}");
        assert!(m.contains("nodev"), "{m}");
    }

    #[test]
    fn eperm_on_the_clone_device_is_a_device_policy() {
        let m = denied(SysOp::OpenCloneDevice, libc::EPERM, Privileges::default());
        assert!(m.starts_with("cannot open /dev/net/tun (Operation not permitted"));
        assert!(m.contains("device cgroup") && m.contains("10:200"), "{m}");
    }

    #[test]
    fn eperm_on_tunsetiff_names_cap_net_admin_unless_it_is_held() {
        let today = "xlat64 needs CAP_NET_ADMIN to create TUN device 'xlat64': run as root or \
                     grant it with `setcap cap_net_admin+ep`";
        for cap in [None, Some(false)] {
            for errno in [libc::EPERM, libc::EACCES] {
                let p = Privileges {
                    cap_net_admin: cap,
                    clone_node: None,
                };
                let m = denied(SysOp::CreateTun, errno, p);
                assert!(m.starts_with(today), "{m}");
            }
        }
        let held = Privileges {
            cap_net_admin: Some(true),
            clone_node: None,
        };
        let m = denied(SysOp::CreateTun, libc::EPERM, held);
        assert!(
            m.starts_with("the kernel refused to create TUN device 'xlat64'"),
            "{m}"
        );
        assert!(m.contains("although xlat64 holds CAP_NET_ADMIN"), "{m}");
    }

    #[test]
    fn cap_net_admin_is_bit_12_of_capeff() {
        let status = |eff: &str| format!("Name:\tx\nCapInh:\t0\nCapEff:\t{eff}\nCapBnd:\t0\n");
        assert_eq!(cap_net_admin_in(&status("000001ffffffffff")), Some(true));
        assert_eq!(cap_net_admin_in(&status("0000000000001000")), Some(true));
        assert_eq!(cap_net_admin_in(&status("0000000000000fff")), Some(false));
        assert_eq!(cap_net_admin_in(&status("0000000000000000")), Some(false));
        assert_eq!(cap_net_admin_in(&status("zz")), None);
        assert_eq!(cap_net_admin_in("Name:\tx\n"), None);
        // This process's own status parses (whatever it holds).
        assert!(Privileges::observe().cap_net_admin.is_some());
    }

    #[test]
    fn hugepage_advice_aligns_inward() {
        // 8 MiB of fresh (untouched) memory holds at least three whole 2 MiB pages.
        let v = vec![0u8; 8 << 20];
        let r = advise_hugepages(v.as_ptr(), v.len());
        // EINVAL: a kernel without THP; anything else would be our bug.
        if let Err(e) = r {
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
        }
        // No whole huge page inside: nothing to advise, nothing to fail.
        advise_hugepages(v.as_ptr().wrapping_add(1), HUGE_PAGE).unwrap();
        advise_hugepages(v.as_ptr(), 0).unwrap();
        advise_hugepages(usize::MAX as *const u8, 1).unwrap();
    }

    #[test]
    fn busy_and_mismatch_errors_say_what_to_do() {
        let busy = SysError::new(
            SysOp::CreateTun,
            "t",
            io::Error::from_raw_os_error(libc::EBUSY),
        );
        assert!(busy.to_string().contains("another process holds it"));
        let inval = SysError::new(
            SysOp::CreateTun,
            "t",
            io::Error::from_raw_os_error(libc::EINVAL),
        );
        assert!(inval.to_string().contains("ip link del t"));
    }
}
