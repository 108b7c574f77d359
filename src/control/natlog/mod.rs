//! NAT event logging (RFC 6888 REQ-12; RFC 8158 over IPFIX): the logging thread that
//! takes the workers' records off their bounded queues and writes them to every
//! configured sink, and `xlat64 trace`, which reads them back.
//!
//! The workers never wait on a sink: each has its own bounded queue
//! ([`QUEUE_RECORDS`]) and counts a record it cannot queue as `nat_log_lost`
//! (`dataplane::nat64`). This thread batches what it finds every [`FLUSH`], so a
//! file gets one write and a collector one message per batch and template. A sink that
//! fails (full disk, unreachable collector) loses that batch, with a warning at most
//! every [`WARN_EVERY`] that says how many records it lost.
//!
//! Sinks: JSON lines appended to each `nat-log-file` (reopened when SIGHUP sets
//! [`Logger::reopen_flag`], so logrotate can move the file away), syslog through
//! `/dev/log` (RFC 3164 lines, facility daemon), IPFIX to each `ipfix-collector`
//! ([`ipfix`]).
//!
//! A reload that changes the sink keys opens the new sinks in the control thread (so a
//! path that cannot be written refuses the reload, naming the key) and hands them over
//! through a [`SinkSwitch`]; the thread adopts them between batches. The queues are not
//! touched, so no queued record is lost: what was queued before the switch goes to the
//! new sinks. An IPFIX collector kept across the switch keeps its exporter (sequence
//! numbers, template schedule), so the collector sees no restart.

pub mod ipfix;
pub mod json;
pub mod trace;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use super::config::Config;
use crate::nat64::NatEvent;

/// Records one worker's queue holds: at about 64 bytes each, 4 MB per worker; a
/// second of a flood of new subscribers at 64 k blocks per second.
pub const QUEUE_RECORDS: usize = 65_536;
/// How often the logging thread looks at the queues when they were empty.
pub const FLUSH: Duration = Duration::from_millis(50);
/// Records taken per batch at most (bounds the memory of one flush).
const BATCH: usize = 16_384;
/// At most one warning per failing sink this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Each worker's end of its queue to the logging thread.
pub type Queues = Vec<SyncSender<NatEvent>>;

/// The logging thread, and the flag SIGHUP sets to reopen the files.
pub struct Logger {
    thread: JoinHandle<()>,
    reopen: Arc<AtomicBool>,
    switch: SinkSwitch,
}

/// Where a reload leaves new sinks for the logging thread to adopt.
#[derive(Clone)]
pub struct SinkSwitch {
    pending: Arc<Mutex<Option<Sinks>>>,
}

/// Sinks a reload opened, not yet in use.
pub struct Opened(Sinks);

impl SinkSwitch {
    /// Opens `cfg`'s sinks now: an error names the key, and nothing changes.
    pub fn open(&self, cfg: &Config) -> Result<Opened, String> {
        Sinks::open(cfg).map(Opened)
    }

    /// Has the logging thread use `sinks` (opened from `cfg`) from its next batch.
    pub fn install(&self, sinks: Opened, cfg: &Config) {
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(sinks.0);
        if cfg.nat_logging() {
            info!("NAT event logging now: {}", describe(cfg));
        } else {
            warn!("NAT event logging: no sink left, records are discarded until one is added");
        }
    }

    /// The sinks a reload left, if any (taken without waiting: a reload in progress
    /// is picked up at the next batch).
    fn take(&self) -> Option<Sinks> {
        self.pending.try_lock().ok().and_then(|mut p| p.take())
    }
}

impl Logger {
    /// Starts the thread for `cfg`'s sinks with one queue per worker; None when no
    /// sink is configured. Files are opened (and the collectors' sockets set up) now,
    /// so a path that cannot be written fails the start, naming the key.
    pub fn start(cfg: &Config, workers: usize) -> Result<Option<(Logger, Queues)>, String> {
        if !cfg.nat_logging() {
            return Ok(None);
        }
        let mut sinks = Sinks::open(cfg)?;
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..workers.max(1))
            .map(|_| sync_channel(QUEUE_RECORDS))
            .unzip();
        let reopen = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&reopen);
        let switch = SinkSwitch {
            pending: Arc::new(Mutex::new(None)),
        };
        let adopt = switch.clone();
        let thread = std::thread::Builder::new()
            .name("xlat64-natlog".into())
            .spawn(move || run(&rxs, &mut sinks, &flag, &adopt))
            .map_err(|e| format!("cannot start the NAT logging thread: {e}"))?;
        info!(
            "NAT event logging ({} allocation): {}",
            cfg.port_allocation,
            describe(cfg)
        );
        Ok(Some((
            Logger {
                thread,
                reopen,
                switch,
            },
            txs,
        )))
    }

    /// Set it (from a signal handler) to have the files reopened at the next flush.
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.reopen)
    }

    /// For a reload that changes the sink keys.
    pub fn sink_switch(&self) -> SinkSwitch {
        self.switch.clone()
    }

    /// Waits for the thread to write what is left; it ends once every worker's queue
    /// is closed (the workers have stopped).
    pub fn finish(self) {
        let _ = self.thread.join();
    }
}

fn describe(cfg: &Config) -> String {
    let mut parts: Vec<String> = cfg
        .nat_log_file
        .iter()
        .map(|p| format!("file {}", p.display()))
        .collect();
    if cfg.nat_log_syslog {
        parts.push("syslog".into());
    }
    parts.extend(cfg.ipfix_collector.iter().map(|c| format!("IPFIX to {c}")));
    parts.join(", ")
}

/// The thread: batches from every queue, to every sink, until all queues close.
fn run(rxs: &[Receiver<NatEvent>], sinks: &mut Sinks, reopen: &AtomicBool, switch: &SinkSwitch) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let mut open = 0;
        for rx in rxs {
            loop {
                if batch.len() >= BATCH {
                    open += 1;
                    break;
                }
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(TryRecvError::Empty) => {
                        open += 1;
                        break;
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            }
        }
        if let Some(new) = switch.take() {
            sinks.adopt(new);
        } else if reopen.swap(false, Ordering::Relaxed) {
            sinks.reopen();
        }
        batch.sort_by_key(|e| e.time_ms);
        sinks.write(&batch);
        let was_full = batch.len() >= BATCH;
        batch.clear();
        if open == 0 {
            sinks.flush();
            return;
        }
        if !was_full {
            std::thread::sleep(FLUSH);
        }
    }
}

struct FileSink {
    path: PathBuf,
    file: Option<File>,
}

fn open_append(path: &PathBuf) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Every configured sink, with its failure bookkeeping.
struct Sinks {
    files: Vec<FileSink>,
    syslog: Option<UnixDatagram>,
    ipfix: Vec<(String, ipfix::Exporter)>,
    /// Per sink name: records lost since the last warning, and when that was.
    failures: Vec<(String, u64, Option<Instant>)>,
    pid: u32,
}

impl Sinks {
    fn open(cfg: &Config) -> Result<Sinks, String> {
        let mut files = Vec::new();
        for p in &cfg.nat_log_file {
            let f = open_append(p).map_err(|e| {
                format!(
                    "invalid value for 'nat-log-file': {}: cannot open it for appending: {e}",
                    p.display()
                )
            })?;
            files.push(FileSink {
                path: p.clone(),
                file: Some(f),
            });
        }
        let syslog = if cfg.nat_log_syslog {
            let s = UnixDatagram::unbound().map_err(|e| format!("nat-log-syslog: {e}"))?;
            Some(s)
        } else {
            None
        };
        // The observation domain: this process (RFC 7011 §3.1 lets the exporter choose).
        let domain = std::process::id();
        let mut ipfix = Vec::new();
        for c in &cfg.ipfix_collector {
            let ex = ipfix::Exporter::new(*c, domain).map_err(|e| {
                format!("invalid value for 'ipfix-collector': {c}: cannot reach it over UDP: {e}")
            })?;
            ipfix.push((format!("IPFIX collector {c}"), ex));
        }
        Ok(Sinks {
            files,
            syslog,
            ipfix,
            failures: Vec::new(),
            pid: std::process::id(),
        })
    }

    /// Replaces these sinks by `new`, keeping the exporter of a collector in both.
    fn adopt(&mut self, mut new: Sinks) {
        self.flush();
        for (name, ex) in &mut new.ipfix {
            if let Some(i) = self.ipfix.iter().position(|(n, _)| n == name) {
                *ex = self.ipfix.swap_remove(i).1;
            }
        }
        *self = new;
    }

    fn reopen(&mut self) {
        for f in &mut self.files {
            match open_append(&f.path) {
                Ok(new) => {
                    f.file = Some(new);
                    info!("nat-log-file {} reopened", f.path.display());
                }
                Err(e) => warn!("nat-log-file {}: cannot reopen it: {e}", f.path.display()),
            }
        }
    }

    fn write(&mut self, batch: &[NatEvent]) {
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut failed: Vec<(String, u64)> = Vec::new();
        if !batch.is_empty() && (!self.files.is_empty() || self.syslog.is_some()) {
            let lines: Vec<String> = batch.iter().map(json::to_line).collect();
            for f in &mut self.files {
                if let Err(e) = write_lines(f.file.as_mut(), &lines) {
                    failed.push((
                        format!("nat-log-file {} ({e})", f.path.display()),
                        batch.len() as u64,
                    ));
                }
            }
            if let Some(s) = &self.syslog {
                let lost = send_syslog(s, Path::new(SYSLOG_SOCKET), self.pid, &lines);
                if lost > 0 {
                    failed.push(("syslog (/dev/log)".into(), lost));
                }
            }
        }
        // Templates go out on their own schedule even without records.
        for (name, ex) in &mut self.ipfix {
            if let Err(lost) = ex.send(batch, now_s)
                && lost > 0
            {
                failed.push((name.clone(), lost as u64));
            }
        }
        for (name, lost) in failed {
            self.note_failure(name, lost);
        }
    }

    fn note_failure(&mut self, name: String, lost: u64) {
        let i = match self.failures.iter().position(|(n, ..)| *n == name) {
            Some(i) => i,
            None => {
                self.failures.push((name, 0, None));
                self.failures.len() - 1
            }
        };
        let f = &mut self.failures[i];
        f.1 += lost;
        if f.2.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            warn!("NAT log sink {} failed: {} records lost", f.0, f.1);
            f.1 = 0;
            f.2 = Some(Instant::now());
        }
    }

    fn flush(&mut self) {
        for f in self.files.iter_mut().filter_map(|f| f.file.as_mut()) {
            let _ = f.flush();
        }
    }
}

fn write_lines(f: Option<&mut File>, lines: &[String]) -> io::Result<()> {
    let f = f.ok_or_else(|| io::Error::other("not open"))?;
    let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    f.write_all(buf.as_bytes())
}

/// The local syslog daemon's socket (systemd-journald and rsyslog both serve it).
const SYSLOG_SOCKET: &str = "/dev/log";

/// RFC 3164 lines to the local syslog daemon at `to`: facility daemon (3), severity
/// info (6), so PRI is 3 × 8 + 6 = 30; returns how many could not be sent.
fn send_syslog(s: &UnixDatagram, to: &Path, pid: u32, lines: &[String]) -> u64 {
    let mut lost = 0;
    for l in lines {
        let msg = format!("<30>xlat64-nat[{pid}]: {l}");
        if s.send_to(msg.as_bytes(), to).is_err() {
            lost += 1;
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3164 §4.1: `<PRI>TAG[PID]: MSG`, PRI = facility × 8 + severity (daemon 3,
    /// info 6).
    #[test]
    fn syslog_lines_rfc3164() {
        let dir = std::env::temp_dir().join(format!("xlat64-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        let lines = vec!["{\"event\":\"block-alloc\"}".to_string()];
        assert_eq!(send_syslog(&client, &path, 42, &lines), 0);
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            b"<30>xlat64-nat[42]: {\"event\":\"block-alloc\"}"
        );
        assert_eq!(send_syslog(&client, &dir.join("none"), 42, &lines), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn config(toml: &str) -> Config {
        use super::super::config::Partial;
        Config::resolve(
            Partial::from_toml(toml, "test.toml").unwrap(),
            Partial::default(),
        )
        .unwrap()
    }

    fn event(port: u16) -> NatEvent {
        NatEvent {
            kind: crate::nat64::NatEventKind::BlockAlloc,
            time_ms: 1_701_000_000_000,
            proto: crate::nat64::Proto::Udp,
            v6: "2001:db8:100:7::".parse().unwrap(),
            v6_port: 0,
            prefix_len: 64,
            v4: std::net::Ipv4Addr::new(192, 0, 2, 1),
            port_first: port,
            port_last: port + 127,
            remote: None,
        }
    }

    /// A reload's new sinks take over between batches: records queued before and after
    /// the switch are all written, the ones after to the new file only.
    #[test]
    fn a_sink_switch_loses_no_queued_record() {
        let dir = std::env::temp_dir().join(format!("xlat64-switch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.log"), dir.join("b.log"));
        let base = "mode = \"nat64\"\nprefix = \"64:ff9b::/96\"\npool4 = [\"192.0.2.1/32\"]\n";
        let cfg = |files: &str| config(&format!("{base}nat-log-file = [{files}]\n"));
        let (logger, queues) = Logger::start(&cfg(&format!("{a:?}")), 1).unwrap().unwrap();
        queues[0].send(event(1024)).unwrap();
        std::thread::sleep(FLUSH * 4);
        let bad = cfg(&format!("{:?}", dir.join("none/x.log")));
        let e = logger.sink_switch().open(&bad).err().unwrap();
        assert!(e.starts_with("invalid value for 'nat-log-file'"), "{e}");
        // Queued before the switch, written after it: to the new sink.
        queues[0].send(event(2048)).unwrap();
        let (switch, new) = (logger.sink_switch(), cfg(&format!("{b:?}")));
        switch.install(switch.open(&new).unwrap(), &new);
        queues[0].send(event(4096)).unwrap();
        drop(queues);
        logger.finish();
        let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let (a, b) = (read(&a), read(&b));
        assert_eq!(a.lines().count() + b.lines().count(), 3, "{a}\n{b}");
        assert!(a.contains("1024") && b.contains("4096"), "{a}\n{b}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
