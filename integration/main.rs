//! End-to-end tests: the release binary translating real traffic between network
//! namespaces (see `lab.rs` for the topology). They need root; run them with
//! `cargo xtask test`, or `cargo test --release --test integration -- --test-threads=1`.
//!
//! Every test lives under `e2e::`, so a unit-test run can leave them out with
//! `cargo test --workspace -- --skip e2e::`.
//!
//! `XLAT64_E2E_TRANSLATOR=tayga` runs the traffic tests against TAYGA instead, to check
//! the lab itself; `XLAT64_BIN` overrides the binary under test; `XLAT64_E2E_TUN_IO=io-uring`
//! runs the TUN traffic tests with `--tun-io io-uring`.

#[allow(dead_code)]
mod lab;

mod e2e;
