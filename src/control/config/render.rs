//! The configuration written out: values as TOML (`check-config`, the start-up log),
//! defaults as `--help` shows them, and the README's reference tables.
//!
//! All three are generated from the key table so that none of them can disagree with what
//! the code does; the README test below fails when the committed tables are stale.

use std::fmt::Write as _;

use super::table::{DefaultDoc, KeyInfo, Scope, Syntax, Toml};
use super::{Config, KEY_INFO, KEYS, Source};

/// One value as TOML: strings quoted, numbers and booleans bare.
pub(super) fn value_toml<T>(syntax: &Syntax<T>, v: &T) -> String {
    let raw = (syntax.show)(v);
    match syntax.form.toml {
        Toml::String => format!("\"{raw}\""),
        Toml::Integer | Toml::Boolean => raw,
    }
}

/// A list as a TOML array of strings.
pub(super) fn list_toml<T>(syntax: &Syntax<T>, items: &[T]) -> String {
    let inner: Vec<String> = items
        .iter()
        .map(|i| format!("\"{}\"", (syntax.show)(i)))
        .collect();
    format!("[{}]", inner.join(", "))
}

impl Config {
    /// `(key, TOML value, source)` for every key, in [`KEYS`] order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, String, Source)> + '_ {
        KEYS.into_iter()
            .zip(self.values_toml())
            .zip(self.sources.iter().copied())
            .map(|((k, v), s)| (k, v, s))
    }

    /// The effective configuration as a TOML file (which parses back to the same
    /// values), each line commented with where its value came from.
    pub fn render_toml(&self) -> String {
        let mut s = String::from("# xlat64 effective configuration\n");
        for (k, v, src) in self.entries() {
            // An absent optional key (TOML has no null): a comment that says so.
            let line = if v.is_empty() {
                format!("# {k} (not set)")
            } else {
                format!("{k} = {v}")
            };
            let when = if KEY_INFO.iter().any(|i| i.name == k && i.live) {
                "live"
            } else {
                "restart"
            };
            let _ = writeln!(s, "{line:<48} # {}; {when}", src.describe());
        }
        s
    }
}

/// Markdown to the plain text of `--help`.
fn plain(md: &str) -> String {
    md.replace('`', "")
}

/// A key's `--help` text: its help sentence and its default.
pub fn help_text(k: &KeyInfo) -> String {
    let default = match k.default {
        DefaultDoc::Value(raws) => raws.join(", "),
        DefaultDoc::Lab(raws) => format!("{}, lab only", raws.join(", ")),
        DefaultDoc::Empty("") => "none".to_string(),
        DefaultDoc::Empty(note) => format!("none, {}", plain(note)),
        DefaultDoc::Computed(how) => plain(how),
    };
    format!("{} [default: {default}]", k.help())
}

/// The README's tables: the general keys (with the `--config` flag), then NAT64's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadmeTable {
    General,
    Nat64,
    Clat,
}

impl ReadmeTable {
    pub const ALL: [ReadmeTable; 3] = [ReadmeTable::General, ReadmeTable::Nat64, ReadmeTable::Clat];

    fn holds(self, scope: Scope) -> bool {
        match self {
            ReadmeTable::General => !matches!(scope, Scope::Nat64 | Scope::Clat),
            ReadmeTable::Nat64 => scope == Scope::Nat64,
            ReadmeTable::Clat => scope == Scope::Clat,
        }
    }

    /// The name in the README's marker comments.
    pub fn marker(self) -> &'static str {
        match self {
            ReadmeTable::General => "general",
            ReadmeTable::Nat64 => "nat64",
            ReadmeTable::Clat => "clat",
        }
    }
}

/// A Markdown table cell: a `|` would end it.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn flag_cell(k: &KeyInfo) -> String {
    let value = match (k.form.toml, k.form.switch) {
        (Toml::Boolean, true) => " [BOOL]".to_string(),
        (Toml::Boolean, false) => " BOOL".to_string(),
        _ if k.form.value_name.contains(' ') => format!(" \"{}\"", k.form.value_name),
        _ => format!(" {}", k.form.value_name),
    };
    let (repeat, toml) = if k.list {
        (" (repeatable)", format!("{} = [...]", k.name))
    } else {
        ("", k.name.to_string())
    };
    format!("`--{}{value}`{repeat} / `{toml}`", k.name)
}

fn default_cell(k: &KeyInfo) -> String {
    let shown = |raws: &[&str]| {
        if k.list {
            let items: Vec<String> = raws.iter().map(|r| format!("\"{r}\"")).collect();
            format!("`[{}]`", items.join(", "))
        } else {
            format!("`{}`", raws.join(", "))
        }
    };
    match k.default {
        DefaultDoc::Value(raws) => shown(raws),
        DefaultDoc::Lab(raws) => format!("{} (lab)", shown(raws)),
        DefaultDoc::Empty("") => "none".to_string(),
        DefaultDoc::Empty(note) => format!("none ({note})"),
        DefaultDoc::Computed(how) => how.to_string(),
    }
}

/// One README reference table, Markdown.
pub fn readme_table(table: ReadmeTable) -> String {
    let mut s = String::from(
        "| flag / TOML key | default | on reload | meaning |\n| --- | --- | --- | --- |\n",
    );
    if table == ReadmeTable::General {
        let _ = writeln!(
            s,
            "| `--config FILE` (flag only) | | restart | {} |",
            super::flags::CONFIG_README
        );
    }
    for k in KEY_INFO.iter().filter(|k| table.holds(k.scope)) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            cell(&flag_cell(k)),
            cell(&default_cell(k)),
            if k.live { "live" } else { "restart" },
            cell(k.readme)
        );
    }
    s
}

/// The command that rewrites the README's tables from the key table.
pub const BLESS: &str = "XLAT64_BLESS=1 cargo test --lib readme_reference_tables";

/// `text` with each table between its markers replaced by what the key table generates.
pub fn with_readme_tables(text: &str) -> Result<String, String> {
    let mut out = text.to_string();
    for table in ReadmeTable::ALL {
        let begin = format!(
            "<!-- BEGIN generated config-keys {}: edit src/control/config/keys.rs, then run \
             {BLESS} -->\n",
            table.marker()
        );
        let end = format!("<!-- END generated config-keys {} -->", table.marker());
        let from = out
            .find(&begin)
            .ok_or_else(|| format!("marker {begin:?} not found"))?
            + begin.len();
        let to = out[from..]
            .find(&end)
            .ok_or_else(|| format!("marker {end:?} not found"))?
            + from;
        out.replace_range(from..to, &readme_table(table));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::resolve_file;
    use super::*;

    /// The README's reference tables are generated; this keeps them so. To rewrite them:
    /// `XLAT64_BLESS=1 cargo test --lib readme_reference_tables`.
    #[test]
    fn readme_reference_tables_match_the_key_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let want = with_readme_tables(&text).unwrap();
        if want == text {
            return;
        }
        if std::env::var_os("XLAT64_BLESS").is_some() {
            std::fs::write(&path, want).unwrap();
            return;
        }
        panic!(
            "README.md's configuration reference tables differ from the key table \
             (src/control/config/keys.rs); rewrite them with:\n    {BLESS}"
        );
    }

    #[test]
    fn readme_rows_show_flag_default_and_meaning() {
        let t = readme_table(ReadmeTable::General);
        assert!(
            t.starts_with("| flag / TOML key | default | on reload | meaning |\n"),
            "{t}"
        );
        assert!(
            t.contains("| `--mtu N` / `mtu` | `1500` | restart | TUN MTU "),
            "{t}"
        );
        assert!(
            t.contains("| `--setup-routes [BOOL]` / `setup-routes` | `false` |"),
            "{t}"
        );
        assert!(
            t.contains("| `--wkp-strict BOOL` / `wkp-strict` | `true` |"),
            "{t}"
        );
        assert!(
            t.contains(
                "| `--eam IPV6/LEN=IPV4/LEN` (repeatable) / `eam = [...]` | \
                 `[\"2001:db8:1::/120=192.0.2.0/24\"]` (lab) | live |"
            ),
            "{t}"
        );
        assert!(!t.contains("`--pool4"), "{t}");
        let t = readme_table(ReadmeTable::Nat64);
        assert!(
            t.contains(
                "| `--static-bib \"PROTO IPV4:PORT [IPV6]:PORT\"` (repeatable) / \
                 `static-bib = [...]` | none | live |"
            ),
            "{t}"
        );
        assert!(!t.contains("--config"), "{t}");
    }

    #[test]
    fn markers_missing_is_an_error() {
        assert!(with_readme_tables("no tables here").is_err());
    }

    #[test]
    fn help_shows_the_declared_default() {
        let help = |name: &str| help_text(KEY_INFO.iter().find(|k| k.name == name).unwrap());
        assert_eq!(help("mtu"), "MTU of the TUN device [default: 1500]");
        assert_eq!(
            help("prefix"),
            "RFC 6052 prefix for IPv4-embedded IPv6 addresses [default: 2001:db8:64::/96, lab only]"
        );
        assert!(help("ipv6-addr").ends_with("[default: ipv4-addr embedded in prefix]"));
        assert!(help("pool6791").ends_with("[default: none, use ipv4-addr]"));
        assert!(help("static-bib").ends_with("replaces the file's list [default: none]"));
    }

    #[test]
    fn rendered_config_parses_back_to_itself() {
        let c = resolve_file(
            "pool6791 = [\"198.51.100.0/28\"]\neam = [\"2001:db8:1::/120=192.0.2.0/24\", \
             \"2001:db8:2::/128=198.51.100.7/32\"]",
        )
        .unwrap();
        let text = c.render_toml();
        let back = resolve_file(&text).unwrap();
        assert_eq!(back.tun, c.tun);
        assert_eq!(back.eam, c.eam);
        assert_eq!(back.pool6791, c.pool6791);
        assert_eq!(back.ipv6_addr, c.ipv6_addr);
        assert!(text.contains("# built-in lab default"), "{text}");
    }

    /// Issue 11: check-config says which keys a reload may change.
    #[test]
    fn check_config_says_live_or_restart_for_each_key() {
        let text = resolve_file("udp-timeout = 600").unwrap().render_toml();
        let line = |k: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("{k} = ")))
                .unwrap_or_else(|| panic!("{k}: {text}"))
        };
        assert!(
            line("udp-timeout").ends_with("# config file; live"),
            "{text}"
        );
        assert!(line("eam").ends_with("; live"), "{text}");
        assert!(line("tun").ends_with("# default; restart"), "{text}");
        assert!(line("workers").ends_with("; restart"), "{text}");
        assert_eq!(text.lines().skip(1).count(), KEYS.len(), "{text}");
    }
}
