//! Hardware-specific code for x86-64, behind small interfaces: descriptor tables, trap
//! entry, model-specific registers, the time-stamp counter, and QEMU's exit device.

/// Assembly (a string for `global_asm!`'s `concat!`) that pushes the general registers in
/// the order of `idt::TrapFrame` (rax first, so r15 ends at the lowest address). The trap
/// entry and the `syscall` entry both build their frames with it.
macro_rules! push_registers {
    () => {
        "
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
"
    };
}

/// The reverse of [`push_registers`]: restores the general registers from a frame.
macro_rules! pop_registers {
    () => {
        "
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
"
    };
}

pub mod apic;
pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod ioapic;
pub mod power;
pub mod qemu;
pub mod syscall;
pub mod tsc;
