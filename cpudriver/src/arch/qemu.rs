//! QEMU's `isa-debug-exit` device (I/O port 0xf4), used to end a run under `xtask` with a
//! status. QEMU exits with `(value << 1) | 1`.

use x86_64::instructions::port::Port;

/// The exit status QEMU reports for [`exit_success`]: `(0x10 << 1) | 1`.
pub const QEMU_EXIT_SUCCESS: i32 = 33;
/// The exit status QEMU reports for [`exit_failure`]: `(0x11 << 1) | 1`.
pub const QEMU_EXIT_FAILURE: i32 = 35;

fn exit(code: u32) -> ! {
    // SAFETY: writing port 0xf4 only has an effect when the isa-debug-exit device is
    // present (QEMU runs started by xtask, which set `qemu_exit` in boot.cfg); the kernel
    // only calls this when that is configured.
    unsafe { Port::<u32>::new(0xf4).write(code) };
    crate::arch::cpu::halt_forever()
}

/// End the QEMU run with a success status.
pub fn exit_success() -> ! {
    exit(0x10)
}

/// End the QEMU run with a failure status.
pub fn exit_failure() -> ! {
    exit(0x11)
}
