//! `cargo xtask`: the host side of the multikernel project. Builds the kernel, the user
//! programs, the ramdisk and the BIOS/UEFI disk images; boots them in QEMU; runs every
//! test; writes images for real hardware. The QEMU integration tests in `tests/` use this
//! library to build and boot the system.

pub mod bench;
pub mod deps;
pub mod images;
pub mod paths;
pub mod qemu;
pub mod skbfacts;
pub mod svg;
pub mod tlbbench;

/// The `boot.cfg` for a run: `qemu_exit` makes the kernel end the run with a status.
pub fn boot_cfg(qemu_exit: bool, extra: &[(&str, &str)]) -> String {
    let mut s = String::from("# written by cargo xtask\n");
    s.push_str(&format!("qemu_exit={}\n", u8::from(qemu_exit)));
    for (k, v) in extra {
        s.push_str(&format!("{k}={v}\n"));
    }
    s
}

/// The line the kernel prints when the system is up.
pub const READY_MARKER: &str = "system ready:";
