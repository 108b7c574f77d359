//! The config file layer: TOML text to a [`Partial`].
//!
//! serde checks only the key set, so an unknown key is reported with its line and the
//! list of known keys; each value is then handed to its key's parser as a string, so that
//! a bad value reads the same as from a flag. What TOML adds is its types, and the
//! messages here are about those: a newcomer's most common mistake is quoting a number or
//! a boolean, which gets a message that says so.

use std::path::Path;

use super::keys::FileKeys;
use super::table::{Syntax, Toml};
use super::{ConfigError, Partial};

impl Partial {
    /// Parses config file text. `origin` (the file name) prefixes syntax errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Partial, ConfigError> {
        let keys: FileKeys = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" (line {})", line_of(text, s.start)))
                .unwrap_or_default();
            let msg = e.message().replace("unknown field", "unknown key");
            ConfigError(format!("{origin}{at}: {msg}"))
        })?;
        Partial::from_file_keys(keys).map_err(|e| ConfigError(format!("{origin}: {e}")))
    }

    /// Reads and parses a config file.
    pub fn from_file(path: &Path) -> Result<Partial, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Partial::from_toml(&text, &path.display().to_string())
    }
}

/// 1-based line of a byte offset, for pointing at a TOML error.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |s| s.bytes().filter(|&b| b == b'\n').count())
        + 1
}

/// One value of `syntax` from the file.
pub(super) fn value_from_toml<T>(
    key: &str,
    syntax: &Syntax<T>,
    v: toml::Value,
) -> Result<T, ConfigError> {
    let expected = syntax.form.expected;
    match (syntax.form.toml, v) {
        (Toml::String, toml::Value::String(s)) => (syntax.parse)(key, &s),
        (Toml::String, other) => Err(ConfigError(format!(
            "invalid value for '{key}': {other}: expected a string: {expected}"
        ))),
        (Toml::Integer, toml::Value::Integer(i)) => (syntax.parse)(key, &i.to_string()),
        (Toml::Integer, toml::Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
            Err(quoted(key, &s, "the number", expected))
        }
        (Toml::Integer, other) => Err(ConfigError(format!(
            "invalid value for '{key}': {other}: expected {expected}"
        ))),
        (Toml::Boolean, toml::Value::Boolean(b)) => (syntax.parse)(key, &b.to_string()),
        (Toml::Boolean, toml::Value::String(s)) if matches!(s.trim(), "true" | "false") => {
            Err(quoted(key, &s, "the boolean", expected))
        }
        (Toml::Boolean, other) => Err(ConfigError(format!(
            "invalid value for '{key}': {other}: expected {expected} (unquoted)"
        ))),
    }
}

/// A number or boolean written as a TOML string: the value is right, the quotes are not.
fn quoted(key: &str, s: &str, what: &str, expected: &str) -> ConfigError {
    let as_string = toml::Value::String(s.to_string());
    ConfigError(format!(
        "invalid value for '{key}': {as_string} is a string; write {what} without quotes \
         ({key} = {}): expected {expected}",
        s.trim()
    ))
}

/// A list key from the file: an array of strings, each read by `syntax`.
pub(super) fn list_from_toml<T>(
    key: &str,
    syntax: &Syntax<T>,
    v: toml::Value,
) -> Result<Vec<T>, ConfigError> {
    let expected = || {
        ConfigError(format!(
            "invalid value for '{key}': expected an array of strings, e.g. {key} = [\"{}\"]",
            example(syntax.form.expected)
        ))
    };
    match v {
        toml::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                toml::Value::String(s) => (syntax.parse)(key, &s),
                _ => Err(expected()),
            })
            .collect(),
        _ => Err(expected()),
    }
}

/// The example an "expected ..." text ends with ("..., e.g. 198.51.100.0/28").
fn example(expected: &str) -> &str {
    expected.rsplit_once("e.g. ").map_or(expected, |(_, e)| e)
}

#[cfg(test)]
mod tests {
    use super::super::KEY_INFO;
    use super::super::test_support::{file, resolve_file};
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let e = file("tun = \"a\"\nprefx = \"64:ff9b::/96\"").unwrap_err().0;
        assert!(e.contains("unknown key `prefx`"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.starts_with("test.toml"), "{e}");
    }

    #[test]
    fn toml_syntax_error_names_file_and_line() {
        let e = file("mtu = 1500\nprefix = ").unwrap_err().0;
        assert!(e.starts_with("test.toml (line 2)"), "{e}");
    }

    /// Every list key's message shows an example taken from its expected form.
    #[test]
    fn list_keys_have_an_example() {
        for k in KEY_INFO.iter().filter(|k| k.list) {
            assert_eq!(
                k.form.toml,
                Toml::String,
                "{}: list items are strings",
                k.name
            );
            assert_ne!(example(k.form.expected), k.form.expected, "{}", k.name);
        }
        let e = resolve_file("static-bib = \"x\"").unwrap_err().0;
        assert!(
            e.ends_with(
                "expected an array of strings, e.g. static-bib = \
                 [\"tcp 203.0.113.16:8080 [2001:db8:1::2]:80\"]"
            ),
            "{e}"
        );
    }

    /// A quoted number is the usual newcomer mistake: the message names the quotes and
    /// shows the line written right, for every integer key.
    #[test]
    fn quoted_integers_are_named_as_strings() {
        assert_eq!(
            resolve_file("mtu = \"1500\"").unwrap_err().0,
            "test.toml: invalid value for 'mtu': \"1500\" is a string; write the number \
             without quotes (mtu = 1500): expected an integer from 1280 to 65535"
        );
        for k in KEY_INFO.iter().filter(|k| k.form.toml == Toml::Integer) {
            let e = resolve_file(&format!("{} = \"7\"", k.name)).unwrap_err().0;
            let want = format!(
                "test.toml: invalid value for '{0}': \"7\" is a string; write the number \
                 without quotes ({0} = 7): expected {1}",
                k.name, k.form.expected
            );
            assert_eq!(e, want);
        }
        // Not a number: the quotes are not the problem.
        assert_eq!(
            resolve_file("mtu = \"big\"").unwrap_err().0,
            "test.toml: invalid value for 'mtu': \"big\": expected an integer from 1280 to 65535"
        );
    }

    /// Booleans: a quoted true/false gets the same message as a quoted number; other
    /// wrong values keep the "(unquoted)" hint.
    #[test]
    fn quoted_booleans_are_named_as_strings() {
        assert_eq!(
            resolve_file("setup-routes = \"true\"").unwrap_err().0,
            "test.toml: invalid value for 'setup-routes': \"true\" is a string; write the \
             boolean without quotes (setup-routes = true): expected true or false"
        );
        assert_eq!(
            resolve_file("pin = \"yes\"").unwrap_err().0,
            "test.toml: invalid value for 'pin': \"yes\": expected true or false (unquoted)"
        );
        assert_eq!(
            resolve_file("offload = 0").unwrap_err().0,
            "test.toml: invalid value for 'offload': 0: expected true or false (unquoted)"
        );
    }

    /// Every key, given a bad value in the file, gets a message naming that key.
    #[test]
    fn each_bad_value_names_its_key() {
        let cases = [
            ("tun", "tun = \"a/b\"", "expected an interface name"),
            ("tun", "tun = 5", "expected a string"),
            ("mode", "mode = \"nat46\"", "expected siit, nat64 or clat"),
            ("prefix", "prefix = \"2001:db8::/60\"", "RFC 6052 prefix"),
            (
                "prefix",
                "prefix = \"2001:db8::1/96\"",
                "did you mean 2001:db8::/96",
            ),
            (
                "prefix",
                "prefix = \"2001:db8:0:0:ff00::/96\"",
                "bits 64-71",
            ),
            (
                "eam",
                "eam = \"2001:db8:1::/120=192.0.2.0/24\"",
                "array of strings",
            ),
            ("eam", "eam = [\"2001:db8::/120\"]", "IPV6/LEN=IPV4/LEN"),
            (
                "eam",
                "eam = [\"2001:db8:1::/120=192.0.2.0/25\"]",
                "equal host bits",
            ),
            (
                "eam",
                "eam = [\"2001:db8:1::5/120=192.0.2.0/24\"]",
                "did you mean 2001:db8:1::/120",
            ),
            ("ipv4-addr", "ipv4-addr = \"203.0.113\"", "an IPv4 address"),
            (
                "ipv6-addr",
                "ipv6-addr = \"2001:db8::g\"",
                "an IPv6 address",
            ),
            ("pool6791", "pool6791 = [\"198.51.100.0/33\"]", "IPV4/LEN"),
            ("mtu", "mtu = 1279", "from 1280 to 65535"),
            ("mtu", "mtu = 70000", "from 1280 to 65535"),
            ("mtu", "mtu = \"1500\"", "from 1280 to 65535"),
            (
                "lowest-ipv6-mtu",
                "lowest-ipv6-mtu = 100",
                "from 1280 to 65535",
            ),
            (
                "amend-udp-checksum-zero",
                "amend-udp-checksum-zero = \"yes\"",
                "true or false",
            ),
            ("wkp-strict", "wkp-strict = 1", "true or false"),
            ("setup-routes", "setup-routes = \"true\"", "true or false"),
            ("mss-clamp", "mss-clamp = \"no\"", "true or false"),
            ("txqueuelen", "txqueuelen = 0", "from 1 to 2147483647"),
            ("txqueuelen", "txqueuelen = -5", "from 1 to 2147483647"),
            ("workers", "workers = 0", "from 1 to 256"),
            ("workers", "workers = 257", "from 1 to 256"),
            ("pin", "pin = \"yes\"", "true or false"),
            ("offload", "offload = 0", "true or false"),
            ("log-level", "log-level = \"loud\"", "one of error, warn"),
            (
                "control-socket",
                "control-socket = \"\"",
                "a Unix socket path",
            ),
            ("control-socket", "control-socket = 5", "expected a string"),
        ];
        assert_each_names_its_key(&cases);
    }

    /// Each `(key, file text, part of the message)`: the file is refused, naming the key.
    fn assert_each_names_its_key(cases: &[(&str, &str, &str)]) {
        for (key, text, expected) in cases {
            let e = resolve_file(text).unwrap_err().0;
            assert!(
                e.contains(&format!("invalid value for '{key}'")),
                "{text}: {e}"
            );
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    /// RFC 6146 §3.5.1 (UDP lifetime at least 2 minutes) and the other NAT64 keys: each
    /// bad value names its key.
    #[test]
    fn rfc6146_3_5_1_nat64_bad_values_name_their_key() {
        assert_each_names_its_key(&[
            ("udp-timeout", "udp-timeout = 60", "from 120"),
            ("icmp-timeout", "icmp-timeout = 0", "from 1 to 2147483"),
            ("tcp-est-timeout", "tcp-est-timeout = \"1\"", "from 1 to"),
            (
                "tcp-trans-timeout",
                "tcp-trans-timeout = 9999999",
                "from 1 to",
            ),
            (
                "pool4",
                "pool4 = [\"203.0.113.1/24\"]",
                "did you mean 203.0.113.0/24",
            ),
            ("pool4", "pool4 = [\"10.0.0.0/8\"]", "/16 or longer"),
            ("pool4-ports", "pool4-ports = \"2000-1000\"", "FIRST-LAST"),
            ("pool4-ports", "pool4-ports = \"0-10\"", "FIRST-LAST"),
            ("max-sessions", "max-sessions = 0", "from 1 to 100000000"),
            (
                "max-sessions-per-subscriber",
                "max-sessions-per-subscriber = 0",
                "from 1 to 100000000",
            ),
            (
                "max-sessions-per-address",
                "max-sessions-per-address = \"9\"",
                "from 1 to 100000000",
            ),
            (
                "subscriber-prefix-len",
                "subscriber-prefix-len = 65",
                "from 1 to 64",
            ),
            ("icmp-on-refusal", "icmp-on-refusal = 1", "true or false"),
            (
                "address-dependent-filtering",
                "address-dependent-filtering = \"x\"",
                "true or false",
            ),
        ]);
    }
}
