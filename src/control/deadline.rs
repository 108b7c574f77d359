//! Reads and writes bounded by a deadline for the whole exchange, not per call: a
//! socket timeout alone restarts with every byte, so a client that drips one byte per
//! second (or reads one per second) would hold its server thread for ever.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A connected stream whose calls can be given a timeout.
pub trait Stream {
    fn read_timeout(&self, d: Duration) -> io::Result<()>;
    fn write_timeout(&self, d: Duration) -> io::Result<()>;
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_some(&self, buf: &[u8]) -> io::Result<usize>;
}

macro_rules! stream {
    ($t:ty) => {
        impl Stream for $t {
            fn read_timeout(&self, d: Duration) -> io::Result<()> {
                self.set_read_timeout(Some(d))
            }
            fn write_timeout(&self, d: Duration) -> io::Result<()> {
                self.set_write_timeout(Some(d))
            }
            fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
                (&*self).read(buf)
            }
            fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
                (&*self).write(buf)
            }
        }
    };
}
stream!(UnixStream);
stream!(TcpStream);

/// Sleeps until `listener` has a connection to accept, or `at_most` passed: an accept
/// loop that must look at a stop flag now and then, yet answer a client at once.
pub fn wait_readable(listener: &impl AsFd, at_most: Duration) {
    let fd = listener.as_fd();
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec {
        tv_sec: at_most.as_secs() as i64,
        tv_nsec: i64::from(at_most.subsec_nanos()),
    };
    if rustix::event::poll(&mut fds, Some(&timeout)).is_err() {
        std::thread::sleep(at_most);
    }
}

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
pub fn read_line(conn: &impl Stream, max: usize, deadline: Duration) -> io::Result<String> {
    let mut line = read_until(conn, b"\n", max, deadline)?;
    if line.ends_with('\n') {
        line.pop();
    }
    Ok(line)
}

/// Bytes up to and with `end` (or up to end of stream, or `max` bytes), all within
/// `deadline`; what follows `end` in the same read is dropped.
pub fn read_until(
    conn: &impl Stream,
    end: &[u8],
    max: usize,
    deadline: Duration,
) -> io::Result<String> {
    let start = Instant::now();
    let mut buf = Vec::with_capacity(max.min(512));
    let mut chunk = [0u8; 512];
    loop {
        conn.read_timeout(left(start, deadline, "the request")?)?;
        let n = match conn.read_some(&mut chunk) {
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
        // Search from where `end` could start, across the previous chunk's tail.
        let from = buf.len().saturating_sub(end.len() - 1);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf[from..].windows(end.len()).position(|w| w == end) {
            buf.truncate(from + at + end.len());
            break;
        }
        if n == 0 || buf.len() >= max {
            break;
        }
    }
    buf.truncate(max);
    String::from_utf8(buf)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the request is not UTF-8"))
}

/// Writes all of `data` within `deadline`.
pub fn write_all(conn: &impl Stream, mut data: &[u8], deadline: Duration) -> io::Result<()> {
    let start = Instant::now();
    while !data.is_empty() {
        conn.write_timeout(left(start, deadline, "the answer")?)?;
        match conn.write_some(data) {
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
    fn an_http_head_ends_at_the_blank_line_even_across_reads() {
        let (a, b) = UnixStream::pair().unwrap();
        let w = std::thread::spawn(move || {
            (&a).write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r")
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
            (&a).write_all(b"\nbody").unwrap();
            a
        });
        let head = read_until(&b, b"\r\n\r\n", 8192, Duration::from_secs(2)).unwrap();
        assert_eq!(head, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        drop(w.join().unwrap());
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
