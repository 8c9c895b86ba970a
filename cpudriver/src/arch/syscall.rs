//! `syscall` entry: per-core MSR set-up and the entry stub.
//!
//! The stub swaps to the kernel GS, parks the user stack pointer in the per-core record,
//! switches to the core's kernel stack, and builds the same [`TrapFrame`] an interrupt from
//! user mode would (so the scheduler sees one kind of saved state), then calls
//! [`crate::syscall::dispatch`]. It leaves with `sysretq` when the state to resume was itself
//! saved by a syscall (so `rcx`/`r11` are free) and has a canonical user RIP; otherwise
//! through the common trap exit (`iretq`).

use super::cpu::{rdmsr, wrmsr};
use super::gdt::Selectors;
use super::idt::TrapFrame;

const IA32_EFER: u32 = 0xc000_0080;
const IA32_STAR: u32 = 0xc000_0081;
const IA32_LSTAR: u32 = 0xc000_0082;
const IA32_FMASK: u32 = 0xc000_0084;
/// `IA32_FS_BASE`: the current dispatcher's frame address.
pub const IA32_FS_BASE: u32 = 0xc000_0100;

/// The vector number recorded in a [`TrapFrame`] built by a `syscall`.
pub const SYSCALL_VECTOR: u64 = 0x100;

core::arch::global_asm!(
    r#"
    .text
    .global syscall_entry
syscall_entry:
    swapgs
    mov gs:[16], rsp
    mov rsp, gs:[8]
    push {user_ss}
    push qword ptr gs:[16]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {vector}
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
    mov rdi, rsp
    cld
    call {dispatch}
    # Fast path: the state to resume was saved by a syscall (vector mark) for ring 3 with a
    # canonical user RIP, so rcx/r11 are free to clobber: leave with sysret. Anything else
    # (an interrupted or kernel-built state) leaves through iretq.
    cmp qword ptr [rsp + 120], {vector}
    jne trap_return
    cmp qword ptr [rsp + 144], {user_cs}
    jne trap_return
    mov rax, [rsp + 136]
    shr rax, 47
    jnz trap_return
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
    # rsp -> vector, error, rip, cs, rflags, rsp, ss
    mov rcx, [rsp + 16]
    mov r11, [rsp + 32]
    mov rsp, [rsp + 40]
    swapgs
    sysretq
    "#,
    user_ss = const 0x1b,
    user_cs = const 0x23,
    vector = const SYSCALL_VECTOR,
    dispatch = sym syscall_trampoline,
);

extern "C" fn syscall_trampoline(frame: &mut TrapFrame) {
    crate::syscall::dispatch(frame)
}

unsafe extern "C" {
    fn syscall_entry();
}

/// Enable `syscall`/`sysret` on this core with the given GDT selectors.
pub fn init(sel: &Selectors) {
    assert_eq!(sel.user_data.0, 0x1b, "GDT order does not match sysret");
    assert_eq!(sel.user_code.0, 0x23, "GDT order does not match sysret");
    let star = ((sel.user_data.0 as u64 - 8) << 48) | ((sel.kernel_code.0 as u64) << 32);
    // SAFETY: architectural MSRs; the selectors were checked against what the entry stub
    // and `sysret` assume, and LSTAR points at the entry stub above.
    unsafe {
        wrmsr(IA32_EFER, rdmsr(IA32_EFER) | 1);
        wrmsr(IA32_STAR, star);
        wrmsr(IA32_LSTAR, syscall_entry as *const () as u64);
        // Clear IF, TF, DF, AC and NT on entry.
        wrmsr(IA32_FMASK, 0x200 | 0x100 | 0x400 | 0x4_0000 | 0x4000);
    }
}
