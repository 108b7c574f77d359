//! Root-only tests against a real TUN device, each in a fresh network namespace owned by
//! the test thread (so nothing leaks into the host and cleanup is automatic). Without
//! root they print a note and pass.

use std::net::UdpSocket;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use etherparse::{Icmpv4Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use super::engine::SiitEngine;
use super::live::Live;
use super::stop::Stop;
use super::sys::{self, TunFlags};
use super::tun::Tun;
use super::worker::Worker;
use crate::addr::AddrMapper;
use crate::wire::buf::PacketBuf;
use crate::xlat::{Translator, XlatConfig};

/// Runs `f` on a thread inside a new network namespace, or skips without root.
fn in_netns(name: &str, f: impl FnOnce() + Send + 'static) {
    if !sys::is_root() {
        eprintln!("note: skipping {name}: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)");
        return;
    }
    thread::spawn(move || {
        if let Err(e) = sys::unshare_netns() {
            // Root without CAP_SYS_ADMIN (some containers): same as not root.
            eprintln!("note: skipping test: cannot create a network namespace: {e}");
            return;
        }
        f()
    })
    .join()
    .expect("test thread panicked");
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("run ip");
    assert!(st.success(), "ip {args:?} failed");
}

fn translator() -> Translator {
    Translator::new(XlatConfig {
        map: AddrMapper::new(Some("2001:db8:64::/96".parse().unwrap()), &[], true).unwrap(),
        ipv4_addr: "203.0.113.1".parse().unwrap(),
        ipv6_addr: "2001:db8:64::cb00:7101".parse().unwrap(),
        pool6791: Vec::new(),
        mtu: 1500,
        lowest_ipv6_mtu: 1280,
        amend_udp_checksum_zero: false,
        ..XlatConfig::default()
    })
}

/// Device creation, link configuration, and one packet each way through writev/read:
/// we inject an ICMPv4 echo request for a local address and read the kernel's reply,
/// which the route sends back into the TUN (RFC 792 echo, used here only as a probe).
#[test]
fn tun_configures_link_and_carries_packets_both_ways() {
    in_netns("tun_configures_link_and_carries_packets_both_ways", || {
        ip(&["link", "set", "lo", "up"]);
        ip(&["addr", "add", "192.0.2.1/32", "dev", "lo"]);
        let tun = Tun::open("xtt0", TunFlags::default()).expect("open tun");
        assert_eq!(tun.name(), "xtt0");
        let st = tun.configure(1400, 4321).expect("configure");
        assert!(st.mtu_changed && st.txqueuelen_changed && !st.was_up);
        assert_eq!(sys::get_mtu("xtt0").unwrap(), 1400);
        assert_eq!(sys::get_txqueuelen("xtt0").unwrap(), 4321);
        assert!(sys::is_up("xtt0").unwrap());
        // A second configure finds nothing to change (no privilege needed then).
        let again = tun.configure(1400, 4321).unwrap();
        assert!(!again.mtu_changed && !again.txqueuelen_changed && again.was_up);
        ip(&["route", "add", "198.51.100.0/24", "dev", "xtt0"]);

        let b = PacketBuilder::ipv4([198, 51, 100, 7], [192, 0, 2, 1], 64)
            .icmpv4_echo_request(0x1234, 7);
        let payload = b"xlat64 probe";
        let mut req = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut req, payload).unwrap();
        assert_eq!(tun.send(&req).unwrap(), req.len());

        let mut pkt = PacketBuf::new();
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            assert!(Instant::now() < deadline, "no echo reply came back");
            match tun.recv(&mut pkt) {
                Ok((_, offload)) => assert!(offload.is_none()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Err(e) => panic!("read: {e}"),
            }
            let Ok(p) = SlicedPacket::from_ip(pkt.data()) else {
                continue;
            };
            let (Some(NetSlice::Ipv4(v4)), Some(TransportSlice::Icmpv4(icmp))) =
                (p.net, p.transport)
            else {
                continue; // e.g. IPv6 router solicitations
            };
            assert_eq!(v4.header().source_addr().octets(), [192, 0, 2, 1]);
            assert_eq!(v4.header().destination_addr().octets(), [198, 51, 100, 7]);
            match icmp.icmp_type() {
                Icmpv4Type::EchoReply(h) => {
                    assert_eq!((h.id, h.seq), (0x1234, 7));
                    assert_eq!(icmp.payload(), payload);
                    break;
                }
                other => panic!("unexpected ICMP {other:?}"),
            }
        }
    });
}

/// The loop drains packets queued before it started (edge-triggered readiness), keeps
/// reading while running, stops on request, and counts every packet exactly once.
#[test]
fn worker_counts_packets_and_stops_on_request() {
    in_netns("worker_counts_packets_and_stops_on_request", || {
        ip(&["link", "set", "lo", "up"]);
        ip(&["addr", "add", "192.0.2.1/32", "dev", "lo"]);
        let tun = Tun::open("xtt1", TunFlags::default()).expect("open tun");
        tun.configure(1500, 1000).unwrap();
        ip(&["route", "add", "198.51.100.0/24", "dev", "xtt1"]);
        let sock = UdpSocket::bind("192.0.2.1:0").unwrap();
        for _ in 0..3 {
            sock.send_to(b"before", "198.51.100.9:9").unwrap();
        }
        let stop = Stop::new();
        let mut worker = Worker::new(tun, &stop).unwrap();
        let stopper = {
            let stop = stop.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(200));
                let sock = UdpSocket::bind("192.0.2.1:0").unwrap();
                for _ in 0..2 {
                    sock.send_to(b"during", "198.51.100.9:9").unwrap();
                }
                thread::sleep(Duration::from_millis(200));
                stop.request();
            })
        };
        let started = Instant::now();
        let snap = worker
            .run(&mut SiitEngine::new(&Live::new(translator())), &stop)
            .expect("run");
        stopper.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(snap.rx_packets >= 5, "{snap:?}");
        assert!(snap.rx_bytes >= 5 * 34, "{snap:?}");
        // Every input packet ends in exactly one verdict.
        assert_eq!(
            snap.rx_packets,
            snap.v6_to_v4 + snap.v4_to_v6 + snap.hairpinned + snap.dropped_total()
        );
        assert_eq!(snap.bad_frames, 0);
    });
}

/// A stop requested before the loop starts ends it at once.
#[test]
fn stop_before_run_returns_immediately() {
    in_netns("stop_before_run_returns_immediately", || {
        let tun = Tun::open("xtt2", TunFlags::default()).expect("open tun");
        let stop = Stop::new();
        stop.request();
        let mut worker = Worker::new(tun, &stop).unwrap();
        let snap = worker
            .run(&mut SiitEngine::new(&Live::new(translator())), &stop)
            .unwrap();
        assert_eq!(snap.rx_packets, 0);
    });
}

/// A second open of a single-queue device held by us fails with EBUSY and a message
/// saying another process holds it.
#[test]
fn busy_device_is_reported() {
    in_netns("busy_device_is_reported", || {
        let _held = Tun::open("xtt3", TunFlags::default()).expect("open tun");
        let e = Tun::open("xtt3", TunFlags::default()).unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::EBUSY), "{e}");
        assert!(e.to_string().contains("another process holds it"), "{e}");
    });
}

/// Attaching to a persistent device created beforehand (`ip tuntap add`) works, and a
/// TAP device of the same name is refused with advice.
#[test]
fn attaches_to_persistent_device_and_refuses_non_tun() {
    in_netns("attaches_to_persistent_device_and_refuses_non_tun", || {
        ip(&["tuntap", "add", "dev", "xtp0", "mode", "tun"]);
        let tun = Tun::open("xtp0", TunFlags::default()).expect("attach persistent");
        tun.configure(1500, 1000).unwrap();
        drop(tun);
        assert!(sys::if_exists("xtp0"), "persistent device survives close");
        ip(&["tuntap", "add", "dev", "xtd0", "mode", "tap"]);
        let e = Tun::open("xtd0", TunFlags::default()).unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::EINVAL), "{e}");
        assert!(e.to_string().contains("not a TUN device"), "{e}");
    });
}

/// IFF_MULTI_QUEUE: the same name opened N times gives N queues of one device, and
/// a packet the kernel sends comes out of exactly one of them.
#[test]
fn multi_queue_opens_one_device_with_n_queues() {
    in_netns("multi_queue_opens_one_device_with_n_queues", || {
        let flags = TunFlags {
            multi_queue: true,
            vnet_hdr: false,
        };
        let qs: Vec<Tun> = (0..3)
            .map(|_| Tun::open("xtm0", flags).expect("open queue"))
            .collect();
        assert!(qs.iter().all(|q| q.name() == "xtm0"));
        qs[0].configure(1500, 1000).unwrap();
        ip(&["link", "set", "lo", "up"]);
        ip(&["addr", "add", "192.0.2.1/32", "dev", "lo"]);
        ip(&["route", "add", "198.51.100.0/24", "dev", "xtm0"]);
        let sock = UdpSocket::bind("192.0.2.1:0").unwrap();
        sock.send_to(b"mq", "198.51.100.9:9").unwrap();
        thread::sleep(Duration::from_millis(100));
        let mut pkt = PacketBuf::new();
        let mut got = 0;
        for q in &qs {
            while let Ok((n, _)) = q.recv(&mut pkt) {
                if pkt.data().first().map(|b| b >> 4) == Some(4) && n == 20 + 8 + 2 {
                    got += 1;
                }
            }
        }
        assert_eq!(got, 1);
        // A single-queue open of a multi-queue device is refused.
        let e = Tun::open("xtm0", TunFlags::default()).unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::EINVAL), "{e}");
    });
}

/// With IFF_VNET_HDR the offload probe turns on what this kernel supports (at least
/// checksums on any kernel we run on), reads carry a virtio-net header (Offload::NONE
/// for a plain packet built with a complete checksum), and writes take one.
#[test]
fn vnet_header_round_trip_and_offload_probe() {
    in_netns("vnet_header_round_trip_and_offload_probe", || {
        ip(&["link", "set", "lo", "up"]);
        ip(&["addr", "add", "192.0.2.1/32", "dev", "lo"]);
        let flags = TunFlags {
            multi_queue: false,
            vnet_hdr: true,
        };
        let tun = Tun::open("xtv0", flags).expect("open tun");
        assert!(tun.has_vnet_hdr());
        let on = tun.enable_offloads();
        assert_ne!(on.0 & libc::TUN_F_CSUM, 0, "{}", on.describe());
        tun.configure(1500, 1000).unwrap();
        ip(&["route", "add", "198.51.100.0/24", "dev", "xtv0"]);
        let b = PacketBuilder::ipv4([198, 51, 100, 7], [192, 0, 2, 1], 64)
            .icmpv4_echo_request(0x4321, 1);
        let mut req = Vec::new();
        b.write(&mut req, b"vnet").unwrap();
        assert_eq!(tun.send(&req).unwrap(), req.len());
        let mut pkt = PacketBuf::new();
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            assert!(Instant::now() < deadline, "no echo reply came back");
            let Ok((n, offload)) = tun.recv(&mut pkt) else {
                thread::sleep(Duration::from_millis(10));
                continue;
            };
            assert_eq!(n, pkt.len());
            if let Ok(p) = SlicedPacket::from_ip(pkt.data())
                && let Some(TransportSlice::Icmpv4(icmp)) = p.transport
                && let Icmpv4Type::EchoReply(h) = icmp.icmp_type()
            {
                assert_eq!(h.id, 0x4321);
                // ICMP is never checksum-offloaded or segmented.
                assert!(offload.gso_type == 0, "{offload:?}");
                break;
            }
        }
    });
}

/// A TUN we bring up gets no IPv6 link-local address, so the kernel sends nothing into
/// it on its own (no Router Solicitation, RFC 4861 §6.3.7, no MLD report, RFC 3810
/// §6.1), and an idle translator counts no drops.
#[test]
fn idle_tun_receives_nothing_from_the_kernel() {
    in_netns("idle_tun_receives_nothing_from_the_kernel", || {
        let tun = Tun::open("xtt6", TunFlags::default()).expect("open tun");
        tun.configure(1500, 500).expect("configure");
        let mode = std::fs::read_to_string("/proc/sys/net/ipv6/conf/xtt6/addr_gen_mode");
        if mode.is_err() {
            eprintln!("note: no IPv6 on this host; nothing to check");
            return;
        }
        assert_eq!(mode.unwrap().trim(), "1");
        let mut pkt = PacketBuf::new();
        // RS go out about 1 s after the link-local address is ready; MLD at once.
        let deadline = Instant::now() + Duration::from_millis(2500);
        while Instant::now() < deadline {
            match tun.recv(&mut pkt) {
                Ok((n, _)) => panic!("the kernel sent {n} bytes: {:02x?}", pkt.data()),
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
}

/// `tun-io = "io-uring"`: a UDP datagram goes IPv4 → TUN → translated (RFC 7915 §4) →
/// back into the kernel as IPv6 to a local socket, and that socket's answer comes back
/// through the TUN translated to IPv4 (§5), with and without the virtio-net header: the
/// queued reads, the batched writes and the eventfd wake-up all carry real packets.
#[test]
fn uring_tun_carries_udp_both_ways() {
    for (dev, vnet) in [("xtu0", false), ("xtu1", true)] {
        in_netns("uring_tun_carries_udp_both_ways", move || {
            uring_round_trip(dev, vnet)
        });
    }
}

fn uring_round_trip(dev: &'static str, vnet: bool) {
    use super::uring::UringTun;
    if !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        eprintln!("note: no IPv6 on this host; skipping");
        return;
    }
    ip(&["link", "set", "lo", "up"]);
    ip(&["addr", "add", "192.0.2.1/32", "dev", "lo"]);
    // 198.51.100.9 in the RFC 6052 prefix: the IPv6 side of the translated datagram.
    ip(&["addr", "add", "2001:db8:64::c633:6409/128", "dev", "lo"]);
    let flags = TunFlags {
        multi_queue: false,
        vnet_hdr: vnet,
    };
    let tun = Tun::open(dev, flags).expect("open tun");
    if vnet {
        tun.enable_offloads();
    }
    tun.configure(1500, 1000).unwrap();
    ip(&["route", "add", "198.51.100.0/24", "dev", dev]);
    ip(&["-6", "route", "add", "2001:db8:64::/96", "dev", dev]);
    let dev = match UringTun::new(tun) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("note: skipping: no io_uring here ({e})");
            return;
        }
    };
    let stop = Stop::new();
    let mut worker = Worker::new(dev, &stop).unwrap();
    let runner = {
        let stop = stop.clone();
        thread::spawn(move || {
            worker
                .run(&mut SiitEngine::new(&Live::new(translator())), &stop)
                .expect("run")
        })
    };
    let v6 = UdpSocket::bind("[2001:db8:64::c633:6409]:9").unwrap();
    v6.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let v4 = UdpSocket::bind("192.0.2.1:0").unwrap();
    v4.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 2048];
    for round in 0..3u8 {
        let msg = [round; 100];
        v4.send_to(&msg, "198.51.100.9:9").unwrap();
        let (n, from) = v6.recv_from(&mut buf).expect("translated datagram");
        assert_eq!(&buf[..n], &msg);
        // 192.0.2.1 behind the RFC 6052 prefix.
        assert_eq!(from.ip().to_string(), "2001:db8:64::c000:201");
        v6.send_to(b"answer", from).unwrap();
        let (n, from) = v4.recv_from(&mut buf).expect("answer translated back");
        assert_eq!(&buf[..n], b"answer");
        assert_eq!(from.to_string(), "198.51.100.9:9");
    }
    stop.request();
    let snap = runner.join().unwrap();
    assert!(snap.v4_to_v6 >= 3 && snap.v6_to_v4 >= 3, "{snap:?}");
    assert_eq!(snap.write_errors, 0, "{snap:?}");
    assert_eq!(snap.bad_frames, 0, "{snap:?}");
}

/// With forwarding on (every translator box), the kernel makes the TUN join ff02::2
/// and sends MLDv2 reports into it as it comes up (RFC 3810 §5.2, from :: while the
/// interface has no address). The translator must take them for what they are, the
/// link's own traffic (RFC 4291 §2.7, link scope), not count them as drops: an idle
/// translator shows no drops.
#[test]
fn forwarding_kernel_link_traffic_is_not_a_drop() {
    in_netns("forwarding_kernel_link_traffic_is_not_a_drop", || {
        if std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1").is_err() {
            eprintln!("note: no IPv6 forwarding on this host; nothing to check");
            return;
        }
        let tun = Tun::open("xtt7", TunFlags::default()).expect("open tun");
        tun.configure(1500, 500).expect("configure");
        let t = translator();
        let mut out = crate::xlat::Output::new();
        let mut pkt = PacketBuf::new();
        let mut seen = 0;
        let deadline = Instant::now() + Duration::from_millis(2500);
        while Instant::now() < deadline {
            match tun.recv(&mut pkt) {
                Ok(_) => {
                    let bytes = pkt.data().to_vec();
                    let v = t.translate(&mut pkt, &mut out, 0);
                    assert_eq!(v, crate::xlat::Verdict::LinkScope, "{bytes:02x?}");
                    seen += 1;
                }
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
        eprintln!("the kernel sent {seen} link-scope packets into the TUN");
    });
}
