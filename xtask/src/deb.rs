//! `cargo xtask deb`: a Debian package of xlat64, built with `dpkg-deb` from a staged
//! tree: the release binary, the systemd unit and sample configuration of
//! `xtask/dist/`, and a man page generated from the binary's own clap help (so it never
//! disagrees with `--help`). cargo-deb would do the same, but it is not installable
//! offline, and the whole job is a few files and one `dpkg-deb --build`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `bin args` and returns its stdout.
fn output(bin: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} {}` failed: {}",
            bin.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Text safe in a roff line: backslashes doubled, a leading `.` or `'` escaped.
pub fn roff(text: &str) -> String {
    let mut s = String::new();
    for line in text.lines() {
        let line = line.replace('\\', "\\e").replace('-', "\\-");
        if line.starts_with('.') || line.starts_with('\'') {
            s.push_str("\\&");
        }
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// The subcommands listed under `Commands:` in the top-level help, `help` excepted.
pub fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// xlat64(8): the top-level help, then each subcommand's `--help`, verbatim.
pub fn man_page(version: &str, top: &str, subs: &[(String, String)]) -> String {
    let about = top.lines().next().unwrap_or("");
    let mut s = String::new();
    let _ = writeln!(
        s,
        ".TH XLAT64 8 \"\" \"xlat64 {version}\" \"System Administration\""
    );
    let _ = writeln!(s, ".SH NAME\nxlat64 \\- {}", roff(about).trim_end());
    let _ = writeln!(s, ".SH SYNOPSIS\n.B xlat64\n.I COMMAND\n[\\fIOPTIONS\\fR]");
    let _ = writeln!(s, ".SH DESCRIPTION\n.nf\n{}.fi", roff(top));
    for (name, help) in subs {
        let _ = writeln!(s, ".SH \"xlat64 {name}\"\n.nf\n{}.fi", roff(help));
    }
    let _ = writeln!(
        s,
        ".SH FILES\n.TP\n/etc/xlat64/xlat64.toml\nconfiguration read by the xlat64 service\n\
         .TP\n/run/xlat64/xlat64.sock\ncontrol socket of the service (stats, sessions, reload)\n\
         .SH SIGNALS\nSIGINT and SIGTERM stop the translator (a second one exits at once); \
         SIGHUP re-reads the configuration file.\n.SH SEE ALSO\n.BR systemctl (1)"
    );
    s
}

/// The package's control file.
fn control(version: &str, arch: &str, installed_kb: u64) -> String {
    format!(
        "Package: xlat64\nVersion: {version}\nArchitecture: {arch}\nMaintainer: xlat64 \
         developers <xlat64@localhost>\nInstalled-Size: {installed_kb}\nSection: net\n\
         Priority: optional\nDepends: libc6\nRecommends: systemd\nDescription: userspace IPv6/IPv4 translator (SIIT, NAT64)\n \
         xlat64 translates between IPv6 and IPv4 on a Linux TUN device: stateless\n \
         SIIT (RFC 7915, RFC 6052, RFC 7757) and stateful NAT64 (RFC 6146), with a\n \
         control socket, Prometheus metrics and live reload. It runs as a systemd\n \
         service holding CAP_NET_ADMIN only.\n"
    )
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::copy(from, to).map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", to.display()))
}

fn write(to: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::write(to, text).map_err(|e| format!("{}: {e}", to.display()))
}

fn du_kb(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0),
            Ok(m) => m.len(),
            Err(_) => 0,
        }
    }
    walk(dir).div_ceil(1024)
}

/// Builds `target/deb/xlat64_VERSION_ARCH.deb` and prints its path.
pub fn run() -> Result<(), String> {
    let bin = crate::build_release()?;
    let version = output(&bin, &["--version"])?
        .split_whitespace()
        .nth(1)
        .ok_or("cannot read the version from xlat64 --version")?
        .to_string();
    let arch = output(Path::new("dpkg"), &["--print-architecture"])?
        .trim()
        .to_string();
    let out = crate::target_dir().join("deb");
    let stage = out.join(format!("xlat64_{version}_{arch}"));
    let _ = fs::remove_dir_all(&stage);
    let dist = crate::root().join("xtask/dist");
    let usr_bin = stage.join("usr/bin/xlat64");
    copy(&bin, &usr_bin, 0o755)?;
    // The release profile keeps line tables for perf; the package does not need them.
    let _ = Command::new("strip")
        .arg("--strip-debug")
        .arg(&usr_bin)
        .status();
    copy(
        &dist.join("xlat64.service"),
        &stage.join("lib/systemd/system/xlat64.service"),
        0o644,
    )?;
    copy(
        &dist.join("xlat64.toml"),
        &stage.join("etc/xlat64/xlat64.toml"),
        0o644,
    )?;
    let top = output(&bin, &["--help"])?;
    let mut subs = Vec::new();
    for name in subcommands(&top) {
        subs.push((name.clone(), output(&bin, &[&name, "--help"])?));
    }
    let man = stage.join("usr/share/man/man8/xlat64.8");
    write(&man, &man_page(&version, &top, &subs))?;
    let gz = Command::new("gzip")
        .args(["-9n", "-f"])
        .arg(&man)
        .status()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    if !gz.success() {
        return Err("gzip of the man page failed".into());
    }
    copy(
        &crate::root().join("LICENSE"),
        &stage.join("usr/share/doc/xlat64/copyright"),
        0o644,
    )?;
    let kb = du_kb(&stage);
    write(&stage.join("DEBIAN/control"), &control(&version, &arch, kb))?;
    write(&stage.join("DEBIAN/conffiles"), "/etc/xlat64/xlat64.toml\n")?;
    let deb: PathBuf = out.join(format!("xlat64_{version}_{arch}.deb"));
    println!("$ dpkg-deb --build --root-owner-group {}", stage.display());
    let st = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&stage)
        .arg(&deb)
        .status()
        .map_err(|e| format!("cannot run dpkg-deb (Debian package dpkg): {e}"))?;
    if !st.success() {
        return Err("dpkg-deb --build failed".into());
    }
    println!("{}", deb.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_escapes_what_troff_would_read_as_requests() {
        assert_eq!(roff(".x\n'y\na\\b --c"), "\\&.x\n\\&'y\na\\eb \\-\\-c\n");
    }

    #[test]
    fn subcommands_come_from_the_help() {
        let help = "about\n\nUsage: xlat64 <COMMAND>\n\nCommands:\n  run   Run\n  \
                    stats  Stats\n  help  Help\n\nOptions:\n  -h\n";
        assert_eq!(subcommands(help), ["run", "stats"]);
    }

    #[test]
    fn the_man_page_has_a_section_per_command() {
        let page = man_page(
            "1.0",
            "About it\n\nCommands:\n  run  Run\n",
            &[("run".into(), "Run it\n  --tun NAME\n".into())],
        );
        assert!(page.starts_with(".TH XLAT64 8"), "{page}");
        assert!(page.contains(".SH NAME\nxlat64 \\- About it\n"), "{page}");
        assert!(
            page.contains(".SH \"xlat64 run\"\n.nf\nRun it\n  \\-\\-tun NAME\n.fi"),
            "{page}"
        );
    }
}
