//! NAT event records as JSON lines (`nat-log-file`, syslog): one object per line, read
//! back by `xlat64 trace --log`.
//!
//! ```text
//! {"time":"2026-12-02T16:15:54.123Z","ts_ms":1796228154123,"event":"block-alloc",
//!  "proto":"udp","subscriber":"2001:db8:100:7::/64","v6":"2001:db8:100:7::1",
//!  "v6_port":0,"v4":"192.0.2.1","port_first":1024,"port_last":1151}
//! ```
//! `event` is `mapping-create`/`mapping-delete` (session allocation),
//! `block-alloc`/`block-release` (block allocation) or `session-create`/
//! `session-delete` (with `remote`, `nat-log-remote`). `ts_ms` is what programs read;
//! `time` (UTC) is for people.

use std::net::{Ipv4Addr, SocketAddrV4};

use serde_json::Value;

use crate::nat64::{NatEvent, NatEventKind, Proto};

/// One line, without the newline. Written by hand rather than through a JSON value:
/// the fields keep the documented order, and the logging thread formats a record in
/// a fraction of the time (every value is a number, an address or a fixed name, so
/// nothing needs escaping).
pub fn to_line(e: &NatEvent) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "{{\"time\":\"{}\",\"ts_ms\":{},\"event\":\"{}\",\"proto\":\"{}\",\
         \"subscriber\":\"{}/{}\",\"v6\":\"{}\",\"v6_port\":{},\"v4\":\"{}\",\
         \"port_first\":{},\"port_last\":{}",
        utc(e.time_ms),
        e.time_ms,
        e.kind.name(),
        e.proto,
        e.prefix(),
        e.prefix_len,
        e.v6,
        e.v6_port,
        e.v4,
        e.port_first,
        e.port_last
    );
    if let Some((a, p)) = e.remote {
        let _ = write!(s, ",\"remote\":\"{}\"", SocketAddrV4::new(a, p));
    }
    s.push('}');
    s
}

/// A line written by [`to_line`]; None for anything else.
pub fn from_line(line: &str) -> Option<NatEvent> {
    let v: Value = serde_json::from_str(line).ok()?;
    let kind = NatEventKind::from_name(v["event"].as_str()?)?;
    let proto = match v["proto"].as_str()? {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" => Proto::Icmp,
        _ => return None,
    };
    let (_, len) = v["subscriber"].as_str()?.split_once('/')?;
    let port = |k: &str| v[k].as_u64().and_then(|p| u16::try_from(p).ok());
    let remote = match v["remote"].as_str() {
        Some(r) => {
            let sa: SocketAddrV4 = r.parse().ok()?;
            Some((*sa.ip(), sa.port()))
        }
        None => None,
    };
    Some(NatEvent {
        kind,
        time_ms: v["ts_ms"].as_u64()?,
        proto,
        v6: v["v6"].as_str()?.parse().ok()?,
        v6_port: port("v6_port")?,
        prefix_len: len.parse().ok()?,
        v4: v["v4"].as_str()?.parse::<Ipv4Addr>().ok()?,
        port_first: port("port_first")?,
        port_last: port("port_last")?,
        remote,
    })
}

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// Parses what [`utc`] writes (seconds and fraction optional), or plain Unix seconds.
pub fn parse_time(s: &str) -> Option<u64> {
    if let Ok(secs) = s.parse::<u64>() {
        return Some(secs * 1000);
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<u64>().ok());
    let (h, mi) = (t.next()??, t.next()??);
    let sec = t.next().flatten().unwrap_or(0);
    let frac_ms = format!("{frac:0<3}")[..3].parse::<u64>().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(y, mo as u32, da as u32)).ok()?;
    Some(((days * 86_400) + h * 3600 + mi * 60 + sec) * 1000 + frac_ms)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_both_ways() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.789.
        assert_eq!(utc(951_827_696_789), "2000-02-29T12:34:56.789Z");
        for ms in [0u64, 951_827_696_789, 1_764_692_154_123, 4_102_444_800_000] {
            assert_eq!(parse_time(&utc(ms)), Some(ms));
        }
        assert_eq!(parse_time("2000-02-29T12:34"), Some(951_827_640_000));
        assert_eq!(parse_time("951827696"), Some(951_827_696_000));
        assert_eq!(parse_time("2000-13-01T00:00:00Z"), None);
    }

    #[test]
    fn lines_round_trip() {
        let e = NatEvent {
            kind: NatEventKind::SessionCreate,
            time_ms: 1_764_692_154_123,
            proto: Proto::Tcp,
            v6: "2001:db8:100:7::1".parse().unwrap(),
            v6_port: 40_000,
            prefix_len: 56,
            v4: Ipv4Addr::new(192, 0, 2, 1),
            port_first: 2000,
            port_last: 2000,
            remote: Some((Ipv4Addr::new(198, 51, 100, 9), 443)),
        };
        let line = to_line(&e);
        assert!(
            line.contains("\"subscriber\":\"2001:db8:100::/56\""),
            "{line}"
        );
        assert_eq!(from_line(&line), Some(e));
        assert_eq!(from_line("{}"), None);
    }
}
