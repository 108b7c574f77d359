//! `cargo xtask test`: every check CI runs, in order, with a summary at the end.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

struct StepResult {
    name: &'static str,
    cmd: String,
    ok: bool,
    secs: f64,
    /// Tests passed and failed, summed over cargo's "test result:" lines.
    tests: (u64, u64),
}

pub fn run() -> Result<(), String> {
    crate::deps::ensure()?;
    let fuzz_secs = crate::fuzz::DEFAULT_SECONDS;
    let mut results = vec![
        cargo_step("fmt", &["fmt", "--all", "--", "--check"]),
        cargo_step(
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        cargo_step("build", &["build", "--release"]),
        // The end-to-end tests (all under `e2e::`) run in the next step, in release mode.
        cargo_step("unit", &["test", "--workspace", "--", "--skip", "e2e::"]),
        cargo_step(
            "integration",
            &[
                "test",
                "--release",
                "--test",
                "integration",
                "--",
                "--test-threads=1",
            ],
        ),
        // The traffic tests again over the AF_XDP dataplane (no TUN in the lab).
        cargo_step_env(
            "integration-xdp",
            &[
                "test",
                "--release",
                "--test",
                "integration",
                "--",
                "--test-threads=1",
                "e2e::ping",
                "e2e::udp",
                "e2e::tcp",
                "e2e::hairpin",
                "e2e::icmp_errors",
                "e2e::nat64::",
            ],
            &[("XLAT64_E2E_DATAPLANE", "xdp")],
            "XLAT64_E2E_DATAPLANE=xdp ",
        ),
        loom_step(),
    ];
    let start = Instant::now();
    let fuzz = crate::fuzz::run(fuzz_secs);
    if let Err(e) = &fuzz {
        eprintln!("fuzz: {e}");
    }
    results.push(StepResult {
        name: "fuzz",
        cmd: format!("cargo xtask fuzz --seconds {fuzz_secs}"),
        ok: fuzz.is_ok(),
        secs: start.elapsed().as_secs_f64(),
        tests: (0, 0),
    });

    println!("\n== cargo xtask test: summary ==");
    for r in &results {
        let tests = if r.tests == (0, 0) {
            String::new()
        } else {
            format!("  ({} passed, {} failed)", r.tests.0, r.tests.1)
        };
        println!(
            "  {}  {:<12} {:>7.1} s  {}{}",
            if r.ok { "ok  " } else { "FAIL" },
            r.name,
            r.secs,
            r.cmd,
            tests
        );
    }
    let passed: u64 = results.iter().map(|r| r.tests.0).sum();
    let failed: u64 = results.iter().map(|r| r.tests.1).sum();
    let bad: Vec<&str> = results.iter().filter(|r| !r.ok).map(|r| r.name).collect();
    if !bad.is_empty() {
        println!("failed steps: {}", bad.join(", "));
    }
    println!("tests: {passed} passed, {failed} failed");
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("{} step(s) failed: {}", bad.len(), bad.join(", ")))
    }
}

/// The loom model of the packet ring (`dataplane::ring::loom_tests`). `--cfg loom` changes
/// every crate's build, so it gets its own target dir and leaves the main cache alone;
/// a debug build, as compiling beats the model's run time (a few seconds) by far.
fn loom_step() -> StepResult {
    let dir = crate::target_dir().join("loom");
    let flags = match std::env::var("RUSTFLAGS") {
        Ok(f) if !f.trim().is_empty() => format!("{f} --cfg loom"),
        _ => "--cfg loom".to_owned(),
    };
    let env = [
        ("RUSTFLAGS", flags.as_str()),
        ("CARGO_TARGET_DIR", dir.to_str().unwrap_or("target/loom")),
    ];
    cargo_step_env(
        "loom",
        &["test", "--lib", "dataplane::ring::loom"],
        &env,
        "RUSTFLAGS=\"--cfg loom\" CARGO_TARGET_DIR=target/loom ",
    )
}

/// Runs `cargo <args>`, echoing its output and counting test results.
fn cargo_step(name: &'static str, args: &[&str]) -> StepResult {
    cargo_step_env(name, args, &[], "")
}

/// [`cargo_step`] with extra environment variables (`shown` is how the summary
/// spells them).
fn cargo_step_env(
    name: &'static str,
    args: &[&str],
    env: &[(&str, &str)],
    shown: &str,
) -> StepResult {
    let cmd = format!("{shown}cargo {}", args.join(" "));
    println!("\n== {name}: {cmd}");
    let start = Instant::now();
    let mut command = crate::cargo(args);
    command.envs(env.iter().copied());
    let (ok, tests) = run_counting(&mut command);
    StepResult {
        name,
        cmd,
        ok,
        secs: start.elapsed().as_secs_f64(),
        tests,
    }
}

/// Runs the command with stdout passed through line by line, summing libtest's
/// "test result: ok. N passed; M failed; ..." lines.
fn run_counting(command: &mut Command) -> (bool, (u64, u64)) {
    let mut child = match command.stdout(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return (false, (0, 0));
        }
    };
    let stdout = child.stdout.take().expect("stdout is piped");
    let reader = thread::spawn(move || {
        let mut totals = (0, 0);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some((p, f)) = parse_test_result(&line) {
                totals.0 += p;
                totals.1 += f;
            }
        }
        totals
    });
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    let totals = reader.join().unwrap_or((0, 0));
    (ok, totals)
}

fn parse_test_result(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let count = |word: &str| -> Option<u64> {
        let before = rest.split(&format!(" {word}")).next()?;
        before
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some((count("passed")?, count("failed")?))
}

#[cfg(test)]
mod tests {
    use super::parse_test_result;

    #[test]
    fn parses_libtest_summary() {
        let line = "test result: FAILED. 6 passed; 3 failed; 0 ignored; 0 measured; \
                    0 filtered out; finished in 12.87s";
        assert_eq!(parse_test_result(line), Some((6, 3)));
        assert_eq!(parse_test_result("running 3 tests"), None);
    }
}
