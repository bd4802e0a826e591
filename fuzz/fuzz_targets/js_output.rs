//! What rgen makes of node's stdout after evaluating an `ecosystem.config.js`: arbitrary bytes,
//! as a file's export could print anything.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rgen_fuzz::check_load(rgen::load::fuzzing::load_node_output(data));
});
