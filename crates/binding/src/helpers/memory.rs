//! Handing the memory a closed engine's threads freed back to the system (issue 23): the
//! mimalloc calls `Native::Engine#close` makes. Must not be used on a hot path: purging at
//! once costs every allocation (see [`PurgeAtOnce`]).

/// mimalloc's options (`mi_option_t` in `mimalloc.h`) and calls this file uses; the
/// library is linked in by the `mimalloc` crate, the extension's allocator (see `lib.rs`).
mod mimalloc_ffi {
    extern "C" {
        pub fn mi_collect(force: bool);
        pub fn mi_option_get(option: i32) -> std::ffi::c_long;
        pub fn mi_option_set(option: i32, value: std::ffi::c_long);
    }
    /// `mi_option_purge_delay`.
    pub const PURGE_DELAY: i32 = 15;
}

/// While it lives, mimalloc gives pages back to the system as soon as they are free, instead
/// of 10 ms later; `Drop` restores the delay. `close` holds one while the engine's threads end.
///
/// Why (issue 23): every engine has threads of its own, each with a mimalloc heap. A purge
/// that is delayed runs only when the allocator next touches that memory, and the pages an
/// ended engine thread freed often are not touched again: a program that started, used and
/// closed an engine 1,000 times on SQLite kept about 25 kB a cycle of them resident.
/// Purging at once for the whole process cost the hot path (`complete_step` with a Hash:
/// 1.5 µs of the Ruby thread's CPU instead of 0.8-1.1 µs, benches/call_cost.rb), so it is
/// on only while a close runs: the option is process-wide, and an engine still running
/// elsewhere in the process merely purges eagerly for that moment.
pub(crate) struct PurgeAtOnce(std::ffi::c_long);

impl PurgeAtOnce {
    pub(crate) fn begin() -> PurgeAtOnce {
        // SAFETY: reads and sets a process-wide option; mimalloc reads it on each purge.
        unsafe {
            let delay = mimalloc_ffi::mi_option_get(mimalloc_ffi::PURGE_DELAY);
            mimalloc_ffi::mi_option_set(mimalloc_ffi::PURGE_DELAY, 0);
            PurgeAtOnce(delay)
        }
    }
}

impl Drop for PurgeAtOnce {
    fn drop(&mut self) {
        // SAFETY: as in `begin`.
        unsafe { mimalloc_ffi::mi_option_set(mimalloc_ffi::PURGE_DELAY, self.0) }
    }
}

/// Makes mimalloc free now what the closed engine's threads left (abandoned heaps). Runs
/// after `close` has joined every engine thread, so there is nothing left to race.
pub(crate) fn release_freed_memory() {
    // SAFETY: mi_collect only frees memory that no one uses any more; any thread may call it.
    unsafe { mimalloc_ffi::mi_collect(true) }
}
