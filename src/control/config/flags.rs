//! The command-line layer: one `xlat64 run` flag per key, built from the key table with
//! clap's builder API.
//!
//! clap only collects strings here; they are parsed by the keys' parsers in
//! [`FlagValues::to_partial`], so that a bad flag value and a bad file value get the same
//! message (and the same exit status) rather than clap's own.

use clap::{Arg, ArgAction, ArgMatches};

use super::render::help_text;
use super::table::KeyInfo;
use super::{ConfigError, KEY_INFO, Partial};

/// `--config FILE`, the one `run` option that is not a key.
pub const CONFIG_FLAG: &str = "config";
/// Its help.
pub const CONFIG_HELP: &str = "TOML configuration file (flags override its values)";
/// Its README meaning.
pub const CONFIG_README: &str = "TOML file, one key per flag";

/// The `--config` flag.
pub fn config_arg() -> Arg {
    Arg::new(CONFIG_FLAG)
        .long(CONFIG_FLAG)
        .value_name("FILE")
        .help(CONFIG_HELP)
        .action(ArgAction::Set)
        .value_parser(clap::value_parser!(std::path::PathBuf))
}

/// One flag per key, in table order.
pub fn key_args() -> impl Iterator<Item = Arg> {
    KEY_INFO.iter().map(key_arg)
}

fn key_arg(k: &KeyInfo) -> Arg {
    let arg = Arg::new(k.name)
        .long(k.name)
        .value_name(k.form.value_name)
        .help(help_text(k))
        .value_parser(clap::value_parser!(String))
        .action(if k.list {
            ArgAction::Append
        } else {
            ArgAction::Set
        });
    if k.form.switch {
        arg.num_args(0..=1).default_missing_value("true")
    } else {
        arg
    }
}

/// The raw values given on the command line, by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagValues(Vec<(&'static str, Vec<String>)>);

impl FlagValues {
    pub fn from_matches(m: &ArgMatches) -> FlagValues {
        FlagValues(
            KEY_INFO
                .iter()
                .filter_map(|k| Some((k.name, m.get_many::<String>(k.name)?.cloned().collect())))
                .collect(),
        )
    }

    /// The configuration layer the flags form.
    pub fn to_partial(&self) -> Result<Partial, ConfigError> {
        Partial::from_raw(|key| {
            self.0
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_slice())
        })
    }
}
