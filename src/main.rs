fn main() {
    std::process::exit(rgen::run());
}
