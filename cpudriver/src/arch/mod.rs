//! Hardware-specific code for x86-64, behind small interfaces: descriptor tables, trap
//! entry, model-specific registers, the time-stamp counter, and QEMU's exit device.

pub mod apic;
pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod ioapic;
pub mod power;
pub mod qemu;
pub mod syscall;
pub mod tsc;
