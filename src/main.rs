fn main() {
    std::process::exit(xlat64::control::main());
}
