//! IPv6→IPv4 (RFC 7915 §5): any bytes with version 6 must translate or drop without a
//! panic, and whatever is emitted must have consistent lengths and valid checksums.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xlat64::xlat::selfcheck::fuzz_direction(data, 6);
});
