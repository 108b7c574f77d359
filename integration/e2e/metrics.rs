//! `metrics-listen`: the Prometheus endpoint of a running translator, scraped while
//! traffic flows (issue 11).

use super::*;
use crate::lab::addr;

const POOL4: &str = "203.0.113.16/28";
const LISTEN: &str = "127.0.0.1:9464";

fn scrape(lab: &Lab, accept: Option<&str>) -> String {
    let url = format!("http://{LISTEN}/metrics");
    let mut argv = vec!["curl", "-sS", "--max-time", "5"];
    if let Some(a) = accept {
        argv.extend(["-H", a]);
    }
    argv.push(&url);
    run_ok(lab, Node::Xlt, &argv).stdout
}

fn value(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Counters move between scrapes during traffic, every series is labelled as
/// Prometheus expects (`promtool check metrics` on the live scrape), and a server that
/// asks for OpenMetrics gets it.
#[test]
fn prometheus_scrape_during_nat64_traffic() {
    if using_tayga() {
        return;
    }
    require_root();
    let mut lab = Lab::new().unwrap();
    lab.start_translator(&Translator::xlat64(
        xlat64_bin(),
        &[
            "--mode",
            "nat64",
            "--pool4",
            POOL4,
            "--workers",
            "2",
            "--metrics-listen",
            LISTEN,
        ],
    ))
    .unwrap();
    lab.ip(Node::Xlt, &format!("route replace {POOL4} dev xlat64"))
        .unwrap();
    lab.wait_listening(Node::Xlt, "tcp", 9464).unwrap();
    let v6_to_v4 = "xlat64_translated_packets_total{direction=\"v6_to_v4\"}";
    let before = scrape(&lab, None);
    let first = value(&before, v6_to_v4).unwrap_or_else(|| panic!("{before}"));
    let pinger = lab
        .spawn(
            Node::Cli,
            "ping",
            &["ping", "-n", "-c", "30", "-i", "0.1", addr::SRV6],
        )
        .unwrap();
    let mut seen = vec![first];
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(300));
        let text = scrape(&lab, None);
        seen.push(value(&text, v6_to_v4).unwrap_or_else(|| panic!("{text}")));
    }
    assert!(
        lab.wait(pinger, Duration::from_secs(20)).is_some(),
        "ping hung"
    );
    let after = scrape(&lab, None);
    seen.push(value(&after, v6_to_v4).unwrap_or(0));
    assert!(seen.is_sorted(), "a counter went down: {seen:?}");
    assert!(seen[seen.len() - 1] >= first + 30, "{seen:?}");
    // The ping's ICMP session, on one pool4 address.
    assert!(
        value(&after, "xlat64_nat64_sessions{proto=\"icmp\"}").is_some_and(|n| n >= 1),
        "{after}"
    );
    let ports: u64 = after
        .lines()
        .filter(|l| l.starts_with("xlat64_nat64_pool4_ports_in_use{address=\"203.0.113."))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(ports >= 1, "{after}");
    assert!(after.contains("xlat64_build_info{version=\""), "{after}");
    assert!(
        after.contains("xlat64_dropped_packets_total{reason=\"nat64_pool_exhausted\"}"),
        "{after}"
    );
    // Prometheus' own linter on what the live translator serves.
    let url = format!("http://{LISTEN}/metrics");
    let lint = lab
        .sh(
            Node::Xlt,
            &format!("curl -sS --max-time 5 {url} | promtool check metrics"),
        )
        .unwrap();
    assert!(
        lint.success() && lint.stdout.trim().is_empty() && lint.stderr.trim().is_empty(),
        "{}",
        lint.failure()
    );
    let om = scrape(
        &lab,
        Some("Accept: application/openmetrics-text; version=1.0.0"),
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    finish(&mut lab);
}

/// A port already taken stops the start with a message naming the key.
#[test]
fn metrics_listen_in_use_is_refused_naming_the_key() {
    if using_tayga() {
        return;
    }
    require_root();
    let mut lab = Lab::new().unwrap();
    let squatter = lab
        .spawn(
            Node::Xlt,
            "squatter",
            &["python3", "-c", "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',9464))\ns.listen()\ntime.sleep(60)"],
        )
        .unwrap();
    lab.wait_listening(Node::Xlt, "tcp", 9464).unwrap();
    let bin = xlat64_bin().to_string_lossy().into_owned();
    let out = lab
        .run(
            Node::Xlt,
            &[&bin, "run", "--tun", "x64m", "--metrics-listen", LISTEN],
        )
        .unwrap();
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr
            .contains("cannot listen on metrics-listen 127.0.0.1:9464"),
        "{}",
        out.stderr
    );
    lab.kill(squatter);
}

/// Issue 11: "the scrape does not slow the workers measurably". iperf3 TCP through
/// NAT64 for 3 s, alternately without scrapes and with 20 scrapes a second (a
/// Prometheus server scrapes every 15 s or so), 3 rounds each; prints the medians and
/// their ratio (no timed assertion: a shared machine is too noisy for one), and how
/// long a scrape takes.
#[test]
fn prometheus_scrapes_during_iperf3_measured() {
    if using_tayga() {
        return;
    }
    require_root();
    let mut lab = Lab::new().unwrap();
    lab.start_translator(&Translator::xlat64(
        xlat64_bin(),
        &[
            "--mode",
            "nat64",
            "--pool4",
            POOL4,
            "--metrics-listen",
            LISTEN,
        ],
    ))
    .unwrap();
    lab.ip(Node::Xlt, &format!("route replace {POOL4} dev xlat64"))
        .unwrap();
    lab.wait_listening(Node::Xlt, "tcp", 9464).unwrap();
    let summary = "import json, sys; e = json.load(sys.stdin)['end']; \
                   print(e['sum_received']['bits_per_second'])";
    let mut rates = Vec::new();
    let order = [false, true, false, true, false, true];
    for (round, scraping) in order.into_iter().enumerate() {
        let port = format!("{}", 7060 + round);
        lab.spawn(
            Node::Srv,
            &format!("iperf3-{round}"),
            &["iperf3", "-s", "-1", "-B", addr::SRV4, "-p", &port],
        )
        .unwrap();
        lab.wait_listening(Node::Srv, "tcp", port.parse().unwrap())
            .unwrap();
        let scraper = scraping.then(|| {
            let loop_ = format!(
                "for i in $(seq 80); do curl -s -o /dev/null http://{LISTEN}/metrics; \
                 sleep 0.05; done"
            );
            lab.spawn(Node::Xlt, "scraper", &["sh", "-c", &loop_])
                .unwrap()
        });
        let script = format!(
            "iperf3 -c {} -p {port} -t 3 -J | python3 -c \"{summary}\"",
            addr::SRV6
        );
        let out = run_ok_within(&lab, Node::Cli, 30, &["sh", "-c", &script]);
        rates.push(out.stdout.trim().parse::<f64>().unwrap_or(0.0) / 1e9);
        if let Some(s) = scraper {
            lab.wait(s, Duration::from_secs(20));
        }
    }
    let timed = run_ok(
        &lab,
        Node::Xlt,
        &[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{time_total}",
            &format!("http://{LISTEN}/metrics"),
        ],
    );
    let median = |scraping: bool| {
        let mut v: Vec<f64> = order
            .iter()
            .zip(&rates)
            .filter(|(s, _)| **s == scraping)
            .map(|(_, r)| *r)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (off, on) = (median(false), median(true));
    println!(
        "iperf3 TCP through NAT64, medians of 3 x 3 s: {off:.2} Gbit/s without scrapes, \
         {on:.2} with 20 scrapes/s (ratio {:.3}; all: {rates:.2?}); one scrape {} s",
        on / off,
        timed.stdout.trim()
    );
    assert!(rates.iter().all(|&r| r > 0.0), "{rates:?}");
    finish(&mut lab);
}
