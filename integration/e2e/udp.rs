//! UDP datagrams of many sizes, echoed back byte for byte.

use super::scripts::{UDP_ECHO_CLIENT, UDP_ECHO_SERVER};
use super::*;
use crate::lab::addr;

/// RFC 7915 §5.1 / §4.1 (header translation), §5.5 / §4.5 (UDP checksum follows the
/// new pseudo-header), §5.1.1 / §4 (fragmented datagrams: sizes above 1452 bytes leave
/// the client as IPv6 fragments, and above 1472 the server's reply leaves as IPv4
/// fragments that the translator must turn into IPv6 fragments no larger than the IPv6
/// MTU). Every echo must equal what was sent, byte for byte.
#[test]
fn rfc7915_s4_s5_udp_echo_all_sizes() {
    let mut lab = lab_with_translator(&[]);
    lab.spawn(
        Node::Srv,
        "udp-echo",
        &["python3", "-c", UDP_ECHO_SERVER, addr::SRV4, "7007"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7007).unwrap();
    let sizes = "1,8,100,512,1000,1232,1452,1453,1472,1473,2000,4000,8000";
    let out = run_ok(
        &lab,
        Node::Cli,
        &["python3", "-c", UDP_ECHO_CLIENT, addr::SRV6, "7007", sizes],
    );
    println!("{}", out.stdout);
    finish(&mut lab);
}
