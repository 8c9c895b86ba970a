//! Powering off and resetting the machine.
//!
//! Power-off: QEMU's exit device when the run was started by `xtask` (`qemu_exit` in
//! boot.cfg, reporting the status), else the power-off ports QEMU and Bochs chipsets honour
//! (0x604 / 0xb004 with `0x2000`), else this core halts (ACPI S5 through the FADT is not
//! done yet). Reset: the PCI reset control
//! register (0xcf9), then the keyboard controller's reset line, then a triple fault.

use x86_64::instructions::port::Port;

/// Power off; `clean` chooses the success or failure status of QEMU's exit device.
pub fn power_off(clean: bool) -> ! {
    if crate::bootcfg::get().qemu_exit {
        if clean {
            super::qemu::exit_success();
        } else {
            super::qemu::exit_failure();
        }
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
