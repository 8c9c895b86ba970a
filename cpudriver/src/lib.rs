//! The CPU driver: the privileged, per-core half of each core's OS instance.
//!
//! Every core runs its own copy of this code over its own state: a [`percore::PerCore`]
//! record reached through the GS base, its own GDT, TSS (with IST stacks), IDT, kernel heap
//! and frame pool. The CPU driver is event-driven and single-threaded: it handles one trap,
//! syscall or interrupt to completion and never shares mutable state with another core.
//! The only memory written by one core and read by another is URPC channel memory, the
//! local APIC, and the debug console (a device, serialised by a lock; see `console`).
//!
//! Hardware-specific code lives in [`arch`]; the rest talks to it through small interfaces.
#![no_std]

extern crate alloc;

pub mod arch;
pub mod bootcfg;
pub mod console;
pub mod heap;
pub mod panic;
pub mod percore;
pub mod trap;

/// Set up this core's CPU driver state: GDT and TSS (with IST stacks and `stack_top` as the
/// ring-0 stack), then the IDT. The core's per-core record and heap must be installed.
pub fn init_core(stack_top: u64) {
    let sel = arch::gdt::init(x86_64::VirtAddr::new(stack_top));
    arch::idt::init(sel.kernel_code.0);
}

/// Timer interrupts per second on every core.
pub const TIMER_HZ: u64 = 100;

/// Calibrate this core's local APIC timer against the TSC (over 10 ms) and start it at
/// [`TIMER_HZ`]. Returns the timer's ticks (divide by 16) per millisecond.
pub fn start_timer(apic: arch::apic::LocalApic, tsc_hz: u64) -> u64 {
    let per_10ms = apic.measure_timer(arch::tsc::ms_to_cycles(tsc_hz, 10)) as u64;
    let per_ms = per_10ms / 10;
    let period = (per_ms * 1000 / TIMER_HZ).clamp(1, u32::MAX as u64) as u32;
    apic.start_periodic_timer(period);
    per_ms
}
