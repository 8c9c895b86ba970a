//! Syscall wrappers (see `abi` for the convention).
//!
//! Each wrapper enters the kernel with `syscall`, or with `int abi::SYSCALL_INT_VECTOR`
//! where the kernel said so in the dispatcher frame's `syscall_gate` (read through `fs:`;
//! same registers either way).

use abi::Syscall;

/// Raw syscall with up to five arguments; returns `(error, value)`.
#[inline(always)]
pub fn syscall5(nr: Syscall, a: u64, b: u64, c: u64, d: u64, e: u64) -> (u64, u64) {
    raw_syscall(nr as u64, a, b, c, d, e)
}

/// Raw syscall with six arguments (`r9` carries the sixth); returns `(error, value)`.
#[inline(always)]
pub fn syscall6(nr: Syscall, a: u64, b: u64, c: u64, d: u64, e: u64, g: u64) -> (u64, u64) {
    raw_syscall6(nr as u64, a, b, c, d, e, g)
}

/// Raw syscall with any 64-bit number (for testing the kernel's checks).
#[inline(always)]
pub fn raw_syscall(nr: u64, a: u64, b: u64, c: u64, d: u64, e: u64) -> (u64, u64) {
    raw_syscall6(nr, a, b, c, d, e, 0)
}

/// The one system call instruction sequence: number in `rax`, arguments in `rdi`, `rsi`,
/// `rdx`, `r10`, `r8`, `r9`; error code back in `rax`, value in `rdx`.
#[inline(always)]
fn raw_syscall6(nr: u64, a: u64, b: u64, c: u64, d: u64, e: u64, g: u64) -> (u64, u64) {
    let err: u64;
    let val: u64;
    // SAFETY: fs:[SYSCALL_GATE_OFFSET] lies in this dispatcher's frame (FS base), mapped for
    // the program's life. The kernel validates the number and every argument, preserves
    // every register but rax, rdx and (with `syscall`) rcx and r11, and touches no user
    // stack.
    unsafe {
        core::arch::asm!(
            "cmp dword ptr fs:[{gate}], 0",
            "jne 2f",
            "syscall",
            "jmp 3f",
            "2:",
            "int {vector}",
            "3:",
            gate = const abi::SYSCALL_GATE_OFFSET,
            vector = const abi::SYSCALL_INT_VECTOR,
            inlateout("rax") nr => err,
            in("rdi") a,
            in("rsi") b,
            inlateout("rdx") c => val,
            in("r10") d,
            in("r8") e,
            in("r9") g,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (err, val)
}

/// Write bytes to the kernel console.
pub fn print_bytes(b: &[u8]) -> u64 {
    syscall5(Syscall::Print, b.as_ptr() as u64, b.len() as u64, 0, 0, 0).0
}

/// Give up the rest of the time slice.
pub fn yield_now() {
    syscall5(Syscall::Yield, 0, 0, 0, 0, 0);
}

/// End this dispatcher.
pub fn exit(status: u64) -> ! {
    syscall5(Syscall::Exit, status, 0, 0, 0, 0);
    unreachable!("the kernel does not return from exit")
}

/// The core this dispatcher runs on.
pub fn core_id() -> u32 {
    syscall5(Syscall::CoreId, 0, 0, 0, 0, 0).1 as u32
}

/// Tell the CPU driver that this core's monitor is up.
pub fn report_in() {
    syscall5(Syscall::ReportIn, 0, 0, 0, 0, 0);
}

/// A syscall that does nothing, for measuring the path.
pub fn null_syscall() -> u64 {
    syscall5(Syscall::Null, 0, 0, 0, 0, 0).0
}

/// Register the `run` and fault upcall entries and the resume code's critical region.
pub fn set_upcall(run_entry: u64, fault_entry: u64, critical_start: u64, critical_end: u64) {
    syscall5(
        Syscall::SetUpcall,
        critical_start,
        critical_end,
        run_entry,
        fault_entry,
        0,
    );
}
