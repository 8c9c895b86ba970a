//! Powering off and resetting the machine.
//!
//! Power-off: QEMU's exit device when the run was started by `xtask` (`qemu_exit` in
//! boot.cfg, reporting the status); else ACPI S5 when the boot core found how (the FADT's
//! PM1 control registers and the `\_S5_` sleep types, [`AcpiPower`]): the chipset is
//! switched into ACPI mode through SMI_CMD if SCI_EN is clear, then `SLP_TYP | SLP_EN` is
//! written to PM1a_CNT (and PM1b_CNT); else the power-off ports QEMU and Bochs chipsets
//! honour (0x604 / 0xb004 with `0x2000`); else this core halts. Reset: the FADT's reset
//! register when the FADT says it is supported, then the PCI reset control register
//! (0xcf9), then the keyboard controller's reset line, then a triple fault.

use spin::Once;
use x86_64::instructions::port::Port;

/// How to power off and reset through ACPI, from the FADT and the DSDT's `\_S5_` (system
/// I/O registers only; memory-mapped PM1 registers are not used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcpiPower {
    /// PM1a_CNT's port and the S5 value for it (`SLP_TYPa << 10 | SLP_EN`).
    pub pm1a: Option<(u16, u16)>,
    /// PM1b_CNT's port and the S5 value for it, when the machine has one.
    pub pm1b: Option<(u16, u16)>,
    /// SMI_CMD's port and the ACPI_ENABLE value, to switch into ACPI mode.
    pub acpi_enable: Option<(u16, u8)>,
    /// The reset register's port and value (only when the FADT flags it as supported).
    pub reset: Option<(u16, u8)>,
}

/// Written once by the boot core before the other cores start (like the boot
/// configuration), read-only afterwards: every core can power off.
static ACPI_POWER: Once<AcpiPower> = Once::new();

/// Publish what the boot core found in the ACPI tables; later calls are ignored.
pub fn set_acpi(p: AcpiPower) {
    ACPI_POWER.call_once(|| p);
}

/// What [`set_acpi`] published.
pub fn acpi() -> Option<AcpiPower> {
    ACPI_POWER.get().copied()
}

/// SCI_EN: the chipset is in ACPI mode.
const SCI_EN: u16 = 1;
/// The SLP_TYP field and SLP_EN of PM1x_CNT.
const SLEEP_BITS: u16 = 7 << 10 | 1 << 13;
/// Polls of SCI_EN (each with a write to the POST port, about 1 us) after ACPI_ENABLE.
const ACPI_ENABLE_POLLS: u32 = 300_000;

/// Enter S5 through the PM1 control registers (returns only if the machine is still on).
fn acpi_s5(p: &AcpiPower) {
    let Some((pm1a, value_a)) = p.pm1a else {
        return;
    };
    // SAFETY: PM1a_CNT, SMI_CMD and the POST port 0x80 are the chipset's power-management
    // and diagnostic ports as the firmware's FADT names them; the writes only switch the
    // chipset into ACPI mode and put the machine to sleep state S5.
    unsafe {
        let mut cnt = Port::<u16>::new(pm1a);
        if cnt.read() & SCI_EN == 0 {
            if let Some((smi, enable)) = p.acpi_enable {
                Port::<u8>::new(smi).write(enable);
                for _ in 0..ACPI_ENABLE_POLLS {
                    if cnt.read() & SCI_EN != 0 {
                        break;
                    }
                    Port::<u8>::new(0x80).write(0);
                }
            }
        }
        log::info!("power-off through ACPI S5: PM1a_CNT {pm1a:#x} <- {value_a:#x}");
        if let Some((pm1b, value_b)) = p.pm1b {
            let mut b = Port::<u16>::new(pm1b);
            let old = b.read();
            b.write((old & !SLEEP_BITS) | value_b);
        }
        let old = cnt.read();
        cnt.write((old & !SLEEP_BITS) | value_a);
        // The chipset takes a moment to cut the power.
        for _ in 0..ACPI_ENABLE_POLLS {
            Port::<u8>::new(0x80).write(0);
        }
    }
    log::warn!("ACPI S5 did not power the machine off");
}

/// Power off; `clean` chooses the success or failure status of QEMU's exit device.
pub fn power_off(clean: bool) -> ! {
    if crate::bootcfg::get().qemu_exit {
        if clean {
            super::qemu::exit_success();
        } else {
            super::qemu::exit_failure();
        }
    }
    if let Some(p) = acpi() {
        acpi_s5(&p);
    }
    // SAFETY: writes to the power-management ports of QEMU/Bochs chipsets; on other
    // machines these ports are unused or ignore the value, and the core halts next.
    unsafe {
        Port::<u16>::new(0x604).write(0x2000);
        Port::<u16>::new(0xb004).write(0x2000);
    }
    super::cpu::halt_forever()
}

/// Reset the machine.
pub fn reset() -> ! {
    if let Some((port, value)) = acpi().and_then(|p| p.reset) {
        log::info!("reset through the ACPI reset register: port {port:#x} <- {value:#x}");
        // SAFETY: the FADT names this port as the reset register and flags it supported;
        // writing its value resets the machine.
        unsafe { Port::<u8>::new(port).write(value) };
    }
    // SAFETY: 0xcf9 is the chipset's reset control register (full reset, then reset
    // pulse); 0x64 with 0xfe pulses the keyboard controller's reset line. Both only reset.
    unsafe {
        Port::<u8>::new(0xcf9).write(0x02);
        Port::<u8>::new(0xcf9).write(0x06);
        Port::<u8>::new(0x64).write(0xfe);
    }
    // Last resort: an empty IDT makes the next interrupt a triple fault.
    let idt = x86_64::structures::DescriptorTablePointer {
        limit: 0,
        base: x86_64::VirtAddr::new(0),
    };
    // SAFETY: deliberately loading an empty IDT and trapping to reset the CPU.
    unsafe {
        x86_64::instructions::tables::lidt(&idt);
        core::arch::asm!("int3");
    }
    super::cpu::halt_forever()
}
