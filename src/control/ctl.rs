//! The control socket: `xlat64 stats` and `xlat64 sessions` ask a running translator
//! through a Unix socket that only root can open (the socket is 0600, its default
//! directory 0700), so counters and sessions (who talks to whom) stay private.
//!
//! One request line per connection, one answer, then close: the protocol is the command
//! line itself, so `echo stats | socat - UNIX:/run/xlat64/xlat64.sock` works too. Each
//! client is served on its own thread under deadlines for the whole request and the
//! whole answer (see [`deadline`]), so monitoring stays answerable while another client
//! idles, drips or never reads. The control thread never blocks a worker: counters are
//! atomics any thread may read, and the NAT64 session table is copied by its owning
//! worker on request, one page at a time (see [`crate::dataplane::nat64`]).

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::Ipv6Addr;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ipnet::Ipv6Net;
use serde::{Serialize, Serializer};
use tracing::{debug, error, info, warn};

use super::deadline;
use super::reload::Reloader;
use crate::dataplane::{
    Counters, MAX_SESSION_ROWS, SessionFilter, SessionsLink, SessionsQuery, SessionsReply,
    Snapshot, Stop, collect_sessions,
};
use crate::nat64::SessionInfo;
use crate::xlat::DropReason;

/// Longest request line accepted.
const MAX_REQUEST: usize = 256;
/// How long a client may take to send its whole request line: a request is one short
/// line a program writes at once, so this only bounds idle and dripping clients.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(1);
/// How long a client may take to read the whole answer (up to [`MAX_SESSION_ROWS`]
/// rows, some MB).
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(10);
/// Clients answered at once; each holds a thread for at most the two deadlines.
pub const MAX_CLIENTS: usize = 32;
/// How long the client waits for the whole answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(100);
/// Answers that are errors start with this, so the client can exit 1 on them.
const ERROR_PREFIX: &str = "error: ";

/// What a client asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    Stats,
    /// One page of the NAT64 sessions, filtered.
    Sessions(SessionsQuery),
    /// Re-read the configuration file (as SIGHUP does).
    Reload,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub query: Query,
    pub json: bool,
}

/// The request forms, for the error that lists them.
const FORMS: &str = "expected stats [--json], reload, or sessions [--json] [--offset N] \
                     [--limit N] [--subscriber IPV6[/LEN]] [--pool4 IPV4]";

impl Request {
    /// Parses a request line: `stats [--json]`, or `sessions` with `--json`, `--offset N`,
    /// `--limit N`, `--subscriber PREFIX`, `--pool4 ADDR` in any order.
    pub fn parse(line: &str) -> Result<Request, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (mut query, rest) = match words.split_first() {
            Some((&"stats", rest)) => (Query::Stats, rest),
            Some((&"sessions", rest)) => (Query::Sessions(SessionsQuery::default()), rest),
            Some((&"reload", [])) => (Query::Reload, &[][..]),
            _ => return Err(bad_request(line)),
        };
        let mut json = false;
        let mut it = rest.iter();
        while let Some(&word) = it.next() {
            if word == "--json" {
                json = true;
                continue;
            }
            let Query::Sessions(q) = &mut query else {
                return Err(bad_request(line));
            };
            let value = it.next().ok_or_else(|| bad_request(line))?;
            parse_sessions_option(q, word, value).map_err(|e| e.unwrap_or(bad_request(line)))?;
        }
        Ok(Request { query, json })
    }

    /// The request line a client sends.
    pub fn line(&self) -> String {
        let mut s = match self.query {
            Query::Stats => "stats".to_string(),
            Query::Reload => "reload".to_string(),
            Query::Sessions(q) => {
                let mut s = "sessions".to_string();
                let d = SessionsQuery::default();
                if q.offset != d.offset {
                    let _ = write!(s, " --offset {}", q.offset);
                }
                if q.limit != d.limit {
                    let _ = write!(s, " --limit {}", q.limit);
                }
                if let Some(p) = q.filter.subscriber {
                    let _ = write!(s, " --subscriber {p}");
                }
                if let Some(a) = q.filter.pool4 {
                    let _ = write!(s, " --pool4 {a}");
                }
                s
            }
        };
        if self.json {
            s.push_str(" --json");
        }
        s.push('\n');
        s
    }
}

/// One `--name value` option of a sessions request; Err(None) for an unknown name.
fn parse_sessions_option(
    q: &mut SessionsQuery,
    name: &str,
    value: &str,
) -> Result<(), Option<String>> {
    let invalid = |expected: &str| Some(format!("invalid {name} '{value}': expected {expected}"));
    match name {
        "--offset" => q.offset = value.parse().map_err(|_| invalid("a row number"))?,
        "--limit" => {
            q.limit = value
                .parse()
                .ok()
                .filter(|n| (1..=MAX_SESSION_ROWS).contains(n))
                .ok_or_else(|| invalid(&format!("1 to {MAX_SESSION_ROWS}")))?;
        }
        "--subscriber" => {
            q.filter.subscriber = Some(
                parse_subscriber(value)
                    .ok_or_else(|| invalid("an IPv6 address or prefix, e.g. 2001:db8:1::/64"))?,
            )
        }
        "--pool4" => {
            q.filter.pool4 = Some(
                value
                    .parse()
                    .map_err(|_| invalid("an IPv4 address, e.g. 203.0.113.16"))?,
            );
        }
        _ => return Err(None),
    }
    Ok(())
}

/// A subscriber: a prefix (its host bits cleared), or one address as a /128.
pub fn parse_subscriber(s: &str) -> Option<Ipv6Net> {
    if let Ok(net) = s.parse::<Ipv6Net>() {
        return Some(net.trunc());
    }
    s.parse::<Ipv6Addr>().ok().map(Ipv6Net::from)
}

fn bad_request(line: &str) -> String {
    format!("unknown request '{}': {FORMS}", line.trim())
}

// ---------------------------------------------------------------------------------------
// Rendering.

/// Every counter, summed over `workers` workers. The text shows the drop reasons that
/// are not zero (as the table `xlat64 run` prints on exit); the JSON has every reason, so
/// that scripts find the same keys on every call.
pub fn render_stats(snap: &Snapshot, workers: usize, json: bool) -> String {
    if json {
        return json_line(&StatsJson {
            counters: CountersJson(snap),
            drops: DropsJson(snap),
            workers,
        });
    }
    let mut s = format!("workers: {workers}\n");
    s.push_str(&snap.render_table(false));
    s
}

/// One JSON document and a newline; an encoding failure becomes an error answer.
fn json_line<T: Serialize>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        Err(e) => format!("{ERROR_PREFIX}cannot encode the answer as JSON: {e}\n"),
    }
}

/// `stats --json`: `{"counters": {..., "dropped": n}, "drops": {...}, "workers": n}`.
#[derive(Serialize)]
struct StatsJson<'a> {
    counters: CountersJson<'a>,
    drops: DropsJson<'a>,
    workers: usize,
}

/// The general counters by name, in [`Snapshot::fields`] order, then the drop total.
struct CountersJson<'a>(&'a Snapshot);

impl Serialize for CountersJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let total = ("dropped", self.0.dropped_total());
        s.collect_map(self.0.fields().into_iter().chain([total]))
    }
}

/// Every drop reason by name, zeros included, in [`DropReason::ALL`] order.
struct DropsJson<'a>(&'a Snapshot);

impl Serialize for DropsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            DropReason::ALL
                .iter()
                .map(|r| (r.name(), self.0.dropped(*r))),
        )
    }
}

/// One row of `sessions --json`; the endpoints are strings as in the text table.
#[derive(Serialize)]
struct SessionJson {
    proto: String,
    ipv6: String,
    ipv4: String,
    remote: String,
    /// The TCP state; null for UDP and ICMP.
    state: Option<&'static str>,
    expires_in_s: u64,
    #[serde(rename = "static")]
    is_static: bool,
}

impl From<&SessionInfo> for SessionJson {
    fn from(i: &SessionInfo) -> Self {
        SessionJson {
            proto: i.proto.to_string(),
            ipv6: v6_endpoint(i),
            ipv4: v4_endpoint(i),
            remote: remote(i),
            state: i.state.map(|t| t.name()),
            expires_in_s: expires_s(i),
            is_static: i.is_static,
        }
    }
}

/// The IPv6 side of a session: `[addr]:port` (the ICMP identifier for ICMP).
fn v6_endpoint(i: &SessionInfo) -> String {
    format!("[{}]:{}", i.v6, i.v6_port)
}

fn v4_endpoint(i: &SessionInfo) -> String {
    format!("{}:{}", i.v4, i.v4_port)
}

/// The IPv4 peer; ICMP sessions have no remote port.
fn remote(i: &SessionInfo) -> String {
    match i.proto {
        crate::nat64::Proto::Icmp => i.remote.to_string(),
        _ => format!("{}:{}", i.remote, i.remote_port),
    }
}

fn state(i: &SessionInfo) -> &'static str {
    i.state.map_or("-", |s| s.name())
}

/// Seconds left, rounded up so that a live session never shows 0.
fn expires_s(i: &SessionInfo) -> u64 {
    i.expires_in_ms.div_ceil(1000)
}

/// `sessions --json`: the page's rows in `sessions`, with what a caller needs to know
/// whether it saw everything (`truncated`) and to ask for the next page (`offset` +
/// `limit`). `total` counts every session, `matched` those the filter kept.
#[derive(Serialize)]
struct SessionsJson {
    total: usize,
    matched: usize,
    offset: usize,
    limit: usize,
    truncated: bool,
    sessions: Vec<SessionJson>,
}

/// The session table: a text table, or one JSON object ([`SessionsJson`]). When rows
/// matched past this page, both say so.
pub fn render_sessions(page: &SessionsReply, q: &SessionsQuery, json: bool) -> String {
    let truncated = page.truncated(q.offset);
    if json {
        return json_line(&SessionsJson {
            total: page.total,
            matched: page.matched,
            offset: q.offset,
            limit: q.limit,
            truncated,
            sessions: page.rows.iter().map(SessionJson::from).collect(),
        });
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<5} {:<46} {:<21} {:<21} {:<20} {:>9}",
        "PROTO", "IPV6", "IPV4", "REMOTE", "STATE", "EXPIRES"
    );
    for i in &page.rows {
        let _ = writeln!(
            s,
            "{:<5} {:<46} {:<21} {:<21} {:<20} {:>8}s{}",
            i.proto.to_string(),
            v6_endpoint(i),
            v4_endpoint(i),
            remote(i),
            state(i),
            expires_s(i),
            if i.is_static { " static" } else { "" }
        );
    }
    let total = page.total;
    let _ = write!(s, "{} session{}", total, if total == 1 { "" } else { "s" });
    if q.filter != SessionFilter::default() {
        let _ = write!(s, ", {} matching", page.matched);
    }
    s.push('\n');
    if truncated || q.offset > 0 {
        let first = q.offset.saturating_add(1).min(page.matched);
        let last = q.offset.saturating_add(page.rows.len()).min(page.matched);
        let _ = write!(s, "(showing rows {first} to {last} of {}", page.matched);
        if truncated {
            let _ = write!(s, "; truncated: --offset {last} for the next page");
        }
        s.push_str(")\n");
    }
    s
}

// ---------------------------------------------------------------------------------------
// Server.

/// What the control thread answers from.
pub struct State {
    pub counters: Vec<Arc<Counters>>,
    /// One per NAT64 worker (each owns a shard of the sessions); None in SIIT mode
    /// (stateless).
    pub sessions: Option<Vec<SessionsLink>>,
    /// What `reload` calls; None: reload is not offered.
    pub reload: Option<Arc<Reloader>>,
}

impl State {
    fn answer(&self, req: Request) -> String {
        match req.query {
            Query::Stats => {
                let snap = Snapshot::sum(self.counters.iter().map(|c| &**c));
                render_stats(&snap, self.counters.len(), req.json)
            }
            Query::Reload => match self.reload.as_ref().map(|r| r.reload()) {
                Some(Ok(msg)) => {
                    info!("xlat64 reload: {msg}");
                    format!("{msg}\n")
                }
                Some(Err(e)) => {
                    error!("xlat64 reload: refused: {e}");
                    format!("{ERROR_PREFIX}{e}\n")
                }
                None => format!("{ERROR_PREFIX}this translator cannot reload\n"),
            },
            Query::Sessions(q) => match &self.sessions {
                None if req.json => render_sessions(&SessionsReply::default(), &q, true),
                None => "no sessions: mode siit is stateless\n".into(),
                Some(links) => match collect_sessions(links, q) {
                    Ok(r) => render_sessions(&r, &q, req.json),
                    Err(e) => format!("{ERROR_PREFIX}{e}\n"),
                },
            },
        }
    }
}

/// The bound socket; removes its file when dropped.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ControlSocket {
    /// Binds `path` (mode 0600), creating its directory (0700) if missing. A socket file
    /// left by a dead process is replaced; one a live translator answers on is not.
    pub fn bind(path: &Path) -> Result<ControlSocket, String> {
        let shown = path.display();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    format!(
                        "cannot create directory {} for control-socket: {e}",
                        dir.display()
                    )
                })?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(format!(
                    "control-socket {shown} exists and is not a socket; remove it or set \
                     --control-socket to another path"
                ));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "control-socket {shown} is in use by another running xlat64; stop it or \
                     set --control-socket to another path"
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove stale control-socket {shown}: {e}"))?;
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| format!("cannot bind control-socket {shown}: {e}"))?;
        let sock = ControlSocket {
            path: path.to_path_buf(),
            listener,
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot set mode 0600 on control-socket {shown}: {e}"))?;
        sock.listener
            .set_nonblocking(true)
            .map_err(|e| format!("control-socket {shown}: {e}"))?;
        Ok(sock)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers connections until `stop`, each on its own thread with its own deadlines
    /// ([`REQUEST_DEADLINE`], [`ANSWER_DEADLINE`]), so that an idle, slow or stuck client
    /// holds up nobody but itself. At most [`MAX_CLIENTS`] at once: the next ones are
    /// told to retry rather than queued behind them.
    pub fn serve(&self, state: &State, stop: &Stop) {
        let active = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            while !stop.is_requested() {
                match self.listener.accept() {
                    Ok((conn, _)) => {
                        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
                            active.fetch_sub(1, Ordering::AcqRel);
                            refuse_busy(&conn);
                            continue;
                        }
                        let active = &active;
                        let spawned = std::thread::Builder::new()
                            .name("xlat64-ctl-client".into())
                            .spawn_scoped(scope, move || {
                                if let Err(e) = handle(conn, state) {
                                    debug!("control connection: {e}");
                                }
                                active.fetch_sub(1, Ordering::AcqRel);
                            });
                        if let Err(e) = spawned {
                            active.fetch_sub(1, Ordering::AcqRel);
                            warn!("control socket: cannot start a client thread: {e}");
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        deadline::wait_readable(&self.listener, ACCEPT_POLL)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        warn!("control socket {}: accept failed: {e}", self.path.display());
                        std::thread::sleep(ACCEPT_POLL);
                    }
                }
            }
        });
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The answer to a client over [`MAX_CLIENTS`]: written without waiting, since the
/// accept loop must not block.
fn refuse_busy(conn: &UnixStream) {
    let msg = format!(
        "{ERROR_PREFIX}the translator is answering {MAX_CLIENTS} other control clients; \
         try again\n"
    );
    let _ = conn.set_nonblocking(true);
    let _ = (&*conn).write(msg.as_bytes());
}

fn handle(conn: UnixStream, state: &State) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    let line = deadline::read_line(&conn, MAX_REQUEST, REQUEST_DEADLINE)?;
    let answer = match Request::parse(&line) {
        Ok(req) => state.answer(req),
        Err(e) => format!("{ERROR_PREFIX}{e}\n"),
    };
    deadline::write_all(&conn, answer.as_bytes(), ANSWER_DEADLINE)
}

// ---------------------------------------------------------------------------------------
// Client.

/// How the operator named the translator to ask, so that "nobody answers" names what
/// they gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// `--tun NAME` or nothing: the socket is the TUN's default one.
    Tun(&'a str),
    /// `--control-socket PATH`.
    Socket,
}

/// Sends `req` to the translator listening on `path` and returns its answer; errors are
/// ready for the operator.
pub fn query(path: &Path, target: Target<'_>, req: Request) -> Result<String, String> {
    let shown = path.display();
    let conn = UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => match target {
            Target::Tun(tun) => {
                format!("no xlat64 running for TUN '{tun}' (no control socket at {shown})")
            }
            Target::Socket => format!("no xlat64 running with control socket {shown}"),
        },
        io::ErrorKind::ConnectionRefused => format!(
            "no xlat64 is listening on control socket {shown} (a stale socket file: the \
             translator that made it has exited; `xlat64 run` replaces it on start)"
        ),
        io::ErrorKind::PermissionDenied => permission_denied(path, &observe_access(path)),
        _ => format!("cannot connect to control socket {shown}: {e}"),
    })?;
    let io_err = |e: io::Error| format!("control socket {shown}: {e}");
    conn.set_read_timeout(Some(CLIENT_TIMEOUT))
        .map_err(io_err)?;
    (&conn).write_all(req.line().as_bytes()).map_err(io_err)?;
    let mut answer = String::new();
    (&conn).read_to_string(&mut answer).map_err(io_err)?;
    match answer.strip_prefix(ERROR_PREFIX) {
        Some(e) => Err(e.trim_end().to_string()),
        None => Ok(answer),
    }
}

/// Mode and owner of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Owner {
    mode: u32,
    uid: u32,
}

impl Owner {
    fn of(path: &Path) -> Option<Owner> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| Owner {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
        })
    }

    /// `root's (mode 0600)` or `owned by uid 1000 (mode 0600)`.
    fn describe(self) -> String {
        let who = match self.uid {
            0 => "root's".to_string(),
            uid => format!("owned by uid {uid}"),
        };
        format!("{who} (mode {:04o})", self.mode)
    }
}

/// What stood between this user and the socket after a connect failed with EACCES.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Access {
    /// The socket's directory, when this user may not search it (then the socket
    /// itself cannot even be looked at).
    closed_dir: Option<(PathBuf, Option<Owner>)>,
    socket: Option<Owner>,
}

fn observe_access(path: &Path) -> Access {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let searchable = rustix::fs::access(dir, rustix::fs::Access::EXEC_OK).is_ok();
    Access {
        closed_dir: (!searchable).then(|| (dir.to_path_buf(), Owner::of(dir))),
        socket: Owner::of(path),
    }
}

/// Connecting needs write permission on the socket and search permission on every
/// directory above it; the message names whichever of the two is missing.
fn permission_denied(path: &Path, access: &Access) -> String {
    let shown = path.display();
    let why = match (&access.closed_dir, access.socket) {
        (Some((dir, owner)), _) => {
            let owner = owner.map_or(String::new(), |o| format!(", {}", o.describe()));
            format!(
                "this user may not search its directory {}{owner}",
                dir.display()
            )
        }
        (None, Some(o)) => format!(
            "the socket is {} and this user may not write to it",
            o.describe()
        ),
        (None, None) => "this user may not write to the socket".to_string(),
    };
    format!(
        "permission denied on control socket {shown}: {why}; run this command as root, e.g. \
         with sudo"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::nat64::page_of;
    use crate::nat64::{Proto, TcpState};
    use std::net::Ipv4Addr;

    fn req(query: Query, json: bool) -> Request {
        Request { query, json }
    }

    fn sessions() -> Query {
        Query::Sessions(SessionsQuery::default())
    }

    #[test]
    fn parses_the_requests() {
        assert_eq!(Request::parse("stats\n"), Ok(req(Query::Stats, false)));
        assert_eq!(Request::parse("stats --json"), Ok(req(Query::Stats, true)));
        assert_eq!(Request::parse(" sessions \n"), Ok(req(sessions(), false)));
        assert_eq!(
            Request::parse("sessions --json\n"),
            Ok(req(sessions(), true))
        );
        let q = SessionsQuery {
            filter: SessionFilter {
                subscriber: Some("2001:db8:1::/64".parse().unwrap()),
                pool4: Some(Ipv4Addr::new(203, 0, 113, 16)),
            },
            offset: 10,
            limit: 5,
        };
        assert_eq!(
            Request::parse(
                "sessions --limit 5 --subscriber 2001:db8:1::77/64 --json --offset 10 \
                 --pool4 203.0.113.16"
            ),
            Ok(req(Query::Sessions(q), true))
        );
        for r in [
            req(Query::Stats, true),
            req(sessions(), false),
            req(Query::Sessions(q), true),
        ] {
            assert_eq!(Request::parse(&r.line()), Ok(r));
        }
        // One address is a /128 subscriber.
        let one = Request::parse("sessions --subscriber 2001:db8::5").unwrap();
        let Query::Sessions(one) = one.query else {
            panic!()
        };
        assert_eq!(
            one.filter.subscriber,
            Some("2001:db8::5/128".parse().unwrap())
        );
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "\n",
            "stat",
            "stats --xml",
            "sessions --json x",
            "run",
            "stats --offset 1",
            "sessions --limit",
        ] {
            let e = Request::parse(bad).unwrap_err();
            assert!(e.starts_with("unknown request"), "{e}");
            assert!(e.contains("sessions [--json]"), "{e}");
        }
        let e = Request::parse("sessions --limit 0").unwrap_err();
        assert_eq!(e, "invalid --limit '0': expected 1 to 100000");
        let e = Request::parse("sessions --subscriber 192.0.2.1").unwrap_err();
        assert!(e.starts_with("invalid --subscriber '192.0.2.1'"), "{e}");
        let e = Request::parse("sessions --pool4 x").unwrap_err();
        assert!(
            e.starts_with("invalid --pool4 'x': expected an IPv4"),
            "{e}"
        );
    }

    /// Where `key` starts in `text` (the order of keys is part of the format).
    fn at(text: &str, key: &str) -> usize {
        text.find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    }

    #[test]
    fn stats_json_has_stable_keys() {
        let c = Counters::new();
        c.v6_to_v4.add(3);
        c.drop(DropReason::UnknownVersion);
        let j = render_stats(&c.snapshot(), 2, true);
        assert!(j.ends_with("}\n") && j.matches('\n').count() == 1, "{j}");
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        let top = v.as_object().unwrap();
        let keys: Vec<&str> = top.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 3, "{j}");
        assert_eq!(v["workers"], 2);
        let counters = v["counters"].as_object().unwrap();
        let snap = c.snapshot();
        assert_eq!(counters.len(), snap.fields().len() + 1, "{j}");
        for (name, value) in snap.fields() {
            assert_eq!(counters[name], value, "{name}");
        }
        assert_eq!(v["counters"]["translated_v6_to_v4"], 3);
        assert_eq!(v["counters"]["dropped"], 1);
        let drops = v["drops"].as_object().unwrap();
        assert_eq!(drops.len(), DropReason::ALL.len(), "{j}");
        for r in DropReason::ALL {
            let want = u64::from(*r == DropReason::UnknownVersion);
            assert_eq!(drops[r.name()], want, "{}", r.name());
        }
        // The keys come in the order the text table uses.
        assert!(at(&j, "counters") < at(&j, "drops") && at(&j, "drops") < at(&j, "workers"));
        let order: Vec<usize> = snap.fields().iter().map(|(n, _)| at(&j, n)).collect();
        assert!(order.is_sorted() && order[15] < at(&j, "dropped"), "{j}");
        let order: Vec<usize> = DropReason::ALL.iter().map(|r| at(&j, r.name())).collect();
        assert!(order.is_sorted(), "{j}");
    }

    #[test]
    fn stats_text_lists_only_the_drop_reasons_that_are_not_zero() {
        let t = render_stats(&Snapshot::default(), 1, false);
        assert!(t.starts_with("workers: 1\ncounters:\n"), "{t}");
        assert!(t.contains("  dropped "), "{t}");
        assert!(!t.contains("drop reasons"), "{t}");
        for r in DropReason::ALL {
            assert!(!t.contains(r.name()), "{}", r.name());
        }
        let c = Counters::new();
        c.drop(DropReason::UnknownVersion);
        c.drop(DropReason::UnknownVersion);
        let t = render_stats(&c.snapshot(), 1, false);
        let reasons = t.split_once("drop reasons (non-zero):\n").unwrap().1;
        let rows: Vec<Vec<&str>> = reasons
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows, [["unknown_version", "2"]], "{t}");
        // Every general counter; the NAT64 group only once one of it counts something.
        for (name, _) in Snapshot::default().fields() {
            let shown = t.contains(&format!("  {name} "));
            assert_eq!(shown, !name.starts_with("nat64_"), "{name}: {t}");
        }
    }

    fn icmp() -> SessionInfo {
        SessionInfo {
            proto: Proto::Icmp,
            v6: "2001:db8:1::2".parse::<Ipv6Addr>().unwrap(),
            v6_port: 77,
            v4: Ipv4Addr::new(203, 0, 113, 16),
            v4_port: 1500,
            remote: Ipv4Addr::new(198, 51, 100, 9),
            remote_port: 0,
            state: None,
            expires_in_ms: 59_001,
            is_static: false,
        }
    }

    fn tcp() -> SessionInfo {
        SessionInfo {
            proto: Proto::Tcp,
            v6_port: 40000,
            v4_port: 2000,
            remote_port: 80,
            state: Some(TcpState::Established),
            expires_in_ms: 1000,
            is_static: true,
            ..icmp()
        }
    }

    fn page(rows: Vec<SessionInfo>, matched: usize, total: usize) -> SessionsReply {
        SessionsReply {
            rows,
            matched,
            total,
        }
    }

    #[test]
    fn sessions_json_has_stable_keys() {
        let q = SessionsQuery::default();
        let j = render_sessions(&page(vec![icmp(), tcp()], 2, 2), &q, true);
        assert_eq!(
            j,
            "{\"total\":2,\"matched\":2,\"offset\":0,\"limit\":100000,\"truncated\":false,\
             \"sessions\":[{\"proto\":\"icmp\",\"ipv6\":\"[2001:db8:1::2]:77\",\"ipv4\":\
             \"203.0.113.16:1500\",\"remote\":\"198.51.100.9\",\"state\":null,\
             \"expires_in_s\":60,\"static\":false},{\"proto\":\"tcp\",\"ipv6\":\
             \"[2001:db8:1::2]:40000\",\"ipv4\":\"203.0.113.16:2000\",\"remote\":\
             \"198.51.100.9:80\",\"state\":\"ESTABLISHED\",\"expires_in_s\":1,\
             \"static\":true}]}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(
            v["sessions"],
            serde_json::json!([
                {"proto": "icmp", "ipv6": "[2001:db8:1::2]:77", "ipv4": "203.0.113.16:1500",
                 "remote": "198.51.100.9", "state": null, "expires_in_s": 60, "static": false},
                {"proto": "tcp", "ipv6": "[2001:db8:1::2]:40000", "ipv4": "203.0.113.16:2000",
                 "remote": "198.51.100.9:80", "state": "ESTABLISHED", "expires_in_s": 1,
                 "static": true}
            ])
        );
        let empty: serde_json::Value =
            serde_json::from_str(&render_sessions(&page(vec![], 0, 0), &q, true)).unwrap();
        assert_eq!(empty["sessions"], serde_json::json!([]));
        assert_eq!(empty["truncated"], false);
    }

    /// Issue 11: a page that stops before the last matching row says so in the JSON.
    #[test]
    fn sessions_json_says_when_truncated() {
        let q = SessionsQuery {
            limit: 1,
            offset: 3,
            ..SessionsQuery::default()
        };
        let v: serde_json::Value =
            serde_json::from_str(&render_sessions(&page(vec![icmp()], 7, 9), &q, true)).unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(
            (v["total"].as_u64(), v["matched"].as_u64()),
            (Some(9), Some(7))
        );
        assert_eq!(
            (v["offset"].as_u64(), v["limit"].as_u64()),
            (Some(3), Some(1))
        );
        let last = SessionsQuery { offset: 6, ..q };
        let v: serde_json::Value =
            serde_json::from_str(&render_sessions(&page(vec![icmp()], 7, 9), &last, true)).unwrap();
        assert_eq!(v["truncated"], false);
    }

    #[test]
    fn sessions_text_is_a_table_and_says_when_truncated() {
        let q = SessionsQuery::default();
        let t = render_sessions(&page(vec![icmp(), tcp()], 2, 2), &q, false);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("PROTO"), "{t}");
        assert!(lines[1].starts_with("icmp  [2001:db8:1::2]:77"), "{t}");
        assert!(
            lines[2].contains("ESTABLISHED") && lines[2].ends_with("1s static"),
            "{t}"
        );
        assert_eq!(lines[3], "2 sessions");
        assert_eq!(lines.len(), 4, "{t}");
        let t = render_sessions(&page(vec![icmp()], 100_001, 100_001), &q, false);
        assert!(
            t.contains("(showing rows 1 to 1 of 100001; truncated: --offset 1 for the next page)"),
            "{t}"
        );
        let q = SessionsQuery {
            filter: SessionFilter {
                pool4: Some(Ipv4Addr::new(203, 0, 113, 16)),
                ..SessionFilter::default()
            },
            ..q
        };
        let t = render_sessions(&page(vec![icmp()], 1, 5), &q, false);
        assert!(t.ends_with("5 sessions, 1 matching\n"), "{t}");
    }

    /// A worker's part of a page: the filter first, then offset and limit over the
    /// matching rows only; every session counted in `total`.
    #[test]
    fn a_page_counts_and_filters() {
        let other = SessionInfo {
            v6: "2001:db8:2::9".parse().unwrap(),
            v4: Ipv4Addr::new(203, 0, 113, 17),
            ..icmp()
        };
        let all = [icmp(), other, tcp(), other, tcp()];
        let sub = SessionFilter {
            subscriber: Some("2001:db8:1::/64".parse().unwrap()),
            pool4: None,
        };
        let q = SessionsQuery {
            filter: sub,
            offset: 1,
            limit: 1,
        };
        let r = page_of(all.iter().copied(), &q);
        assert_eq!((r.total, r.matched, r.rows.len()), (5, 3, 1));
        assert_eq!(r.rows[0].proto, Proto::Tcp);
        assert!(r.truncated(q.offset));
        let by_pool4 = SessionsQuery {
            filter: SessionFilter {
                subscriber: None,
                pool4: Some(Ipv4Addr::new(203, 0, 113, 17)),
            },
            ..SessionsQuery::default()
        };
        let r = page_of(all.iter().copied(), &by_pool4);
        assert_eq!((r.matched, r.rows.len()), (2, 2));
        assert!(!r.truncated(0));
    }

    #[test]
    fn socket_round_trip_and_permissions() {
        let dir = std::env::temp_dir().join(format!("xlat64-ctl-test-{}", std::process::id()));
        let path = dir.join("sub").join("t.sock");
        let stop = Stop::new();
        let sock = ControlSocket::bind(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // A second translator on the same path is refused while the first one lives.
        assert!(ControlSocket::bind(&path).unwrap_err().contains("in use"));
        let state = State {
            counters: vec![Arc::new(Counters::new())],
            sessions: None,
            reload: None,
        };
        std::thread::scope(|s| {
            s.spawn(|| sock.serve(&state, &stop));
            let a = query(&path, Target::Tun("t"), req(sessions(), false)).unwrap();
            assert_eq!(a, "no sessions: mode siit is stateless\n");
            let a = query(&path, Target::Tun("t"), req(Query::Stats, true)).unwrap();
            assert!(a.ends_with("\"workers\":1}\n"), "{a}");
            let v: serde_json::Value = serde_json::from_str(&a).unwrap();
            assert_eq!(v["workers"], 1);
            // Issue 11: idle clients (connected, never a byte) do not hold up the
            // next one; it is answered while they still wait for their deadline.
            let idle: Vec<UnixStream> = (0..3)
                .map(|_| UnixStream::connect(&path).unwrap())
                .collect();
            let a = query(&path, Target::Tun("t"), req(Query::Stats, false)).unwrap();
            assert!(a.starts_with("workers: 1\n"), "{a}");
            // Still open (a server taking one client at a time would have closed them
            // before answering the query), then closed at their deadline.
            for mut c in &idle {
                c.set_nonblocking(true).unwrap();
                let e = c.read(&mut [0u8; 8]).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            }
            for mut c in idle {
                c.set_nonblocking(false).unwrap();
                let mut rest = String::new();
                let _ = c.read_to_string(&mut rest);
                assert_eq!(rest, "");
            }
            stop.request();
        });
        drop(sock);
        assert!(!path.exists(), "socket file removed on exit");
        let e = query(&path, Target::Tun("t"), req(Query::Stats, false)).unwrap_err();
        assert_eq!(
            e,
            format!(
                "no xlat64 running for TUN 't' (no control socket at {})",
                path.display()
            )
        );
        // Given --control-socket, the message names the socket only.
        let e = query(&path, Target::Socket, req(Query::Stats, false)).unwrap_err();
        assert_eq!(
            e,
            format!("no xlat64 running with control socket {}", path.display())
        );
        // A stale socket file (no listener): the client says so, and bind replaces it.
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let stale = format!(
            "no xlat64 is listening on control socket {} (a stale socket file: the \
             translator that made it has exited; `xlat64 run` replaces it on start)",
            path.display()
        );
        for target in [Target::Tun("t"), Target::Socket] {
            assert_eq!(
                query(&path, target, req(Query::Stats, false)),
                Err(stale.clone())
            );
        }
        drop(ControlSocket::bind(&path).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn permission_denied_names_what_is_in_the_way() {
        let p = Path::new("/run/xlat64/xlat64.sock");
        let root = |mode| Some(Owner { mode, uid: 0 });
        // A root-only directory hides the socket: the directory is the reason.
        let m = permission_denied(
            p,
            &Access {
                closed_dir: Some((PathBuf::from("/run/xlat64"), root(0o700))),
                socket: None,
            },
        );
        assert_eq!(
            m,
            "permission denied on control socket /run/xlat64/xlat64.sock: this user may not \
             search its directory /run/xlat64, root's (mode 0700); run this command as root, \
             e.g. with sudo"
        );
        // A socket in a directory anyone may search (/run): the socket's own mode.
        let p = Path::new("/run/x.sock");
        let m = permission_denied(
            p,
            &Access {
                closed_dir: None,
                socket: root(0o600),
            },
        );
        assert_eq!(
            m,
            "permission denied on control socket /run/x.sock: the socket is root's (mode \
             0600) and this user may not write to it; run this command as root, e.g. with sudo"
        );
        assert!(!m.contains("0700") && !m.contains("directory"), "{m}");
        let m = permission_denied(
            p,
            &Access {
                closed_dir: None,
                socket: Some(Owner {
                    mode: 0o600,
                    uid: 1000,
                }),
            },
        );
        assert!(
            m.contains("the socket is owned by uid 1000 (mode 0600)"),
            "{m}"
        );
    }

    #[test]
    fn access_is_observed_from_the_file_system() {
        let dir = std::env::temp_dir().join(format!("xlat64-ctl-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("s.sock");
        let l = UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let a = observe_access(&path);
        assert_eq!(a.closed_dir, None);
        assert_eq!(a.socket.map(|o| o.mode), Some(0o600));
        drop(l);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
