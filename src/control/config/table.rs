//! The machinery behind the key table in [`keys`](super::keys).
//!
//! A key is a flag, a TOML key, a default, a parser, a line of `check-config` and a row
//! of the README all at once; when each of those was written by hand, a new key meant a
//! dozen edits that could drift apart (a help text repeating a default that had since
//! changed, a key missing from one list). [`keys!`] takes one declaration per key and
//! writes every per-key piece of code from it: the [`Partial`](super::Partial) layer,
//! the [`Config`](super::Config) fields, the file and flag readers, the merge in
//! precedence order and the rendering. What is not per key stays ordinary code in the
//! neighbouring modules, driven by [`KEY_INFO`](super::KEY_INFO).
//!
//! Values keep their Rust types (`Config.mtu` is a `u16`). The per-type knowledge (how a
//! value is parsed, what the error says it expected, how it is written back) is a
//! [`Syntax`], shared by every key of that kind; [`One`] and [`List`] say whether a key
//! holds one such value or a list of them.

use std::fmt::Display;

use super::{ConfigError, Mode};

/// A parser: `(key, raw) -> value`, its error naming the key, the raw value and the
/// expected form. Flags, file strings and declared defaults all go through it.
pub type Parser<T> = fn(&str, &str) -> Result<T, ConfigError>;

/// The TOML type a key takes in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toml {
    String,
    Integer,
    Boolean,
}

/// What the flag and file layers need to know of a value kind, whatever its Rust type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub toml: Toml,
    /// The end of "expected ..." messages.
    pub expected: &'static str,
    /// The flag's value name in `--help` and the README.
    pub value_name: &'static str,
    /// The flag alone means `true` (`--setup-routes`); a value may still follow.
    pub switch: bool,
}

/// One kind of value: how it is read, how it is written back, and its [`Form`].
pub struct Syntax<T> {
    pub parse: Parser<T>,
    /// The raw form the parser reads back (`check-config` prints it).
    pub show: fn(&T) -> String,
    pub form: Form,
}

fn display<T: Display>(v: &T) -> String {
    v.to_string()
}

impl<T> Syntax<T> {
    /// A TOML string, shown with `Display`.
    pub const fn text(parse: Parser<T>, expected: &'static str, value_name: &'static str) -> Self
    where
        T: Display,
    {
        Syntax::with(parse, Toml::String, expected, value_name)
    }

    /// A TOML integer, shown with `Display`.
    pub const fn int(parse: Parser<T>, expected: &'static str, value_name: &'static str) -> Self
    where
        T: Display,
    {
        Syntax::with(parse, Toml::Integer, expected, value_name)
    }

    const fn with(
        parse: Parser<T>,
        toml: Toml,
        expected: &'static str,
        value_name: &'static str,
    ) -> Self
    where
        T: Display,
    {
        Syntax {
            parse,
            show: display::<T>,
            form: Form {
                toml,
                expected,
                value_name,
                switch: false,
            },
        }
    }
}

/// A key holding one value.
pub struct One<T>(pub Syntax<T>);

/// A key holding at most one value: `None` unless given (a CLAT's `plat-prefix`, whose
/// absence means "discover it"). `check-config` writes an absent one as a comment.
pub struct Opt<T>(pub Syntax<T>);

/// A key holding a list: a repeatable flag, a TOML array of strings. A list given by a
/// layer replaces the one below it whole; an empty array means none.
pub struct List<T>(pub Syntax<T>);

impl<T> One<T> {
    pub const fn form(&self) -> Form {
        self.0.form
    }

    pub const fn is_list(&self) -> bool {
        false
    }
}

impl<T> Opt<T> {
    pub const fn form(&self) -> Form {
        self.0.form
    }

    pub const fn is_list(&self) -> bool {
        false
    }
}

impl<T> List<T> {
    pub const fn form(&self) -> Form {
        self.0.form
    }

    pub const fn is_list(&self) -> bool {
        true
    }
}

/// How a key's value travels through the layers; [`One`] and [`List`] are the two.
pub trait Shape {
    type Value;
    /// From raw strings: the flag's values, or the declared default's.
    fn parse<S: AsRef<str>>(&self, key: &str, raws: &[S]) -> Result<Self::Value, ConfigError>;
    /// From the config file.
    fn read_toml(&self, key: &str, v: toml::Value) -> Result<Self::Value, ConfigError>;
    /// As `check-config` prints it (TOML that parses back to the same value).
    fn to_toml(&self, v: &Self::Value) -> String;
}

impl<T> Shape for One<T> {
    type Value = T;

    fn parse<S: AsRef<str>>(&self, key: &str, raws: &[S]) -> Result<T, ConfigError> {
        match raws {
            [raw] => (self.0.parse)(key, raw.as_ref()),
            _ => Err(ConfigError(format!("'{key}' takes one value"))),
        }
    }

    fn read_toml(&self, key: &str, v: toml::Value) -> Result<T, ConfigError> {
        super::file::value_from_toml(key, &self.0, v)
    }

    fn to_toml(&self, v: &T) -> String {
        super::render::value_toml(&self.0, v)
    }
}

impl<T> Shape for Opt<T> {
    type Value = Option<T>;

    fn parse<S: AsRef<str>>(&self, key: &str, raws: &[S]) -> Result<Option<T>, ConfigError> {
        match raws {
            [raw] => (self.0.parse)(key, raw.as_ref()).map(Some),
            _ => Err(ConfigError(format!("'{key}' takes one value"))),
        }
    }

    fn read_toml(&self, key: &str, v: toml::Value) -> Result<Option<T>, ConfigError> {
        super::file::value_from_toml(key, &self.0, v).map(Some)
    }

    /// Empty when absent: [`render_toml`](super::Config::render_toml) comments it out.
    fn to_toml(&self, v: &Option<T>) -> String {
        v.as_ref()
            .map(|v| super::render::value_toml(&self.0, v))
            .unwrap_or_default()
    }
}

impl<T> Shape for List<T> {
    type Value = Vec<T>;

    fn parse<S: AsRef<str>>(&self, key: &str, raws: &[S]) -> Result<Vec<T>, ConfigError> {
        raws.iter()
            .map(|raw| (self.0.parse)(key, raw.as_ref()))
            .collect()
    }

    fn read_toml(&self, key: &str, v: toml::Value) -> Result<Vec<T>, ConfigError> {
        super::file::list_from_toml(key, &self.0, v)
    }

    fn to_toml(&self, v: &Vec<T>) -> String {
        super::render::list_toml(&self.0, v)
    }
}

/// Which modes use a key. A key given for a mode that does not use it is accepted and
/// warned about (`ignored_keys`); the README lists the NAT64 keys in their own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Siit,
    Nat64,
    /// The customer side of 464XLAT only.
    Clat,
    /// SIIT and NAT64, not the CLAT (which finds its prefix itself: `plat-prefix`).
    Provider,
}

impl Scope {
    pub fn used_in(self, mode: Mode) -> bool {
        match self {
            Scope::All => true,
            Scope::Siit => mode == Mode::Siit,
            Scope::Nat64 => mode == Mode::Nat64,
            Scope::Clat => mode == Mode::Clat,
            Scope::Provider => mode != Mode::Clat,
        }
    }
}

/// A default as `--help` and the README show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultDoc {
    /// Raw strings the key's parser reads (one for a single value).
    Value(&'static [&'static str]),
    /// The same, but only right in the demo lab: `run` warns when it is used.
    Lab(&'static [&'static str]),
    /// An empty list; the note (Markdown) says what that means, if anything.
    Empty(&'static str),
    /// Computed when the configuration is resolved; Markdown saying from what.
    Computed(&'static str),
}

/// Everything about a key that is the same whatever its Rust type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// The flag (`--name`) and the TOML key.
    pub name: &'static str,
    /// The declaration's doc comment, lines joined.
    pub help: &'static str,
    /// The README's "meaning" cell (Markdown).
    pub readme: &'static str,
    pub scope: Scope,
    pub default: DefaultDoc,
    pub form: Form,
    pub list: bool,
    /// A reload (SIGHUP, `xlat64 reload`) may change it while the translator runs;
    /// otherwise a changed value is refused until a restart.
    pub live: bool,
}

impl KeyInfo {
    /// The help sentence, without the `[default: ...]` that `--help` appends.
    pub fn help(&self) -> &'static str {
        self.help.trim()
    }
}

/// Flag over file over default, and which one won.
pub fn pick<T>(
    flag: Option<T>,
    file: Option<T>,
    default: impl FnOnce() -> (T, super::Source),
) -> (T, super::Source) {
    match (flag, file) {
        (Some(v), _) => (v, super::Source::Flag),
        (None, Some(v)) => (v, super::Source::File),
        (None, None) => default(),
    }
}

/// A declared raw default, parsed. They are constants that the tests resolve, so a
/// failure here is a bug in the table, not an operator error.
pub fn builtin<T>(v: Result<T, ConfigError>) -> T {
    match v {
        Ok(v) => v,
        Err(e) => unreachable!("built-in default does not parse: {e}"),
    }
}

/// Declares the configuration keys; see [`keys`](super::keys) for the table and the forms
/// a declaration takes.
macro_rules! keys {
    // A declared raw default: one string, or a list of them.
    (@raws [$($raw:expr),* $(,)?]) => { &[$($raw),*] };
    (@raws $raw:expr) => { &[$raw] };

    // Whether a reload may change the key: declared `reload: Live`; restart otherwise.
    (@live Live) => { true };
    (@live) => { false };

    // The default as `--help` and the README show it.
    (@doc Value($($raws:tt)+)) => {
        $crate::control::config::DefaultDoc::Value($crate::control::config::table::keys!(@raws $($raws)+))
    };
    (@doc Lab($($raws:tt)+)) => {
        $crate::control::config::DefaultDoc::Lab($crate::control::config::table::keys!(@raws $($raws)+))
    };
    (@doc Empty($($note:literal)?)) => {
        $crate::control::config::DefaultDoc::Empty(concat!("" $(, $note)?))
    };
    (@doc Computed($how:literal, $e:expr)) => { $crate::control::config::DefaultDoc::Computed($how) };
    (@doc Derived($how:literal, $e:expr)) => { $crate::control::config::DefaultDoc::Computed($how) };

    // The default as a (value, source) pair, evaluated in `merge` where the keys declared
    // above are bound by name.
    (@value $shape:expr, $name:literal, Value($($raws:tt)+)) => {(
        $crate::control::config::table::builtin(
            $shape.parse::<&str>($name, $crate::control::config::table::keys!(@raws $($raws)+)),
        ),
        $crate::control::config::Source::Default,
    )};
    (@value $shape:expr, $name:literal, Lab($($raws:tt)+)) => {(
        $crate::control::config::table::builtin(
            $shape.parse::<&str>($name, $crate::control::config::table::keys!(@raws $($raws)+)),
        ),
        $crate::control::config::Source::LabDefault,
    )};
    (@value $shape:expr, $name:literal, Empty($($note:literal)?)) => {
        (Default::default(), $crate::control::config::Source::Default)
    };
    (@value $shape:expr, $name:literal, Computed($how:literal, $e:expr)) => {
        ($e, $crate::control::config::Source::Default)
    };
    (@value $shape:expr, $name:literal, Derived($how:literal, $e:expr)) => {
        ($e, $crate::control::config::Source::Derived)
    };

    ($(
        $(#[doc = $help:literal])+
        $field:ident: $ty:ty = $shape:expr => {
            key: $name:literal,
            scope: $scope:ident,
            $(reload: $reload:ident,)?
            default: $kind:ident($($default:tt)*) $(if $when:expr)?,
            readme: $readme:literal $(,)?
        }
    )*) => {
        const N: usize = [$($name),*].len();

        /// Every key, in display order. Flag `--K` and TOML key `K` are the same setting.
        pub const KEYS: [&str; N] = [$($name),*];

        /// What `--help`, the README and the checks need of each key, in [`KEYS`] order.
        pub const KEY_INFO: [$crate::control::config::KeyInfo; N] = [$(
            $crate::control::config::KeyInfo {
                name: $name,
                help: concat!($($help),+),
                readme: $readme,
                scope: $crate::control::config::Scope::$scope,
                default: $crate::control::config::table::keys!(@doc $kind($($default)*)),
                form: $shape.form(),
                list: $shape.is_list(),
                live: $crate::control::config::table::keys!(@live $($reload)?),
            }
        ),*];

        /// The field names, to check them against the key names.
        #[cfg(test)]
        pub(super) const FIELDS: [&str; N] = [$(stringify!($field)),*];

        /// The values one layer (the file or the flags) gave; `None`: not given there.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Partial {
            $($(#[doc = $help])+ pub $field: Option<$ty>,)*
        }

        /// The file as serde sees it: only the key set is checked here (unknown keys
        /// rejected, with the line); each value is converted by its key's parser so that
        /// errors name the key.
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct FileKeys {
            $(#[serde(rename = $name)] $field: Option<toml::Value>,)*
        }

        /// The configuration in force after merging defaults, file and flags.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Config {
            $($(#[doc = $help])+ pub $field: $ty,)*
            /// Where each value came from, in [`KEYS`] order.
            pub(super) sources: Vec<$crate::control::config::Source>,
        }

        impl Partial {
            pub(super) fn from_file_keys(k: FileKeys) -> Result<Partial, $crate::control::config::ConfigError> {
                use $crate::control::config::table::Shape as _;
                Ok(Partial {
                    $($field: k.$field.map(|v| $shape.read_toml($name, v)).transpose()?,)*
                })
            }

            /// From the raw strings each key was given on the command line.
            pub(super) fn from_raw<'a, S: AsRef<str> + 'a>(
                given: impl Fn(&str) -> Option<&'a [S]>,
            ) -> Result<Partial, $crate::control::config::ConfigError> {
                use $crate::control::config::table::Shape as _;
                Ok(Partial {
                    $($field: match given($name) {
                        Some(raws) if !raws.is_empty() => Some($shape.parse($name, raws)?),
                        _ => None,
                    },)*
                })
            }
        }

        impl Config {
            /// Each key from `flags`, else `file`, else its default, in table order so
            /// that a computed default can use the keys declared above it.
            pub(super) fn merge(file: Partial, flags: Partial) -> Config {
                use $crate::control::config::table::Shape as _;
                let mut sources = Vec::with_capacity(N);
                $(
                    let $field: $ty = {
                        let (v, s) = $crate::control::config::table::pick(flags.$field, file.$field, || {
                            $(if !($when) {
                                return (Default::default(), $crate::control::config::Source::Default);
                            })?
                            $crate::control::config::table::keys!(@value $shape, $name, $kind($($default)*))
                        });
                        sources.push(s);
                        v
                    };
                )*
                Config { $($field,)* sources }
            }

            /// Each value as TOML, in [`KEYS`] order.
            pub(super) fn values_toml(&self) -> [String; N] {
                use $crate::control::config::table::Shape as _;
                [$($shape.to_toml(&self.$field)),*]
            }
        }
    };
}

pub(crate) use keys;
