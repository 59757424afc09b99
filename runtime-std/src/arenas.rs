//! glibc malloc kept in bounds for long-running receivers: fewer
//! arenas, and free pages handed back.
//!
//! glibc opens a new arena (a heap of its own) for a thread that finds
//! the existing ones busy, up to 8 per core, and keeps the pages of each
//! once touched. A receiver whose threads come and go (RTSP sessions set
//! up again, live-view requests and viewers) then grows by about an
//! arena's worth each time one more is opened: +19-22% RSS over a soak of
//! 16 cameras restarted at random, against +8% with two arenas
//! (`mjpeg-rtp-bench soak`). The receive and decode paths allocate
//! nothing per packet or frame once warm, so fewer arenas cost them
//! nothing.

/// Bound glibc malloc to `arenas` arenas for the whole process
/// (`M_ARENA_MAX`); call early, before threads start. A
/// `MALLOC_ARENA_MAX` in the environment wins; elsewhere than Linux with
/// glibc this does nothing.
pub fn limit_malloc_arenas(arenas: u16) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt takes two integers and only adjusts malloc's
        // own tunables (under its lock); no memory of ours is involved.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, i32::from(arenas));
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

/// Hand the pages malloc holds free back to the system (glibc's
/// `malloc_trim`). Freed memory between live allocations otherwise stays
/// resident: a receiver whose sessions restart and whose viewers come
/// and go keeps the high-water mark of its busiest moment, which creeps
/// up over hours. Costs a walk over malloc's free lists (well under a
/// millisecond for a receiver's heap); call it now and then, e.g. once
/// a minute. Elsewhere than Linux with glibc this does nothing.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes an integer (the bytes to keep at the top
    // of the heap) and only works on malloc's own free lists, under its
    // locks; no memory of ours is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}
