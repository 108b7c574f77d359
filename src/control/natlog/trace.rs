//! `xlat64 trace IPV4:PORT [--at TIME] [--proto tcp|udp] [--log FILE]`: which
//! subscriber held a pool4 address and port, and when (RFC 6888 REQ-12's question:
//! "who had A:P at T").
//!
//! Three sources, the first that applies:
//! - `--log FILE`: the JSON-lines records (`nat-log-file`): every span (create …
//!   delete, of a mapping or of a port block) that covers the port, or only the one
//!   holding it at `--at`;
//! - `--config FILE` with `port-allocation = "deterministic"`: the RFC 7422 formula,
//!   which needs no record (true for as long as that configuration ran);
//! - otherwise the running translator's live session table, through the control socket.

use std::io::BufRead;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use super::json::{from_line, parse_time, utc};
use crate::nat64::{Deterministic, NatEvent, NatEventKind, Proto};

/// What the operator asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    pub v4: Ipv4Addr,
    pub port: u16,
    /// Milliseconds since the Unix epoch.
    pub at: Option<u64>,
    pub proto: Option<Proto>,
}

impl Question {
    /// From the command line's `IPV4:PORT`, `--at` and `--proto`.
    pub fn parse(target: &str, at: Option<&str>, proto: Option<&str>) -> Result<Question, String> {
        let sa: SocketAddrV4 = target.parse().map_err(|_| {
            format!("invalid target {target:?}: expected IPV4:PORT, e.g. 192.0.2.1:40000")
        })?;
        let at = at
            .map(|t| {
                parse_time(t).ok_or_else(|| {
                    format!(
                        "invalid value for '--at': {t:?}: expected YYYY-MM-DDTHH:MM[:SS[.mmm]][Z] (UTC) or Unix seconds"
                    )
                })
            })
            .transpose()?;
        let proto = proto
            .map(|p| match p {
                "tcp" => Ok(Proto::Tcp),
                "udp" => Ok(Proto::Udp),
                "icmp" => Ok(Proto::Icmp),
                _ => Err(format!(
                    "invalid value for '--proto': {p:?}: expected tcp, udp or icmp"
                )),
            })
            .transpose()?;
        Ok(Question {
            v4: *sa.ip(),
            port: sa.port(),
            at,
            proto,
        })
    }

    fn covers(&self, e: &NatEvent) -> bool {
        e.v4 == self.v4
            && (e.port_first..=e.port_last).contains(&self.port)
            && self.proto.is_none_or(|p| p == e.proto)
    }
}

/// A time during which a subscriber held the port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub proto: Proto,
    pub subscriber: (Ipv6Addr, u8),
    /// The host, for a mapping; None for a port block (the whole prefix held it).
    pub host: Option<(Ipv6Addr, u16)>,
    pub ports: (u16, u16),
    /// None: before the log begins.
    pub from: Option<u64>,
    /// None: still held when the log ends.
    pub to: Option<u64>,
    pub what: &'static str,
}

impl Span {
    fn contains(&self, t: u64) -> bool {
        self.from.is_none_or(|f| f <= t) && self.to.is_none_or(|e| t <= e)
    }
}

type Key = (u8, Proto, Ipv4Addr, u16, u16, Ipv6Addr, u16);

fn key(e: &NatEvent) -> Key {
    let class = if e.kind.is_block() {
        0
    } else if matches!(e.kind, NatEventKind::BibCreate | NatEventKind::BibDelete) {
        1
    } else {
        2
    };
    let (v6, p6) = if e.kind.is_block() {
        (e.prefix(), 0)
    } else {
        (e.v6, e.v6_port)
    };
    (class, e.proto, e.v4, e.port_first, e.port_last, v6, p6)
}

fn span(e: &NatEvent, from: Option<u64>, to: Option<u64>) -> Span {
    Span {
        proto: e.proto,
        subscriber: (e.prefix(), e.prefix_len),
        host: (!e.kind.is_block()).then_some((e.v6, e.v6_port)),
        ports: (e.port_first, e.port_last),
        from,
        to,
        what: if e.kind.is_block() {
            "port block"
        } else if matches!(e.kind, NatEventKind::BibCreate | NatEventKind::BibDelete) {
            "mapping"
        } else {
            "session"
        },
    }
}

/// The spans of the log's records that answer `q` (in the order they ended).
pub fn spans_from_log(lines: impl Iterator<Item = String>, q: &Question) -> Vec<Span> {
    let mut open: Vec<(Key, NatEvent)> = Vec::new();
    let mut out = Vec::new();
    for e in lines.filter_map(|l| from_line(&l)).filter(|e| q.covers(e)) {
        let k = key(&e);
        if e.kind.is_create() {
            open.push((k, e));
        } else if let Some(i) = open.iter().position(|(ok, _)| *ok == k) {
            let (_, start) = open.remove(i);
            out.push(span(&start, Some(start.time_ms), Some(e.time_ms)));
        } else {
            out.push(span(&e, None, Some(e.time_ms)));
        }
    }
    out.extend(open.iter().map(|(_, e)| span(e, Some(e.time_ms), None)));
    if let Some(t) = q.at {
        out.retain(|s| s.contains(t));
    }
    out
}

/// Reads `path` and answers from it.
pub fn from_log_file(path: &std::path::Path, q: &Question) -> Result<Vec<Span>, String> {
    let f = std::fs::File::open(path)
        .map_err(|e| format!("--log {}: cannot read it: {e}", path.display()))?;
    let lines = std::io::BufReader::new(f).lines().map_while(Result::ok);
    Ok(spans_from_log(lines, q))
}

/// The deterministic answer, if the port is a block port of a numbered subscriber.
pub fn from_formula(d: &Deterministic, q: &Question) -> Option<String> {
    let (prefix, len, r) = d.subscriber_of(q.v4, q.port)?;
    Some(format!(
        "{}:{} {}: subscriber {prefix}/{len} (deterministic block {}-{} of {}; any time this configuration ran)",
        q.v4,
        q.port,
        q.proto
            .map_or("tcp/udp/icmp".to_string(), |p| p.to_string()),
        r.first,
        r.last,
        q.v4
    ))
}

/// One line per span.
pub fn render(q: &Question, spans: &[Span]) -> String {
    let mut s = String::new();
    for sp in spans {
        let who = match sp.host {
            Some((h, p)) => format!("host [{h}]:{p}"),
            None => format!("ports {}-{}", sp.ports.0, sp.ports.1),
        };
        let from = sp.from.map_or("(before the log)".to_string(), utc);
        let to = sp
            .to
            .map_or("(still held at the end of the log)".to_string(), utc);
        s.push_str(&format!(
            "{}:{} {}: subscriber {}/{} ({}, {who}) from {from} to {to}\n",
            q.v4, q.port, sp.proto, sp.subscriber.0, sp.subscriber.1, sp.what
        ));
    }
    s
}

/// Live sessions (the control socket's `sessions --json` answer: an array, or an
/// object holding one) on `q`'s address and port.
pub fn from_sessions_json(json: &str, q: &Question, prefix_len: u8) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("unexpected sessions answer: {e}"))?;
    let rows = match &v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => o
            .values()
            .find_map(|x| x.as_array().cloned())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let want = SocketAddrV4::new(q.v4, q.port).to_string();
    let mut out = String::new();
    let mask = |a: Ipv6Addr| {
        let len = u32::from(prefix_len);
        Ipv6Addr::from(u128::from(a) & (u128::MAX << (128 - len)))
    };
    for r in rows {
        if r["ipv4"].as_str() != Some(&want) {
            continue;
        }
        let proto = r["proto"].as_str().unwrap_or("?");
        if q.proto.is_some_and(|p| p.to_string() != proto) {
            continue;
        }
        let v6 = r["ipv6"].as_str().unwrap_or("?");
        let host: Option<Ipv6Addr> = v6
            .strip_prefix('[')
            .and_then(|x| x.split_once(']'))
            .and_then(|(a, _)| a.parse().ok());
        let sub = host.map_or("?".to_string(), |h| format!("{}/{prefix_len}", mask(h)));
        out.push_str(&format!(
            "{want} {proto}: subscriber {sub} (host {v6}, live session with {}, expires in {} s)\n",
            r["remote"].as_str().unwrap_or("?"),
            r["expires_in_s"]
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::natlog::json::to_line;

    fn ev(kind: NatEventKind, t: u64, sub: u16, first: u16, last: u16) -> NatEvent {
        NatEvent {
            kind,
            time_ms: t,
            proto: Proto::Udp,
            v6: Ipv6Addr::new(0x2001, 0xdb8, 0x100, sub, 0, 0, 0, 1),
            v6_port: if kind.is_block() { 0 } else { 5000 },
            prefix_len: 64,
            v4: Ipv4Addr::new(192, 0, 2, 1),
            port_first: first,
            port_last: last,
            remote: None,
        }
    }

    /// The same port held by two subscribers one after the other: `--at` picks the
    /// right one (RFC 6888 REQ-12: address, port and time name the subscriber).
    #[test]
    fn block_spans_answer_address_port_and_time() {
        use NatEventKind::*;
        let log = [
            ev(BlockAlloc, 1_000_000, 1, 1024, 1151),
            ev(BlockAlloc, 1_500_000, 2, 1152, 1279),
            ev(BlockRelease, 2_000_000, 1, 1024, 1151),
            ev(BlockAlloc, 3_000_000, 3, 1024, 1151),
        ]
        .map(|e| to_line(&e));
        fn q(at: Option<&str>) -> Question {
            Question::parse("192.0.2.1:1100", at, Some("udp")).unwrap()
        }
        let all = spans_from_log(log.iter().cloned(), &q(None));
        assert_eq!(all.len(), 2);
        let at = |s: &str| spans_from_log(log.iter().cloned(), &q(Some(s)));
        let first = at("1200");
        assert_eq!(first.len(), 1);
        assert_eq!(
            first[0].subscriber.0,
            "2001:db8:100:1::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            (first[0].from, first[0].to),
            (Some(1_000_000), Some(2_000_000))
        );
        let later = at("4000");
        assert_eq!(
            later[0].subscriber.0,
            "2001:db8:100:3::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(later[0].to, None);
        assert!(at("2500").is_empty());
        let other = Question::parse("192.0.2.1:1100", None, Some("tcp")).unwrap();
        assert!(spans_from_log(log.iter().cloned(), &other).is_empty());
        assert!(render(&q(None), &all).contains("subscriber 2001:db8:100:1::/64 (port block"));
    }

    #[test]
    fn mapping_spans_and_deletes_before_the_log() {
        use NatEventKind::*;
        let log = [
            ev(BibDelete, 10, 9, 2000, 2000),
            ev(BibCreate, 20, 4, 2000, 2000),
        ]
        .map(|e| to_line(&e));
        let q = Question::parse("192.0.2.1:2000", None, None).unwrap();
        let s = spans_from_log(log.iter().cloned(), &q);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].from, s[0].to), (None, Some(10)));
        assert_eq!(s[1].host.unwrap().1, 5000);
    }

    #[test]
    fn bad_questions_name_the_expected_form() {
        assert!(
            Question::parse("192.0.2.1", None, None)
                .unwrap_err()
                .contains("IPV4:PORT")
        );
        assert!(
            Question::parse("192.0.2.1:1", Some("yesterday"), None)
                .unwrap_err()
                .contains("--at")
        );
        assert!(
            Question::parse("192.0.2.1:1", None, Some("sctp"))
                .unwrap_err()
                .contains("--proto")
        );
    }

    #[test]
    fn live_sessions_answer() {
        let j = r#"[{"proto":"udp","ipv6":"[2001:db8:100:7::1]:5000","ipv4":"192.0.2.1:1100","remote":"198.51.100.1:53","state":null,"expires_in_s":290,"static":false},
                    {"proto":"udp","ipv6":"[2001:db8:100:8::1]:5000","ipv4":"192.0.2.1:1101","remote":"198.51.100.1:53","state":null,"expires_in_s":290,"static":false}]"#;
        let q = Question::parse("192.0.2.1:1100", None, None).unwrap();
        let out = from_sessions_json(j, &q, 64).unwrap();
        assert_eq!(out.lines().count(), 1);
        assert!(out.contains("subscriber 2001:db8:100:7::/64"), "{out}");
        let wrapped = format!("{{\"total\":2,\"truncated\":false,\"sessions\":{j}}}");
        assert_eq!(from_sessions_json(&wrapped, &q, 64).unwrap(), out);
    }
}
