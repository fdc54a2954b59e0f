//! What the deploy kit's tests share: running a proxy from Debian's packages on the kit's own file.

use std::net::TcpListener;
use std::process::Child;

/// A proxy process (nginx, Caddy) stopped when the test ends, however it ends.
pub struct StopOnDrop(pub Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Replaces `from` with `to` in the kit's file `file`, failing when the file no longer holds `from`:
/// the test must run the file as shipped, not a config of its own.
pub fn swap(conf: &mut String, file: &str, from: &str, to: &str) {
    assert!(conf.contains(from), "{file} no longer holds {from:?}");
    *conf = conf.replace(from, to);
}
