//! Frames produced by one translation.
//!
//! A frame is `head ++ body`: `head` is a range of the output's scratch area (generated
//! headers, ICMP errors), `body` a range of the input packet buffer (the payload, which
//! is never copied). The dataplane writes each frame with one `writev`.

use core::ops::Range;

/// At most this many frames per input packet: enough to fragment a 64 KiB IPv4 datagram
/// into 1280-byte IPv6 fragments (52) with room to spare.
pub const MAX_FRAMES: usize = 64;

/// Scratch bytes per output: fragment headers (48 bytes each) and ICMP errors (1280 at
/// most), with room for a hairpinned error.
pub const SCRATCH_LEN: usize = 8192;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Frame {
    /// Range of [`Output::scratch`].
    pub head: (u32, u32),
    /// Range of the input [`PacketBuf::raw`](crate::wire::buf::PacketBuf::raw).
    pub body: (u32, u32),
    /// Offload metadata to write in front of the frame when the device uses
    /// IFF_VNET_HDR ([`Offload::NONE`] for fragments and ICMP errors).
    pub offload: crate::wire::vnet::Offload,
}

impl Frame {
    pub fn head_range(&self) -> Range<usize> {
        self.head.0 as usize..self.head.1 as usize
    }
    pub fn body_range(&self) -> Range<usize> {
        self.body.0 as usize..self.body.1 as usize
    }
    pub fn len(&self) -> usize {
        self.head_range().len() + self.body_range().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Preallocated per worker and reused for every packet.
pub struct Output {
    frames: [Frame; MAX_FRAMES],
    n: usize,
    scratch: Box<[u8]>,
    scratch_used: usize,
    /// The translator computed a UDP checksum the sender left at zero (counted by the
    /// dataplane).
    udp_checksum_computed: bool,
}

impl Default for Output {
    fn default() -> Self {
        Self::new()
    }
}

impl Output {
    pub fn new() -> Self {
        Output {
            frames: [Frame::default(); MAX_FRAMES],
            n: 0,
            scratch: vec![0u8; SCRATCH_LEN].into_boxed_slice(),
            scratch_used: 0,
            udp_checksum_computed: false,
        }
    }

    pub fn clear(&mut self) {
        self.n = 0;
        self.scratch_used = 0;
        self.udp_checksum_computed = false;
    }

    /// Whether this translation computed a UDP checksum that arrived as zero.
    pub fn udp_checksum_computed(&self) -> bool {
        self.udp_checksum_computed
    }

    pub(super) fn note_udp_checksum_computed(&mut self) {
        self.udp_checksum_computed = true;
    }

    pub fn frames(&self) -> &[Frame] {
        &self.frames[..self.n]
    }

    pub fn scratch(&self) -> &[u8] {
        &self.scratch
    }

    /// Reserves `len` scratch bytes; returns their range, or None when full.
    pub fn alloc_scratch(&mut self, len: usize) -> Option<Range<usize>> {
        let start = self.scratch_used;
        let end = start.checked_add(len)?;
        if end > self.scratch.len() {
            return None;
        }
        self.scratch_used = end;
        Some(start..end)
    }

    pub fn scratch_mut(&mut self) -> &mut [u8] {
        &mut self.scratch
    }

    /// Queues a frame; returns false when [`MAX_FRAMES`] are already queued.
    pub fn push(&mut self, head: Range<usize>, body: Range<usize>) -> bool {
        if self.n == MAX_FRAMES {
            return false;
        }
        self.frames[self.n] = Frame {
            head: (head.start as u32, head.end as u32),
            body: (body.start as u32, body.end as u32),
            offload: crate::wire::vnet::Offload::NONE,
        };
        self.n += 1;
        true
    }

    /// Sets the offload metadata of the last queued frame (the translated super-packet).
    pub fn set_last_offload(&mut self, o: crate::wire::vnet::Offload) {
        if let Some(f) = self.frames[..self.n].last_mut() {
            f.offload = o;
        }
    }

    /// Moves the end of the last queued frame's body (a GSO super-packet translated as its
    /// first segment gets its remaining payload back).
    pub(super) fn set_last_body_end(&mut self, end: usize) {
        if let Some(f) = self.frames[..self.n].last_mut() {
            f.body.1 = end as u32;
        }
    }

    /// Copies frame `i` into one contiguous vector (tests and fuzzing only).
    pub fn frame_bytes(&self, i: usize, pkt: &crate::wire::buf::PacketBuf) -> Vec<u8> {
        let f = self.frames[i];
        let mut v = self.scratch[f.head_range()].to_vec();
        v.extend_from_slice(&pkt.raw()[f.body_range()]);
        v
    }
}
