//! rgen compiles PM2 / Forever ecosystem files into native service definitions.

pub fn run() -> i32 {
    0
}
