//! How the host's allocator (mimalloc, set by the binary) gives memory back.
//!
//! Every task builds a store and drops it; freed memory that mimalloc hands
//! back to the kernel at once comes back as fresh pages the kernel must
//! zero (2 MiB at a time where huge pages are used) for the next task. Held
//! for a few seconds instead, it is reused while tasks keep coming and still
//! returned once the host is idle.

use std::os::raw::{c_int, c_long};

/// `mi_option_purge_delay` in mimalloc.h: the enum keeps its order across
/// versions (retired options stay as placeholders), and the unit test below
/// checks this is the option whose default is mimalloc's purge delay.
const PURGE_DELAY: c_int = 15;

/// Milliseconds freed memory stays with the process before it is returned.
pub const HOLD_MS: c_long = 10_000;

/// Sets the purge delay; call once at start.
pub fn tune() {
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table (an
    // atomic per option); it takes no pointers, and an option index within
    // the enum is valid at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, HOLD_MS) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_the_option_tuned() {
        // SAFETY: as in `tune`: a read of one option's value.
        let get = || unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        // mimalloc's own default for the purge delay (v3).
        assert_eq!(get(), 1000);
        tune();
        assert_eq!(get(), HOLD_MS);
    }
}
