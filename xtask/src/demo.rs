//! `cargo xtask demo`: the two-minute tour. Builds the binary, creates the lab, runs xlat64
//! with its built-in defaults and shows an IPv6-only client talking to an IPv4-only server;
//! then 464XLAT: an IPv4-only app on an IPv6-only phone reaching the same kind of server
//! through the phone's CLAT and the carrier's PLAT, both xlat64.

use std::time::Duration;

use crate::lab::{self, Lab, Node, Topology, Translator, addr, addr464};

const TOPOLOGY_464: &str = "\
464XLAT lab (RFC 6877): an IPv4-only app on an IPv6-only phone

  phone 2001:db8:a::2 ── 2001:db8:a::1 carrier 2001:db8:b::1 ── 2001:db8:b::2 plat 198.51.100.129 ── 198.51.100.130 srv
  CLAT: xlat64 --mode clat          RAs with PREF64             PLAT: xlat64 --mode nat64         (IPv4-only server)
  192.0.0.1 ↔ 2001:db8:a::c1a7      2001:db8:64::/96            pool4 198.51.100.0/28";

const TOPOLOGY: &str = "\
lab topology (one network namespace per box, documentation addresses):

  cli   2001:db8:1::2 ─┐
                       ├─ br0 2001:db8:1::1 ─ xlt ─ 198.51.100.1 ── 198.51.100.126 rtr 198.51.100.129 ── 198.51.100.130 srv
  cli2  2001:db8:1::3 ─┘          TUN xlat64 (the translator)                               (IPv4-only server)

  seen from IPv6, srv 198.51.100.130 is 2001:db8:64::c633:6482 (RFC 6052 prefix 2001:db8:64::/96)
  seen from IPv4, cli 2001:db8:1::2 is 192.0.2.2 (EAM 2001:db8:1::/120 = 192.0.2.0/24)";

pub fn run(tayga: bool) -> Result<(), String> {
    crate::deps::ensure()?;
    if !lab::is_root() {
        return Err("the demo creates network namespaces: run it as root".into());
    }
    let bin = crate::build_release()?;
    println!("\n{TOPOLOGY}\n");
    let mut lab = Lab::new().map_err(|e| e.to_string())?;
    println!("created namespaces {}-{{cli,cli2,xlt,rtr,srv}}", lab.id());

    let www = lab.dir().join("www");
    std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
    std::fs::write(
        www.join("index.html"),
        "<h1>Hello from the IPv4-only server 198.51.100.130</h1>\n",
    )
    .map_err(|e| e.to_string())?;
    let www = www.to_string_lossy().into_owned();
    let http = [
        "python3",
        "-m",
        "http.server",
        "80",
        "--bind",
        addr::SRV4,
        "--directory",
        &www,
    ];
    println!("[srv] {} &", lab::shell_words(&http));
    lab.spawn(Node::Srv, "http", &http)
        .map_err(|e| e.to_string())?;
    lab.wait_listening(Node::Srv, "tcp", 80)
        .map_err(|e| e.to_string())?;

    let translator = if tayga {
        println!("[xlt] tayga -c tayga.conf --nodetach &   (TAYGA instead of xlat64)");
        Translator::Tayga
    } else {
        println!("[xlt] {} run &   (built-in defaults)", bin.display());
        Translator::xlat64(&bin, &[])
    };
    lab.start_translator(&translator)
        .map_err(|e| e.to_string())?;
    println!(
        "[xlt] routes: {} dev {tun}, {} dev {tun}, {}/32 dev {tun}",
        addr::PREFIX6,
        addr::EAM4,
        addr::XLAT_IPV4,
        tun = lab::TUN
    );

    let url = format!("http://[{}]/", addr::SRV6);
    let steps: [(Node, Vec<&str>); 3] = [
        (
            Node::Cli,
            vec!["ping", "-c", "3", "-i", "0.3", "-w", "10", addr::SRV6],
        ),
        (
            Node::Srv,
            vec!["ping", "-c", "3", "-i", "0.3", "-w", "10", addr::CLI4],
        ),
        (
            Node::Cli,
            vec!["curl", "-sS", "-g", "--max-time", "10", &url],
        ),
    ];
    let mut failed = Vec::new();
    for (node, argv) in &steps {
        println!("\n[{}]$ {}", node.role(), lab::shell_words(argv));
        match lab.run(*node, argv) {
            Ok(out) => {
                print!("{}{}", out.stdout, out.stderr);
                if !out.success() {
                    failed.push(lab::shell_words(argv));
                }
            }
            Err(e) => {
                println!("{e}");
                failed.push(lab::shell_words(argv));
            }
        }
    }

    println!(
        "\n[xlt]$ kill -INT <{}>   (xlat64 prints its counters on exit)",
        translator.name()
    );
    match lab.stop_translator() {
        Ok(stopped) => {
            print!("{}", stopped.stdout);
            if stopped.code != Some(0) && stopped.code.is_some() {
                println!("--- stderr ---\n{}", stopped.stderr.trim_end());
                failed.push(format!(
                    "{} exit code {:?}",
                    translator.name(),
                    stopped.code
                ));
            }
        }
        Err(e) => {
            println!("{e}");
            failed.push("stopping xlat64".into());
        }
    }
    drop(lab);
    println!("\nremoved the lab");
    if !tayga {
        failed.extend(run_464(&bin)?);
    }
    if failed.is_empty() {
        println!(
            "demo: IPv6-only client and IPv4-only server talked through {}{}",
            translator.name(),
            if tayga {
                ""
            } else {
                "; an IPv4-only app crossed an IPv6-only network through CLAT and PLAT"
            }
        );
        Ok(())
    } else {
        Err(format!("demo steps failed: {}", failed.join("; ")))
    }
}

/// The 464XLAT part: PLAT, RA sender, CLAT that learns the prefix from the RAs, then
/// ping and curl from the phone's IPv4 side. Returns the steps that failed.
fn run_464(bin: &std::path::Path) -> Result<Vec<String>, String> {
    let e = |e: lab::LabError| e.to_string();
    println!("\n{TOPOLOGY_464}\n");
    let mut lab = Lab::with_topology(Topology::Xlat464).map_err(e)?;
    println!("created namespaces {}-{{phone,carrier,plat,srv}}", lab.id());
    let www = lab.path("www");
    std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
    std::fs::write(
        format!("{www}/index.html"),
        "<h1>Hello from the IPv4-only server 198.51.100.130, via CLAT and PLAT</h1>\n",
    )
    .map_err(|e| e.to_string())?;
    let http = [
        "python3",
        "-m",
        "http.server",
        "80",
        "--bind",
        addr464::SRV4,
        "--directory",
        &www,
    ];
    println!("[srv] {} &", lab::shell_words(&http));
    lab.spawn(Node::Srv, "http", &http).map_err(e)?;
    lab.wait_listening(Node::Srv, "tcp", 80).map_err(e)?;

    let prefix = "2001:db8:64::/96";
    println!(
        "[plat] {} run --mode nat64 --prefix {prefix} --pool4 {} --setup-routes &",
        bin.display(),
        addr464::POOL4
    );
    let plat = lab.start_plat(bin, prefix).map_err(e)?;
    let spec = lab.path("pref64.spec");
    std::fs::write(&spec, format!("{prefix} 600\n")).map_err(|e| e.to_string())?;
    println!("[carrier] Router Advertisements every second with PREF64 {prefix} (RFC 8781) &");
    lab.spawn(
        Node::Carrier,
        "ra-sender",
        &["python3", "-c", lab::RA_SENDER, "c", "1", &spec],
    )
    .map_err(e)?;
    let resolv = lab.path("resolv.conf");
    std::fs::write(&resolv, "").map_err(|e| e.to_string())?;
    println!(
        "[phone] {} run --mode clat --uplink eth0 --setup-routes &   (no prefix given)",
        bin.display()
    );
    let clat = lab
        .start_clat(bin, &["--resolv-conf", &resolv])
        .map_err(e)?;
    lab.wait_for_output(clat, "PLAT prefix none ->", Duration::from_secs(10))
        .map_err(e)?;
    let (_, log) = lab.output(clat);
    for l in log.lines().filter(|l| {
        l.contains("CLAT IPv6 address") || l.contains("PLAT prefix") || l.contains("TUN MTU")
    }) {
        // Without the timestamp: "…Z  INFO message".
        let msg = l.split_once("Z ").map_or(l, |(_, m)| m).trim_start();
        println!("[phone] xlat64: {msg}");
    }
    let url = format!("http://{}/", addr464::SRV4);
    let steps: [Vec<&str>; 3] = [
        vec!["ip", "-4", "route"],
        vec!["ping", "-c", "3", "-i", "0.3", "-w", "10", addr464::SRV4],
        vec!["curl", "-sS", "--max-time", "10", &url],
    ];
    let mut failed = Vec::new();
    for argv in &steps {
        println!("\n[phone]$ {}", lab::shell_words(argv));
        match lab.run(Node::Phone, argv) {
            Ok(out) => {
                print!("{}{}", out.stdout, out.stderr);
                if !out.success() {
                    failed.push(lab::shell_words(argv));
                }
            }
            Err(err) => {
                println!("{err}");
                failed.push(lab::shell_words(argv));
            }
        }
    }
    for (name, id) in [("CLAT", clat), ("PLAT", plat)] {
        let _ = lab.signal(id, "INT");
        let code = lab.wait(id, Duration::from_secs(10));
        if code != Some(Some(0)) {
            failed.push(format!("{name} exit {code:?}"));
        }
        let (out, _) = lab.output(id);
        let moved: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("translated_") || l.contains("  dropped"))
            .collect();
        println!("\n{name} counters:\n{}", moved.join("\n"));
    }
    drop(lab);
    println!("\nremoved the 464XLAT lab");
    Ok(failed)
}
