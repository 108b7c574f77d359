//! A TUN queue as a safe value: one fd, one device name, packet-sized reads and
//! gathered writes. All system calls go through [`sys`](super::sys).

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::sys::{self, SysError, TunFlags};
use crate::wire::buf::PacketBuf;
use crate::xlat::{Frame, Output};

/// One queue of a TUN device (the only queue until multi-queue lands). Closing it
/// destroys a non-persistent device, and with it the routes through it.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
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

/// Why a frame could not be written.
#[derive(Debug)]
pub enum SendError {
    /// The frame's ranges lie outside the scratch area or the packet buffer (a
    /// translator bug); nothing was written.
    BadFrame,
    /// The kernel refused the packet (EINVAL for a malformed packet, EMSGSIZE, ENOBUFS, ...).
    Io(io::Error),
}

impl Tun {
    /// Creates the device, or attaches to a persistent one of that name, and makes the
    /// fd non-blocking for the event loop.
    pub fn open(name: &str, flags: TunFlags) -> Result<Tun, SysError> {
        let (fd, name) = sys::tun_open(name, flags)?;
        sys::set_nonblocking(fd.as_fd(), &name)?;
        Ok(Tun { fd, name })
    }

    /// The name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets MTU and txqueuelen and brings the link up, changing only what differs, so
    /// that a persistent device configured beforehand by an administrator needs no
    /// privilege here.
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

    /// Reads one packet into the buffer's receive area and marks it received.
    #[inline]
    pub fn recv(&self, pkt: &mut PacketBuf) -> io::Result<usize> {
        let n = sys::read(self.fd.as_fd(), pkt.receive_area())?;
        pkt.set_received(n);
        Ok(n)
    }

    /// Writes one frame, `head` (from the output's scratch area) followed by `body` (from
    /// the packet buffer), as one packet with one writev.
    #[inline]
    pub fn send_frame(&self, out: &Output, pkt: &PacketBuf, f: &Frame) -> Result<usize, SendError> {
        let (Some(head), Some(body)) = (
            out.scratch().get(f.head_range()),
            pkt.raw().get(f.body_range()),
        ) else {
            return Err(SendError::BadFrame);
        };
        let iov = [IoSlice::new(head), IoSlice::new(body)];
        let iov: &[IoSlice<'_>] = match (head.is_empty(), body.is_empty()) {
            (true, false) => &iov[1..],
            (false, true) => &iov[..1],
            _ => &iov,
        };
        sys::writev(self.fd.as_fd(), iov).map_err(SendError::Io)
    }

    /// Writes one contiguous packet (tests, diagnostics).
    pub fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        sys::writev(self.fd.as_fd(), &[IoSlice::new(bytes)])
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
