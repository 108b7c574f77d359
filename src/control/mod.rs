//! Operator interface: CLI, configuration, logging.

/// Entry point of the `xlat64` binary; returns the process exit code.
pub fn main() -> i32 {
    0
}
