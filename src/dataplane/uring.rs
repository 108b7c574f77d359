//! A TUN queue driven through io_uring (`tun-io = "io-uring"`): one multishot read stays
//! armed on the device and fills buffers the device provides, writes are queued as they
//! are produced, and one `io_uring_enter` per batch submits the batch's writes and runs
//! the reads that found packets meanwhile.
//!
//! Why it may pay: the syscalls path ([`Tun`]) enters the kernel twice per packet (a
//! readv and a writev); here a batch of up to [`DEPTH`] packets costs one enter, plus
//! one per wake-up when the queue ran dry.
//!
//! Choices, each for a reason:
//! - The `io-uring` crate (tokio-rs) maps the rings and orders the ring-index loads and
//!   stores; hand-written, that is the most delicate `unsafe` of all. What stays
//!   `unsafe` here is what no crate can check: that a buffer handed to the kernel
//!   outlives the operation.
//! - `IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN`: completions of reads that waited for a
//!   packet are posted when the worker enters the ring (it does once per batch anyway),
//!   not by interrupting it with task work while it translates. The ring is created
//!   disabled on the thread that opens the device and enabled by the worker's first call,
//!   since the issuer is the thread that enables it.
//! - Wake-ups: an eventfd registered with the ring is the worker's [`Device::wake_fd`];
//!   with deferred task work the kernel signals it when a waiting read becomes ready.
//! - Reads: one `IORING_OP_READ_MULTISHOT` (Linux 6.7) on a ring of provided buffers,
//!   rather than [`DEPTH`] single reads: those would each wait on the queue's wait list,
//!   and every packet would wake all of them (measured: more CPU per packet than one
//!   multishot read). A read lands in a [`PacketBuf`] the device owns;
//!   [`Device::recv_batch`] swaps it with the worker's buffer (a pointer swap, no copy)
//!   and provides the buffer the worker gave back under the same id. With offloads the
//!   buffer starts [`VNET_HDR_LEN`] bytes before the packet area, so the virtio-net
//!   header lands in the headroom.
//! - Writes are copied into a slot the device owns: a frame's head lies in the
//!   translator's scratch area and its body in a buffer the worker reuses at once, and
//!   neither may change until the kernel has read them. A super-packet (over
//!   [`COPY_MAX`]) is written at once with its own writev instead, after the frames
//!   queued before it: one system call per 64 KB costs less than copying it.
//! - The fd is switched to blocking mode: io_uring completes a read of an `O_NONBLOCK`
//!   file with EAGAIN instead of waiting for the packet. Nothing else reads it, and a
//!   write to a TUN does not wait either way (its send buffer is unlimited).
//! - Teardown: outstanding reads can only be cancelled by the issuer thread, which has
//!   ended when the device is dropped; the ring is closed first (the kernel cancels what
//!   is left) and the device's buffers (and the provided-buffer ring) are leaked rather
//!   than freed under a read the kernel might still complete.

use std::alloc::{self, Layout};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::{IoUring, cqueue, opcode, types};
use rustix::event::{EventfdFlags, eventfd};
use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};

use super::counters::Counters;
use super::device::{Device, SendError};
use super::tun::{Tun, VNET_HDR_LEN};
use crate::wire::buf::{HEADROOM, PacketBuf};
use crate::wire::vnet::Offload;
use crate::xlat::{Frame, Output};

/// Receive buffers provided to the multishot read, and the most packets one batch
/// returns (a power of two: the size of the provided-buffer ring).
pub const DEPTH: usize = 64;

/// The provided-buffer group of the receive buffers.
const BGID: u16 = 0;

/// Write slots: frames queued between two submissions. A batch that produces more (UDP
/// super-packets split into datagrams, ICMP errors) submits early.
const TX_SLOTS: usize = 64;

/// Largest frame copied into a write slot; longer ones (super-packets) are written
/// directly (see `send_direct`).
const COPY_MAX: usize = 9216;

/// Bytes per write slot: a virtio-net header and the largest frame copied.
const TX_SLOT_LEN: usize = VNET_HDR_LEN + HEADROOM + COPY_MAX;

/// `user_data` bit that marks a write (its slot below).
const WRITE: u64 = 1 << 32;

/// `user_data` of the multishot read.
const READ: u64 = 1 << 33;

/// One TUN queue whose reads and writes go through an io_uring.
pub struct UringTun {
    // Field order is drop order: the ring goes first, so the kernel stops using the
    // buffers (see the module doc) before `Drop` leaks them.
    ring: IoUring,
    wake: OwnedFd,
    tun: Tun,
    /// Whether the ring was enabled and the read armed (on the worker's thread).
    started: bool,
    /// The multishot read ended (buffers ran out, or an error) and must be armed again.
    rearm: bool,
    /// The receive buffers, index = buffer id.
    rx: Box<[PacketBuf]>,
    /// Where the kernel finds them.
    provided: BufRing,
    /// Reads completed but not yet handed to the worker: (buffer id, length).
    ready: VecDeque<(u16, u32)>,
    tx: Box<[Box<[u8]>]>,
    /// Whether the frame in a slot carried offload metadata (for the error counters).
    tx_offload: Box<[bool]>,
    tx_free: Vec<u32>,
    /// A read failure to report once the packets read before it are handed over.
    error: Option<io::Error>,
    counters: Option<Arc<Counters>>,
}

impl UringTun {
    /// Puts an opened TUN queue behind a new io_uring. Fails with the kernel's error when
    /// io_uring is missing (ENOSYS), disabled by `kernel.io_uring_disabled` (EPERM) or
    /// lacks the setup flags used here (EINVAL: Linux before 6.1), and with EOPNOTSUPP
    /// when it has no multishot read (Linux before 6.7).
    pub fn new(tun: Tun) -> io::Result<UringTun> {
        let entries = u32::try_from(DEPTH + TX_SLOTS).unwrap_or(128);
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_r_disabled()
            .setup_cqsize(entries * 2)
            .build(entries)?;
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if !probe.is_supported(opcode::ReadMulti::CODE) {
            // Before Linux 6.7: say so at start rather than fail in the first read.
            return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        }
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        ring.submitter().register_eventfd(wake.as_raw_fd())?;
        let fl = fcntl_getfl(tun.as_fd())?;
        fcntl_setfl(tun.as_fd(), fl.difference(OFlags::NONBLOCK))?;
        let provided = BufRing::new()?;
        // SAFETY: the ring memory is DEPTH page-aligned entries that live as long as the
        // io_uring (leaked in `Drop` if the ring ran, see the module doc).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                provided.base() as u64,
                DEPTH as u16,
                BGID,
                0,
            )?;
        }
        Ok(UringTun {
            ring,
            wake,
            tun,
            started: false,
            rearm: false,
            rx: (0..DEPTH).map(|_| PacketBuf::new()).collect(),
            provided,
            ready: VecDeque::with_capacity(DEPTH),
            tx: (0..TX_SLOTS)
                .map(|_| vec![0u8; TX_SLOT_LEN].into_boxed_slice())
                .collect(),
            tx_offload: vec![false; TX_SLOTS].into_boxed_slice(),
            tx_free: (0..TX_SLOTS as u32).rev().collect(),
            error: None,
            counters: None,
        })
    }

    /// Enables the ring on the calling (worker) thread, provides every buffer and arms
    /// the read.
    #[cold]
    fn start(&mut self) -> io::Result<()> {
        self.ring.submitter().register_enable_rings()?;
        for i in 0..self.rx.len() {
            self.provide(i);
        }
        self.arm()?;
        self.ring.submit()?;
        self.started = true;
        Ok(())
    }

    /// Queues the multishot read (submitted with the next enter).
    fn arm(&mut self) -> io::Result<()> {
        let sqe = opcode::ReadMulti::new(types::Fd(self.tun.as_raw_fd()), 0, BGID)
            .build()
            .user_data(READ);
        self.rearm = false;
        self.push(&sqe)
    }

    /// Gives buffer `i` back to the kernel under id `i`. With offloads the buffer starts
    /// in the headroom, where the virtio-net header then lands.
    #[inline]
    fn provide(&mut self, i: usize) {
        let vnet = self.tun.has_vnet_hdr();
        let Some(buf) = self.rx.get_mut(i) else {
            return;
        };
        let cap = buf.receive_area().len();
        let (off, len) = if vnet {
            (HEADROOM - VNET_HDR_LEN, cap + VNET_HDR_LEN)
        } else {
            (HEADROOM, cap)
        };
        if let Some(area) = buf.raw_mut().get_mut(off..off + len) {
            self.provided.push(area, i as u16);
        }
    }

    /// Pushes one entry, submitting first if the queue is full (it cannot be: it holds
    /// one entry per read and write slot, and each has at most one outstanding).
    ///
    /// Every entry pushed points into `self.tx` buffers or reads into provided `self.rx`
    /// buffers, which stay put until the kernel has returned them in a completion (see
    /// `reap`, `recv_batch`) or the device is dropped (leaked, see `Drop`).
    #[inline]
    fn push(&mut self, sqe: &io_uring::squeue::Entry) -> io::Result<()> {
        for _ in 0..2 {
            // SAFETY: the entry's buffer is owned by `self` and neither freed nor handed
            // out until its completion is reaped (module doc, `Drop`); its length is the
            // buffer's.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
        Err(io::Error::from_raw_os_error(libc::EBUSY))
    }

    /// Takes every completion off the ring: writes free their slot (failures counted),
    /// packets read wait in `ready` for the worker.
    #[inline]
    fn reap(&mut self) {
        let mut cq = self.ring.completion();
        cq.sync();
        for cqe in &mut cq {
            let (ud, res, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            if ud == READ {
                if let (Some(bid), Ok(len)) = (cqueue::buffer_select(flags), u32::try_from(res)) {
                    self.ready.push_back((bid, len));
                }
                if !cqueue::more(flags) {
                    // ENOBUFS: the worker holds every buffer; it gives them back before
                    // the next enter re-arms. Anything else ends the read as well.
                    self.rearm = true;
                    let transient = [libc::ENOBUFS, libc::EAGAIN, libc::EINTR, libc::ECANCELED];
                    if res < 0 && !transient.contains(&-res) {
                        self.error = Some(io::Error::from_raw_os_error(-res));
                    }
                }
                continue;
            }
            let slot = (ud & !WRITE) as u32;
            if res < 0
                && let Some(c) = &self.counters
            {
                c.write_errors.add(1);
                let offload = self.tx_offload.get(slot as usize).copied();
                if offload == Some(true) && res == -libc::EINVAL {
                    c.offload_write_errors.add(1);
                }
            }
            self.tx_free.push(slot);
        }
    }

    /// Submits what is queued and runs the kernel's deferred completions.
    #[inline]
    fn enter(&mut self) -> io::Result<()> {
        if self.rearm {
            self.arm()?;
        }
        let sq = self.ring.submission();
        if sq.is_empty() && !sq.taskrun() {
            return Ok(());
        }
        drop(sq);
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A free write slot, submitting and reaping to free one if none is.
    #[inline]
    fn tx_slot(&mut self) -> Option<u32> {
        if let Some(s) = self.tx_free.pop() {
            return Some(s);
        }
        let _ = self.enter();
        self.reap();
        if self.tx_free.is_empty() {
            // Writes to a TUN complete within the enter that submits them; this waits
            // only if the kernel punted one to a worker thread.
            let _ = self.ring.submit_and_wait(1);
            self.reap();
        }
        self.tx_free.pop()
    }

    /// Hands buffer `i`, holding `res` bytes read, to the worker as `buf` and provides
    /// the buffer the worker gave back in its place.
    #[inline]
    fn deliver(&mut self, i: usize, res: usize, buf: &mut PacketBuf) -> Offload {
        let Some(mine) = self.rx.get_mut(i) else {
            buf.set_received(0);
            return Offload::NONE;
        };
        std::mem::swap(mine, buf);
        let offload = if self.tun.has_vnet_hdr() {
            buf.set_received(res.saturating_sub(VNET_HDR_LEN));
            let hdr = buf.raw().get(HEADROOM - VNET_HDR_LEN..HEADROOM);
            match hdr {
                Some(h) if res >= VNET_HDR_LEN => Offload::parse(h).unwrap_or(Offload::NONE),
                _ => Offload::NONE,
            }
        } else {
            buf.set_received(res);
            Offload::NONE
        };
        self.provide(i);
        offload
    }
}

impl UringTun {
    /// Writes a large frame (a super-packet) with its own writev, after submitting the
    /// frames queued before it so the order holds: its copy would cost more than the
    /// system call saved.
    #[cold]
    fn send_direct(
        &mut self,
        out: &Output,
        pkt: &PacketBuf,
        f: &Frame,
    ) -> Result<usize, SendError> {
        if !self.ring.submission().is_empty() {
            self.enter().map_err(SendError::Io)?;
        }
        self.tun.send_frame(out, pkt, f)
    }
}

impl Device for UringTun {
    fn name(&self) -> &str {
        self.tun.name()
    }

    fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    fn offloads(&self) -> bool {
        self.tun.has_vnet_hdr()
    }

    fn batch_size(&self) -> usize {
        DEPTH
    }

    fn attach_counters(&mut self, counters: &Arc<Counters>) {
        self.counters = Some(Arc::clone(counters));
    }

    fn recv_batch(&mut self, bufs: &mut [PacketBuf], meta: &mut [Offload]) -> io::Result<usize> {
        if !self.started {
            self.start()?;
        }
        self.reap();
        if self.ready.is_empty() {
            // Reads that found a packet after waiting complete only in an enter.
            self.enter()?;
            self.reap();
        }
        let mut n = 0;
        while let (Some(buf), Some(m)) = (bufs.get_mut(n), meta.get_mut(n)) {
            let Some((i, len)) = self.ready.pop_front() else {
                break;
            };
            *m = self.deliver(usize::from(i), len as usize, buf);
            n += 1;
        }
        if n > 0 {
            return Ok(n);
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    #[inline]
    fn send_frame(&mut self, out: &Output, pkt: &PacketBuf, f: &Frame) -> Result<usize, SendError> {
        let (Some(head), Some(body)) = (
            out.scratch().get(f.head_range()),
            pkt.raw().get(f.body_range()),
        ) else {
            return Err(SendError::BadFrame);
        };
        if f.len() > COPY_MAX {
            return self.send_direct(out, pkt, f);
        }
        let hdr = if self.tun.has_vnet_hdr() {
            VNET_HDR_LEN
        } else {
            0
        };
        let len = hdr + head.len() + body.len();
        if len > TX_SLOT_LEN {
            return Err(SendError::BadFrame);
        }
        let Some(slot) = self.tx_slot() else {
            return Err(SendError::Io(io::Error::from_raw_os_error(libc::ENOBUFS)));
        };
        let (Some(buf), Some(off)) = (
            self.tx.get_mut(slot as usize),
            self.tx_offload.get_mut(slot as usize),
        ) else {
            return Err(SendError::BadFrame);
        };
        *off = !f.offload.is_none();
        let parts = buf
            .get_mut(..len)
            .and_then(|b| b.split_at_mut_checked(hdr))
            .and_then(|(h, rest)| Some((h, rest.split_at_mut_checked(head.len())?)));
        let Some((h, (hd, bd))) = parts else {
            self.tx_free.push(slot);
            return Err(SendError::BadFrame);
        };
        f.offload.emit(h);
        hd.copy_from_slice(head);
        bd.copy_from_slice(body);
        let sqe = opcode::Write::new(types::Fd(self.tun.as_raw_fd()), buf.as_ptr(), len as u32)
            .build()
            .user_data(WRITE | u64::from(slot));
        if let Err(e) = self.push(&sqe) {
            self.tx_free.push(slot);
            return Err(SendError::Io(e));
        }
        Ok(len - hdr)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        if !self.started {
            return Ok(());
        }
        let done = self.enter();
        self.reap();
        done
    }
}

impl Drop for UringTun {
    fn drop(&mut self) {
        if self.started {
            // See the module doc: reads may be outstanding and only the (finished) issuer
            // thread could have cancelled them; the kernel cancels them when the ring
            // closes, after this body, so the buffers must outlive it.
            std::mem::forget(std::mem::take(&mut self.rx));
            std::mem::forget(std::mem::take(&mut self.tx));
            self.provided.leak();
        }
    }
}

/// The ring through which the device provides receive buffers to the kernel
/// (`IORING_REGISTER_PBUF_RING`): [`DEPTH`] entries of address, length and id in
/// page-aligned memory, and a tail the device advances as it adds entries.
struct BufRing {
    base: NonNull<BufRingEntry>,
    tail: u16,
    /// False once leaked: the kernel may read the entries until the ring is gone.
    owned: bool,
}

// SAFETY: the memory is owned by the value (like a Box) and touched only through
// `&mut self` on whichever thread holds it.
unsafe impl Send for BufRing {}

impl BufRing {
    const LAYOUT: Result<Layout, alloc::LayoutError> =
        Layout::from_size_align(DEPTH * std::mem::size_of::<BufRingEntry>(), 4096);

    fn new() -> io::Result<BufRing> {
        let layout = Self::LAYOUT.map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc::alloc_zeroed(layout) };
        let base = NonNull::new(p.cast::<BufRingEntry>())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(BufRing {
            base,
            tail: 0,
            owned: true,
        })
    }

    fn base(&self) -> *const BufRingEntry {
        self.base.as_ptr()
    }

    /// Adds `area` under id `bid` and publishes it (release: the entry is written first).
    #[inline]
    fn push(&mut self, area: &mut [u8], bid: u16) {
        let idx = usize::from(self.tail) & (DEPTH - 1);
        // SAFETY: `idx < DEPTH`, inside the allocation; the kernel reads only entries
        // between its head and the published tail, and this one is past the tail.
        let e = unsafe { &mut *self.base.as_ptr().add(idx) };
        e.set_addr(area.as_mut_ptr() as u64);
        e.set_len(area.len() as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field overlaps the first entry's reserved bytes (the
        // kernel's layout); it is 2-aligned inside the page-aligned allocation, and the
        // kernel reads it with an acquire load, as an AtomicU16 is laid out.
        let tail = unsafe { &*BufRingEntry::tail(self.base.as_ptr()).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }

    fn leak(&mut self) {
        self.owned = false;
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if let (true, Ok(layout)) = (self.owned, Self::LAYOUT) {
            // SAFETY: allocated in `new` with this layout, and not leaked.
            unsafe { alloc::dealloc(self.base.as_ptr().cast(), layout) };
        }
    }
}
