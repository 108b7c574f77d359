//! TUN offloads: any virtio-net header with any packet must translate or drop without a
//! panic, and every emitted frame must have consistent lengths and offload metadata
//! that stays inside it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xlat64::xlat::selfcheck::fuzz_offload(data);
});
