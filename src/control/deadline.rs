//! Reads and writes bounded by a deadline for the whole exchange, not per call: a
//! socket timeout alone restarts with every byte, so a client that drips one byte per
//! second (or reads one per second) would hold its server thread for ever.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn timed_out(what: &str, deadline: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} took longer than {deadline:?}"),
    )
}

/// What is left of `deadline` since `start`, or a timeout error.
fn left(start: Instant, deadline: Duration, what: &str) -> io::Result<Duration> {
    deadline
        .checked_sub(start.elapsed())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| timed_out(what, deadline))
}

/// One line (up to and without its `\n`, or up to end of stream), at most `max` bytes,
/// all within `deadline`. Bytes after the newline are ignored: a request is one line.
pub fn read_line(conn: &UnixStream, max: usize, deadline: Duration) -> io::Result<String> {
    let start = Instant::now();
    let mut buf = Vec::with_capacity(max.min(512));
    let mut chunk = [0u8; 256];
    loop {
        conn.set_read_timeout(Some(left(start, deadline, "the request")?))?;
        let n = match (&*conn).read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out("the request", deadline));
            }
            Err(e) => return Err(e),
        };
        let got = &chunk[..n];
        if let Some(end) = got.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&got[..end]);
            break;
        }
        buf.extend_from_slice(got);
        if n == 0 || buf.len() >= max {
            break;
        }
    }
    buf.truncate(max);
    String::from_utf8(buf)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the request is not UTF-8"))
}

/// Writes all of `data` within `deadline`.
pub fn write_all(conn: &UnixStream, mut data: &[u8], deadline: Duration) -> io::Result<()> {
    let start = Instant::now();
    while !data.is_empty() {
        conn.set_write_timeout(Some(left(start, deadline, "the answer")?))?;
        match (&*conn).write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out("the answer", deadline));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_line_and_stops_at_the_newline() {
        let (a, b) = UnixStream::pair().unwrap();
        (&a).write_all(b"stats --json\nrest").unwrap();
        let line = read_line(&b, 256, Duration::from_secs(1)).unwrap();
        assert_eq!(line, "stats --json");
    }

    #[test]
    fn a_silent_client_times_out_at_the_deadline() {
        let (_a, b) = UnixStream::pair().unwrap();
        let e = read_line(&b, 256, Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    /// A client that sends a byte now and then stays within any per-call timeout, but
    /// not within the deadline for the whole line.
    #[test]
    fn a_dripping_client_times_out_at_the_deadline_too() {
        let (a, b) = UnixStream::pair().unwrap();
        let drip = std::thread::spawn(move || {
            for _ in 0..20 {
                if (&a).write_all(b"s").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let e = read_line(&b, 256, Duration::from_millis(100)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        drop(b);
        drip.join().unwrap();
    }

    #[test]
    fn a_client_that_never_reads_times_out_on_a_large_answer() {
        let (_a, b) = UnixStream::pair().unwrap();
        let big = vec![b'x'; 8 << 20];
        let e = write_all(&b, &big, Duration::from_millis(100)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn at_most_max_bytes_are_kept() {
        let (a, b) = UnixStream::pair().unwrap();
        (&a).write_all(&[b'a'; 600]).unwrap();
        drop(a);
        let line = read_line(&b, 256, Duration::from_secs(1)).unwrap();
        assert_eq!(line.len(), 256);
    }
}
