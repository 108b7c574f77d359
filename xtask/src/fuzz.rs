//! Bounded fuzz runs with libFuzzer on the stable toolchain.
//!
//! The targets in `fuzz/` are built with the same coverage instrumentation cargo-fuzz
//! uses (`-Cpasses=sancov-module` and friends, all stable `-C` flags), so no nightly
//! toolchain and no cargo-fuzz install is needed. `--target` keeps the flags off build
//! scripts and proc macros. Each run starts from the hand-built seeds in `fuzz/seeds`.

use std::path::Path;
use std::process::Command;

/// Default length of the fuzz step in `cargo xtask test`, split over the targets.
pub const DEFAULT_SECONDS: u32 = 120;

/// (target, seed folder in `fuzz/seeds`), each run for an equal share of the time.
const TARGETS: &[(&str, &str)] = &[
    ("v6_to_v4", "v6"),
    ("v4_to_v6", "v4"),
    ("offload", "v6"),
    ("offload_segments", "gso"),
    ("reassembly", "frag"),
];

const SANCOV_FLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

pub fn seconds_option(rest: &[String]) -> Result<u32, String> {
    let opts = crate::numeric_options(rest, &["seconds"])?;
    Ok(opts.last().map_or(DEFAULT_SECONDS, |(_, n)| *n))
}

/// Runs every fuzz target for its share of `seconds`. A crash fails the run and leaves
/// the input in `fuzz/artifacts/`.
pub fn run(seconds: u32) -> Result<(), String> {
    let root = crate::root();
    let fuzz = root.join("fuzz");
    let triple = host_triple()?;
    println!("$ cargo build --release --target {triple} (in fuzz/, libFuzzer instrumentation)");
    let st = Command::new("cargo")
        .args(["build", "--release", "--target", &triple])
        .current_dir(&fuzz)
        .env("RUSTFLAGS", SANCOV_FLAGS)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !st.success() {
        return Err("building the fuzz targets failed".into());
    }
    let per_target = (seconds / TARGETS.len() as u32).max(1);
    for (target, seeds) in TARGETS {
        run_target(&fuzz, &triple, target, seeds, per_target)?;
    }
    Ok(())
}

fn run_target(
    fuzz: &Path,
    triple: &str,
    target: &str,
    seeds: &str,
    secs: u32,
) -> Result<(), String> {
    let bin = fuzz
        .join("target")
        .join(triple)
        .join("release")
        .join(target);
    let corpus = fuzz.join("corpus").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    println!("$ fuzz/{target} -max_total_time={secs} (seeds: fuzz/seeds/{seeds})");
    let st = Command::new(&bin)
        .arg(&corpus)
        .arg(fuzz.join("seeds").join(seeds))
        .arg(format!("-max_total_time={secs}"))
        .arg("-max_len=4096")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .status()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if st.success() {
        println!("fuzz: {target}: no crash in {secs} s");
        Ok(())
    } else {
        Err(format!(
            "fuzz target {target} found a failing input (see {})",
            artifacts.display()
        ))
    }
}

fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| "rustc -vV printed no host triple".into())
}
