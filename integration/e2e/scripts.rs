//! Small python3 programs the tests run inside the namespaces (`python3 -c SCRIPT args`).

/// UDP echo server: `ADDR PORT`. Sends every datagram back unchanged.
pub const UDP_ECHO_SERVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
"#;

/// UDP echo client: `ADDR PORT SIZE,SIZE,...` (IPv6 or IPv4). Sends one datagram of each size (random
/// bytes, retried up to 3 times) and checks the echo byte for byte. Exit 1 on any miss.
pub const UDP_ECHO_CLIENT: &str = r#"
import os, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
sizes = [int(x) for x in sys.argv[3].split(",")]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.connect((host, port))
failed = []
for size in sizes:
    payload = os.urandom(size)
    ok = False
    for attempt in range(3):
        s.send(payload)
        try:
            while True:
                if s.recv(65535) == payload:
                    ok = True
                    break
        except socket.timeout:
            pass
        if ok:
            break
    print(("ok" if ok else "MISSING"), size, "bytes", "attempts", attempt + 1)
    if not ok:
        failed.append(size)
if failed:
    print("no exact echo for sizes", failed)
    sys.exit(1)
"#;

/// TCP sink: `ADDR PORT`. Accepts one connection, reads to EOF, answers
/// "<bytes> <sha256 hex>\n".
pub const TCP_SINK: &str = r#"
import hashlib, socket, sys
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
c, _ = l.accept()
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    h.update(d)
    n += len(d)
c.sendall(("%d %s\n" % (n, h.hexdigest())).encode())
c.close()
"#;

/// TCP upload: `ADDR6 PORT BYTES`. Sends random bytes, half-closes, and checks that the
/// sink's byte count and SHA-256 match what was sent. Exit 1 on mismatch.
pub const TCP_UPLOAD: &str = r#"
import hashlib, os, socket, sys
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(size)
s = socket.create_connection((host, port), timeout=60)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
reply = b""
while not reply.endswith(b"\n"):
    d = s.recv(4096)
    if not d:
        break
    reply += d
want = "%d %s" % (size, hashlib.sha256(data).hexdigest())
got = reply.decode().strip()
print("sent:    ", want)
print("received:", got)
sys.exit(0 if got == want else 1)
"#;

/// Raw injection: `IFNAME HEX...`. Sends each packet through an AF_PACKET datagram
/// socket bound to the interface: on a TUN device the bytes go straight to the process
/// reading it, bypassing the kernel's IP validation.
pub const INJECT: &str = r#"
import socket, sys
ifname = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM)
for h in sys.argv[2:]:
    pkt = bytes.fromhex(h)
    ethertype = 0x86DD if pkt and pkt[0] >> 4 == 6 else 0x0800
    s.sendto(pkt, (ifname, ethertype))
print("injected", len(sys.argv) - 2, "packets")
"#;

/// TCP stream with SHA-256 on both ends: `ROLE ADDR PORT BYTES`, ROLE one of
/// `send-listen`, `recv-listen`, `send-connect`, `recv-connect`. The sender streams
/// `BYTES` bytes of random data (1 MiB windows at scattered offsets of a 64 MiB random
/// pool, so nothing touches the disk and no period hides a misplaced segment); both
/// ends print `<bytes> <sha256>`.
pub const TCP_STREAM: &str = r#"
import hashlib, os, socket, sys
role, host, port, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
CHUNK = 1 << 20
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
if role.endswith("listen"):
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    s, _ = ls.accept()
else:
    s = socket.create_connection((host, port), timeout=10)
s.settimeout(60)
h, n = hashlib.sha256(), 0
if role.startswith("send"):
    pool = memoryview(os.urandom(64 << 20))
    span, i = len(pool) - CHUNK, 0
    while n < total:
        off = (i * 7919 * 4099) % span
        b = pool[off:off + min(CHUNK, total - n)]
        s.sendall(b)
        h.update(b)
        n += len(b)
        i += 1
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # the receiver closes once it has everything
else:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        k = s.recv_into(buf)
        if not k:
            break
        h.update(view[:k])
        n += k
s.close()
print(n, h.hexdigest(), flush=True)
"#;

/// UDP with segmentation offload (UDP_SEGMENT, Linux 4.18+):
/// `send ADDR PORT ROUNDS` sends ROUNDS sendmsg calls of 10 × 1200 bytes each, cut into
/// 1200-byte datagrams by the kernel (or the NIC, or the translator's device);
/// `recv ADDR PORT ROUNDS` checks every datagram (1200 bytes: round, index, then a fill
/// byte derived from both) and prints `intact <n> bad <m>`; exit 1 unless all
/// ROUNDS × 10 arrived intact.
pub const UDP_GSO: &str = r#"
import socket, struct, sys, time
role, host, port, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# Optional: datagram size, and "nodf" to send IPv4 without DF (IP_PMTUDISC_DONT).
SEG = int(sys.argv[5]) if len(sys.argv) > 5 else 1200
UDP_SEGMENT, PER = 103, 10
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if role == "send" and len(sys.argv) > 6 and sys.argv[6] == "nodf":
    s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
def datagram(r, i):
    return struct.pack("!II", r, i) + bytes([(r * PER + i) & 0xFF]) * (SEG - 8)
if role == "send":
    s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, SEG)
    s.connect((host, port))
    for r in range(rounds):
        s.sendmsg([b"".join(datagram(r, i) for i in range(PER))])
        time.sleep(0.005)
    print("sent", rounds * PER, flush=True)
    sys.exit(0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((host, port))
print("ready", flush=True)
s.settimeout(10)
seen, bad = set(), 0
try:
    while len(seen) < rounds * PER:
        d = s.recv(65535)
        if len(d) != SEG:
            bad += 1
            continue
        r, i = struct.unpack("!II", d[:8])
        if r < rounds and i < PER and d == datagram(r, i):
            seen.add((r, i))
        else:
            bad += 1
        s.settimeout(3)
except socket.timeout:
    pass
print("intact", len(seen), "bad", bad, flush=True)
sys.exit(0 if len(seen) == rounds * PER and bad == 0 else 1)
"#;
