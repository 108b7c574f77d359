//! Bounded fuzz runs. A stub until the fuzz targets exist: the lead fills in [`run`].

/// Default length of the fuzz step in `cargo xtask test`.
pub const DEFAULT_SECONDS: u32 = 60;

pub fn seconds_option(rest: &[String]) -> Result<u32, String> {
    let opts = crate::numeric_options(rest, &["seconds"])?;
    Ok(opts.last().map_or(DEFAULT_SECONDS, |(_, n)| *n))
}

/// Runs every fuzz target for `seconds`. Prints what it ran.
pub fn run(seconds: u32) -> Result<(), String> {
    println!("$ cargo xtask fuzz --seconds {seconds}");
    println!("fuzz: no fuzz targets yet; ran nothing (xtask/src/fuzz.rs::run is a stub)");
    Ok(())
}
