//! SIGINT/SIGTERM: the first one asks the workers to stop (they finish the batch in
//! hand, routes are removed, counters printed); a second one exits at once with status
//! 130, for when something hangs. SIGHUP (`systemctl reload`, logrotate) reloads the
//! configuration (see [`reload`](super::reload)) instead of killing the process.

use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::flag;
use signal_hook::iterator::Signals;
use tracing::info;

use crate::dataplane::Stop;

/// Exit status after a second signal: 128 + SIGINT, what shells report for Ctrl-C.
pub const FORCED_EXIT: i32 = 130;

/// Installs the handlers and a small thread that turns the first SIGINT/SIGTERM into
/// [`Stop::request`] (waking the workers through their `mio::Waker`s) and each SIGHUP
/// into a call of `on_hup`.
pub fn install(stop: &Stop, on_hup: impl Fn() + Send + 'static) -> io::Result<()> {
    let armed = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the shutdown check runs before the flag is set, so it fires
        // only from the second signal on.
        flag::register_conditional_shutdown(sig, FORCED_EXIT, Arc::clone(&armed))?;
        flag::register(sig, Arc::clone(&armed))?;
    }
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let stop = stop.clone();
    std::thread::Builder::new()
        .name("xlat64-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    on_hup();
                    continue;
                }
                if !stop.is_requested() {
                    let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                    info!("{name} received, stopping (send it again to exit at once)");
                    stop.request();
                }
            }
        })?;
    Ok(())
}
