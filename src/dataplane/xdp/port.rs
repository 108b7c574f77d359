//! One worker's device in the XDP dataplane: its AF_XDP socket on each interface (the
//! same queue number on both), the next-hop cache, and the kernel path.
//!
//! Received frames are copied out of the UMEM into the worker's packet buffers (without
//! their Ethernet header) and the receive frame goes straight back to the kernel;
//! translated frames are written into a transmit frame behind a new Ethernet header.
//! Two copies of a small packet cost a few ns; in return the worker loop, the engines
//! and the NAT64 hand-off work unchanged on this device as on a TUN queue.

use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use super::nexthop::{Hop, KernelPath, NextHops};
use super::xsk::{MAX_FRAME, Xsk};
use crate::dataplane::device::{Device, SendError};
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::Offload;
use crate::xlat::{Frame, Output};

const ETH_LEN: usize = 14;
/// Index of each family's side in the per-side arrays.
const V4: usize = 0;
const V6: usize = 1;

/// An interface as a worker sees it: its socket on the worker's queue and its MAC.
pub struct Side {
    pub xsk: Xsk,
    pub mac: [u8; 6],
}

pub struct XdpPort {
    name: String,
    /// IPv4 side at [`V4`], IPv6 side at [`V6`].
    sides: [Side; 2],
    hops: NextHops,
    kernel: KernelPath,
    /// An epoll instance holding both sockets: the worker polls one descriptor.
    epoll: OwnedFd,
    epoch: Instant,
    now: u64,
    /// Which side `recv_batch` reads first, alternated so neither starves the other.
    first: usize,
}

fn epoll_with(fds: [RawFd; 2]) -> io::Result<OwnedFd> {
    // SAFETY: plain epoll_create1; checked and owned right after.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    for fd in fds {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: fd as u64,
        };
        // SAFETY: valid epoll and socket descriptors, `ev` live for the call.
        if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(ep)
}

/// The destination address of the IP packet that starts with `head` and goes on
/// with `body`.
fn ip_dst(head: &[u8], body: &[u8]) -> Option<IpAddr> {
    let byte = |i: usize| head.get(i).or_else(|| body.get(i - head.len())).copied();
    let mut a = [0u8; 16];
    match byte(0)? >> 4 {
        4 => {
            for (k, b) in a.iter_mut().take(4).enumerate() {
                *b = byte(16 + k)?;
            }
            Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])))
        }
        6 => {
            for (k, b) in a.iter_mut().enumerate() {
                *b = byte(24 + k)?;
            }
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

impl XdpPort {
    pub fn new(name: String, v4: Side, v6: Side, hops: NextHops) -> io::Result<XdpPort> {
        let epoll = epoll_with([v4.xsk.raw_fd(), v6.xsk.raw_fd()])?;
        Ok(XdpPort {
            name,
            sides: [v4, v6],
            hops,
            kernel: KernelPath::open()?,
            epoll,
            epoch: Instant::now(),
            now: 0,
            first: V6,
        })
    }

    fn tick(&mut self) {
        self.now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
    }

    fn recv_side(&mut self, side: usize, bufs: &mut [PacketBuf], meta: &mut [Offload]) -> usize {
        let Some(s) = self.sides.get_mut(side) else {
            return 0;
        };
        let mac = s.mac;
        let mut n = 0;
        s.xsk.recv(bufs.len(), |frame| {
            let (Some(buf), Some(m)) = (bufs.get_mut(n), meta.get_mut(n)) else {
                return;
            };
            *m = Offload::NONE;
            n += 1;
            // Frames for another host's MAC (a promiscuous port) are not ours to forward.
            let len = match frame.get(ETH_LEN..) {
                Some(pkt) if frame.get(..6) == Some(&mac[..]) => {
                    let area = buf.receive_area();
                    match area.get_mut(..pkt.len()) {
                        Some(dst) => {
                            dst.copy_from_slice(pkt);
                            pkt.len()
                        }
                        None => 0,
                    }
                }
                _ => 0,
            };
            buf.set_received(len);
        });
        n
    }
}

impl Device for XdpPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn wake_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    fn offloads(&self) -> bool {
        false
    }

    fn batch_size(&self) -> usize {
        64
    }

    #[inline]
    fn recv_batch(&mut self, bufs: &mut [PacketBuf], meta: &mut [Offload]) -> io::Result<usize> {
        self.tick();
        let (a, b) = (self.first, 1 - self.first);
        self.first = b;
        let mut n = self.recv_side(a, bufs, meta);
        if let (Some(rest), Some(mrest)) = (bufs.get_mut(n..), meta.get_mut(n..)) {
            n += self.recv_side(b, rest, mrest);
        }
        // No re-arm needed: every wake-up of a socket wakes the epoll instance's own
        // waiters (the worker's poller) whatever its ready list holds, so a frame that
        // arrives after this look raises a new edge.
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    #[inline]
    fn send_frame(&mut self, out: &Output, pkt: &PacketBuf, f: &Frame) -> Result<usize, SendError> {
        let (Some(head), Some(body)) = (
            out.scratch().get(f.head_range()),
            pkt.raw().get(f.body_range()),
        ) else {
            return Err(SendError::BadFrame);
        };
        let Some(dst) = ip_dst(head, body) else {
            return Err(SendError::BadFrame);
        };
        let len = head.len() + body.len();
        let side = if dst.is_ipv6() { V6 } else { V4 };
        let hop = self.hops.get(dst, self.now);
        match hop {
            Hop::Direct(mac) if len + ETH_LEN <= MAX_FRAME => {
                let Some(s) = self.sides.get_mut(side) else {
                    return Err(SendError::BadFrame);
                };
                let src = s.mac;
                let ethertype: [u8; 2] = if side == V6 {
                    [0x86, 0xdd]
                } else {
                    [0x08, 0x00]
                };
                s.xsk
                    .send(ETH_LEN + len, |b| {
                        let (eth, ip) = b.split_at_mut(ETH_LEN);
                        eth[..6].copy_from_slice(&mac);
                        eth[6..12].copy_from_slice(&src);
                        eth[12..].copy_from_slice(&ethertype);
                        let (h, rest) = ip.split_at_mut(head.len());
                        h.copy_from_slice(head);
                        rest.copy_from_slice(body);
                    })
                    .map_err(SendError::Io)?;
                Ok(len)
            }
            _ => self
                .kernel
                .send(dst, &[IoSlice::new(head), IoSlice::new(body)])
                .map_err(SendError::Io),
        }
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        for s in &mut self.sides {
            s.xsk.flush();
        }
        Ok(())
    }
}
