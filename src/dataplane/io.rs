//! A worker's device, its preallocated buffers and its counters: everything an engine
//! needs to turn one received packet into written frames.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::warn;

use super::counters::Counters;
use super::device::{Device, SendError};
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::Offload;
use crate::xlat::{Output, Translator, Verdict};

/// Set once the first refused offload frame was logged, so the log says it once per
/// process, not once per packet.
static OFFLOAD_REFUSAL_LOGGED: AtomicBool = AtomicBool::new(false);

pub struct Io<D> {
    pub dev: D,
    /// The packet being translated.
    pub pkt: PacketBuf,
    pub out: Output,
    pub counters: Arc<Counters>,
    /// Where a UDP super-packet's datagrams are built one at a time (see `split_udp`).
    pub seg: PacketBuf,
}

impl<D: Device> Io<D> {
    pub fn new(dev: D) -> Self {
        Io {
            dev,
            pkt: PacketBuf::new(),
            out: Output::new(),
            counters: Arc::new(Counters::new()),
            seg: PacketBuf::new(),
        }
    }

    /// Translates the UDP super-packet in `pkt` datagram by datagram with `translate`
    /// (a plain translator: each datagram has its own complete checksum) and writes
    /// each result: for super-packets whose datagrams RFC 7915 fragments, which one
    /// offload header cannot describe. Each datagram is counted as a packet of its own.
    pub fn split_udp(
        &mut self,
        offload: Offload,
        mut translate: impl FnMut(&mut PacketBuf, &mut Output) -> Verdict,
    ) {
        self.counters.udp_split.add(1);
        let mut i = 0;
        while Translator::udp_datagram(self.pkt.data(), offload, i, &mut self.seg) {
            std::mem::swap(&mut self.pkt, &mut self.seg);
            let v = translate(&mut self.pkt, &mut self.out);
            let dropped = self.account(v);
            self.send_out(dropped);
            std::mem::swap(&mut self.pkt, &mut self.seg);
            i += 1;
        }
    }

    /// Counts what the translator did with one input packet; returns whether it was
    /// dropped (so that its frames, if any, are ICMP errors).
    #[inline]
    pub fn account(&self, verdict: Verdict) -> bool {
        let c = &*self.counters;
        if self.out.udp_checksum_computed() {
            c.udp_checksum_computed.add(1);
        }
        match verdict {
            Verdict::V6ToV4 => {
                c.v6_to_v4.add(1);
                false
            }
            Verdict::V4ToV6 => {
                c.v4_to_v6.add(1);
                false
            }
            Verdict::Hairpinned => {
                c.hairpinned.add(1);
                false
            }
            Verdict::Drop(reason) => {
                c.drop(reason);
                true
            }
        }
    }

    /// Writes every frame in `out`; `errors` says they are ICMP errors the translator
    /// generated (counted as such).
    #[inline]
    pub fn send_out(&mut self, errors: bool) {
        send_frames(&mut self.dev, &self.out, &self.pkt, &self.counters, errors);
    }
}

/// Writes every frame of `out` (bodies from `pkt`) to `dev` and counts the outcome:
/// the body of [`Io::send_out`], callable with the fields borrowed apart (as the NAT64
/// expiry does while it fills `out`).
#[inline]
pub fn send_frames<D: Device>(
    dev: &mut D,
    out: &Output,
    pkt: &PacketBuf,
    c: &Counters,
    errors: bool,
) {
    for f in out.frames() {
        match dev.send_frame(out, pkt, f) {
            Ok(len) => {
                c.tx_packets.add(1);
                c.tx_bytes.add(len as u64);
                if errors {
                    c.icmp_errors.add(1);
                }
            }
            Err(SendError::Io(e)) => {
                c.write_errors.add(1);
                if !f.offload.is_none() && e.raw_os_error() == Some(libc::EINVAL) {
                    c.offload_write_errors.add(1);
                    log_offload_refusal(f.offload);
                }
            }
            Err(SendError::BadFrame) => c.bad_frames.add(1),
        }
    }
}

/// Logs the first frame whose offload metadata the kernel refused; later ones are only
/// counted (`offload_write_errors`).
#[cold]
fn log_offload_refusal(o: Offload) {
    if !OFFLOAD_REFUSAL_LOGGED.swap(true, Ordering::Relaxed) {
        warn!(
            "the kernel refused a frame with offload metadata {o:?} (EINVAL); such frames \
             are counted in offload_write_errors and not logged again; if this repeats, \
             run with --offload false and report it"
        );
    }
}
