//! The library OS every user program links.
//!
//! It provides the program entry (`_start`, which is also the dispatcher's `run` upcall
//! entry), the resume path for state the kernel saved while the dispatcher was enabled,
//! syscall wrappers and console output. Programs declare their main function with
//! [`entry!`].
#![no_std]

extern crate alloc;

pub mod binding;
pub mod cap;
pub mod console;
pub mod heap;
pub mod kernel;
pub mod lrpc;
pub mod monitor;
pub mod skb;
pub mod syscall;
pub mod thread;
pub mod time;
pub mod tlb;
pub mod vspace;

use abi::DispatcherFrame;
use core::fmt::Write;

pub use syscall::{core_id, exit, null_syscall, print_bytes, report_in, yield_now};

core::arch::global_asm!(
    r#"
    .text
    # The program's first entry (ELF entry point), disabled, rdi = dispatcher frame.
    .global _start
_start:
    and rsp, -16
    call {start}
    ud2

    # The `run` upcall entry, disabled, on the upcall stack, rdi = dispatcher frame.
    .global libos_run_upcall
libos_run_upcall:
    and rsp, -16
    call {upcall}
    ud2

    # The fault upcall entry, disabled, on the upcall stack, rdi = dispatcher frame.
    .global libos_fault_upcall
libos_fault_upcall:
    and rsp, -16
    call {fault}
    ud2

    # Resume the state in the Registers at rdi and clear `disabled`, atomically with
    # respect to preemption: a preemption between the two labels counts as disabled.
    .global libos_resume
libos_resume:
    mov rax, [rdi + 56]
    sub rax, 16
    mov rcx, [rdi + 136]
    mov [rax], rcx
    mov rcx, [rdi + 128]
    mov [rax + 8], rcx
    mov rsp, rax
    mov rbx, [rdi + 8]
    mov rcx, [rdi + 16]
    mov rdx, [rdi + 24]
    mov rsi, [rdi + 32]
    mov rbp, [rdi + 48]
    mov r8, [rdi + 64]
    mov r9, [rdi + 72]
    mov r10, [rdi + 80]
    mov r11, [rdi + 88]
    mov r12, [rdi + 96]
    mov r13, [rdi + 104]
    mov r14, [rdi + 112]
    mov r15, [rdi + 120]
    mov rax, [rdi + 0]
    mov rdi, [rdi + 40]
    .global libos_critical_start
libos_critical_start:
    mov dword ptr fs:[0], 0
    popfq
    ret
    .global libos_critical_end
libos_critical_end:
    "#,
    start = sym libos_start,
    upcall = sym libos_upcall,
    fault = sym libos_fault,
);

unsafe extern "C" {
    fn libos_run_upcall();
    fn libos_fault_upcall();
    fn libos_resume(regs: *const abi::Registers) -> !;
    static libos_critical_start: u8;
    static libos_critical_end: u8;
}

unsafe extern "Rust" {
    /// The program's main function, defined by [`entry!`].
    fn libos_program_main() -> i32;
}

/// This dispatcher's frame (mapped at a fixed address by the kernel).
pub fn dispatcher_frame() -> &'static DispatcherFrame {
    // SAFETY: the kernel maps the dispatcher frame at this address in every program before
    // starting it, and keeps it mapped for the program's life.
    unsafe { &*(abi::DISPATCHER_FRAME_VADDR as *const DispatcherFrame) }
}

/// Register the upcall entries with the kernel; the fault entry only once the program has
/// a fault handler (without one, the kernel kills the program on a fault).
fn register_upcalls(with_fault_handler: bool) {
    let start = core::ptr::addr_of!(libos_critical_start) as u64;
    let end = core::ptr::addr_of!(libos_critical_end) as u64;
    let fault = if with_fault_handler {
        libos_fault_upcall as *const () as u64
    } else {
        0
    };
    syscall::set_upcall(libos_run_upcall as *const () as u64, fault, start, end);
}

extern "C" fn libos_start(_frame: *mut DispatcherFrame) -> ! {
    register_upcalls(false);
    heap::init();
    // The program runs enabled: the kernel may upcall it.
    // SAFETY: the frame is mapped read-write for this dispatcher; `disabled` is its own.
    unsafe { core::ptr::write_volatile(abi::DISPATCHER_FRAME_VADDR as *mut u32, 0) };
    // SAFETY: `entry!` defines the symbol in every program.
    let status = unsafe { libos_program_main() };
    exit(status as u64)
}

extern "C" fn libos_upcall(frame: *mut DispatcherFrame) -> ! {
    // Running disabled on the upcall stack: resume the next ready user-level thread
    // round-robin, or, with a single thread, the preempted one.
    // SAFETY: the kernel passes this dispatcher's own frame.
    let f = unsafe { &mut *frame };
    if f.enabled_valid != 0 {
        f.enabled_valid = 0;
        if let Some(next) = thread::preempted(&f.enabled_area) {
            // SAFETY: `next` is the complete saved state of a ready thread in the thread
            // table (static), which nothing changes while disabled; the resume sequence
            // loads it and re-enables in the critical region.
            unsafe { libos_resume(next) }
        }
        let regs = f.enabled_area;
        // SAFETY: the state was saved by the kernel from this dispatcher's own thread;
        // `regs` lives on the upcall stack until the resume sequence has loaded it.
        unsafe { libos_resume(&regs) }
    }
    // Nothing to resume: the kernel upcalled without saved state, which it never should.
    println!(
        "libos: upcall {} with nothing to resume (disabled={})",
        f.upcalls, f.disabled
    );
    exit(102)
}

/// What a fault handler decides.
pub enum FaultAction {
    /// Resume the faulting thread with these registers (e.g. after fixing the cause, or
    /// with the instruction pointer moved past it).
    Resume(abi::Registers),
    /// End the program with this status.
    Exit(u64),
}

/// A program's fault handler.
pub type FaultHandler = fn(&abi::FaultInfo) -> FaultAction;

/// The registered fault handler (a function address, 0 for none). A user-space global of
/// this dispatcher, not kernel state.
static FAULT_HANDLER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Install `handler` for faults (page faults, protection faults, invalid opcodes...).
/// Without one, the kernel kills the program on a fault.
pub fn set_fault_handler(handler: FaultHandler) {
    FAULT_HANDLER.store(handler as usize, core::sync::atomic::Ordering::Release);
    register_upcalls(true);
}

extern "C" fn libos_fault(frame: *mut DispatcherFrame) -> ! {
    // SAFETY: the kernel passes this dispatcher's own frame.
    let info = unsafe { (*frame).fault };
    let h = FAULT_HANDLER.load(core::sync::atomic::Ordering::Acquire);
    let action = if h == 0 {
        println!(
            "libos: unhandled fault, vector {} at rip {:#x} (address {:#x})",
            info.vector, info.regs.rip, info.address
        );
        FaultAction::Exit(139)
    } else {
        // SAFETY: only `set_fault_handler` stores into FAULT_HANDLER, always a FaultHandler.
        let handler: FaultHandler = unsafe { core::mem::transmute::<usize, FaultHandler>(h) };
        handler(&info)
    };
    match action {
        FaultAction::Resume(regs) => {
            // SAFETY: `regs` lives on the upcall stack until the resume sequence has loaded it.
            unsafe { libos_resume(&regs) }
        }
        FaultAction::Exit(code) => exit(code),
    }
}

/// A `core::fmt::Write` sink that prints through the kernel console in one syscall.
pub struct Console {
    buf: [u8; 512],
    len: usize,
}

impl Console {
    /// An empty line buffer.
    pub const fn new() -> Self {
        Console {
            buf: [0; 512],
            len: 0,
        }
    }

    /// Send what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            print_bytes(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Print a formatted line on the kernel console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut c = $crate::Console::new();
        let _ = writeln!(c, $($arg)*);
        c.flush();
    }};
}

/// Declare the program's main function: `libos::entry!(main);` with `fn main() -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn libos_program_main() -> i32 {
            $main()
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("panic: {}", info);
    exit(101)
}

/// The argument string this program was started with.
pub fn args() -> &'static str {
    let f = dispatcher_frame();
    let len = (f.args_len as usize).min(abi::MAX_ARGS);
    core::str::from_utf8(&f.args[..len]).unwrap_or("")
}
