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
    "#,
    push_registers!(),
    r#"
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
    "#,
    pop_registers!(),
    r#"
    # rsp -> vector, error, rip, cs, rflags, rsp, ss
    mov rcx, [rsp + 16]
    mov r11, [rsp + 32]
    mov rsp, [rsp + 40]
    swapgs
    sysretq
    "#,
    user_ss = const crate::dispatcher::USER_SS,
    user_cs = const crate::dispatcher::USER_CS,
    vector = const SYSCALL_VECTOR,
    dispatch = sym syscall_trampoline,
);

extern "C" fn syscall_trampoline(frame: &mut TrapFrame) {
    crate::syscall::dispatch(frame)
}

unsafe extern "C" {
    fn syscall_entry();
}

/// What the hypervisor, if any, says about itself (CPUID leaves 0x4000_0000 and up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hypervisor {
    /// The 12-byte vendor signature (`KVMKVMKVM\0\0\0` for KVM), zero if none.
    pub signature: [u8; 12],
    /// The highest hypervisor leaf.
    pub max_leaf: u32,
    /// A PVM hypervisor (Linux `kvm_pvm`) runs this core: leaf 0x4000_0002 says "PVM".
    pub pvm: bool,
}

/// The `"PVM"` signature in EBX of leaf 0x4000_0002.
const PVM_SIGNATURE: u32 = 0x004d_5650;

/// CPUID through PVM's synthetic form (`invlpg` of a fixed address, then `cpuid`), which a
/// PVM hypervisor answers itself; elsewhere it is an ordinary `cpuid` after a harmless
/// `invlpg` of an address nothing maps.
fn synthetic_cpuid(leaf: u32) -> [u32; 4] {
    let (a, c, d): (u32, u32, u32);
    let b: u64;
    // SAFETY: `invlpg` only drops a TLB entry (of an address no table maps) and `cpuid`
    // only reads; rbx, which LLVM reserves, is saved and restored around it.
    unsafe {
        core::arch::asm!(
            "invlpg byte ptr [0xffffffffff4d5650]",
            "mov {tmp}, rbx",
            "cpuid",
            "xchg {tmp}, rbx",
            tmp = out(reg) b,
            inout("eax") leaf => a,
            inout("ecx") 0u32 => c,
            out("edx") d,
            options(nostack, preserves_flags),
        );
    }
    [a, b as u32, c, d]
}

/// Ask the hypervisor who it is (all zero on bare metal: the CPUID hypervisor bit is clear).
pub fn hypervisor() -> Hypervisor {
    let [_, _, ecx, _] = synthetic_cpuid(1);
    if ecx & (1 << 31) == 0 {
        return Hypervisor::default();
    }
    let [max_leaf, b, c, d] = synthetic_cpuid(0x4000_0000);
    let mut signature = [0u8; 12];
    for (chunk, reg) in signature.chunks_mut(4).zip([b, c, d]) {
        chunk.copy_from_slice(&reg.to_le_bytes());
    }
    let pvm = max_leaf >= 0x4000_0002 && synthetic_cpuid(0x4000_0002)[1] == PVM_SIGNATURE;
    Hypervisor {
        signature,
        max_leaf,
        pvm,
    }
}

/// How this core's programs enter the kernel (`abi::SYSCALL_GATE_*`): `syscall` unless
/// `wanted` (the boot configuration's `syscall=`) says otherwise or, without a choice, a PVM
/// hypervisor runs the core. PVM runs a kernel that is not written for it (this one) in
/// emulation and user code natively, and its `syscall` path then jumps to `IA32_LSTAR`
/// still in user mode (a user page fault at the entry stub); `int 0x80` (which PVM lets
/// user code raise) reaches the kernel through the IDT, like any user-mode exception.
pub fn choose_gate(wanted: Option<u32>, hv: &Hypervisor) -> u32 {
    wanted.unwrap_or(if hv.pvm {
        abi::SYSCALL_GATE_INT
    } else {
        abi::SYSCALL_GATE_SYSCALL
    })
}

/// The address of the `syscall` entry stub (what `IA32_LSTAR` holds).
pub fn entry_address() -> u64 {
    syscall_entry as *const () as u64
}

/// Enable `syscall`/`sysret` on this core with the given GDT selectors.
pub fn init(sel: &Selectors) {
    assert_eq!(
        sel.kernel_data.0,
        sel.kernel_code.0 + 8,
        "GDT order does not match syscall"
    );
    assert_eq!(u64::from(sel.user_data.0), crate::dispatcher::USER_SS);
    assert_eq!(u64::from(sel.user_code.0), crate::dispatcher::USER_CS);
    assert_eq!(
        (sel.user_data.0, sel.user_code.0),
        (sel.user_code32.0 + 8, sel.user_code32.0 + 16),
        "GDT order does not match sysret"
    );
    let star = (u64::from(sel.user_code32.0) << 48) | (u64::from(sel.kernel_code.0) << 32);
    // SAFETY: architectural MSRs; the selectors were checked against what the entry stub
    // and `sysret` assume, and LSTAR points at the entry stub above.
    unsafe {
        wrmsr(IA32_EFER, rdmsr(IA32_EFER) | 1);
        wrmsr(IA32_STAR, star);
        wrmsr(IA32_LSTAR, entry_address());
        // Clear IF, TF, DF, AC and NT on entry.
        wrmsr(IA32_FMASK, 0x200 | 0x100 | 0x400 | 0x4_0000 | 0x4000);
    }
}
