//! The I/O shell around the sans-IO translator: TUN device, packet loop, counters.
