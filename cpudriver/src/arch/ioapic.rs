//! The I/O APIC: routes a global system interrupt (GSI) to a vector on one core.
//!
//! Only the boot core's CPU driver programs the I/O APICs (their registers are one shared
//! device, reached through an index register, so a single writer keeps accesses whole);
//! other cores ask through their monitors ([`abi::kop::IRQ_ROUTE`]).

use core::ptr::{read_volatile, write_volatile};

const REG_VERSION: u32 = 1;
const REG_REDIRECTION: u32 = 0x10;
const MASKED: u64 = 1 << 16;
const LEVEL: u64 = 1 << 15;
const ACTIVE_LOW: u64 = 1 << 13;

/// One I/O APIC, its registers mapped uncached.
#[derive(Clone, Copy, Debug)]
pub struct IoApic {
    va: u64,
    /// First GSI it handles.
    pub gsi_base: u32,
    /// Number of redirection entries.
    pub entries: u32,
}

/// Why a route was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No I/O APIC handles that GSI.
    NoSuchGsi,
    /// The destination APIC id does not fit a redirection entry (8 bits without
    /// interrupt remapping).
    Destination,
}

/// An ISA IRQ routed differently from the identity (MADT interrupt source override).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaOverride {
    /// ISA IRQ.
    pub irq: u8,
    /// GSI.
    pub gsi: u32,
    /// MPS INTI flags (polarity bits 0-1, trigger bits 2-3).
    pub flags: u16,
}

/// How an interrupt line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal {
    /// Level-triggered (else edge).
    pub level: bool,
    /// Active low (else high).
    pub active_low: bool,
}

/// The GSI ISA IRQ `irq` arrives on: as an override says, else the same number.
pub fn isa_gsi(irq: u8, overrides: &[IsaOverride]) -> u32 {
    overrides
        .iter()
        .find(|o| o.irq == irq)
        .map_or(u32::from(irq), |o| o.gsi)
}

/// How GSI `gsi` signals: as the override that moves an ISA IRQ onto it says (MPS INTI
/// flags; "conforming" means the bus's default, edge and active high for ISA); edge and
/// active high for GSIs 0-15 that carry their own ISA IRQ; else level and active low,
/// as PCI interrupts are.
pub fn gsi_signal(gsi: u32, overrides: &[IsaOverride]) -> Signal {
    const ISA: Signal = Signal {
        level: false,
        active_low: false,
    };
    if let Some(o) = overrides.iter().find(|o| o.gsi == gsi) {
        return Signal {
            active_low: o.flags & 3 == 3,
            level: (o.flags >> 2) & 3 == 3,
        };
    }
    let own_isa_irq = u8::try_from(gsi).is_ok_and(|irq| irq < 16 && isa_gsi(irq, overrides) == gsi);
    if own_isa_irq {
        ISA
    } else {
        Signal {
            level: true,
            active_low: true,
        }
    }
}

impl IoApic {
    /// The I/O APIC whose registers are mapped at `va`, handling GSIs from `gsi_base`.
    ///
    /// # Safety
    /// `va` must map the I/O APIC's register page uncached, for the kernel's whole life,
    /// and only this core may use it.
    pub unsafe fn new(va: u64, gsi_base: u32) -> IoApic {
        let mut a = IoApic {
            va,
            gsi_base,
            entries: 0,
        };
        a.entries = ((a.read(REG_VERSION) >> 16) & 0xff) + 1;
        a
    }

    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `va` maps the register page (constructor contract): IOREGSEL at 0,
        // IOWIN at 0x10.
        unsafe {
            write_volatile(self.va as *mut u32, reg);
            read_volatile((self.va + 0x10) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            write_volatile(self.va as *mut u32, reg);
            write_volatile((self.va + 0x10) as *mut u32, value);
        }
    }

    /// Whether this I/O APIC handles `gsi`.
    pub fn handles(&self, gsi: u32) -> bool {
        gsi >= self.gsi_base && gsi - self.gsi_base < self.entries
    }

    /// Deliver `gsi` as `vector` to the core with APIC id `dest` (fixed, physical).
    pub fn route(&self, gsi: u32, vector: u8, dest: u32, s: Signal) -> Result<(), RouteError> {
        if !self.handles(gsi) {
            return Err(RouteError::NoSuchGsi);
        }
        let dest = u8::try_from(dest).map_err(|_| RouteError::Destination)?;
        let mut low = u64::from(vector);
        if s.level {
            low |= LEVEL;
        }
        if s.active_low {
            low |= ACTIVE_LOW;
        }
        let reg = REG_REDIRECTION + 2 * (gsi - self.gsi_base);
        // Masked while the halves change, then unmasked with the new low half.
        self.write(reg, (low | MASKED) as u32);
        self.write(reg + 1, u32::from(dest) << 24);
        self.write(reg, low as u32);
        Ok(())
    }

    /// Mask `gsi`.
    pub fn mask(&self, gsi: u32) {
        if self.handles(gsi) {
            let reg = REG_REDIRECTION + 2 * (gsi - self.gsi_base);
            let low = self.read(reg);
            self.write(reg, low | MASKED as u32);
        }
    }
}
