//! Building the boot images: the kernel ELF, the ramdisk (user programs and `boot.cfg`),
//! and BIOS and UEFI disk images made by `mkimage` with bootloader 0.11.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::paths;

/// Which firmware an image boots with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// Legacy BIOS (SeaBIOS in QEMU).
    Bios,
    /// UEFI (OVMF in QEMU).
    Uefi,
}

impl Firmware {
    /// Lower-case name, used in file names.
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// A `cargo` command (the one running xtask) in the repository root.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(paths::root());
    c
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Run `cmd`, printing a line every 30 s so a long build is not silent.
fn run_with_ticker(cmd: Command, what: &str) -> Result<(), String> {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let label = what.to_string();
    let ticker = std::thread::spawn(move || {
        let start = Instant::now();
        let mut last = Instant::now();
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            if last.elapsed() >= Duration::from_secs(30) {
                eprintln!(
                    "xtask: still {label} ({} s so far)",
                    start.elapsed().as_secs()
                );
                last = Instant::now();
            }
        }
    });
    let r = run(cmd, what);
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    r
}

/// Build the kernel for `x86_64-unknown-none`. `features` are kernel cargo features.
pub fn build_kernel() -> Result<PathBuf, String> {
    let mut c = cargo();
    c.args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "kernel",
        "--target",
        "x86_64-unknown-none",
    ]);
    run(c, "building the kernel")?;
    Ok(paths::kernel_elf())
}

/// Build the host image tool (and with it the bootloader's BIOS and UEFI stages).
pub fn build_mkimage() -> Result<PathBuf, String> {
    let first = !paths::mkimage().exists();
    if first {
        eprintln!(
            "xtask: building the bootloader's BIOS and UEFI stages (bootloader 0.11.17, \
             -Zbuild-std); the first build takes a few minutes"
        );
    }
    let mut c = cargo();
    c.args(["build", "--release", "--package", "mkimage"]);
    // The bootloader's build script runs `cargo install` for its stages, which inherits
    // the environment: with CARGO_TARGET_DIR set it would build into this build's own
    // target directory and wait forever on the lock this build holds. Pass the directory
    // as a flag instead, which the nested cargo does not see.
    c.env_remove("CARGO_TARGET_DIR");
    c.arg("--target-dir").arg(paths::target());
    if !first {
        c.arg("--quiet");
    }
    run_with_ticker(c, "building the bootloader")?;
    Ok(paths::mkimage())
}

/// The user programs, built for `x86_64-unknown-none` as static executables linked at
/// `abi::USER_MIN`.
pub const PROGRAMS: &[&str] = &[
    "monitor", "probe", "skbd", "pcid", "shell", "devmgr", "seriald", "fbcond",
];

/// Build the user programs; returns `(name, ELF path)` pairs.
pub fn build_programs() -> Result<Vec<(String, PathBuf)>, String> {
    let mut c = cargo();
    c.args([
        "build",
        "--quiet",
        "--release",
        "--target",
        "x86_64-unknown-none",
    ]);
    for p in PROGRAMS {
        c.args(["--package", p]);
    }
    // A separate target directory: different code-generation flags from the kernel's.
    c.env("CARGO_TARGET_DIR", paths::target().join("user"));
    c.env(
        "RUSTFLAGS",
        "-C relocation-model=static -C link-arg=--image-base=0x400000 -C force-frame-pointers=yes",
    );
    run(c, "building the user programs")?;
    Ok(PROGRAMS
        .iter()
        .map(|p| {
            (
                p.to_string(),
                paths::target()
                    .join("user/x86_64-unknown-none/release")
                    .join(p),
            )
        })
        .collect())
}

/// Files of the ramdisk: the boot configuration and the user programs.
pub fn write_ramdisk(
    dir: &Path,
    boot_cfg: &str,
    programs: &[(String, PathBuf)],
) -> Result<PathBuf, String> {
    let mut files: Vec<(String, Vec<u8>)> = vec![("boot.cfg".into(), boot_cfg.as_bytes().to_vec())];
    for (name, path) in programs {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        files.push((format!("bin/{name}"), bytes));
    }
    let archive = ramdisk::write_archive(files.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    let path = dir.join("ramdisk.cpio");
    std::fs::write(&path, archive).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// `llvm-objcopy` from the toolchain's `llvm-tools-preview` component, if installed.
fn llvm_objcopy() -> Option<PathBuf> {
    let out = Command::new("rustc")
        .current_dir(paths::root())
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let p = sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy");
    p.exists().then_some(p)
}

/// A copy of `elf` without debug information (the image is smaller and loads faster; the
/// original keeps the symbols for reading backtraces). Falls back to `elf` itself.
fn stripped(elf: &Path) -> PathBuf {
    let Some(objcopy) = llvm_objcopy() else {
        return elf.to_path_buf();
    };
    let out = elf.with_extension("stripped");
    let ok = Command::new(objcopy)
        .arg("--strip-debug")
        .arg(elf)
        .arg(&out)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        out
    } else {
        elf.to_path_buf()
    }
}

/// Everything built once per xtask invocation.
#[derive(Clone, Debug)]
pub struct Built {
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// The image tool.
    pub mkimage: PathBuf,
    /// The user programs.
    pub programs: Vec<(String, PathBuf)>,
}

/// Build the kernel, the user programs and the image tool.
pub fn build_all() -> Result<Built, String> {
    let mkimage = build_mkimage()?;
    let kernel = stripped(&build_kernel()?);
    let programs = build_programs()?
        .into_iter()
        .map(|(name, path)| (name, stripped(&path)))
        .collect();
    Ok(Built {
        kernel,
        mkimage,
        programs,
    })
}

/// Make a disk image for `fw` in `dir` with the given `boot.cfg`.
pub fn make_image(
    built: &Built,
    dir: &Path,
    fw: Firmware,
    boot_cfg: &str,
) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let rd = write_ramdisk(dir, boot_cfg, &built.programs)?;
    let img = dir.join(format!("multikernel-{}.img", fw.name()));
    let mut c = Command::new(&built.mkimage);
    c.arg("--kernel")
        .arg(&built.kernel)
        .arg("--ramdisk")
        .arg(&rd)
        .arg(format!("--{}", fw.name()))
        .arg(&img);
    run(c, "making the disk image")?;
    Ok(img)
}
