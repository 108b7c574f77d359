//! `metrics-listen = "ADDR:PORT"`: the counters on `GET /metrics`, in the text format
//! Prometheus scrapes (OpenMetrics 1.0, encoded by the `prometheus-client` crate).
//!
//! Nothing here touches the packet path: the workers keep bumping their own
//! [`Counters`] (single-writer atomics), and a scrape reads them, as `xlat64 stats`
//! does, and encodes them there and then ([`Exporter`] is a `prometheus-client`
//! collector, not a set of registered metric objects the workers would have to update).
//!
//! Every general counter of [`counters`](crate::dataplane::counters) is exported by its
//! stable name (`xlat64_<name>_total`, or `xlat64_<name>` for a gauge), so a counter
//! added there appears here with no change; the ones that belong together (drops by
//! reason, packets by direction, sessions by protocol, ...) are exported as one family
//! with a label instead.
//!
//! The HTTP side is a minimal HTTP/1.0 responder on its own thread (one short-lived
//! thread per scrape, with deadlines as on the control socket): a scrape is one GET
//! every few seconds, which needs no HTTP library.

use std::io::{self, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tracing::{debug, warn};

use super::deadline;
use crate::dataplane::counters::is_gauge;
use crate::dataplane::{Counters, Snapshot, Stop};
use crate::xlat::DropReason;

/// Counters exported in a labelled family, not under their own name.
const GROUPED: &[&str] = &[
    "rx_packets",
    "rx_bytes",
    "tx_packets",
    "tx_bytes",
    "translated_v6_to_v4",
    "translated_v4_to_v6",
    "nat64_sessions",
    "nat64_bibs",
    "nat64_sessions_tcp",
    "nat64_sessions_udp",
    "nat64_sessions_icmp",
    "nat64_bibs_tcp",
    "nat64_bibs_udp",
    "nat64_bibs_icmp",
];

/// Prefix of the counters of sessions refused by a limit (`limit` label).
const REFUSED: &str = "nat64_refused_";

/// What a scrape reads: the workers' counters and what names them.
#[derive(Debug)]
pub struct Exporter {
    pub counters: Vec<Arc<Counters>>,
    /// The pool4 addresses, in pool order (label of the ports in use).
    pub pool4: Vec<Ipv4Addr>,
    /// `siit` or `nat64` (a label of `xlat64_build_info`).
    pub mode: String,
}

type Res = Result<(), std::fmt::Error>;

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Res {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Res {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// One family with one label: `rows` are (label value, value).
fn family(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    is_counter: bool,
    rows: impl IntoIterator<Item = (String, u64)>,
) -> Res {
    let ty = if is_counter {
        ConstCounter::new(0u64).metric_type()
    } else {
        ConstGauge::new(0u64).metric_type()
    };
    let mut fe = e.encode_descriptor(name, help, None, ty)?;
    for (value, v) in rows {
        let labels = [(label, value.as_str())];
        let me = fe.encode_family(&labels)?;
        if is_counter {
            ConstCounter::new(v).encode(me)?;
        } else {
            ConstGauge::new(v).encode(me)?;
        }
    }
    Ok(())
}

impl Exporter {
    fn sum(&self) -> Snapshot {
        Snapshot::sum(self.counters.iter().map(|c| &**c))
    }

    fn encode_grouped(&self, e: &mut DescriptorEncoder, s: &Snapshot) -> Res {
        let dir = |rx, tx| [("rx".to_string(), rx), ("tx".to_string(), tx)];
        family(
            e,
            "packets",
            "Packets read from (rx) and written to (tx) the TUN device",
            "direction",
            true,
            dir(s.rx_packets, s.tx_packets),
        )?;
        family(
            e,
            "bytes",
            "Bytes read from (rx) and written to (tx) the TUN device",
            "direction",
            true,
            dir(s.rx_bytes, s.tx_bytes),
        )?;
        family(
            e,
            "translated_packets",
            "Input packets translated, by direction",
            "direction",
            true,
            [
                ("v6_to_v4".to_string(), s.v6_to_v4),
                ("v4_to_v6".to_string(), s.v4_to_v6),
            ],
        )?;
        family(
            e,
            "dropped_packets",
            "Packets dropped, by reason (every reason, zeros included)",
            "reason",
            true,
            DropReason::ALL
                .iter()
                .map(|r| (r.name().to_string(), s.dropped(*r))),
        )?;
        let proto = |t, u, i| {
            [
                ("tcp".to_string(), t),
                ("udp".to_string(), u),
                ("icmp".to_string(), i),
            ]
        };
        family(
            e,
            "nat64_sessions",
            "NAT64 sessions held, by protocol",
            "proto",
            false,
            proto(s.sessions_tcp, s.sessions_udp, s.sessions_icmp),
        )?;
        family(
            e,
            "nat64_bibs",
            "NAT64 bindings (BIB entries) held, by protocol",
            "proto",
            false,
            proto(s.bibs_tcp, s.bibs_udp, s.bibs_icmp),
        )?;
        family(
            e,
            "nat64_sessions_refused",
            "NAT64 sessions refused by a limit, by limit",
            "limit",
            true,
            s.fields()
                .into_iter()
                .filter_map(|(n, v)| n.strip_prefix(REFUSED).map(|limit| (limit.to_string(), v))),
        )
    }

    fn encode_pool4(&self, e: &mut DescriptorEncoder) -> Res {
        let mut held = vec![0u64; self.pool4.len()];
        for c in &self.counters {
            for (h, n) in held.iter_mut().zip(c.pool4_ports()) {
                *h += n;
            }
        }
        family(
            e,
            "nat64_pool4_ports_in_use",
            "Ports held on each pool4 address (one per binding, all protocols)",
            "address",
            false,
            self.pool4.iter().map(|a| a.to_string()).zip(held),
        )
    }

    fn encode_workers(&self, e: &mut DescriptorEncoder) -> Res {
        let per = |f: fn(&Snapshot) -> u64| {
            self.counters
                .iter()
                .enumerate()
                .map(move |(i, c)| (i.to_string(), f(&c.snapshot())))
        };
        family(
            e,
            "worker_rx_packets",
            "Packets each worker read from its TUN queue",
            "worker",
            true,
            per(|s| s.rx_packets),
        )?;
        family(
            e,
            "worker_tx_packets",
            "Frames each worker wrote to its TUN queue",
            "worker",
            true,
            per(|s| s.tx_packets),
        )?;
        family(
            e,
            "worker_handed_off",
            "NAT64 packets each worker read and passed to the worker owning their flow",
            "worker",
            true,
            per(|s| s.handed_off),
        )
    }

    /// Every counter not in a family, under its own name.
    fn encode_rest(&self, e: &mut DescriptorEncoder, s: &Snapshot) -> Res {
        counter(
            e,
            "dropped",
            "Packets dropped, all reasons",
            s.dropped_total(),
        )?;
        for (name, v) in s.fields() {
            if GROUPED.contains(&name) || name.starts_with(REFUSED) {
                continue;
            }
            let help = format!("The {name} counter of xlat64 stats");
            if is_gauge(name) {
                gauge(e, name, &help, v)?;
            } else {
                counter(e, name, &help, v)?;
            }
        }
        Ok(())
    }
}

impl Collector for Exporter {
    fn encode(&self, mut e: DescriptorEncoder) -> Res {
        let info = ConstGauge::new(1u64);
        let mut fe = e.encode_descriptor(
            "build_info",
            "Version and mode of this translator (value 1)",
            None,
            info.metric_type(),
        )?;
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("mode", self.mode.as_str()),
        ];
        info.encode(fe.encode_family(&labels)?)?;
        gauge(
            &mut e,
            "workers",
            "Worker threads",
            self.counters.len() as u64,
        )?;
        let s = self.sum();
        self.encode_grouped(&mut e, &s)?;
        self.encode_pool4(&mut e)?;
        self.encode_workers(&mut e)?;
        self.encode_rest(&mut e, &s)
    }
}

/// The exposition: every metric, then the OpenMetrics end marker.
pub fn render(registry: &Registry) -> String {
    let mut s = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut s, registry) {
        warn!("cannot encode the metrics: {e}");
    }
    s
}

/// The same exposition in the classic Prometheus text format (0.0.4), for clients that
/// do not ask for OpenMetrics (`curl`, `promtool check metrics`, older servers): a
/// counter family is named with its `_total` suffix there, and there is no `# EOF`.
pub fn to_classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((p, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(&name) && !name.ends_with("_total") {
                    "_total"
                } else {
                    ""
                };
                out.push_str(&format!("{p}{name}{total} {tail}"));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A registry holding `exporter`, every name prefixed `xlat64_`.
pub fn registry(exporter: Exporter) -> Registry {
    let mut r = Registry::with_prefix("xlat64");
    r.register_collector(Box::new(exporter));
    r
}

/// How long a scraper may take to send its request head.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long it may take to read the answer.
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);
/// Longest request head read.
const MAX_HEAD: usize = 8192;
/// Scrapes answered at once.
const MAX_SCRAPES: usize = 8;
/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(100);
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The bound `metrics-listen` socket.
pub struct MetricsServer {
    listener: TcpListener,
    addr: SocketAddr,
}

impl MetricsServer {
    pub fn bind(addr: SocketAddr) -> Result<MetricsServer, String> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            format!("cannot listen on metrics-listen {addr}: {e}; choose another address or port")
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("metrics-listen {addr}: {e}"))?;
        let addr = listener.local_addr().unwrap_or(addr);
        Ok(MetricsServer { listener, addr })
    }

    /// The address bound (with the port the kernel chose for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers scrapes until `stop`, each on its own thread.
    pub fn serve(&self, registry: &Registry, stop: &Stop) {
        let active = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            while !stop.is_requested() {
                match self.listener.accept() {
                    Ok((conn, _)) => {
                        if active.fetch_add(1, Ordering::AcqRel) >= MAX_SCRAPES {
                            active.fetch_sub(1, Ordering::AcqRel);
                            continue;
                        }
                        let active = &active;
                        let spawned = std::thread::Builder::new()
                            .name("xlat64-metrics".into())
                            .spawn_scoped(scope, move || {
                                if let Err(e) = answer(conn, registry) {
                                    debug!("metrics connection: {e}");
                                }
                                active.fetch_sub(1, Ordering::AcqRel);
                            });
                        if spawned.is_err() {
                            active.fetch_sub(1, Ordering::AcqRel);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        deadline::wait_readable(&self.listener, ACCEPT_POLL)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        warn!("metrics-listen {}: accept failed: {e}", self.addr);
                        std::thread::sleep(ACCEPT_POLL);
                    }
                }
            }
        });
    }
}

/// The response to a request head: `/metrics` (query string ignored), or an error.
fn respond(head: &str, registry: &Registry) -> (&'static str, &'static str, String) {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let om = render(registry);
            if wants_openmetrics(head) {
                ("200 OK", CONTENT_TYPE, om)
            } else {
                ("200 OK", CLASSIC_TYPE, to_classic(&om))
            }
        }
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain",
            "only /metrics is served here\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "use GET /metrics\n".into(),
        ),
    }
}

/// Whether the request's Accept header names OpenMetrics (Prometheus servers do).
fn wants_openmetrics(head: &str) -> bool {
    head.lines().skip(1).any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("accept") && v.contains("application/openmetrics-text")
        })
    })
}

fn answer(conn: TcpStream, registry: &Registry) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    let head = deadline::read_until(&conn, b"\r\n\r\n", MAX_HEAD, REQUEST_DEADLINE)?;
    let (status, ctype, body) = respond(&head, registry);
    let mut out = Vec::with_capacity(body.len() + 128);
    let _ = write!(
        out,
        "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head.starts_with("HEAD ") {
        out.extend_from_slice(body.as_bytes());
    }
    deadline::write_all(&conn, &out, ANSWER_DEADLINE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn exporter() -> Exporter {
        let a = Counters::new();
        a.rx_packets.add(5);
        a.tx_bytes.add(700);
        a.v6_to_v4.add(4);
        a.sessions_udp.set(2);
        a.refused_pool_exhausted.set(3);
        a.fragments_held.set(1);
        a.drop(DropReason::Ipv4BadChecksum);
        a.set_pool4_ports(&[2, 0]);
        let b = Counters::new();
        b.rx_packets.add(1);
        b.handed_off.add(9);
        b.set_pool4_ports(&[1, 1]);
        Exporter {
            counters: vec![Arc::new(a), Arc::new(b)],
            pool4: vec![
                Ipv4Addr::new(203, 0, 113, 16),
                Ipv4Addr::new(203, 0, 113, 17),
            ],
            mode: "nat64".into(),
        }
    }

    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn every_counter_and_reason_is_exported_with_labels() {
        let text = render(&registry(exporter()));
        let has = |series: &str, v: &str| {
            assert_eq!(sample(&text, series), Some(v), "{series} in\n{text}");
        };
        has("xlat64_build_info{version=\"0.1.0\",mode=\"nat64\"}", "1");
        has("xlat64_packets_total{direction=\"rx\"}", "6");
        has("xlat64_bytes_total{direction=\"tx\"}", "700");
        has(
            "xlat64_translated_packets_total{direction=\"v6_to_v4\"}",
            "4",
        );
        has(
            "xlat64_dropped_packets_total{reason=\"ipv4_bad_checksum\"}",
            "1",
        );
        has("xlat64_dropped_total", "1");
        has("xlat64_nat64_sessions{proto=\"udp\"}", "2");
        has(
            "xlat64_nat64_sessions_refused_total{limit=\"pool_exhausted\"}",
            "3",
        );
        has(
            "xlat64_nat64_pool4_ports_in_use{address=\"203.0.113.16\"}",
            "3",
        );
        has(
            "xlat64_nat64_pool4_ports_in_use{address=\"203.0.113.17\"}",
            "1",
        );
        has("xlat64_worker_rx_packets_total{worker=\"1\"}", "1");
        has("xlat64_worker_handed_off_total{worker=\"1\"}", "9");
        has("xlat64_nat64_fragments_held", "1");
        has("xlat64_icmp_errors_sent_total", "0");
        // Counters other modules added, exported with no change here: typed by name.
        has("xlat64_nat_log_lost_total", "0");
        has("xlat64_nat64_port_blocks", "0");
        for r in DropReason::ALL {
            let series = format!("xlat64_dropped_packets_total{{reason=\"{}\"}}", r.name());
            assert!(sample(&text, &series).is_some(), "{series}");
        }
        // Every general counter under its own name or in a family.
        for (name, _) in Snapshot::default().fields() {
            let own = format!("xlat64_{name}");
            assert!(
                GROUPED.contains(&name) || name.starts_with(REFUSED) || text.contains(&own),
                "{name} not exported"
            );
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    /// The exposition passes Prometheus' own linter (Debian package `prometheus`;
    /// skipped where `promtool` is missing).
    #[test]
    fn promtool_accepts_the_exposition() {
        use std::process::{Command, Stdio};
        let text = to_classic(&render(&registry(exporter())));
        let child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("note: skipping promtool_accepts_the_exposition: no promtool");
            return;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{said}\n{text}"
        );
    }

    #[test]
    fn http_answers_metrics_and_refuses_the_rest() {
        let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.addr();
        let reg = registry(exporter());
        let stop = Stop::new();
        let get = |req: &str| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(req.as_bytes()).unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        };
        std::thread::scope(|s| {
            s.spawn(|| server.serve(&reg, &stop));
            let om = get(
                "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;\
                 version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\r\n",
            );
            assert!(om.starts_with("HTTP/1.0 200 OK\r\n"), "{om}");
            assert!(om.contains(CONTENT_TYPE), "{om}");
            assert!(om.contains("\r\n\r\n# HELP xlat64_"), "{om}");
            assert!(om.ends_with("# EOF\n"), "{om}");
            let classic = get("GET /metrics?x=1 HTTP/1.1\r\nAccept: */*\r\n\r\n");
            assert!(classic.contains(CLASSIC_TYPE), "{classic}");
            assert!(
                classic.contains("# TYPE xlat64_packets_total counter\n"),
                "{classic}"
            );
            let missing = get("GET / HTTP/1.1\r\n\r\n");
            assert!(missing.starts_with("HTTP/1.0 404"), "{missing}");
            let post = get("POST /metrics HTTP/1.1\r\n\r\n");
            assert!(post.starts_with("HTTP/1.0 405"), "{post}");
            stop.request();
        });
    }
}
