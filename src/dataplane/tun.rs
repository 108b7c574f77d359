//! A TUN queue as a safe value: one fd, one device name, packet-sized reads and
//! gathered writes. All system calls go through [`sys`](super::sys).

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use tracing::debug;

use super::device::{Device, SendError};

use super::sys::{self, OffloadFlags, SysError, TunFlags};
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::{self, Offload};
use crate::xlat::{Frame, Output};

/// Length of the virtio-net header in front of every packet with IFF_VNET_HDR. We keep
/// the kernel's default of 10 bytes (no TUNSETVNETHDRSZ): the 12-byte variant only adds
/// `num_buffers`, which means something for mergeable receive buffers of a virtio NIC
/// and nothing for TUN, so it would cost an ioctl and two bytes per packet for nothing.
pub const VNET_HDR_LEN: usize = vnet::HEADER_LEN;

/// One queue of a TUN device (with IFF_MULTI_QUEUE, one of several fds of the same
/// device). Closing the last one destroys a non-persistent device, and with it the
/// routes through it.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
    /// IFF_VNET_HDR: every read and write starts with a virtio-net header.
    vnet: bool,
}

/// What [`Tun::configure`] changed, for the startup log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub mtu: u32,
    pub mtu_changed: bool,
    pub txqueuelen: u32,
    pub txqueuelen_changed: bool,
    pub was_up: bool,
}

impl Tun {
    /// Creates the device, or attaches to a persistent one of that name, and makes the
    /// fd non-blocking for the event loop.
    pub fn open(name: &str, flags: TunFlags) -> Result<Tun, SysError> {
        let (fd, name) = sys::tun_open(name, flags)?;
        sys::set_nonblocking(fd.as_fd(), &name)?;
        Ok(Tun {
            fd,
            name,
            vnet: flags.vnet_hdr,
        })
    }

    /// Whether packets carry a virtio-net header (the device was opened with offloads).
    pub fn has_vnet_hdr(&self) -> bool {
        self.vnet
    }

    /// Turns on the richest offload set the kernel accepts: all of them, then without
    /// UDP segmentation (USO needs Linux 6.2), then checksums only; if even that is
    /// refused, none (the header stays, always zero). The setting is device-wide, so one
    /// queue does it for all.
    pub fn enable_offloads(&self) -> OffloadFlags {
        for flags in OffloadFlags::PROBE_ORDER {
            if sys::set_offload(self.fd.as_fd(), flags).is_ok() {
                return flags;
            }
        }
        let _ = sys::set_offload(self.fd.as_fd(), OffloadFlags::NONE);
        OffloadFlags::NONE
    }

    /// The name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets MTU and txqueuelen and brings the link up, changing only what differs, so
    /// that a persistent device configured beforehand by an administrator needs no
    /// privilege here. A link we bring up gets no IPv6 link-local address (see
    /// [`sys::no_ipv6_link_local`]): the kernel's own ND and MLD packets would only be
    /// dropped, and counted as if something were wrong.
    pub fn configure(&self, mtu: u32, txqueuelen: u32) -> Result<LinkState, SysError> {
        let cur_mtu = sys::get_mtu(&self.name)?;
        let mtu_changed = cur_mtu != mtu;
        if mtu_changed {
            sys::set_mtu(&self.name, mtu)?;
        }
        let cur_qlen = sys::get_txqueuelen(&self.name)?;
        let txqueuelen_changed = cur_qlen != txqueuelen;
        if txqueuelen_changed {
            sys::set_txqueuelen(&self.name, txqueuelen)?;
        }
        let was_up = sys::is_up(&self.name)?;
        if !was_up {
            if let Err(e) = sys::no_ipv6_link_local(&self.name) {
                debug!("{}: IPv6 link-local address left on ({e})", self.name);
            }
            sys::set_up(&self.name)?;
        }
        Ok(LinkState {
            mtu,
            mtu_changed,
            txqueuelen,
            txqueuelen_changed,
            was_up,
        })
    }

    /// Reads one packet into the buffer's receive area, marks it received, and returns
    /// its length and offload metadata ([`Offload::NONE`] without a virtio-net header).
    /// A read shorter than the header yields an empty packet.
    #[inline]
    pub fn recv(&self, pkt: &mut PacketBuf) -> io::Result<(usize, Offload)> {
        if !self.vnet {
            let n = sys::read(self.fd.as_fd(), pkt.receive_area())?;
            pkt.set_received(n);
            return Ok((n, Offload::NONE));
        }
        let mut hdr = [0u8; VNET_HDR_LEN];
        let n = sys::readv2(self.fd.as_fd(), &mut hdr, pkt.receive_area())?;
        let len = n.saturating_sub(VNET_HDR_LEN);
        pkt.set_received(len);
        let offload = if n < VNET_HDR_LEN {
            Offload::NONE
        } else {
            Offload::parse(&hdr).unwrap_or(Offload::NONE)
        };
        Ok((len, offload))
    }

    /// Writes one frame, `head` (from the output's scratch area) followed by `body` (from
    /// the packet buffer), as one packet with one writev, behind the frame's offload
    /// metadata when the device has a virtio-net header. Returns the packet length
    /// (header excluded).
    #[inline]
    pub fn send_frame(&self, out: &Output, pkt: &PacketBuf, f: &Frame) -> Result<usize, SendError> {
        let (Some(head), Some(body)) = (
            out.scratch().get(f.head_range()),
            pkt.raw().get(f.body_range()),
        ) else {
            return Err(SendError::BadFrame);
        };
        let mut hdr = [0u8; VNET_HDR_LEN];
        let hdr: &[u8] = if self.vnet {
            f.offload.emit(&mut hdr);
            &hdr
        } else {
            &[]
        };
        let parts = [hdr, head, body];
        let mut iov = [IoSlice::new(&[]); 3];
        let mut cnt = 0;
        for p in parts.iter().filter(|p| !p.is_empty()) {
            iov[cnt] = IoSlice::new(p);
            cnt += 1;
        }
        let n = sys::writev(self.fd.as_fd(), &iov[..cnt]).map_err(SendError::Io)?;
        Ok(n.saturating_sub(hdr.len()))
    }

    /// Writes one contiguous packet without offload metadata (tests, diagnostics).
    pub fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        let hdr = [0u8; VNET_HDR_LEN];
        let hdr: &[u8] = if self.vnet { &hdr } else { &[] };
        let n = sys::writev(self.fd.as_fd(), &[IoSlice::new(hdr), IoSlice::new(bytes)])?;
        Ok(n.saturating_sub(hdr.len()))
    }
}

/// One read and one write system call per packet: the loop translates each packet between
/// them (batch size 1), so a batch never holds more than one 64 KB super-packet.
impl Device for Tun {
    fn name(&self) -> &str {
        &self.name
    }

    fn wake_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn offloads(&self) -> bool {
        self.vnet
    }

    #[inline]
    fn recv_batch(&mut self, bufs: &mut [PacketBuf], meta: &mut [Offload]) -> io::Result<usize> {
        let mut n = 0;
        for (buf, m) in bufs.iter_mut().zip(meta.iter_mut()) {
            match self.recv(buf) {
                Ok((_, o)) => *m = o,
                Err(e) if n == 0 || e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                Err(_) => break,
            }
            n += 1;
        }
        Ok(n)
    }

    #[inline]
    fn send_frame(&mut self, out: &Output, pkt: &PacketBuf, f: &Frame) -> Result<usize, SendError> {
        Tun::send_frame(self, out, pkt, f)
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
