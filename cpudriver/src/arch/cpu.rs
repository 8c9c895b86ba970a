//! Small CPU primitives: time-stamp counter, halting, interrupts, MSRs.

use x86_64::registers::model_specific::Msr;

/// Read the time-stamp counter.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no side effects and is available on every x86-64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Stop this core for good (interrupts off, `hlt` forever).
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// The `IA32_GS_BASE` MSR.
pub const IA32_GS_BASE: u32 = 0xC000_0101;
/// The `IA32_KERNEL_GS_BASE` MSR (swapped in by `swapgs`).
pub const IA32_KERNEL_GS_BASE: u32 = 0xC000_0102;

/// Write a model-specific register.
///
/// # Safety
/// The caller must name an MSR that exists and a value whose effect it has accounted for.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: forwarded to the caller.
    unsafe { Msr::new(msr).write(value) }
}

/// Read a model-specific register.
///
/// # Safety
/// The caller must name an MSR that exists on this CPU.
pub unsafe fn rdmsr(msr: u32) -> u64 {
    // SAFETY: forwarded to the caller.
    unsafe { Msr::new(msr).read() }
}

/// Read CR2, the faulting address of the last page fault.
pub fn cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// Port I/O on behalf of an IO capability the capability rules checked: read (returns the
/// value) or write `value`, `width` bytes (1, 2 or 4; anything else reads 0 and writes
/// nothing).
pub fn port_io(port: u16, width: u8, write: bool, value: u32) -> u32 {
    use x86_64::instructions::port::Port;
    // SAFETY: the caller holds an IO capability for these ports (checked by the capability
    // rules); port I/O has no memory effects on the kernel.
    unsafe {
        match (width, write) {
            (1, false) => u32::from(Port::<u8>::new(port).read()),
            (2, false) => u32::from(Port::<u16>::new(port).read()),
            (4, false) => Port::<u32>::new(port).read(),
            (1, true) => {
                Port::<u8>::new(port).write(value as u8);
                0
            }
            (2, true) => {
                Port::<u16>::new(port).write(value as u16);
                0
            }
            (4, true) => {
                Port::<u32>::new(port).write(value);
                0
            }
            _ => 0,
        }
    }
}
