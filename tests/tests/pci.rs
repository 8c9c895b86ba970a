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

#[test]
fn a_host_bridge_on_another_node_puts_its_devices_there() {
    // A second PCI Express host bridge (root bus 0x80) on NUMA node 1, with a root port and
    // a network card below it: QEMU declares it in the DSDT with `_BBN` 0x80 and `_PXM` 1.
    let m = Machine {
        numa_nodes: 2,
        devices: [
            "pxb-pcie,id=pxb1,bus_nr=128,numa_node=1,bus=pcie.0",
            "pcie-root-port,id=rp1,bus=pxb1,chassis=1",
            "e1000e,bus=rp1",
        ]
        .map(String::from)
        .to_vec(),
        ..machine(4)
    };
    let r = boot(
        "pci-pxb-node1",
        &m,
        &[(
            "run@0",
            "shell --batch lspci; skb pci_device(B, D, F, 32902, 4307, C, N); \
             skb driver_core(pci(129, 0, 0), C)",
        )],
        LIMIT,
    );
    r.assert_lacks("PANIC").assert_success();
    r.assert_contains("ACPI: PCI root bus 0000:00 on node unknown")
        .assert_contains("ACPI: PCI root bus 0000:80 on node 1")
        .assert_contains("pcid: root bus 0000:80 (node 1): 2 functions")
        // The e1000e (8086:10d3) behind the root port on bus 0x81, on node 1; the one QEMU
        // puts on bus 0 stays on node 0 (no `_PXM` on the main host bridge).
        .assert_contains("shell: 81:00.0 Ethernet controller [0200]: 8086:10d3 (node 1)")
        .assert_contains("shell: 00:02.0 Ethernet controller [0200]: 8086:10d3 (node 0)")
        .assert_contains("shell: pci_device(129,0,0,32902,4307,131072,1)")
        .assert_contains("shell: pci_device(0,2,0,32902,4307,131072,0)");
    // The SKB places its driver on a core of node 1 (cores 2 and 3).
    let placed = r
        .lines_with("shell: driver_core(pci(129,0,0),")
        .next()
        .unwrap_or_else(|| panic!("no placement for 81:00.0\n{}", r.log()));
    assert!(
        placed.ends_with(",2)") || placed.ends_with(",3)"),
        "placed off node 1: {placed}"
    );
}
