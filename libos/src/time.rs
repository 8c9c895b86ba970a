//! Time for programs, from the timer ticks the kernel records in the dispatcher frame on
//! every entry (100 per second): enough for timeouts that must hold however busy the core
//! is (a count of yields does not: a yield returns at once when another dispatcher runs).

/// Timer ticks per second.
pub const TICKS_PER_SECOND: u64 = 100;

/// The core's timer ticks when this dispatcher was last entered.
pub fn ticks() -> u64 {
    crate::dispatcher_frame().ticks
}

/// A point in time to wait until.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(u64);

impl Deadline {
    /// `ms` milliseconds from now (rounded up to whole ticks).
    pub fn after_ms(ms: u64) -> Deadline {
        Deadline(ticks().saturating_add(ms.div_ceil(1000 / TICKS_PER_SECOND)))
    }

    /// Whether it has passed.
    pub fn passed(&self) -> bool {
        ticks() >= self.0
    }
}

/// The time-stamp counter (cycles), for measuring.
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` is allowed in ring 3 unless the kernel sets CR4.TSD, which it does
    // not; it has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}
