//! What the fuzz targets share.

/// The server contains yrs' panics on malformed input (`catch_unwind` in the protocol crate's decoders
/// and in the room's integration), so a contained panic is the designed answer, not a finding. The hook
/// libfuzzer-sys installs aborts on every panic, caught or not; this one stays silent instead. A panic
/// that is not contained still unwinds into libFuzzer's C frames, which aborts the process: that is
/// still reported as a crash, with its input saved. With `FUZZ_PANICS=1` every panic is printed, to
/// see what a saved input does.
pub fn contain_panics() {
    if std::env::var_os("FUZZ_PANICS").is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
}
