//! The atomics the protocol uses: `core`'s normally, `loom`'s when model checking.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicU64, Ordering};

/// What a polling loop does between two polls: a `pause` hint on hardware, a yield to the model
/// checker under `loom` (which needs one in every spin loop to keep executions finite).
#[inline(always)]
pub fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
