//! Small filesystem helpers shared by the soa-dir reader, the git fast path and atomic writes.

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest soa-config, `deployments.json` or system-config file Galley reads (4 MiB; the
/// largest real soa-config files are a few hundred KiB). Bigger files are refused with an
/// error naming them, so one file cannot make the coordinator's memory grow without bound.
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 << 20;

/// Reads a config file as UTF-8, refusing anything that is not a regular file (a FIFO, a
/// device such as `/dev/zero`, a socket — even behind a symlink) or is larger than `limit`
/// bytes. The open never blocks (`O_NONBLOCK`: a FIFO with no writer would otherwise hang the
/// reader, and with it every reconcile pass).
pub fn read_config_file(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or socket is never read)",
        ));
    }
    let too_big = || {
        Error::new(
            ErrorKind::InvalidInput,
            format!("larger than {limit} bytes, the limit for a config file"),
        )
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(too_big());
    }
    String::from_utf8(buf).map_err(|e| Error::new(ErrorKind::InvalidData, e))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_are_regular_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.yaml");
        std::fs::write(&ok, "a: 1\n").unwrap();
        assert_eq!(read_config_file(&ok, 10).unwrap(), "a: 1\n");
        let err = read_config_file(&ok, 3).unwrap_err();
        assert!(err.to_string().contains("larger than 3 bytes"), "{err}");
        // A symlink to a device is not followed into an endless read.
        let zero = dir.path().join("zero.yaml");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = read_config_file(&zero, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        // A FIFO with no writer neither blocks nor is read.
        let fifo = dir.path().join("fifo.yaml");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let err = read_config_file(&fifo, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
