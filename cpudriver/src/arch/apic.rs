//! The local APIC, in xAPIC (MMIO) or x2APIC (MSR) mode: identity, end of interrupt,
//! inter-processor interrupts (fixed, INIT, STARTUP) and the timer.
//!
//! Each core owns its local APIC; a [`LocalApic`] value is a small, copyable description of
//! how to reach it (the mode and, for xAPIC, where its registers are mapped).

use crate::arch::cpu::{rdmsr, wrmsr};

/// `IA32_APIC_BASE`.
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;

// Register offsets (xAPIC MMIO; the x2APIC MSR is 0x800 + offset / 16).
const REG_ID: u32 = 0x20;
const REG_TPR: u32 = 0x80;
const REG_EOI: u32 = 0xb0;
const REG_SVR: u32 = 0xf0;
const REG_ESR: u32 = 0x280;
const REG_ICR_LOW: u32 = 0x300;
const REG_ICR_HIGH: u32 = 0x310;
const REG_LVT_TIMER: u32 = 0x320;
const REG_LVT_LINT0: u32 = 0x350;
const REG_LVT_LINT1: u32 = 0x360;
const REG_LVT_ERROR: u32 = 0x370;
const REG_TIMER_INIT: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIVIDE: u32 = 0x3e0;

const ICR_DELIVERY_PENDING: u32 = 1 << 12;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;
const ICR_TRIGGER_LEVEL: u32 = 1 << 15;
const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;

/// Vector of the spurious interrupt.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Vector of the local APIC timer.
pub const TIMER_VECTOR: u8 = 0x20;
/// Vector of the APIC error interrupt.
pub const ERROR_VECTOR: u8 = 0xfe;

/// How a core reaches its local APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalApic {
    /// Memory-mapped registers at this virtual address.
    XApic {
        /// Virtual address of the register page.
        base: u64,
    },
    /// Model-specific registers.
    X2Apic,
}

/// Why an IPI could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiError {
    /// The destination id does not fit the APIC mode (xAPIC ids are 8 bits).
    DestinationOutOfRange(u32),
    /// The previous IPI was still pending after the time limit.
    Busy,
}

/// Physical address of the local APIC registers (from `IA32_APIC_BASE`).
pub fn physical_base() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every x86-64 CPU.
    unsafe { rdmsr(IA32_APIC_BASE) & 0x000f_ffff_ffff_f000 }
}

impl LocalApic {
    fn read(&self, reg: u32) -> u32 {
        match *self {
            // SAFETY: `base` maps this core's APIC register page (uncached), and `reg` is
            // an architectural register offset inside it.
            LocalApic::XApic { base } => unsafe {
                core::ptr::read_volatile((base + reg as u64) as *const u32)
            },
            // SAFETY: x2APIC mode is enabled and the MSR is the architectural alias.
            LocalApic::X2Apic => unsafe { rdmsr(0x800 + (reg >> 4)) as u32 },
        }
    }

    fn write(&self, reg: u32, value: u32) {
        match *self {
            // SAFETY: as in `read`.
            LocalApic::XApic { base } => unsafe {
                core::ptr::write_volatile((base + reg as u64) as *mut u32, value)
            },
            // SAFETY: as in `read`; writes of architectural registers.
            LocalApic::X2Apic => unsafe { wrmsr(0x800 + (reg >> 4), value as u64) },
        }
    }

    /// Enable this core's APIC in the given mode: software-enable with the spurious vector,
    /// accept all priorities, mask LINT0/LINT1 and the timer, route errors to
    /// [`ERROR_VECTOR`].
    ///
    /// # Safety
    /// For xAPIC, `base` must map the APIC register page uncached. For x2APIC, the CPU must
    /// support it.
    pub unsafe fn enable(self) -> LocalApic {
        // SAFETY: enabling the APIC (and x2APIC mode when asked for) is what the caller
        // asked for; the MSR exists on every x86-64 CPU.
        unsafe {
            let mut v = rdmsr(IA32_APIC_BASE) | APIC_BASE_ENABLE;
            if self == LocalApic::X2Apic {
                v |= APIC_BASE_X2APIC;
            }
            wrmsr(IA32_APIC_BASE, v);
        }
        self.write(REG_SVR, 0x100 | SPURIOUS_VECTOR as u32);
        self.write(REG_TPR, 0);
        self.write(REG_LVT_LINT0, LVT_MASKED);
        self.write(REG_LVT_LINT1, LVT_MASKED);
        self.write(REG_LVT_TIMER, LVT_MASKED);
        self.write(REG_LVT_ERROR, ERROR_VECTOR as u32);
        self.write(REG_ESR, 0);
        self.eoi();
        self
    }

    /// This core's APIC id.
    pub fn id(&self) -> u32 {
        match self {
            LocalApic::XApic { .. } => self.read(REG_ID) >> 24,
            LocalApic::X2Apic => self.read(REG_ID),
        }
    }

    /// Signal end of interrupt.
    pub fn eoi(&self) {
        self.write(REG_EOI, 0);
    }

    fn wait_idle(&self) -> Result<(), IpiError> {
        if let LocalApic::XApic { .. } = self {
            for _ in 0..1_000_000 {
                if self.read(REG_ICR_LOW) & ICR_DELIVERY_PENDING == 0 {
                    return Ok(());
                }
                core::hint::spin_loop();
            }
            return Err(IpiError::Busy);
        }
        Ok(())
    }

    fn send(&self, dest: u32, low: u32) -> Result<(), IpiError> {
        match self {
            LocalApic::XApic { .. } => {
                if dest > 0xff {
                    return Err(IpiError::DestinationOutOfRange(dest));
                }
                self.wait_idle()?;
                self.write(REG_ICR_HIGH, dest << 24);
                self.write(REG_ICR_LOW, low);
                self.wait_idle()
            }
            LocalApic::X2Apic => {
                // SAFETY: the x2APIC ICR is one 64-bit MSR: destination in the high half.
                unsafe { wrmsr(0x830, ((dest as u64) << 32) | low as u64) };
                Ok(())
            }
        }
    }

    /// Send a fixed-vector IPI to the core with APIC id `dest`.
    pub fn send_ipi(&self, dest: u32, vector: u8) -> Result<(), IpiError> {
        self.send(dest, vector as u32)
    }

    /// Send INIT (assert, then de-assert for older CPUs) to `dest`.
    pub fn send_init(&self, dest: u32) -> Result<(), IpiError> {
        self.send(dest, 0x500 | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL)?;
        if let LocalApic::XApic { .. } = self {
            self.send(dest, 0x500 | ICR_TRIGGER_LEVEL)?;
        }
        Ok(())
    }

    /// Send a STARTUP IPI telling `dest` to start at physical page `page` (below 1 MiB).
    pub fn send_startup(&self, dest: u32, page: u8) -> Result<(), IpiError> {
        self.send(dest, 0x600 | page as u32)
    }

    /// Measure the timer: ticks of the timer (divide by 16) per `tsc_window` TSC cycles.
    pub fn measure_timer(&self, tsc_window: u64) -> u32 {
        self.write(REG_TIMER_DIVIDE, 0x3); // divide by 16
        self.write(REG_LVT_TIMER, LVT_MASKED);
        self.write(REG_TIMER_INIT, u32::MAX);
        let start = crate::arch::cpu::rdtsc();
        while crate::arch::cpu::rdtsc() - start < tsc_window {
            core::hint::spin_loop();
        }
        let left = self.read(REG_TIMER_CURRENT);
        self.write(REG_TIMER_INIT, 0);
        u32::MAX - left
    }

    /// Start the periodic timer: an interrupt on [`TIMER_VECTOR`] every `ticks` timer ticks
    /// (divide by 16).
    pub fn start_periodic_timer(&self, ticks: u32) {
        self.write(REG_TIMER_DIVIDE, 0x3);
        self.write(REG_LVT_TIMER, LVT_TIMER_PERIODIC | TIMER_VECTOR as u32);
        self.write(REG_TIMER_INIT, ticks.max(1));
    }
}
