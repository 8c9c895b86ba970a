//! Where things are: the workspace root, build outputs, firmware.

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("xtask lives two levels below the workspace root")
        .to_path_buf()
}

/// The cargo target directory of the workspace.
pub fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// The directory holding xtask's own outputs (images, ramdisks, run directories).
pub fn xtask_out() -> PathBuf {
    target().join("xtask")
}

/// The kernel ELF built by [`crate::images::build_kernel`].
pub fn kernel_elf() -> PathBuf {
    target().join("x86_64-unknown-none/release/kernel")
}

/// The image tool built by [`crate::images::build_mkimage`].
pub fn mkimage() -> PathBuf {
    target().join("release/mkimage")
}

/// The shared directory beside the repository (`../shared`), holding ACPI dumps.
pub fn shared() -> PathBuf {
    root().join("../shared")
}

/// Candidate locations of the OVMF UEFI firmware, most likely first.
pub const OVMF_PATHS: [&str; 3] = [
    "/usr/share/ovmf/OVMF.fd",
    "/usr/share/OVMF/OVMF.fd",
    "/usr/share/qemu/OVMF.fd",
];

/// The OVMF firmware file, if installed.
pub fn ovmf() -> Option<PathBuf> {
    OVMF_PATHS.iter().map(PathBuf::from).find(|p| p.exists())
}
