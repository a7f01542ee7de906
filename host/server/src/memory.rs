//! The server's heap, kept to what it uses: glibc's allocator, left to itself, keeps the peak of
//! a burst resident for good.
//!
//! glibc gives threads that allocate at the same time arenas of their own, up to eight per
//! core, and memory freed in one arena is not reused by another: the runtime's workers and
//! blocking threads then keep growing resident memory they seldom return. And an arena gives
//! back to the system only what is free at its top, so after a flood (thousands of messages in
//! flight, their payloads copied on the way) the freed middle of each arena stays resident
//! until the same amount is needed again. Measured with the flood test in
//! `tests/durability.rs` (20,000 messages of 10 KB on 20,000 topics through the embedded
//! broker): 51 MiB before, 188 MiB after the flood with nothing in flight, 95 MiB with the
//! freed pages returned (and 62 MiB through Mosquitto).

use std::time::Duration;

/// How often freed memory is handed back to the system: often enough that a burst's peak does
/// not outlive it for long, seldom enough to cost nothing measurable.
const RETURN_EVERY: Duration = Duration::from_secs(5);

/// One arena per core (the runtime runs a worker per core): the heap stays compact without
/// contention. Call first thing in `main`, before any other thread exists.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores).unwrap_or(i32::MAX);
        // SAFETY: called before any other thread exists, as `mallopt` requires.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Starts a thread that hands the pages the allocator holds free back to the system every
/// [`RETURN_EVERY`] (`malloc_trim` releases free pages in the middle of every arena, not just
/// at their tops).
pub fn return_freed() {
    #[cfg(target_env = "gnu")]
    {
        let trim = || loop {
            std::thread::sleep(RETURN_EVERY);
            // SAFETY: `malloc_trim` may be called at any time from any thread.
            unsafe {
                libc::malloc_trim(0);
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("return-freed-memory".into())
            .spawn(trim)
        {
            tracing::warn!("cannot start returning freed memory to the system: {e}");
        }
    }
}
