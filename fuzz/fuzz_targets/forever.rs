//! The loader on arbitrary `forever.json` text: never a panic, a hang or unbounded memory; a
//! result is either apps or an error that names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    rgen_fuzz::check_load(rgen::load::fuzzing::load_text("forever.json", None, text));
});
