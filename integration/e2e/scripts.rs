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

/// UDP echo client: `ADDR6 PORT SIZE,SIZE,...`. Sends one datagram of each size (random
/// bytes, retried up to 3 times) and checks the echo byte for byte. Exit 1 on any miss.
pub const UDP_ECHO_CLIENT: &str = r#"
import os, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
sizes = [int(x) for x in sys.argv[3].split(",")]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
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
