//! Host tool that wraps the kernel ELF and the ramdisk into bootable disk images.
//!
//! It is a separate binary from `xtask` because the `bootloader` crate builds its
//! BIOS and UEFI stages in its build script, which takes minutes the first time;
//! `xtask` stays quick to compile and runs this tool with progress shown.
//!
//! Usage: `mkimage --kernel K [--ramdisk R] [--bios OUT.img] [--uefi OUT.img]`

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Default)]
struct Args {
    kernel: Option<PathBuf>,
    ramdisk: Option<PathBuf>,
    bios: Option<PathBuf>,
    uefi: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{flag} needs a path"))
        };
        match flag.as_str() {
            "--kernel" => args.kernel = Some(value()?),
            "--ramdisk" => args.ramdisk = Some(value()?),
            "--bios" => args.bios = Some(value()?),
            "--uefi" => args.uefi = Some(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mkimage: {e}");
            eprintln!("usage: mkimage --kernel K [--ramdisk R] [--bios OUT] [--uefi OUT]");
            return ExitCode::from(2);
        }
    };
    let Some(kernel) = args.kernel else {
        eprintln!("mkimage: --kernel is required");
        return ExitCode::from(2);
    };
    let mut builder = bootloader::DiskImageBuilder::new(kernel);
    if let Some(ramdisk) = args.ramdisk {
        builder.set_ramdisk(ramdisk);
    }
    if let Some(out) = args.bios {
        if let Err(e) = builder.create_bios_image(&out) {
            eprintln!("mkimage: BIOS image {}: {e:#}", out.display());
            return ExitCode::FAILURE;
        }
    }
    if let Some(out) = args.uefi {
        if let Err(e) = builder.create_uefi_image(&out) {
            eprintln!("mkimage: UEFI image {}: {e:#}", out.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
