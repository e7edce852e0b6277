//! Gives glibc's freed heap memory back to the operating system.
//!
//! The `galley-coordinator` binary allocates through jemalloc (see its `main.rs`), which
//! returns pages by itself; there glibc's heap holds only the C libraries' allocations
//! (libgit2, zlib). A process that embeds the runtime with the system allocator (the demo,
//! the tests) keeps glibc's behaviour: memory freed in an arena goes back to the system only
//! from the top of its heap, so the coordinator's large, short-lived allocations (a pass's
//! snapshot, a monitor round) stayed resident — a 10,000-instance soak grew from 320 to 620 MB
//! in 14 minutes, and one `malloc_trim(0)` took it back to 250 MB. So the runtime trims every
//! [`TRIM_EVERY`], on the blocking pool, and the monitor trims after each round. On other C
//! libraries this is a no-op.

use std::time::Duration;

use tokio::sync::watch;

/// Between two trims.
pub(crate) const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Trims every `every` until `shutdown` turns true.
pub(crate) async fn run(every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}

/// One trim of every arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Nothing to do where malloc is not glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn trim() {}

#[cfg(test)]
mod tests {
    #[tokio::test(start_paused = true)]
    async fn trims_until_shutdown() {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(super::run(super::TRIM_EVERY, rx));
        tokio::time::sleep(super::TRIM_EVERY * 3).await;
        assert!(!task.is_finished());
        tx.send(true).expect("send");
        task.await.expect("ends on shutdown");
    }
}
