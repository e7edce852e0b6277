//! ZooKeeper for the leader-election stories. `scripts/test.sh` starts a private real one
//! (`scripts/zookeeper.sh`) and exports `GALLEY_ZOOKEEPER=host:port` and
//! `GALLEY_REQUIRE_ZOOKEEPER=1`; without them a test that needs ZooKeeper prints SKIPPED.

use std::time::{SystemTime, UNIX_EPOCH};

/// The connect string of `GALLEY_ZOOKEEPER`; `None` (after a loud SKIPPED line) when it is
/// unset and `GALLEY_REQUIRE_ZOOKEEPER` is unset too. Panics when it is required and missing.
pub fn zookeeper() -> Option<String> {
    match std::env::var("GALLEY_ZOOKEEPER") {
        Ok(z) if !z.trim().is_empty() => Some(z),
        _ => {
            assert!(
                std::env::var_os("GALLEY_REQUIRE_ZOOKEEPER").is_none(),
                "GALLEY_REQUIRE_ZOOKEEPER is set but GALLEY_ZOOKEEPER is not: \
                 run `eval \"$(scripts/zookeeper.sh start DIR)\"` first"
            );
            eprintln!(
                "==== SKIPPED: ZooKeeper not available (set GALLEY_ZOOKEEPER, see scripts/zookeeper.sh) ===="
            );
            None
        }
    }
}

/// A znode path no other test run uses: `/galley-e2e/<test>-<pid>-<nanos>` (put the election
/// node under it, e.g. `<path>/leader`; the switches znode goes next to it).
pub fn unique_znode(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("/galley-e2e/{test}-{}-{nanos}", std::process::id())
}
