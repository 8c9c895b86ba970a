//! The PCI driver `pcid` on both of QEMU's chipsets: Q35 has an ACPI MCFG table, so the
//! configuration space is read through ECAM (a DevFrame capability over the window); the
//! i440FX has none, so the configuration ports are used. Either way every function is
//! recorded in the SKB and `lspci` lists it.

use integration_tests::{boot, machine, Chipset, Machine, Run};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

fn lspci(name: &str, m: &Machine) -> Run {
    let r = boot(name, m, &[("run@0", "shell --batch lspci")], LIMIT);
    r.assert_lacks("PANIC").assert_success();
    r
}

#[test]
fn q35_configuration_space_through_ecam() {
    let r = lspci("pci-q35-ecam", &machine(2));
    r.assert_contains("pcid: configuration space through ECAM (MCFG)")
        .assert_lacks("pcid: warning")
        // The host bridge, the ICH9's LPC bridge and SATA controller.
        .assert_contains("shell: 00:00.0 Host bridge [0600]: 8086:29c0")
        .assert_contains("shell: 00:1f.0 ISA bridge [0601]: 8086:2918")
        .assert_contains("shell: 00:1f.2 SATA controller [0106]: 8086:2922");
}

#[test]
fn i440fx_configuration_space_through_the_ports() {
    let m = Machine {
        chipset: Chipset::I440fx,
        ..machine(2)
    };
    let r = lspci("pci-i440fx-ports", &m);
    r.assert_contains("pcid: configuration space through the ports 0xcf8/0xcfc")
        .assert_lacks("through ECAM")
        .assert_contains("shell: 00:00.0 Host bridge [0600]: 8086:1237")
        .assert_contains("shell: 00:01.0 ISA bridge [0601]: 8086:7000");
}
