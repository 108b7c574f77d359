//! One translator per TUN: a second `xlat64 run` on the name a running one holds exits 1
//! naming it, and leaves the running one, its routes and its control socket alone.

use super::*;
use crate::lab::{TUN, TunSetup, addr};
use std::path::Path;
use std::time::Instant;

/// The routes through the TUN in `xlt`, IPv6 and IPv4.
fn routes(lab: &Lab) -> String {
    let v6 = run_ok(lab, Node::Xlt, &["ip", "-6", "route", "show", "dev", TUN]).stdout;
    let v4 = run_ok(lab, Node::Xlt, &["ip", "route", "show", "dev", TUN]).stdout;
    format!("{v6}{v4}")
}

/// Waits for `path` to exist (the control socket is bound once the routes are up).
fn wait_for_file(path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Path::new(path).exists() {
        assert!(
            Instant::now() < deadline,
            "{path} did not appear within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// RFC 7915 translation keeps working on the first translator while a second one is
/// refused: it exits 1 with `TUN 'xlat64' is in use by another xlat64 (pid P, control
/// socket S)`, opens no queue, installs and removes no route and binds no socket.
#[test]
fn second_translator_on_the_same_tun_is_refused_and_touches_nothing() {
    require_root();
    if using_tayga() {
        println!("skipped under TAYGA: the claim on the TUN name is xlat64's");
        return;
    }
    let mut lab = Lab::new().unwrap();
    let first_sock = lab.dir().join("first.sock").to_string_lossy().into_owned();
    let second_sock = lab.dir().join("second.sock").to_string_lossy().into_owned();
    let first = lab
        .start_translator_with(
            &Translator::xlat64(
                xlat64_bin(),
                &["--setup-routes", "--control-socket", &first_sock],
            ),
            TunSetup::ByTranslator,
        )
        .unwrap();
    wait_for_file(&first_sock);
    ping(&lab, Node::Cli, addr::SRV6, 2);
    let before = routes(&lab);
    assert!(
        before.contains(addr::PREFIX6) && before.contains(addr::EAM4),
        "{before}"
    );

    let bin = xlat64_bin().to_string_lossy().into_owned();
    let second = lab
        .run_timeout(
            Node::Xlt,
            Duration::from_secs(20),
            &[
                &bin,
                "run",
                "--setup-routes",
                "--control-socket",
                &second_sock,
            ],
        )
        .unwrap();
    assert_eq!(second.code, Some(1), "{}", second.failure());
    let want = format!(
        "xlat64: error: TUN '{TUN}' is in use by another xlat64 (pid {}, control socket \
         {first_sock}); stop it first or choose another --tun\n",
        lab.pid(first)
    );
    assert!(second.stderr.ends_with(&want), "{}", second.failure());
    assert!(
        !second.stderr.contains("translating"),
        "{}",
        second.failure()
    );
    assert!(
        !Path::new(&second_sock).exists(),
        "the refused translator bound its control socket"
    );

    // The first still translates, through its own routes, and still answers.
    assert!(lab.translator_alive(), "the first translator died");
    assert_eq!(routes(&lab), before, "the routes changed");
    ping(&lab, Node::Cli, addr::SRV6, 3);
    ping(&lab, Node::Srv, addr::CLI4, 2);
    run_ok(
        &lab,
        Node::Xlt,
        &[&bin, "stats", "--control-socket", &first_sock],
    );
    finish(&mut lab);

    // Once the first is gone, the name is free again.
    lab.start_translator_with(
        &Translator::xlat64(xlat64_bin(), &["--control-socket", &second_sock]),
        TunSetup::Routed,
    )
    .unwrap();
    ping(&lab, Node::Cli, addr::SRV6, 2);
    finish(&mut lab);
}
