//! Trap entry: one assembly stub per vector and a per-core IDT pointing at them.
//!
//! Each stub is 16-byte aligned, so stub `v` sits at `trap_stubs + 16 * v`. A stub pushes a
//! zero error code when the CPU does not push one, then the vector number, and jumps to the
//! common path, which saves every general register into a [`TrapFrame`] (swapping GS when
//! the trap came from user mode) and calls [`crate::trap::dispatch`]. Written with
//! `global_asm!` on stable Rust; no `x86-interrupt` ABI.

use alloc::boxed::Box;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;
use x86_64::VirtAddr;

use super::gdt::{IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI};

/// Registers saved on trap entry, in stack order (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Vector number pushed by the stub.
    pub vector: u64,
    /// Error code pushed by the CPU, or zero.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// True if the trap interrupted user mode (ring 3).
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

core::arch::global_asm!(
    r#"
    .section .text.trap, "ax"
    .global trap_stubs
    .balign 16
trap_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    push 0
    .endif
    push vec
    jmp trap_common
    .set vec, vec + 1
    .endr

trap_common:
    test qword ptr [rsp + 24], 3
    jz 2f
    swapgs
2:
    "#,
    push_registers!(),
    r#"
    mov rdi, rsp
    cld
    call {dispatch}
    .global trap_return
trap_return:
    "#,
    pop_registers!(),
    r#"
    test qword ptr [rsp + 24], 3
    jz 3f
    swapgs
3:
    add rsp, 16
    iretq
    "#,
    dispatch = sym crate::trap::dispatch,
);

unsafe extern "C" {
    static trap_stubs: u8;
}

core::arch::global_asm!(
    r#"
    .text
    .global enter_user_frame
enter_user_frame:
    mov rsp, rdi
    jmp trap_return
    "#
);

unsafe extern "C" {
    fn enter_user_frame(frame: *const TrapFrame) -> !;
}

/// Leave the kernel for the user state in `frame`, on this core's kernel stack (the
/// current contents of the stack are abandoned: the CPU driver never returns to them).
pub fn enter_user(frame: &TrapFrame) -> ! {
    let top = crate::percore::current().syscall_rsp.get();
    let slot = (top - core::mem::size_of::<TrapFrame>() as u64) & !0xf;
    let slot = slot as *mut TrapFrame;
    // SAFETY: `slot` lies at the top of this core's kernel stack, which nothing live uses
    // any more; `frame` is copied there before the stack pointer moves onto it, and the
    // common exit path restores it and returns to user mode (it has CS RPL 3).
    unsafe {
        slot.write(*frame);
        enter_user_frame(slot)
    }
}

/// One 16-byte interrupt gate.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

/// A core's interrupt descriptor table.
#[repr(C, align(16))]
struct Idt([Gate; 256]);

/// Build and load this core's IDT. Every vector gets a stub; double fault, NMI and machine
/// check run on their own IST stacks; `abi::SYSCALL_INT_VECTOR` is the `int` system call
/// gate, the only one user code may raise. `kernel_code` is the selector of the kernel's code
/// segment.
pub fn init(kernel_code: u16) {
    // Only the address of `trap_stubs` (defined by the global_asm! block above) is taken.
    let base = core::ptr::addr_of!(trap_stubs) as u64;
    let mut idt = Box::new(Idt([Gate::default(); 256]));
    for (v, gate) in idt.0.iter_mut().enumerate() {
        let addr = base + 16 * v as u64;
        let ist = match v {
            8 => IST_DOUBLE_FAULT + 1,
            2 => IST_NMI + 1,
            18 => IST_MACHINE_CHECK + 1,
            _ => 0,
        };
        *gate = Gate {
            offset_low: addr as u16,
            selector: kernel_code,
            ist: ist as u8,
            // Present, 64-bit interrupt gate (interrupts off on entry), DPL 0: user code
            // cannot raise the vector with `int`, except the system call gate (DPL 3).
            type_attr: if v == usize::from(abi::SYSCALL_INT_VECTOR) {
                0xee
            } else {
                0x8e
            },
            offset_mid: (addr >> 16) as u16,
            offset_high: (addr >> 32) as u32,
            reserved: 0,
        };
    }
    let idt: &'static Idt = Box::leak(idt);
    let ptr = DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: VirtAddr::new(idt as *const Idt as u64),
    };
    // SAFETY: the table lives forever (leaked), every gate points at a valid stub with the
    // kernel code selector, and the IST indices name stacks this core's TSS provides.
    unsafe { lidt(&ptr) };
}
