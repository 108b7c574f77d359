//! Path MTU discovery across the translator.

use super::scripts::{TCP_SINK, TCP_UPLOAD};
use super::*;
use crate::lab::addr;

/// RFC 7915 §5.1 ("Flags": DF is set when the translated IPv4 packet is larger than
/// 1260 bytes, so IPv4 routers report a smaller MTU instead of fragmenting) and §4.2
/// (ICMPv4 Fragmentation Needed → ICMPv6 Packet Too Big, MTU field adjusted by +20 for
/// the header size difference): the router's link to the server has MTU 1400 (router
/// side only, so the server still advertises MSS 1460). A 4 MB upload from the client
/// must complete intact, and the client must have learnt path MTU 1420 from the
/// translated Packet Too Big.
#[test]
fn rfc7915_s4_2_path_mtu_packet_too_big() {
    let mut lab = lab_with_translator(&[]);
    lab.ip(Node::Rtr, "link set dev s mtu 1400").unwrap();
    lab.spawn(
        Node::Srv,
        "tcp-sink",
        &["python3", "-c", TCP_SINK, addr::SRV4, "9009"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 9009).unwrap();
    let out = run_ok_within(
        &lab,
        Node::Cli,
        90,
        &["python3", "-c", TCP_UPLOAD, addr::SRV6, "9009", "4000000"],
    );
    println!("{}", out.stdout);
    let route = run_ok(&lab, Node::Cli, &["ip", "-6", "route", "get", addr::SRV6]);
    assert!(
        route.stdout.contains("mtu 1420"),
        "the client should have a path MTU of 1420 towards {} after an ICMPv6 Packet Too \
         Big; `ip -6 route get` says:\n{}",
        addr::SRV6,
        route.stdout
    );
    finish(&mut lab);
}
