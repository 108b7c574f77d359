//! `cargo xtask demo`: the two-minute tour. Builds the binary, creates the lab, runs xlat64
//! with its built-in defaults and shows an IPv6-only client talking to an IPv4-only server.

use crate::lab::{self, Lab, Node, Translator, addr};

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
    if failed.is_empty() {
        println!(
            "demo: IPv6-only client and IPv4-only server talked through {}",
            translator.name()
        );
        Ok(())
    } else {
        Err(format!("demo steps failed: {}", failed.join("; ")))
    }
}
