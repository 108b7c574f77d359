//! TCP through the translator: an HTTP fetch and a 100 MB transfer.

use super::*;
use crate::lab::addr;

/// Starts `python3 -m http.server` on the IPv4-only server, serving `dir`.
fn http_server(lab: &mut Lab, dir: &str) {
    lab.spawn(
        Node::Srv,
        "http",
        &[
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            addr::SRV4,
            "--directory",
            dir,
        ],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 8080).unwrap();
}

fn url(path: &str) -> String {
    format!("http://[{}]:8080/{path}", addr::SRV6)
}

/// RFC 7915 §5.5 / §4.5 (TCP checksum updated for the new pseudo-header) end to end:
/// `curl` on the IPv6-only client fetches a page from the IPv4-only server.
#[test]
fn rfc7915_s5_5_curl_fetches_page_from_ipv4_server() {
    let mut lab = lab_with_translator(&[]);
    let dir = lab.dir().join("www");
    std::fs::create_dir_all(&dir).unwrap();
    let page = "<h1>hello from the IPv4-only server 198.51.100.130</h1>\n";
    std::fs::write(dir.join("index.html"), page).unwrap();
    http_server(&mut lab, dir.to_str().unwrap());
    let out = run_ok_within(
        &lab,
        Node::Cli,
        30,
        &["curl", "-sS", "-g", "--max-time", "20", &url("index.html")],
    );
    assert_eq!(out.stdout, page);
    finish(&mut lab);
}

/// RFC 7915 §5.5 / §4.5 at volume: 100 MB over one TCP connection from the IPv4 server
/// to the IPv6 client, verified by SHA-256 (any checksum or length error in translation
/// would stall or corrupt the stream).
#[test]
fn rfc7915_s5_5_tcp_100mb_transfer_sha256() {
    let mut lab = lab_with_translator(&[]);
    let dir = lab.dir().join("www");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("big.bin");
    let src_s = src.to_str().unwrap().to_string();
    run_ok(
        &lab,
        Node::Srv,
        &[
            "sh",
            "-c",
            &format!("head -c 100M /dev/urandom > '{src_s}'"),
        ],
    );
    http_server(&mut lab, dir.to_str().unwrap());
    let dst = lab.dir().join("received.bin");
    let dst_s = dst.to_str().unwrap().to_string();
    let out = run_ok_within(
        &lab,
        Node::Cli,
        120,
        &[
            "curl",
            "-sS",
            "-g",
            "--max-time",
            "110",
            "-o",
            &dst_s,
            "-w",
            "%{size_download} bytes in %{time_total} s\n",
            &url("big.bin"),
        ],
    );
    println!("{}", out.stdout);
    let (want, got) = (
        sha256(&lab, Node::Srv, &src_s),
        sha256(&lab, Node::Cli, &dst_s),
    );
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&dst);
    assert_eq!(got, want, "received file differs from the server's");
    finish(&mut lab);
}
