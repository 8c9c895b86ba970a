//! Faults injected on purpose (`inject=` in boot.cfg) so tests can check that the kernel
//! reports them and that a run under xtask ends with a failure status.

use cpudriver::bootcfg::Inject;

/// An address that is never mapped (non-canonical addresses would raise #GP instead).
const UNMAPPED: u64 = 0x0000_7fff_dead_b000;

/// Cause `fault`. Does not return.
pub fn inject(fault: Inject) -> ! {
    log::warn!("injecting fault: {fault:?}");
    match fault {
        Inject::Panic => panic!("injected panic (boot.cfg inject=panic)"),
        Inject::PageFault => {
            // SAFETY: deliberately unsound: the read faults, which is the point; the page
            // fault handler reports it and the kernel panics.
            let v = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
            panic!("read of unmapped memory returned {v}");
        }
        Inject::DoubleFault => {
            // SAFETY: deliberately unsound: with RSP pointing at unmapped memory the CPU
            // cannot push the page-fault frame, raises a double fault, and the double-fault
            // handler runs on its own IST stack.
            unsafe {
                core::arch::asm!("mov rsp, {0}", "push rax", in(reg) UNMAPPED, options(noreturn));
            }
        }
        Inject::PanicAfter(ms) => panic!("injected panic (boot.cfg inject=panic@{ms})"),
        Inject::InvalidOpcode => {
            // SAFETY: deliberately unsound: `ud2` raises #UD, which the trap handler reports.
            unsafe { core::arch::asm!("ud2", options(noreturn)) }
        }
    }
}
