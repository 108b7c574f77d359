//! Issue #4: a GSO super-packet (read from the input by `selfcheck::gso_input_from_bytes`)
//! translated whole and then segmented must equal its segments translated one by one,
//! or both must be dropped alike (see `selfcheck::check_gso_equivalence`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xlat64::xlat::selfcheck::fuzz_offload_segments(data);
});
