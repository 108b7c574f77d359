//! RFC 4884 multi-part ICMP errors through the translator, end to end: an ICMPv4 Time
//! Exceeded with an RFC 4950 MPLS label stack reaches the IPv6 client with the extension
//! intact, and an ICMPv6 Time Exceeded with an RFC 5837 interface information object
//! reaches the IPv4 server likewise. The lab's routers cannot add extensions
//! themselves, so the errors are built by python3 on raw sockets.

use super::*;
use crate::lab::addr;

/// Python helpers shared by the scripts below: the Internet checksum (RFC 1071) and the
/// RFC 4884 §7 extension header (version 2) in front of `objects`, checksum filled in.
const PY_COMMON: &str = r#"
import select, socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def extension(objects):
    e = struct.pack("!BBH", 0x20, 0, 0) + objects
    return e[:2] + struct.pack("!H", csum(e)) + e[4:]
"#;

/// The IPv4 router's side: `ADDR PORT`. For every UDP datagram to ADDR:PORT, sends the
/// datagram's source an ICMPv4 Time Exceeded whose original datagram field is the
/// datagram's first 128 bytes (RFC 4884 §4: length attribute 32, in the sixth octet),
/// followed by an RFC 4950 §7 MPLS Label Stack object (Class-Num 1, C-Type 1; labels
/// 16005 and 16, bottom of stack on the last, TTL 1). Prints `extension HEX` and `ready`.
const ROUTER_TIME_EXCEEDED: &str = r#"
addr, port = sys.argv[1], int(sys.argv[2])
entries = struct.pack("!II", 16005 << 12 | 1, 16 << 12 | 1 << 8 | 1)
ext = extension(struct.pack("!HBB", 4 + len(entries), 1, 1) + entries)
print("extension", ext.hex(), flush=True)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no Port Unreachable from the kernel
u.bind((addr, port))
rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
print("ready", flush=True)
while True:
    pkt, (peer, _) = rx.recvfrom(65535)
    hl = (pkt[0] & 15) * 4
    if struct.unpack("!H", pkt[hl + 2:hl + 4])[0] != port:
        continue
    original = pkt[:128].ljust(128, b"\0")
    msg = struct.pack("!BBHBBH", 11, 0, 0, 0, len(original) // 4, 0) + original + ext
    msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
    tx.sendto(msg, (peer, 0))
    print("sent time exceeded to", peer, flush=True)
"#;

/// The IPv6 client's side: `DST6 PORT`. Sends a 200-byte UDP datagram to DST6:PORT
/// (up to 3 times) and waits for the ICMPv6 Time Exceeded about it on a raw socket.
/// Checks its checksum (RFC 4443 §2.3, pseudo-header included), that the length
/// attribute (RFC 4884 §4: fifth octet, 64-bit words) delimits the quoted datagram
/// (the client's own IPv6 header and UDP header, payload bytes, zero padding: the
/// payload bytes are never zero), and
/// prints `length N`, `extension HEX` (what follows the original datagram) and `ok`.
const CLIENT_PROBE: &str = r#"
dst, port = sys.argv[1], int(sys.argv[2])
icmp = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.connect((dst, port))
me, sport = u.getsockname()[:2]
payload = bytes(i % 251 + 1 for i in range(200))
def check(msg, src):
    ph = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, me)
    ph += struct.pack("!I3xB", len(msg), 58)
    assert csum(ph + msg) == 0, "icmpv6 checksum"
    assert msg[:2] == b"\x03\x00" and msg[5:8] == b"\0\0\0", msg[:8].hex()
    n = msg[4] * 8
    q = msg[8:8 + n]
    assert n >= 128 and len(msg) > 8 + n, "length attribute %d, message %d" % (msg[4], len(msg))
    assert q[0] >> 4 == 6 and q[6] == 17, q[:8].hex()
    assert q[8:24] == socket.inet_pton(socket.AF_INET6, me), "inner source"
    assert q[24:40] == socket.inet_pton(socket.AF_INET6, dst), "inner destination"
    assert struct.unpack("!HH", q[40:44]) == (sport, port), "inner ports"
    quoted = len(q[48:].rstrip(b"\0"))
    assert quoted >= 64 and q[48:48 + quoted] == payload[:quoted], "inner payload"
    print("from", src, "length", msg[4], "original datagram", n, "bytes, quoted payload", quoted)
    print("extension", msg[8 + n:].hex())
for attempt in range(3):
    u.send(payload)
    end = time.time() + 2
    while time.time() < end:
        if not select.select([icmp], [], [], max(0, end - time.time()))[0]:
            break
        msg, peer = icmp.recvfrom(65535)
        if msg[0] == 3:
            check(msg, peer[0])
            print("ok")
            sys.exit(0)
print("no time exceeded after 3 probes")
sys.exit(1)
"#;

/// The IPv6 side of the other direction: `SRC6 DST6`. Sends DST6 (the IPv4 server seen
/// from IPv6) ICMPv6 Time Exceeded messages (3, 0.5 s apart) about a 200-byte UDP datagram
/// DST6:33434 → SRC6:40000 it could have sent: original datagram field the datagram's
/// first 128 bytes (RFC 4884 §4: length attribute 16, fifth octet), then an RFC 5837
/// §4.1 Interface Information object (Class-Num 2, C-Type 0x0f: incoming interface with
/// ifIndex 7, its IPv6 address SRC6 (AFI 2), name "eth0" and MTU 1500). The kernel fills
/// in the ICMPv6 checksum (RFC 3542 §3.1). Prints `extension HEX`.
const CLIENT_TIME_EXCEEDED: &str = r#"
src, dst = sys.argv[1], sys.argv[2]
s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
data = bytes(i * 7 % 251 + 1 for i in range(200))
udp = struct.pack("!HHHH", 33434, 40000, 8 + len(data), 0) + data
c = csum(d6 + s6 + struct.pack("!I3xB", len(udp), 17) + udp) or 0xffff
udp = udp[:6] + struct.pack("!H", c) + udp[8:]
datagram = struct.pack("!IHBB16s16s", 6 << 28, len(udp), 17, 60, d6, s6) + udp
info = struct.pack("!IHH16s", 7, 2, 0, s6) + bytes([8]) + b"eth0" + bytes(3) + struct.pack("!I", 1500)
ext = extension(struct.pack("!HBB", 4 + len(info), 2, 0x0F) + info)
msg = struct.pack("!BBHBBH", 3, 0, 0, 16, 0, 0) + datagram[:128] + ext
t = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
print("extension", ext.hex(), flush=True)
for _ in range(3):
    t.sendto(msg, (dst, 0))
    time.sleep(0.5)
"#;

/// The IPv4 server's side: `SRC4 DST4`. Waits (10 s at most) for an ICMPv4 Time
/// Exceeded on a raw socket, checks its checksum (the whole message, RFC 792), that the
/// length attribute (RFC 4884 §4: sixth octet, 32-bit words) delimits the quoted
/// datagram SRC4:33434 → DST4:40000 (IPv4 header, UDP header, payload, zero padding;
/// the payload bytes are never zero),
/// and prints `length N`, `extension HEX` and `ok`.
const SERVER_RECEIVE: &str = r#"
me, peer = sys.argv[1], sys.argv[2]
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
data = bytes(i * 7 % 251 + 1 for i in range(200))
print("ready", flush=True)
end = time.time() + 10
while time.time() < end:
    if not select.select([r], [], [], max(0, end - time.time()))[0]:
        break
    pkt, _ = r.recvfrom(65535)
    msg = pkt[(pkt[0] & 15) * 4:]
    if msg[0] != 11:
        continue
    assert csum(msg) == 0, "icmpv4 checksum"
    assert msg[1] == 0 and msg[4] == 0 and msg[6:8] == b"\0\0", msg[:8].hex()
    n = msg[5] * 4
    q = msg[8:8 + n]
    assert n >= 128 and len(msg) > 8 + n, "length attribute %d, message %d" % (msg[5], len(msg))
    assert q[0] == 0x45 and q[9] == 17 and struct.unpack("!H", q[2:4])[0] == 228, q[:20].hex()
    assert q[12:16] == socket.inet_aton(me) and q[16:20] == socket.inet_aton(peer), "inner addresses"
    assert struct.unpack("!HH", q[20:24]) == (33434, 40000), "inner ports"
    quoted = len(q[28:].rstrip(b"\0"))
    assert quoted >= 64 and q[28:28 + quoted] == data[:quoted], "inner payload"
    print("length", msg[5], "original datagram", n, "bytes, quoted payload", quoted)
    print("extension", msg[8 + n:].hex())
    print("ok")
    sys.exit(0)
print("no time exceeded")
sys.exit(1)
"#;

/// The hex after `extension ` in a script's output.
fn extension_hex(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.strip_prefix("extension "))
        .unwrap_or_else(|| panic!("no extension line in:\n{out}"))
}

fn script(body: &str) -> String {
    format!("{PY_COMMON}{body}")
}

/// RFC 4884 §4 and RFC 7915 §4.2: the router's Time Exceeded has a 128-byte original
/// datagram (attribute 32 words of 32 bits) and an MPLS extension; the client receives
/// an ICMPv6 Time Exceeded from 2001:db8:64::c633:647e whose original datagram is its
/// own probe (40-byte IPv6 header: 148 bytes, zero-padded to 152 = 19 words of 64 bits)
/// and whose extension is byte for byte the router's.
#[test]
fn rfc4884_v4_to_v6_mpls_extension_reaches_the_client() {
    let mut lab = lab_with_translator(&[]);
    ping(&lab, Node::Cli, addr::RTR6, 1);
    let router_script = script(ROUTER_TIME_EXCEEDED);
    let router = lab
        .spawn(
            Node::Rtr,
            "time-exceeded-router",
            &["python3", "-c", &router_script, addr::RTR4_XLT, "33434"],
        )
        .unwrap();
    lab.wait_for_output(router, "ready", Duration::from_secs(10))
        .unwrap();
    let probe = script(CLIENT_PROBE);
    let out = lab
        .run_timeout(
            Node::Cli,
            Duration::from_secs(20),
            &["python3", "-c", &probe, addr::RTR6, "33434"],
        )
        .unwrap();
    let (sent, _) = lab.output(router);
    println!("router:\n{sent}\nclient:\n{}{}", out.stdout, out.stderr);
    assert!(out.success(), "{}", out.failure());
    assert!(
        out.stdout.contains(&format!(
            "from {} length 19 original datagram 152 bytes",
            addr::RTR6
        )),
        "{}",
        out.stdout
    );
    assert_eq!(extension_hex(&out.stdout), extension_hex(&sent));
    finish(&mut lab);
}

/// RFC 4884 §4 and RFC 7915 §5.2: the client's Time Exceeded has a 128-byte original
/// datagram (attribute 16 words of 64 bits) and an interface information object; the
/// server receives an ICMPv4 Time Exceeded from 192.0.2.2 whose original datagram is the
/// IPv4 form of the quoted datagram (108 bytes, zero-padded to RFC 4884's 128 = 32
/// words of 32 bits) and whose extension is byte for byte the client's.
#[test]
fn rfc4884_v6_to_v4_interface_information_reaches_the_server() {
    let mut lab = lab_with_translator(&[]);
    ping(&lab, Node::Cli, addr::SRV6, 1);
    let receive = script(SERVER_RECEIVE);
    let server = lab
        .spawn(
            Node::Srv,
            "time-exceeded-receiver",
            &["python3", "-c", &receive, addr::SRV4, addr::CLI4],
        )
        .unwrap();
    lab.wait_for_output(server, "ready", Duration::from_secs(10))
        .unwrap();
    let send = script(CLIENT_TIME_EXCEEDED);
    let out = run_ok_within(
        &lab,
        Node::Cli,
        20,
        &["python3", "-c", &send, addr::CLI6, addr::SRV6],
    );
    let code = lab.wait(server, Duration::from_secs(15));
    let (got, errs) = lab.output(server);
    println!("client:\n{}\nserver:\n{got}{errs}", out.stdout);
    assert_eq!(code, Some(Some(0)), "server: {got}{errs}");
    assert!(
        got.contains("length 32 original datagram 128 bytes"),
        "{got}"
    );
    assert_eq!(extension_hex(&got), extension_hex(&out.stdout));
    finish(&mut lab);
}
