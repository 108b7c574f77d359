//! What a worker needs from the thing packets come from and go to.
//!
//! The worker loop ([`super::worker`]) is generic over [`Device`] and monomorphised per
//! implementation, so a second dataplane (say AF_XDP sockets next to the TUN queues)
//! reuses the loop, the engines and the hand-off without a call through a vtable per
//! packet. The trait is shaped by what both kinds of device do well:
//! - reads come in batches ([`Device::recv_batch`]); a device that reads one packet per
//!   system call, like a TUN queue, says so with [`Device::batch_size`] 1, and the loop
//!   then translates and writes each packet before it reads the next, as it always has;
//! - writes may be queued and sent together ([`Device::flush`] after each batch); a TUN
//!   writes each frame at once and its `flush` does nothing; the io_uring TUN
//!   ([`super::uring`]) submits the batch's writes there;
//! - readiness is an edge-triggered file descriptor ([`Device::wake_fd`]) the worker
//!   registers with its poller next to its own waker.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;

use super::counters::Counters;
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::Offload;
use crate::xlat::{Frame, Output};

/// Why a frame could not be written.
#[derive(Debug)]
pub enum SendError {
    /// The frame's ranges lie outside the scratch area or the packet buffer (a
    /// translator bug); nothing was written.
    BadFrame,
    /// The kernel refused the packet (EINVAL for a malformed packet, EMSGSIZE, ENOBUFS, ...).
    Io(io::Error),
}

/// One queue of a packet device, owned by one worker thread.
pub trait Device: Send {
    /// The interface name, for logs and errors.
    fn name(&self) -> &str;

    /// The descriptor that turns readable (edge-triggered) when packets wait.
    fn wake_fd(&self) -> RawFd;

    /// Whether received packets may carry offload metadata (GSO super-packets, partial
    /// checksums) and frames may be written with it. Buffers are sized accordingly.
    fn offloads(&self) -> bool;

    /// Gives the device the worker's counters (written only from the worker's thread),
    /// for what it counts itself (XDP frames sent in place) or errors it learns of after
    /// [`send_frame`](Self::send_frame) returned (a write queued, then refused).
    fn attach_counters(&mut self, _counters: &Arc<Counters>) {}

    /// How many packets one [`recv_batch`](Self::recv_batch) call should be offered.
    fn batch_size(&self) -> usize {
        1
    }

    /// Reads up to `bufs.len()` packets, each into the receive area of a buffer (marked
    /// received, possibly empty for a runt the device delivered) with its offload
    /// metadata in `meta` (as long as `bufs`). Returns how many were read;
    /// [`io::ErrorKind::WouldBlock`] when none was waiting.
    fn recv_batch(&mut self, bufs: &mut [PacketBuf], meta: &mut [Offload]) -> io::Result<usize>;

    /// Writes (or queues) one frame: `f`'s head from `out`'s scratch area followed by its
    /// body from `pkt`, with the frame's offload metadata. Returns the packet length.
    fn send_frame(&mut self, out: &Output, pkt: &PacketBuf, f: &Frame) -> Result<usize, SendError>;

    /// Sends whatever [`send_frame`](Self::send_frame) queued.
    #[inline(always)]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
