//! Host programs the tasks need (QEMU, OVMF, SWI-Prolog), installed with apt-get when this
//! user can, otherwise named with the exact command to run.

use std::process::Command;

use crate::paths;

/// A host dependency and the Debian packages that provide it.
#[derive(Clone, Copy, Debug)]
pub struct Dep {
    /// What it is, for messages.
    pub what: &'static str,
    /// Debian packages to install.
    pub packages: &'static [&'static str],
    /// True if it is present.
    pub present: fn() -> bool,
}

fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// QEMU for x86-64.
pub const QEMU: Dep = Dep {
    what: "QEMU (qemu-system-x86_64)",
    packages: &["qemu-system-x86"],
    present: || on_path("qemu-system-x86_64"),
};

/// OVMF UEFI firmware.
pub const OVMF: Dep = Dep {
    what: "OVMF UEFI firmware",
    packages: &["ovmf"],
    present: || paths::ovmf().is_some(),
};

/// SWI-Prolog, the oracle of the SKB conformance tests.
pub const SWIPL: Dep = Dep {
    what: "SWI-Prolog (swipl)",
    packages: &["swi-prolog-nox"],
    present: || on_path("swipl"),
};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn can_sudo() -> bool {
    on_path("sudo")
        && Command::new("sudo")
            .args(["-n", "true"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

/// Make sure every dependency in `deps` is installed, installing missing ones with apt-get
/// when possible. Returns an error naming the command to run otherwise.
pub fn ensure(deps: &[Dep]) -> Result<(), String> {
    let missing: Vec<&Dep> = deps.iter().filter(|d| !(d.present)()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing
        .iter()
        .flat_map(|d| d.packages.iter().copied())
        .collect();
    let names: Vec<&str> = missing.iter().map(|d| d.what).collect();
    let cmd = format!(
        "apt-get update && apt-get install -y {}",
        packages.join(" ")
    );
    let prefix = if is_root() {
        Some("")
    } else if can_sudo() {
        Some("sudo -n ")
    } else {
        None
    };
    let Some(prefix) = prefix else {
        return Err(format!(
            "missing: {}. Install with:\n    sudo sh -c '{cmd}'",
            names.join(", ")
        ));
    };
    eprintln!("xtask: installing {} with apt-get ...", names.join(", "));
    let full = format!(
        "{prefix}apt-get update -q && {prefix}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q {}",
        packages.join(" ")
    );
    let ok = Command::new("sh")
        .args(["-c", &full])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let still: Vec<&str> = missing
        .iter()
        .filter(|d| !(d.present)())
        .map(|d| d.what)
        .collect();
    if ok && still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "could not install {}. Run:\n    sudo sh -c '{cmd}'",
            still.join(", ")
        ))
    }
}
