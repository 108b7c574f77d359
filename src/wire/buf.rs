//! Packet buffers with headroom.
//!
//! IPv4→IPv6 translation grows the IP header by 20 bytes (28 with a fragment header).
//! Rather than moving the payload, the translated header is written into headroom in
//! front of the packet and the packet start moves back. IPv6→IPv4 shrinks the header:
//! the start moves forward. The headroom also leaves room for a virtio-net header in
//! front of the packet once TUN offloads (IFF_VNET_HDR) are enabled.

use std::ptr::NonNull;

/// Bytes kept free in front of a received packet. Must cover the largest header growth
/// (20 + 8 for a fragment header) plus a virtio-net header (12 bytes), rounded up to a
/// cache line.
pub const HEADROOM: usize = 64;

/// Largest packet the buffer holds: a maximal IP datagram (64 KiB, and an IPv6 payload
/// of 65535 after a 40-byte header).
pub const MAX_PACKET: usize = 65535 + 40;

/// Tailroom kept after the packet for translations that append (none today) and to
/// keep the allocation a round size.
pub const TAILROOM: usize = 64;

/// A preallocated packet buffer: `[headroom | packet | tailroom]`.
///
/// Allocated once per in-flight packet per worker and reused; nothing on the packet path
/// allocates.
///
/// A buffer may also *view* a packet that lies in memory it does not own: a device's
/// receive frame (an AF_XDP UMEM frame, see [`set_external`](Self::set_external)), so
/// that the packet is translated where the device put it, in the frame's headroom, and
/// sent from there. Reads and in-place rewrites ([`data`](Self::data), [`raw_mut`](Self::raw_mut),
/// [`set_bounds`](Self::set_bounds)) then act on that memory; writing a new packet
/// ([`receive_area`](Self::receive_area), [`set_received`](Self::set_received)) goes back
/// to the buffer's own memory, so reassembly, a released SYN or a hand-off copy never
/// write into a frame the device may be sending.
pub struct PacketBuf {
    buf: Box<[u8]>,
    /// The memory viewed instead of `buf`, if any.
    ext: Option<(NonNull<u8>, usize)>,
    start: usize,
    end: usize,
    /// Largest packet this buffer takes (`MAX_PACKET` unless made smaller).
    cap: usize,
}

// SAFETY: `buf` is owned. An external view is only a pointer: whoever set it promised
// (`set_external`'s contract) that the memory stays valid and unwritten by others while
// the view is used, wherever the buffer is; the dataplane keeps such views on the
// worker thread that owns the device (hand-offs copy them, see `dataplane::handoff`).
unsafe impl Send for PacketBuf {}

impl Default for PacketBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl PacketBuf {
    pub fn new() -> Self {
        Self::with_capacity(MAX_PACKET)
    }

    /// A buffer for packets of at most `cap` bytes (capped at `MAX_PACKET`): e.g. the
    /// NAT64 hand-off buffers when the device delivers no super-packets, so that many
    /// of them cost little memory. A longer packet read into it is truncated (and then
    /// dropped by the translator as malformed).
    pub fn with_capacity(cap: usize) -> Self {
        let cap = cap.min(MAX_PACKET);
        PacketBuf {
            buf: vec![0u8; HEADROOM + cap + TAILROOM].into_boxed_slice(),
            ext: None,
            start: HEADROOM,
            end: HEADROOM,
            cap,
        }
    }

    /// Builds a buffer holding `bytes` after the standard headroom (tests, fuzzing).
    /// Longer input is truncated to `MAX_PACKET`.
    pub fn from_packet(bytes: &[u8]) -> Self {
        let mut p = Self::new();
        let n = bytes.len().min(p.cap);
        p.receive_area()[..n].copy_from_slice(&bytes[..n]);
        p.set_received(n);
        p
    }

    /// Where a read from the device puts the next packet: always the buffer's own
    /// memory (an external view is dropped).
    pub fn receive_area(&mut self) -> &mut [u8] {
        self.ext = None;
        &mut self.buf[HEADROOM..HEADROOM + self.cap]
    }

    /// Marks `len` bytes of [`receive_area`](Self::receive_area) as the packet.
    pub fn set_received(&mut self, len: usize) {
        self.ext = None;
        self.start = HEADROOM;
        self.end = HEADROOM + len.min(self.cap);
    }

    /// Views the packet at `start..end` of the `len` bytes at `ptr` instead of the
    /// buffer's own memory (see the type's documentation). False, changing nothing,
    /// if the range does not lie inside those bytes.
    ///
    /// # Safety
    /// The `len` bytes at `ptr` must stay valid, and neither read nor written by
    /// anything else (another thread, the kernel), for as long as the view is used:
    /// until the next `set_external`, `receive_area` or `set_received` on this buffer,
    /// or its drop. The buffer's own memory is kept meanwhile.
    pub unsafe fn set_external(
        &mut self,
        ptr: NonNull<u8>,
        len: usize,
        start: usize,
        end: usize,
    ) -> bool {
        if start > end || end > len {
            return false;
        }
        self.ext = Some((ptr, len));
        self.start = start;
        self.end = end;
        true
    }

    /// Whether the packet lies in external memory ([`set_external`](Self::set_external)).
    pub fn is_external(&self) -> bool {
        self.ext.is_some()
    }

    /// The memory the packet lies in: the buffer's own, or the external view.
    #[inline(always)]
    fn mem(&self) -> &[u8] {
        match self.ext {
            // SAFETY: `set_external`'s contract: valid and not written by others while
            // the view is in use; `len` is its length.
            Some((p, len)) => unsafe { std::slice::from_raw_parts(p.as_ptr(), len) },
            None => &self.buf,
        }
    }

    #[inline(always)]
    fn mem_mut(&mut self) -> &mut [u8] {
        match self.ext {
            // SAFETY: as in `mem`, and `&mut self` makes this the only access through
            // this buffer.
            Some((p, len)) => unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) },
            None => &mut self.buf,
        }
    }

    /// The packet bytes.
    pub fn data(&self) -> &[u8] {
        &self.mem()[self.start..self.end]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        let (s, e) = (self.start, self.end);
        &mut self.mem_mut()[s..e]
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Offset of the packet's first byte in [`raw`](Self::raw).
    pub fn start(&self) -> usize {
        self.start
    }

    /// Offset just past the packet's last byte in [`raw`](Self::raw).
    pub fn end(&self) -> usize {
        self.end
    }

    /// The whole memory the packet lies in, headroom included, for code that rewrites
    /// headers in place.
    pub fn raw(&self) -> &[u8] {
        self.mem()
    }

    pub fn raw_mut(&mut self) -> &mut [u8] {
        self.mem_mut()
    }

    /// Moves the packet boundaries (after a header was grown into headroom or shrunk).
    /// Returns false, changing nothing, if the range is not inside the allocation.
    pub fn set_bounds(&mut self, start: usize, end: usize) -> bool {
        if start <= end && end <= self.mem().len() {
            self.start = start;
            self.end = end;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A view reads and rewrites the external bytes; writing a new packet goes back to
    // the buffer's own memory and leaves the external bytes alone.
    #[test]
    fn external_view_and_back() {
        let mut frame = vec![0u8; 64];
        frame[20..24].copy_from_slice(&[1, 2, 3, 4]);
        let ptr = NonNull::new(frame.as_mut_ptr()).unwrap();
        let mut b = PacketBuf::from_packet(&[9, 9]);
        // SAFETY: `frame` outlives every use of the view below and nothing else touches it.
        assert!(!unsafe { b.set_external(ptr, 64, 20, 65) });
        assert!(!b.is_external());
        assert!(unsafe { b.set_external(ptr, 64, 20, 24) });
        assert!(b.is_external());
        assert_eq!(b.data(), &[1, 2, 3, 4]);
        assert_eq!(b.raw().len(), 64);
        b.data_mut()[0] = 7;
        assert!(b.set_bounds(10, 24));
        assert!(!b.set_bounds(10, 65));
        b.receive_area()[..3].copy_from_slice(&[5, 6, 7]);
        b.set_received(3);
        assert!(!b.is_external());
        assert_eq!(b.data(), &[5, 6, 7]);
        assert_eq!(frame[20], 7);
        assert_eq!(frame[21..24], [2, 3, 4]);
    }
}
