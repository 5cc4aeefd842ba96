//! The allocator's settings.
//!
//! mimalloc 3 keeps freed memory resident for a second before it gives it back to the system
//! (`purge_delay`, 1000 ms). Under a burst of batch calls, each holding a few MiB for a few
//! hundred milliseconds, that second holds several batches' worth of freed pages at once,
//! so the purge delay is set back to mimalloc 2's 10 ms: a lower peak for the batch-create
//! benchmark, with GET throughput unchanged in alternating A/B runs.

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the same index in mimalloc 2 and 3;
/// libmimalloc-sys names only the options it considers stable).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The purge delay Muster runs with, in milliseconds, unless `MIMALLOC_PURGE_DELAY` says
/// otherwise.
pub const PURGE_DELAY_MS: i64 = 10;

/// Sets Muster's allocator defaults; an option given in the environment
/// (`MIMALLOC_PURGE_DELAY`, read by mimalloc when the process starts) wins. Returns the purge
/// delay in effect. Call it first thing in `main`, before any other thread exists: mimalloc's
/// option calls are not thread-safe.
#[allow(unsafe_code)]
pub fn tune() -> i64 {
    // SAFETY: a plain C call on mimalloc's option table with a valid option index; main calls
    // this before it starts any thread, as mimalloc requires for option changes.
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS as std::ffi::c_long) };
    purge_delay()
}

/// The purge delay as mimalloc holds it now.
#[allow(unsafe_code)]
fn purge_delay() -> i64 {
    // SAFETY: a read of mimalloc's option table with a valid option index
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_muster_s_unless_the_environment_sets_one() {
        let from_env: Option<i64> = std::env::var("MIMALLOC_PURGE_DELAY").ok().and_then(|v| v.parse().ok());
        if from_env.is_none() {
            // the index is mimalloc 3's purge delay: its default, before Muster's is set
            assert_eq!(purge_delay(), 1000, "option {PURGE_DELAY} is not mimalloc 3's purge_delay");
        }
        assert_eq!(tune(), from_env.unwrap_or(PURGE_DELAY_MS));
        assert_eq!(purge_delay(), from_env.unwrap_or(PURGE_DELAY_MS));
    }
}
