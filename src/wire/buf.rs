//! Packet buffers with headroom.
//!
//! IPv4→IPv6 translation grows the IP header by 20 bytes (28 with a fragment header).
//! Rather than moving the payload, the translated header is written into headroom in
//! front of the packet and the packet start moves back. IPv6→IPv4 shrinks the header:
//! the start moves forward. The headroom also leaves room for a virtio-net header in
//! front of the packet once TUN offloads (IFF_VNET_HDR) are enabled.

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
pub struct PacketBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Largest packet this buffer takes (`MAX_PACKET` unless made smaller).
    cap: usize,
}

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

    /// Where a read from the device puts the next packet.
    pub fn receive_area(&mut self) -> &mut [u8] {
        &mut self.buf[HEADROOM..HEADROOM + self.cap]
    }

    /// Marks `len` bytes of [`receive_area`](Self::receive_area) as the packet.
    pub fn set_received(&mut self, len: usize) {
        self.start = HEADROOM;
        self.end = HEADROOM + len.min(self.cap);
    }

    /// The packet bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
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

    /// The whole allocation, headroom included, for code that rewrites headers in place.
    pub fn raw(&self) -> &[u8] {
        &self.buf
    }

    pub fn raw_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Moves the packet boundaries (after a header was grown into headroom or shrunk).
    /// Returns false, changing nothing, if the range is not inside the allocation.
    pub fn set_bounds(&mut self, start: usize, end: usize) -> bool {
        if start <= end && end <= self.buf.len() {
            self.start = start;
            self.end = end;
            true
        } else {
            false
        }
    }
}
