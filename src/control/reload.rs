//! Live reload: SIGHUP (what `systemctl reload` and logrotate send) and `xlat64 reload`
//! re-read the configuration file and apply what may change while the translator runs,
//! without dropping a session.
//!
//! Each key's declaration says whether it is live (`reload: Live` in
//! [`keys`](super::config::keys)). A reload that changes a restart-only key (the TUN,
//! the mode, the prefix, the worker count, ...) is refused whole, naming the keys, and
//! the running configuration stays; so is a file that does not parse. Otherwise:
//! - SIIT: `eam` and `pool6791` build a new translator that the workers pick up at their
//!   next packet ([`Live`]);
//! - NAT64: the timeouts and the per-subscriber limits go to each worker, which applies
//!   them to its shard on its next tick (sessions stay; each expiry class keeps one
//!   timeout, so its queue stays ordered);
//! - `log-level`: the log filter is swapped;
//! - the NAT log sinks (`nat-log-file`, `nat-log-syslog`, `ipfix-collector`): the new
//!   ones are opened first (a file that cannot be written refuses the reload) and the
//!   logging thread adopts them between batches, losing no queued record. The workers
//!   only produce records when a sink was configured at start (the shards decide it
//!   when built, and a worker that produced none has no queue): adding the first sink
//!   to a translator started without one is refused, naming the key; removing every
//!   sink is accepted, and the records are then discarded;
//! - then every reload hook runs ([`Reloader::on_reload`]): a log sink reopens its file
//!   there, even when no key changed (logrotate's SIGHUP).
//!
//! - `static-bib`: the entries removed and added go to the workers whose shards hold
//!   them (each worker changes its shard all or nothing, between packets), then the
//!   new steering is published ([`Live`]). An entry whose address and port are already
//!   mapped, or a removed entry that still holds sessions, refuses the reload with the
//!   entry named; the workers already changed are put back.
//!
//! - `pool4` additions: every worker grows its tables for the new addresses (numbered
//!   after the old ones, so no binding moves) and takes its port slices of them, then
//!   the steering is replaced. Removing an address is refused (sessions may hold it;
//!   the numbering would move), and so is any change with `deterministic` allocation
//!   (its formula numbers the pool), `dataplane = xdp` (the programs' destinations are
//!   set at start); with `setup-routes` the new addresses are routed into the TUN
//!   first (and removed on exit with the others). A reload that changes `pool4` and
//!   `static-bib` together is refused too, so that each is all or nothing: reload the
//!   pool first.
//!
//! A key that is live in general but cannot change in the running mode (`pool6791` is
//! part of the NAT64 translator, which is not replaced live) is refused the same way. A
//! key the running mode ignores (`eam` in NAT64, the timeouts in SIIT) may change freely.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{error, info};

use super::config::{Config, KeyInfo, Mode, Partial};
use super::natlog::SinkSwitch;
use super::routes::SharedRoutes;
use std::net::Ipv4Addr;

use super::config::Dataplane;
use crate::dataplane::{
    Live, Nat64Limits, SessionsLink, StaticChange, add_pool4, change_statics, send_limits,
};
use crate::nat64::{PortAllocation, Sharding, StaticBib};
use crate::xlat::Translator;

/// Something to run after each successful reload, with the configuration now in force.
pub type Hook = Box<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;

/// Swaps the log filter to a new level.
pub type LogLevelSetter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// What the running translator can change, and the configuration it runs.
pub struct Reloader {
    /// `--config`; None: nothing to re-read.
    file: Option<PathBuf>,
    /// The command line's layer, which still overrides the file.
    flags: Partial,
    current: Mutex<Config>,
    siit: Option<Arc<Live<Translator>>>,
    nat64: Option<Vec<SessionsLink>>,
    log_level: Option<LogLevelSetter>,
    /// The NAT logging thread's; None: no record is produced (no sink at start).
    natlog: Option<SinkSwitch>,
    /// NAT64: the steering the workers follow, replaced when static entries change.
    sharding: Option<Arc<Live<Sharding>>>,
    /// `setup-routes`: the routes installed at start, which new pool4 addresses join.
    routes: Option<SharedRoutes>,
    hooks: Mutex<Vec<Hook>>,
}

/// The NAT64 keys that go to the workers as [`Nat64Limits`].
const LIMIT_KEYS: &[&str] = &[
    "udp-timeout",
    "tcp-est-timeout",
    "tcp-trans-timeout",
    "tcp-incoming-syn-timeout",
    "icmp-timeout",
    "max-sessions-per-address",
    "max-sessions-per-subscriber",
];

/// The NAT log sink keys, which the logging thread applies.
const SINK_KEYS: &[&str] = &["nat-log-file", "nat-log-syslog", "ipfix-collector"];

/// Keys whose change this module applies in `mode` (with `reload: Live`).
fn applied_in(key: &str, mode: Mode) -> bool {
    match mode {
        Mode::Siit => matches!(key, "eam" | "pool6791" | "log-level"),
        // The CLAT's mapping follows its PLAT prefix discovery, not the file.
        Mode::Clat => key == "log-level",
        Mode::Nat64 => {
            matches!(key, "log-level" | "static-bib" | "pool4")
                || LIMIT_KEYS.contains(&key)
                || SINK_KEYS.contains(&key)
        }
    }
}

/// The changed keys that need a restart in `mode`: restart-only ones, and live ones this
/// mode cannot change; keys the mode ignores never do.
pub fn needing_restart(changed: &[&'static KeyInfo], mode: Mode) -> Vec<&'static str> {
    changed
        .iter()
        .filter(|k| k.scope.used_in(mode))
        .filter(|k| !(k.live && applied_in(k.name, mode)))
        .map(|k| k.name)
        .collect()
}

impl Reloader {
    pub fn new(
        file: Option<PathBuf>,
        flags: Partial,
        current: Config,
        siit: Option<Arc<Live<Translator>>>,
        nat64: Option<Vec<SessionsLink>>,
        log_level: Option<LogLevelSetter>,
    ) -> Reloader {
        Reloader {
            file,
            flags,
            current: Mutex::new(current),
            siit,
            nat64,
            log_level,
            natlog: None,
            sharding: None,
            routes: None,
            hooks: Mutex::new(Vec::new()),
        }
    }

    /// Lets a reload change the static BIB entries (NAT64).
    pub fn with_sharding(mut self, sharding: Option<Arc<Live<Sharding>>>) -> Self {
        self.sharding = sharding;
        self
    }

    /// Lets a pool4 addition under `setup-routes` route its new addresses into the TUN.
    pub fn with_routes(mut self, routes: SharedRoutes) -> Self {
        self.routes = Some(routes);
        self
    }

    /// Lets a reload change the NAT log sinks (NAT64 with a sink at start).
    pub fn with_natlog(mut self, natlog: Option<SinkSwitch>) -> Self {
        self.natlog = natlog;
        self
    }

    /// Adds a hook run after every successful reload (e.g. a log sink reopening its
    /// file for logrotate). A hook's error is logged; it does not undo the reload.
    pub fn on_reload(&self, hook: Hook) {
        lock(&self.hooks).push(hook);
    }

    fn current(&self) -> MutexGuard<'_, Config> {
        lock(&self.current)
    }

    /// Re-reads the file and applies it, or refuses it whole. The message says what
    /// changed, or why nothing did.
    pub fn reload(&self) -> Result<String, String> {
        let Some(file) = &self.file else {
            return Err(
                "xlat64 was started without --config: there is no file to re-read; \
                 the running configuration is kept"
                    .into(),
            );
        };
        let kept = "the running configuration is kept";
        let new = Partial::from_file(file)
            .and_then(|p| Config::resolve(p, self.flags.clone()))
            .map_err(|e| format!("{e}; {kept}"))?;
        let mut cur = self.current();
        let changed = cur.changed_keys(&new);
        let restart = needing_restart(&changed, cur.mode);
        if !restart.is_empty() {
            return Err(format!(
                "{} changed in {} and cannot change while xlat64 runs: restart it to apply; \
                 {kept}",
                restart.join(", "),
                file.display()
            ));
        }
        let names: Vec<&str> = changed
            .iter()
            .filter(|k| k.scope.used_in(cur.mode))
            .map(|k| k.name)
            .collect();
        self.apply(&cur, &new, &names)
            .map_err(|e| format!("{e}; {kept}"))?;
        *cur = new;
        self.run_hooks(&cur);
        Ok(if names.is_empty() {
            format!("reloaded {}: no change", file.display())
        } else {
            format!("reloaded {}: {} changed", file.display(), names.join(", "))
        })
    }

    fn apply(&self, cur: &Config, new: &Config, changed: &[&str]) -> Result<(), String> {
        let any = |keys: &[&str]| changed.iter().any(|c| keys.contains(c));
        // First the steps that may still fail on the new values: the sinks are opened
        // (installed only once nothing else can fail), the static entries are undone
        // on a refusal.
        let sinks = match &self.natlog {
            Some(switch) if any(SINK_KEYS) => Some((switch, switch.open(new)?)),
            _ if any(SINK_KEYS) => return Err(no_records(changed)),
            _ => None,
        };
        if any(&["pool4"]) && any(&["static-bib"]) {
            return Err(
                "pool4 and static-bib changed together: change pool4 first, \
                        reload, then static-bib, so that each change is all or nothing"
                    .into(),
            );
        }
        if any(&["pool4"]) {
            self.add_pool4(cur, new)?;
        }
        if any(&["static-bib"]) {
            self.change_statics(&cur.static_bib, &new.static_bib)?;
        }
        if let Some((switch, opened)) = sinks {
            switch.install(opened, new);
        }
        if let Some(live) = &self.siit
            && any(&["eam", "pool6791"])
        {
            let xc = new.xlat_config().map_err(|e| e.0)?;
            live.replace(Translator::new(xc));
        }
        if let Some(links) = &self.nat64
            && any(LIMIT_KEYS)
        {
            let sc = new.shard_config();
            send_limits(
                links,
                Nat64Limits {
                    timeouts: sc.timeouts,
                    max_sessions_per_addr: sc.max_sessions_per_addr,
                    max_sessions_per_prefix: sc.max_sessions_per_prefix,
                },
            )?;
        }
        if let Some(set) = &self.log_level
            && changed.contains(&"log-level")
        {
            set(new.log_level.as_str())?;
        }
        Ok(())
    }

    /// Gives the workers their slices of the new pool4 addresses, then publishes the
    /// new steering; refuses a removal and the setups that fix the pool at start.
    fn add_pool4(&self, cur: &Config, new: &Config) -> Result<(), String> {
        let fixed = |why: &str| {
            Err(format!(
                "pool4 changed, but {why}: restart xlat64 to apply it"
            ))
        };
        if cur.port_allocation == PortAllocation::Deterministic {
            return fixed(
                "port-allocation = \"deterministic\" numbers the subscribers by the pool (RFC 7422)",
            );
        }
        if cur.dataplane == Dataplane::Xdp {
            return fixed("with dataplane = xdp the programs' destinations are set at start");
        }
        let (old, wanted) = (cur.shard_config().pool, new.shard_config().pool);
        let removed: Vec<String> = old
            .addrs
            .iter()
            .filter(|a| !wanted.addrs.contains(a))
            .map(|a| a.to_string())
            .collect();
        if !removed.is_empty() {
            return fixed(&format!(
                "{} would leave it, and removing a pool4 address (its sessions, its ports) \
                 needs a restart",
                removed.join(", ")
            ));
        }
        let added: Vec<Ipv4Addr> = wanted
            .addrs
            .iter()
            .filter(|a| !old.addrs.contains(a))
            .copied()
            .collect();
        let (Some(links), Some(live)) = (&self.nat64, &self.sharding) else {
            return fixed("this translator cannot change it live");
        };
        // Routed first, so that a refused route leaves the workers as they were.
        let nets: Vec<ipnet::IpNet> = added
            .iter()
            .map(|a| ipnet::IpNet::V4(ipnet::Ipv4Net::from(*a)))
            .collect();
        let routes = match (&self.routes, cur.setup_routes) {
            (Some(r), true) => Some(r),
            (None, true) => return fixed("its routes could not be reached"),
            (_, false) => None,
        };
        if let Some(r) = routes
            && let Some(r) = lock(r).as_mut()
            && let Err(e) = r.add(&nets)
        {
            r.remove_nets(&nets);
            return Err(format!("pool4: {e}; the running configuration is kept"));
        }
        if let Err(e) = add_pool4(links, &added) {
            if let Some(r) = routes
                && let Some(r) = lock(r).as_mut()
            {
                r.remove_nets(&nets);
            }
            return Err(format!("pool4: {e}"));
        }
        let mut sharding = Sharding::clone(&live.current());
        let mut pool = sharding.pool().clone();
        pool.addrs.extend(&added);
        sharding.set_pool(pool);
        live.replace(sharding);
        info!("nat64: {} pool4 address(es) added", added.len());
        Ok(())
    }

    /// Removes and adds static entries on their workers, then publishes the new
    /// steering; on a refusal the workers already changed are put back.
    fn change_statics(&self, old: &[StaticBib], new: &[StaticBib]) -> Result<(), String> {
        let (Some(links), Some(live)) = (&self.nat64, &self.sharding) else {
            return Err("static-bib changed, but this translator cannot change it live".into());
        };
        let old_sharding = live.current();
        let mut sharding = Sharding::clone(&old_sharding);
        let mut per = std::collections::BTreeMap::<usize, StaticChange>::new();
        for st in old.iter().filter(|s| !new.contains(s)) {
            let w = sharding
                .remove_static(st)
                .ok_or_else(|| format!("static-bib entry \"{st}\" is not installed"))?;
            per.entry(w).or_default().remove.push(*st);
        }
        for st in new.iter().filter(|s| !old.contains(s)) {
            let w = sharding.add_static(st);
            per.entry(w).or_default().add.push(*st);
            // Where the entry's IPv6 side went so far: it must not be mapped there.
            let v6_owner = old_sharding.owner_of_v6(st.proto, st.v6, st.v6_port);
            if v6_owner != w {
                per.entry(v6_owner).or_default().check.push(*st);
            }
        }
        let mut done: Vec<(usize, &StaticChange)> = Vec::new();
        for (&w, change) in &per {
            if let Err(e) = change_statics(links, w, change.clone()) {
                for (w, change) in done.into_iter().rev() {
                    if let Err(e) = change_statics(links, w, change.inverse()) {
                        error!("static-bib: cannot undo the change on worker {w}: {e}");
                    }
                }
                return Err(format!("invalid value for 'static-bib': {e}"));
            }
            done.push((w, change));
        }
        for st in per.values().flat_map(|c| &c.add) {
            info!("nat64: static BIB entry {st} added");
        }
        live.replace(sharding);
        Ok(())
    }

    fn run_hooks(&self, cfg: &Config) {
        for h in lock(&self.hooks).iter() {
            if let Err(e) = h(cfg) {
                error!("reload: {e}");
            }
        }
    }

    /// For SIGHUP: reloads and logs the outcome (there is nobody to answer).
    pub fn reload_and_log(&self) {
        // systemd (`systemctl reload`) waits for READY=1 after RELOADING=1.
        let _ = super::notify::notify("RELOADING=1");
        let outcome = self.reload();
        let _ = super::notify::notify("READY=1");
        match outcome {
            Ok(msg) => info!("SIGHUP: {msg}"),
            Err(e) => error!("SIGHUP: reload refused: {e}"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a sink cannot be added to a translator started without any.
fn no_records(changed: &[&str]) -> String {
    let keys: Vec<&str> = changed
        .iter()
        .copied()
        .filter(|c| SINK_KEYS.contains(c))
        .collect();
    format!(
        "{} changed, but xlat64 started without any NAT log sink, so its workers produce \
         no NAT event records: restart it to turn them on",
        keys.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::config::KEY_INFO;

    fn key(name: &str) -> &'static KeyInfo {
        KEY_INFO.iter().find(|k| k.name == name).unwrap()
    }

    fn config(toml: &str) -> Config {
        Config::resolve(
            Partial::from_toml(toml, "test.toml").unwrap(),
            Partial::default(),
        )
        .unwrap()
    }

    #[test]
    fn restart_only_keys_are_named_and_ignored_ones_pass() {
        let changed = [key("tun"), key("eam"), key("udp-timeout"), key("workers")];
        assert_eq!(
            needing_restart(&changed, Mode::Siit),
            ["tun", "workers"],
            "udp-timeout is ignored in SIIT, eam is live"
        );
        let changed = [key("pool6791"), key("tcp-est-timeout"), key("eam")];
        assert_eq!(needing_restart(&changed, Mode::Nat64), ["pool6791"]);
        assert!(needing_restart(&[key("log-level")], Mode::Nat64).is_empty());
    }

    /// Every key declared live is applied in some mode, so the declaration never
    /// promises what the reload cannot do.
    #[test]
    fn every_live_key_is_applied_somewhere() {
        for k in KEY_INFO.iter().filter(|k| k.live) {
            assert!(
                applied_in(k.name, Mode::Siit) || applied_in(k.name, Mode::Nat64),
                "{} is declared live but no reload applies it",
                k.name
            );
        }
    }

    #[test]
    fn a_reload_applies_eams_or_refuses_and_keeps_the_old_file() {
        let dir = std::env::temp_dir().join(format!("xlat64-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.toml");
        let base = "prefix = \"64:ff9b::/96\"\nipv4-addr = \"203.0.113.1\"\n\
                    eam = [\"2001:db8:1::/120=192.0.2.0/24\"]\n";
        std::fs::write(&path, base).unwrap();
        let cfg = config(base);
        let live = Live::new(Translator::new(cfg.xlat_config().unwrap()));
        let r = Reloader::new(
            Some(path.clone()),
            Partial::default(),
            cfg,
            Some(Arc::clone(&live)),
            None,
            None,
        );
        let reopened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&reopened);
        r.on_reload(Box::new(move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }));
        assert!(r.reload().unwrap().ends_with(": no change"));
        assert_eq!(live.generation(), 0);
        let more = base.replace(
            "]\n",
            ", \"2001:db8:2::/120=198.51.100.0/24\"]\nudp-timeout = 600\n",
        );
        std::fs::write(&path, &more).unwrap();
        let msg = r.reload().unwrap();
        assert!(msg.ends_with(": eam changed"), "{msg}");
        assert_eq!(live.generation(), 1, "a new translator is in force");
        std::fs::write(&path, more.replace("64:ff9b::/96", "2001:db8:64::/96")).unwrap();
        let e = r.reload().unwrap_err();
        assert!(
            e.starts_with("prefix, ipv6-addr changed in ")
                && e.ends_with("the running configuration is kept"),
            "{e}"
        );
        std::fs::write(&path, "mtu = \"big\"\n").unwrap();
        let e = r.reload().unwrap_err();
        assert!(e.contains("'mtu'") && e.ends_with("is kept"), "{e}");
        assert_eq!(
            r.current().eam.len(),
            2,
            "the last good configuration stays"
        );
        assert_eq!(live.generation(), 1);
        // Hooks ran on both successful reloads, the one without a change too.
        assert_eq!(reopened.load(std::sync::atomic::Ordering::Relaxed), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Records are produced only when a sink was configured at start: adding the first
    /// one later is refused by name, and the old configuration stays.
    #[test]
    fn adding_the_first_nat_log_sink_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("xlat64-reload-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.toml");
        let base = "mode = \"nat64\"\nprefix = \"64:ff9b::/96\"\npool4 = [\"192.0.2.1/32\"]\n";
        std::fs::write(&path, base).unwrap();
        let r = Reloader::new(
            Some(path.clone()),
            Partial::default(),
            config(base),
            None,
            None,
            None,
        );
        let log = dir.join("nat.log");
        std::fs::write(&path, format!("{base}nat-log-file = [{log:?}]\n")).unwrap();
        let e = r.reload().unwrap_err();
        assert!(
            e.starts_with("nat-log-file changed, but xlat64 started without any NAT log sink")
                && e.ends_with("the running configuration is kept"),
            "{e}"
        );
        assert!(r.current().nat_log_file.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `pool4` may grow live; what cannot is refused naming it, before any worker is
    /// asked (here there is none), and the old configuration stays.
    #[test]
    fn pool4_removals_and_joint_changes_are_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("xlat64-reload-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.toml");
        let conf =
            |pool: &str| format!("mode = \"nat64\"\nprefix = \"64:ff9b::/96\"\npool4 = [{pool}]\n");
        let base = conf("\"192.0.2.0/31\"");
        std::fs::write(&path, &base).unwrap();
        let r = Reloader::new(
            Some(path.clone()),
            Partial::default(),
            config(&base),
            None,
            None,
            None,
        );
        std::fs::write(&path, conf("\"192.0.2.1/32\"")).unwrap();
        let e = r.reload().unwrap_err();
        assert!(
            e.starts_with("pool4 changed, but 192.0.2.0 would leave it") && e.ends_with("is kept"),
            "{e}"
        );
        let both = conf("\"192.0.2.0/31\", \"192.0.2.9/32\"")
            + "static-bib = [\"tcp 192.0.2.9:80 [2001:db8::80]:80\"]\n";
        std::fs::write(&path, both).unwrap();
        let e = r.reload().unwrap_err();
        assert!(
            e.starts_with("pool4 and static-bib changed together"),
            "{e}"
        );
        assert_eq!(r.current().pool4.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
