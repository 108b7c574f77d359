//! One translator per TUN device: `xlat64 run` claims its TUN name before it opens
//! anything.
//!
//! A multi-queue TUN accepts any number of attachments, so a second translator started
//! on the same name would take over part of the queues, and whichever exits first
//! would remove the routes the other still needs. The claim is an abstract Unix
//! socket, `\0xlat64/<tun>`, bound and listened on for the whole run:
//! - abstract names belong to the network namespace, like TUN names, so translators of
//!   the same name in different namespaces never collide (a lock file under `/run`,
//!   keyed by the name alone, would make them);
//! - the kernel releases the name when its last descriptor closes, so a translator
//!   killed with SIGKILL leaves no stale claim behind;
//! - a second claim finds the name taken, connects, and learns the holder's PID from
//!   the kernel (SO_PEERCRED) and its control socket from the line the holder writes to
//!   every connection, so the refusal says whom to stop.
//!
//! Any process in the namespace may bind any abstract name; one that is not xlat64
//! (no greeting) is reported as "another process" with its PID.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::dataplane::sys;

/// What a holder writes to every connection, before its control socket's path.
const GREETING: &str = "xlat64 control-socket ";

/// How long a refused claim waits for the holder's greeting.
const GREETING_WAIT: Duration = Duration::from_secs(2);

/// The abstract socket name that claims `tun` (without the leading NUL).
pub fn claim_name(tun: &str) -> String {
    format!("xlat64/{tun}")
}

/// The claim on a TUN name, held while this value lives; the name is free again once it
/// is dropped (or the process exits, however it exits).
pub struct Claim {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    answerer: Option<JoinHandle<()>>,
}

/// Why the claim failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// Another process holds the name.
    InUse {
        tun: String,
        /// None when the kernel could not tell (the holder is outside our PID
        /// namespace, or did not accept the connection).
        pid: Option<u32>,
        holder: Holder,
    },
    /// The claim could not be made at all.
    System { tun: String, error: String },
}

/// Who holds a claimed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// An xlat64, with the control socket it was configured with.
    Xlat64 { control_socket: PathBuf },
    /// Something that did not greet like xlat64.
    Other,
}

impl std::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hint = "stop it first or choose another --tun";
        match self {
            ClaimError::InUse { tun, pid, holder } => {
                let pid = pid.map_or("pid unknown".to_string(), |p| format!("pid {p}"));
                match holder {
                    Holder::Xlat64 { control_socket } => write!(
                        f,
                        "TUN '{tun}' is in use by another xlat64 ({pid}, control socket {}); \
                         {hint}",
                        control_socket.display()
                    ),
                    Holder::Other => write!(
                        f,
                        "TUN '{tun}' is claimed by another process ({pid}) holding the abstract \
                         Unix socket @{}; {hint}",
                        claim_name(tun)
                    ),
                }
            }
            ClaimError::System { tun, error } => write!(
                f,
                "cannot claim TUN '{tun}' (abstract Unix socket @{}): {error}",
                claim_name(tun)
            ),
        }
    }
}

impl std::error::Error for ClaimError {}

impl Claim {
    /// Claims `tun` in this network namespace for this process, or says who holds it.
    /// `control_socket` is what a refused translator is told to find us by.
    pub fn take(tun: &str, control_socket: &Path) -> Result<Claim, ClaimError> {
        let system = |e: io::Error| ClaimError::System {
            tun: tun.to_string(),
            error: e.to_string(),
        };
        let addr = SocketAddr::from_abstract_name(claim_name(tun)).map_err(system)?;
        let listener = match UnixListener::bind_addr(&addr) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                let (pid, holder) = ask_holder(&addr);
                return Err(ClaimError::InUse {
                    tun: tun.to_string(),
                    pid,
                    holder,
                });
            }
            Err(e) => return Err(system(e)),
        };
        let greeting = format!("{GREETING}{}\n", control_socket.display());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let answerer = std::thread::Builder::new()
            .name("xlat64-claim".into())
            .spawn(move || answer(&listener, greeting.as_bytes(), &flag))
            .map_err(system)?;
        Ok(Claim {
            addr,
            stop,
            answerer: Some(answerer),
        })
    }
}

/// Greets each connection until `stop`: accepting also keeps the listen backlog from
/// filling with refused translators' connections.
fn answer(listener: &UnixListener, greeting: &[u8], stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        match conn {
            Ok(mut c) => {
                // A reader that does not read gets nothing; the line fits any buffer.
                let _ = c.set_write_timeout(Some(GREETING_WAIT));
                let _ = c.write_all(greeting);
            }
            // Out of descriptors or memory: wait instead of spinning.
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The PID and greeting of whoever listens on `addr`.
fn ask_holder(addr: &SocketAddr) -> (Option<u32>, Holder) {
    let Ok(conn) = UnixStream::connect_addr(addr) else {
        return (None, Holder::Other);
    };
    let pid = sys::peer_pid(conn.as_fd()).ok().flatten();
    let _ = conn.set_read_timeout(Some(GREETING_WAIT));
    let mut line = String::new();
    let _ = BufReader::new(conn.take(4096)).read_line(&mut line);
    let holder = match line.strip_prefix(GREETING) {
        Some(path) if line.ends_with('\n') => Holder::Xlat64 {
            control_socket: PathBuf::from(path.trim_end_matches('\n')),
        },
        _ => Holder::Other,
    };
    (pid, holder)
}

impl Drop for Claim {
    /// Stops the answering thread (woken by one last connection), which closes the
    /// listener and so frees the name.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let woken = UnixStream::connect_addr(&self.addr).is_ok();
        if let Some(h) = self.answerer.take()
            && woken
        {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TUN name no other test (nor another test process) uses.
    fn tun(what: &str) -> String {
        format!("test-{}-{what}", std::process::id())
    }

    #[test]
    fn second_claim_names_the_holder_and_fails() {
        let t = tun("twice");
        let sock = Path::new("/run/xlat64/first.sock");
        let first = Claim::take(&t, sock).unwrap();
        let e = Claim::take(&t, Path::new("/run/xlat64/second.sock"))
            .err()
            .unwrap();
        assert_eq!(
            e,
            ClaimError::InUse {
                tun: t.clone(),
                pid: Some(std::process::id()),
                holder: Holder::Xlat64 {
                    control_socket: sock.into()
                },
            }
        );
        assert_eq!(
            e.to_string(),
            format!(
                "TUN '{t}' is in use by another xlat64 (pid {}, control socket \
                 /run/xlat64/first.sock); stop it first or choose another --tun",
                std::process::id()
            )
        );
        // Refusals are answered one after another (the backlog never fills).
        for _ in 0..3 {
            assert!(Claim::take(&t, sock).is_err());
        }
        drop(first);
        let again = Claim::take(&t, sock).expect("the name is free once the claim is dropped");
        drop(again);
    }

    #[test]
    fn names_are_per_tun() {
        let a = Claim::take(&tun("a"), Path::new("/a.sock")).unwrap();
        let b = Claim::take(&tun("b"), Path::new("/b.sock")).unwrap();
        drop((a, b));
    }

    /// Something else squatting on the name: no greeting, reported as another process.
    #[test]
    fn a_holder_that_is_not_xlat64_is_named_by_pid() {
        let t = tun("squat");
        let addr = SocketAddr::from_abstract_name(claim_name(&t)).unwrap();
        let _squatter = UnixListener::bind_addr(&addr).unwrap();
        let e = Claim::take(&t, Path::new("/x.sock")).err().unwrap();
        assert_eq!(
            e,
            ClaimError::InUse {
                tun: t.clone(),
                pid: Some(std::process::id()),
                holder: Holder::Other,
            }
        );
        assert!(
            e.to_string().contains(&format!(
                "is claimed by another process (pid {})",
                std::process::id()
            )),
            "{e}"
        );
    }

    /// TUN names are per network namespace, and so are claims: the same name is free
    /// in a new namespace while this one holds it (root only, like the netns tests).
    #[test]
    fn claims_are_per_network_namespace() {
        if !sys::is_root() {
            eprintln!("note: skipping claims_are_per_network_namespace: needs root");
            return;
        }
        let t = tun("netns");
        let _here = Claim::take(&t, Path::new("/here.sock")).unwrap();
        let t2 = t.clone();
        let there = std::thread::spawn(move || {
            if let Err(e) = sys::unshare_netns() {
                eprintln!("note: skipping: cannot create a network namespace: {e}");
                return Ok(());
            }
            Claim::take(&t2, Path::new("/there.sock")).map(drop)
        })
        .join()
        .unwrap();
        assert_eq!(there, Ok(()));
    }
}
