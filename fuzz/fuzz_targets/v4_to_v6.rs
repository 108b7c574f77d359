//! IPv4→IPv6 (RFC 7915 §4): any bytes with version 4 must translate or drop without a
//! panic, and whatever is emitted must have consistent lengths and valid checksums.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xlat64::xlat::selfcheck::fuzz_direction(data, 4);
});
