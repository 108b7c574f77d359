//! NAT64 reassembly (RFC 6146 §3.4): fragment sequences in any order, with overlaps,
//! duplicates and bad lengths, never panic, never hold more than the slots, and rebuild
//! only valid datagrams.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = xlat64::xlat::fragcheck::fuzz_reassembly(data);
});
