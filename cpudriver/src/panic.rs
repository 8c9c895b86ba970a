//! The kernel panic handler: prints the core, the location, the message and a frame-pointer
//! backtrace on the console (and the message on the screen when a user-level driver has
//! taken it over), then ends the QEMU run with a failure status (when the boot
//! configuration asks for it) or halts the core.

use core::panic::PanicInfo;

use crate::arch::cpu::halt_forever;
use crate::console::emergency_write;

/// How often a panicked core redraws its panic on the screen, in microseconds.
const REDRAW_US: u64 = 1_000_000;
/// The TSC rate assumed when the panic comes before this core measured it (redraws then come
/// roughly, not exactly, every second).
const FALLBACK_TSC_HZ: u64 = 2_000_000_000;

/// Walk the frame-pointer chain (the kernel is built with frame pointers) and print return
/// addresses, stopping at the first implausible frame.
fn backtrace() {
    let mut rbp: u64;
    // SAFETY: reading RBP has no side effects.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack)) };
    emergency_write(format_args!("backtrace:\n"));
    for depth in 0..32 {
        if rbp == 0 || !rbp.is_multiple_of(8) {
            break;
        }
        // SAFETY: the kernel is compiled with frame pointers, so each frame starts with the
        // caller's RBP followed by the return address. The first RBP is this function's own
        // frame, and each next one is accepted only if it lies a little higher on the same
        // stack (checked below), so every read is inside the mapped kernel stack.
        let (next, ret) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        if ret == 0 {
            break;
        }
        emergency_write(format_args!("  #{depth:<2} {ret:#018x}\n"));
        if next <= rbp || next - rbp > 64 * 1024 {
            break;
        }
        rbp = next;
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    let core = crate::percore::core_id();
    let (file, line, col) = info
        .location()
        .map_or(("<unknown>", 0, 0), |l| (l.file(), l.line(), l.column()));
    emergency_write(format_args!(
        "[c{core:02} PANIC] kernel panic on core {core} at {file}:{line}:{col}: {}\n",
        info.message()
    ));
    backtrace();
    let show = || {
        crate::console::show_panic(format_args!(
            "KERNEL PANIC on core {core}\n{file}:{line}:{col}: {}\n\nThe backtrace is on the serial console. This core has stopped.",
            info.message()
        ))
    };
    let on_screen = show();
    if crate::bootcfg::get().qemu_exit {
        crate::arch::qemu::exit_failure();
    }
    if on_screen {
        // The other cores go on, and the user-level console driver among them may draw over
        // the panic (it may have been drawing when the panic came): this core has nothing
        // else to do, so it draws the panic again every second, as long as the machine runs.
        let tsc_hz = crate::percore::try_current()
            .map(|pc| pc.tsc_hz.get())
            .filter(|&hz| hz > 0)
            .unwrap_or(FALLBACK_TSC_HZ);
        loop {
            crate::arch::tsc::delay_us(tsc_hz, REDRAW_US);
            show();
        }
    }
    halt_forever()
}
