//! The bpf(2) system call over libc: maps, program load, XDP links, test runs.
//!
//! We talk to the kernel directly instead of through libbpf or aya: the program is a
//! few dozen hand-assembled instructions (see [`super::prog`]), so an ELF loader, BTF
//! and a nightly toolchain for a BPF target would be all cost and no gain, and the
//! build stays offline and stable-only. Each `bpf_attr` variant we use is a `repr(C)`
//! struct laid out as in `include/uapi/linux/bpf.h`; the kernel accepts a shorter
//! attribute than its own (the rest reads as zero).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_TEST_RUN: libc::c_int = 10;
const BPF_LINK_CREATE: libc::c_int = 28;

pub const MAP_ARRAY: u32 = 2;
pub const MAP_LPM_TRIE: u32 = 11;
pub const MAP_XSKMAP: u32 = 17;
/// LPM tries must be created without preallocation.
const BPF_F_NO_PREALLOC: u32 = 1;

const PROG_TYPE_XDP: u32 = 6;
pub const PROG_TYPE_SOCKET_FILTER: u32 = 1;
const ATTACH_XDP: u32 = 37;
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

#[repr(C)]
#[derive(Default)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElem {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreate {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct TestRun {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
}

/// bpf(cmd, attr, sizeof attr).
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised repr(C) struct of the layout the kernel
    // expects for `cmd`, and we pass its exact size; pointers inside it (keys, values,
    // instructions, buffers) are set by the callers to memory that outlives this call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Wraps a descriptor the kernel just returned.
fn owned(r: libc::c_long) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(r).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: a successful bpf() that returns a descriptor hands us its only reference.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn name16(name: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, s) in n.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    n
}

/// A BPF map, closed with its descriptor (the kernel frees it once no program uses it).
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
}

impl Map {
    pub fn create(
        name: &str,
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> io::Result<Map> {
        let mut attr = MapCreate {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: if map_type == MAP_LPM_TRIE {
                BPF_F_NO_PREALLOC
            } else {
                0
            },
            map_name: name16(name),
            ..MapCreate::default()
        };
        Ok(Map {
            fd: owned(bpf(BPF_MAP_CREATE, &mut attr)?)?,
            key_size: key_size as usize,
            value_size: value_size as usize,
        })
    }

    /// Inserts or replaces one element.
    pub fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        if key.len() != self.key_size || value.len() != self.value_size {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut attr = MapElem {
            map_fd: self.fd.as_raw_fd() as u32,
            key: key.as_ptr() as u64,
            value: value.as_ptr() as u64,
            ..MapElem::default()
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A loaded XDP program.
#[derive(Debug)]
pub struct Prog {
    fd: OwnedFd,
}

impl Prog {
    /// Loads `insns` (8 bytes each) as an XDP program; a verifier refusal carries the
    /// verifier's log, which names the instruction (a bug in [`super::prog`]).
    pub fn load_xdp(name: &str, insns: &[u64]) -> Result<Prog, (io::Error, String)> {
        Prog::load(PROG_TYPE_XDP, name, insns)
    }

    /// Loads `insns` as a program of `prog_type`.
    pub fn load(prog_type: u32, name: &str, insns: &[u64]) -> Result<Prog, (io::Error, String)> {
        let license = c"Dual MIT/GPL";
        let mut log = vec![0u8; 64 * 1024];
        let mut attr = ProgLoad {
            prog_type,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            prog_name: name16(name),
            expected_attach_type: if prog_type == PROG_TYPE_XDP {
                ATTACH_XDP
            } else {
                0
            },
            ..ProgLoad::default()
        };
        match bpf(BPF_PROG_LOAD, &mut attr).and_then(owned) {
            Ok(fd) => Ok(Prog { fd }),
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                Err((e, String::from_utf8_lossy(&log[..end]).into_owned()))
            }
        }
    }

    /// Attaches the program to `ifindex` through a BPF link: the attachment lives as
    /// long as the link's descriptor, so it goes away with the process however the
    /// process ends (SIGKILL included), and nobody else can replace it meanwhile.
    pub fn attach(&self, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
        let mut attr = LinkCreate {
            prog_fd: self.fd.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: ATTACH_XDP,
            flags,
        };
        owned(bpf(BPF_LINK_CREATE, &mut attr)?)
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Runs a socket filter once over the Ethernet frame `pkt` (BPF_PROG_TEST_RUN; the
    /// program sees the packet from its network header); returns its return value.
    pub fn test_run_skb(&self, pkt: &[u8]) -> io::Result<u32> {
        let mut data = pkt.to_vec();
        let mut out = vec![0u8; pkt.len() + 512];
        let mut attr = TestRun {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: data.len() as u32,
            data_size_out: out.len() as u32,
            data_in: data.as_mut_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat: 1,
            ..TestRun::default()
        };
        bpf(BPF_PROG_TEST_RUN, &mut attr)?;
        Ok(attr.retval)
    }

    /// Runs the program once over `pkt` (BPF_PROG_TEST_RUN) with the given receive
    /// queue; returns its verdict (XDP_PASS, XDP_REDIRECT, ...).
    pub fn test_run(&self, pkt: &[u8], rx_queue: u32) -> io::Result<u32> {
        let mut data = pkt.to_vec();
        let mut out = vec![0u8; pkt.len() + 256];
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index.
        let mut ctx = [0u32; 6];
        ctx[1] = pkt.len() as u32;
        ctx[4] = rx_queue;
        let mut attr = TestRun {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: data.len() as u32,
            data_size_out: out.len() as u32,
            data_in: data.as_mut_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat: 1,
            ctx_size_in: std::mem::size_of_val(&ctx) as u32,
            ctx_in: ctx.as_mut_ptr() as u64,
            ..TestRun::default()
        };
        bpf(BPF_PROG_TEST_RUN, &mut attr)?;
        Ok(attr.retval)
    }
}
