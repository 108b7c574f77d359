//! `struct virtio_net_hdr` (virtio spec §5.1.6), as TUN exchanges it with IFF_VNET_HDR.
//! Fields are little-endian (TUN's default; big-endian only after TUNSETVNETBE).
//! Placeholder for TUN offloads: the translator does not use it yet.
//!
//! ```text
//! flags u8 | gso_type u8 | hdr_len le16 | gso_size le16 | csum_start le16 |
//! csum_offset le16 | [num_buffers le16 — only in the 12-byte variant]
//! ```

use super::{WireError, le16, put_le16};

pub mod field {
    use core::ops::Range;
    pub const FLAGS: usize = 0;
    pub const GSO_TYPE: usize = 1;
    pub const HDR_LEN: Range<usize> = 2..4;
    pub const GSO_SIZE: Range<usize> = 4..6;
    pub const CSUM_START: Range<usize> = 6..8;
    pub const CSUM_OFFSET: Range<usize> = 8..10;
    pub const NUM_BUFFERS: Range<usize> = 10..12;
}

/// Length without `num_buffers`.
pub const HEADER_LEN: usize = 10;
/// Length with `num_buffers` (VIRTIO_NET_F_MRG_RXBUF / TUNSETVNETHDRSZ 12).
pub const HEADER_LEN_MRG: usize = 12;

pub const FLAG_NEEDS_CSUM: u8 = 1;
pub const FLAG_DATA_VALID: u8 = 2;

pub mod gso {
    pub const NONE: u8 = 0;
    pub const TCPV4: u8 = 1;
    pub const UDP: u8 = 3;
    pub const TCPV6: u8 = 4;
    pub const UDP_L4: u8 = 5;
    pub const ECN: u8 = 0x80;
}

#[derive(Debug, Clone, Copy)]
pub struct VnetHdr<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VnetHdr<T> {
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(VnetHdr { buffer })
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    pub fn gso_type(&self) -> u8 {
        self.buffer.as_ref()[field::GSO_TYPE]
    }
    pub fn hdr_len(&self) -> u16 {
        le16(self.buffer.as_ref(), field::HDR_LEN.start)
    }
    pub fn gso_size(&self) -> u16 {
        le16(self.buffer.as_ref(), field::GSO_SIZE.start)
    }
    pub fn csum_start(&self) -> u16 {
        le16(self.buffer.as_ref(), field::CSUM_START.start)
    }
    pub fn csum_offset(&self) -> u16 {
        le16(self.buffer.as_ref(), field::CSUM_OFFSET.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VnetHdr<T> {
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
    pub fn set_gso_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::GSO_TYPE] = v;
    }
    pub fn set_hdr_len(&mut self, v: u16) {
        put_le16(self.buffer.as_mut(), field::HDR_LEN.start, v);
    }
    pub fn set_gso_size(&mut self, v: u16) {
        put_le16(self.buffer.as_mut(), field::GSO_SIZE.start, v);
    }
    pub fn set_csum_start(&mut self, v: u16) {
        put_le16(self.buffer.as_mut(), field::CSUM_START.start, v);
    }
    pub fn set_csum_offset(&mut self, v: u16) {
        put_le16(self.buffer.as_mut(), field::CSUM_OFFSET.start, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-built: NEEDS_CSUM, TCPv6 GSO, hdr_len 74, gso_size 1440, csum at 54+16.
    #[test]
    fn virtio_s5_1_6_fields() {
        let mut b = [1u8, 4, 74, 0, 0xa0, 0x05, 54, 0, 16, 0];
        let h = VnetHdr::new_checked(&b[..]).unwrap();
        assert_eq!(
            (h.flags(), h.gso_type(), h.hdr_len()),
            (FLAG_NEEDS_CSUM, gso::TCPV6, 74)
        );
        assert_eq!(
            (h.gso_size(), h.csum_start(), h.csum_offset()),
            (1440, 54, 16)
        );
        let mut w = VnetHdr::new_checked(&mut b[..]).unwrap();
        w.set_gso_size(1420);
        assert_eq!(&b[4..6], &[0x8c, 0x05]);
        assert!(VnetHdr::new_checked(&b[..9]).is_err());
    }
}

/// A decoded `virtio_net_hdr`: the offload metadata that travels beside a packet when
/// the TUN device runs with IFF_VNET_HDR. `Offload::NONE` (all zero) is a plain packet
/// with a complete checksum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offload {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl Offload {
    pub const NONE: Offload = Offload {
        flags: 0,
        gso_type: gso::NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
    };

    /// Decodes the first [`HEADER_LEN`] bytes; None if `b` is shorter.
    pub fn parse(b: &[u8]) -> Option<Offload> {
        let h = VnetHdr::new_checked(b).ok()?;
        Some(Offload {
            flags: h.flags(),
            gso_type: h.gso_type(),
            hdr_len: h.hdr_len(),
            gso_size: h.gso_size(),
            csum_start: h.csum_start(),
            csum_offset: h.csum_offset(),
        })
    }

    /// Encodes into the first [`HEADER_LEN`] bytes of `b` (the 12-byte variant's
    /// `num_buffers` is left alone); false if `b` is shorter.
    pub fn emit(&self, b: &mut [u8]) -> bool {
        let Ok(mut h) = VnetHdr::new_checked(b) else {
            return false;
        };
        h.set_flags(self.flags);
        h.set_gso_type(self.gso_type);
        h.set_hdr_len(self.hdr_len);
        h.set_gso_size(self.gso_size);
        h.set_csum_start(self.csum_start);
        h.set_csum_offset(self.csum_offset);
        true
    }

    pub fn is_none(&self) -> bool {
        *self == Offload::NONE
    }
}
