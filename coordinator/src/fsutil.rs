//! Small filesystem helpers shared by the soa-dir reader, the git fast path and atomic writes.

use std::fs;
use std::io::Read;
use std::path::Path;

/// Reads a whole (usually tiny) file without the `stat` that `fs::read_to_string` makes for
/// its size hint (nor the seek): with thousands of repositories of ~20 loose refs each, syscalls are the cost.
pub fn read_small(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    // Not `read_to_end`: on a `File` it also stats and seeks for a size hint.
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
