//! Configuration: one TOML key per command-line flag, same kebab-case names.
//!
//! Values come from three layers: built-in defaults (the demo lab, so `xlat64 run` works
//! there unchanged), the config file, and flags; a flag overrides the file, the file
//! overrides the default. List keys (`eam`, `pool6791`) are replaced whole, not merged.
//! Both the file and the flags go through the same per-key parsers, so a bad value gets
//! the same message wherever it came from: the key, the value, the expected form.
//!
//! Every key is declared once, in `keys.rs`; the modules around it are split by concern:
//! `values.rs` (value kinds and their parsers), `file.rs` (the TOML layer), `flags.rs` (the
//! clap layer), `resolve.rs` (the merged [`Config`] and its cross-key checks) and
//! `render.rs` (`check-config` output, `--help` defaults, the README tables), `limits.rs`
//! (the NAT64 per-subscriber limits' defaults, derived from a worker's share), with
//! `table.rs` holding the macro that ties the declarations to all of them.

use std::fmt;

mod file;
pub mod flags;
mod keys;
pub mod limits;
pub mod render;
mod resolve;
mod table;
mod values;

pub use keys::{Config, KEY_INFO, KEYS, Partial, default};
pub use resolve::{Source, rfc6052_embed};
pub use table::{DefaultDoc, Form, KeyInfo, Scope, Toml};
pub use values::{
    Dataplane, Eam, LogLevel, MAX_WORKERS, MetricsListen, Mode, TunIo, default_control_socket,
    default_workers, parse_bool, parse_control_socket, parse_eam, parse_ipv4_addr, parse_ipv6_addr,
    parse_log_level, parse_max_sessions, parse_metrics_listen, parse_mode, parse_mtu, parse_pool4,
    parse_pool6791, parse_ports, parse_prefix, parse_static_bib, parse_subscriber_prefix_len,
    parse_timeout, parse_tun, parse_txqueuelen, parse_udp_timeout, parse_workers,
    static_bib_string,
};

/// A bad configuration; `Display` is the whole message. The CLI exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod test_support {
    use super::{Config, ConfigError, Partial};

    pub fn file(text: &str) -> Result<Partial, ConfigError> {
        Partial::from_toml(text, "test.toml")
    }

    pub fn resolve_file(text: &str) -> Result<Config, ConfigError> {
        Config::resolve(file(text)?, Partial::default())
    }
}
