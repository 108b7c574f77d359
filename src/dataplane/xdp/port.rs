//! One worker's device in the XDP dataplane: its AF_XDP socket on each interface (the
//! same queue number on both, one UMEM), the next-hop cache, and the kernel path.
//!
//! Frames are translated where the kernel received them: a received frame becomes the
//! worker's packet buffer's view ([`PacketBuf::set_external`]) past its Ethernet header,
//! the translator rewrites the IP headers in place in the frame's headroom (the kernel
//! leaves 256 bytes in front of every frame), and a translated packet that is one whole
//! frame is sent from the same frame behind a new Ethernet header, on the other
//! interface's socket. What the translator builds in its scratch area (ICMP errors,
//! fragments) is copied into a free frame. The frames of a batch that were not sent go
//! back to the pool at [`flush`](Device::flush), which the worker calls after each batch:
//! that is how long a view lives.

use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use super::nexthop::{Hop, KernelPath, NextHops};
use super::xsk::{FRAME_SIZE, FRAMES, MAX_FRAME, Umem, Xsk};
use crate::dataplane::counters::Counters;
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
    umem: Umem,
    counters: Option<Arc<Counters>>,
    /// Frames received since the last flush; those not sent in place go back to the
    /// pool at the flush.
    held: Vec<u64>,
    /// One bit per UMEM frame: sent in place since the last flush (a constant-time
    /// check per packet, where searching `held` would cost a batch's length).
    sent: Box<[u64]>,
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
    /// `umem` is the one both sockets were opened on; frames of it are given to the
    /// sockets' fill rings here.
    pub fn new(
        name: String,
        v4: Side,
        v6: Side,
        mut umem: Umem,
        hops: NextHops,
    ) -> io::Result<XdpPort> {
        let epoll = epoll_with([v4.xsk.raw_fd(), v6.xsk.raw_fd()])?;
        let mut sides = [v4, v6];
        for s in &mut sides {
            s.xsk.refill(&mut umem);
        }
        Ok(XdpPort {
            name,
            sides,
            umem,
            counters: None,
            held: Vec::with_capacity(2 * 256),
            sent: vec![0; FRAMES.div_ceil(64)].into_boxed_slice(),
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
        let (mac, umem, held) = (s.mac, &self.umem, &mut self.held);
        let mut n = 0;
        s.xsk.recv(bufs.len(), |addr, len| {
            let (Some(buf), Some(m)) = (bufs.get_mut(n), meta.get_mut(n)) else {
                held.push(addr);
                return;
            };
            *m = Offload::NONE;
            n += 1;
            held.push(addr);
            buf.set_received(0);
            let Some((base, frame)) = umem.frame_of(addr) else {
                return;
            };
            let at = (addr - base) as usize;
            // SAFETY: the frame lies inside the UMEM (`frame_of`); the kernel handed it
            // over on the RX ring and gets it back only through the pool, after the
            // next flush, which ends the view (the worker reads a batch's buffers only
            // between `recv_batch` and `flush`), and no other thread sees the UMEM.
            let eth = unsafe {
                std::slice::from_raw_parts(frame.as_ptr().add(at), len.min(FRAME_SIZE - at))
            };
            // Frames for another host's MAC (a promiscuous port) are not ours to forward.
            if eth.len() > ETH_LEN && eth.get(..6) == Some(&mac[..]) {
                // SAFETY: as above; the range is checked against the frame's length.
                unsafe { buf.set_external(frame, FRAME_SIZE, at + ETH_LEN, at + eth.len()) };
            }
        });
        n
    }

    /// Gives the frames of the last batch that were not sent back to the pool.
    fn release_held(&mut self) {
        for a in self.held.drain(..) {
            let (w, bit) = frame_bit(a);
            match self.sent.get_mut(w) {
                Some(word) if *word & bit != 0 => *word &= !bit,
                _ => self.umem.release(a),
            }
        }
    }

    /// Sends the translated packet `pkt` from the frame it was received in, behind an
    /// Ethernet header written into the frame's headroom: when the packet is one whole
    /// frame (`body` is all of it, no head) viewed in one of our held frames. False
    /// when it cannot (the caller copies instead).
    fn send_in_place(
        &mut self,
        side: usize,
        pkt: &PacketBuf,
        f: &Frame,
        eth: [u8; ETH_LEN],
    ) -> bool {
        let body = f.body_range();
        if !pkt.is_external() || !f.head_range().is_empty() || body.start < ETH_LEN {
            return false;
        }
        let umem_at = self.umem.base().as_ptr() as usize;
        let Some(off) = (pkt.raw().as_ptr() as usize).checked_sub(umem_at) else {
            return false;
        };
        let Some((base, frame)) = self.umem.frame_of(off as u64) else {
            return false;
        };
        if base as usize != off || body.end > FRAME_SIZE {
            return false;
        }
        // A view is of a frame of this batch (views end at the flush); it must not be
        // sent yet (a second frame built on the same packet is copied).
        let (w, bit) = frame_bit(base);
        let Some(word) = self.sent.get(w).copied() else {
            return false;
        };
        if word & bit != 0 {
            return false;
        }
        let Some(s) = self.sides.get_mut(side) else {
            return false;
        };
        let at = body.start - ETH_LEN;
        // SAFETY: `at + ETH_LEN` <= `body.end` <= FRAME_SIZE: inside the frame, which is
        // this worker's (held, not sent); the packet view `pkt` does not cover these
        // bytes (they precede its body) and no reference into them is live.
        unsafe { std::ptr::copy_nonoverlapping(eth.as_ptr(), frame.as_ptr().add(at), ETH_LEN) };
        if s.xsk
            .send_at(base + at as u64, ETH_LEN + body.len())
            .is_err()
        {
            return false;
        }
        if let Some(word) = self.sent.get_mut(w) {
            *word |= bit;
        }
        true
    }
}

/// The word and bit of `sent` for the frame containing `addr`.
#[inline]
fn frame_bit(addr: u64) -> (usize, u64) {
    let i = (addr / FRAME_SIZE as u64) as usize;
    (i / 64, 1 << (i % 64))
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

    fn attach_counters(&mut self, counters: &Arc<Counters>) {
        self.counters = Some(Arc::clone(counters));
    }

    fn batch_size(&self) -> usize {
        64
    }

    #[inline]
    fn recv_batch(&mut self, bufs: &mut [PacketBuf], meta: &mut [Offload]) -> io::Result<usize> {
        self.tick();
        // Normally empty: the worker flushes after each batch, which releases them.
        self.release_held();
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
        // An unresolved next hop, or a frame over the UMEM's: through the kernel.
        let mac = match self.hops.get(dst, self.now) {
            Hop::Direct(mac) if len + ETH_LEN <= MAX_FRAME => mac,
            _ => {
                return self
                    .kernel
                    .send(dst, &[IoSlice::new(head), IoSlice::new(body)])
                    .map_err(SendError::Io);
            }
        };
        let Some(src) = self.sides.get(side).map(|s| s.mac) else {
            return Err(SendError::BadFrame);
        };
        let mut eth = [0u8; ETH_LEN];
        eth[..6].copy_from_slice(&mac);
        eth[6..12].copy_from_slice(&src);
        eth[12..].copy_from_slice(if side == V6 {
            &[0x86, 0xdd]
        } else {
            &[0x08, 0x00]
        });
        if self.send_in_place(side, pkt, f, eth) {
            if let Some(c) = &self.counters {
                c.tx_in_place.add(1);
            }
            return Ok(len);
        }
        let Some(s) = self.sides.get_mut(side) else {
            return Err(SendError::BadFrame);
        };
        s.xsk
            .send(&mut self.umem, ETH_LEN + len, |b| {
                let (e, ip) = b.split_at_mut(ETH_LEN);
                e.copy_from_slice(&eth);
                let (h, rest) = ip.split_at_mut(head.len());
                h.copy_from_slice(head);
                rest.copy_from_slice(body);
            })
            .map_err(SendError::Io)?;
        Ok(len)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        self.release_held();
        for s in &mut self.sides {
            s.xsk.flush(&mut self.umem);
        }
        for s in &mut self.sides {
            s.xsk.refill(&mut self.umem);
        }
        Ok(())
    }
}
