//! Discovery of the machine (TEMPORARY: sequential APIC ids, one node, until the ACPI
//! topology is wired in).

use alloc::vec;
use bootloader_api::BootInfo;

use crate::machine::{CoreDesc, Machine, NodeDesc};

/// Discover the machine.
pub fn machine(boot_info: &BootInfo, _phys_offset: u64, bsp_apic: u32) -> Machine {
    let n = 4u32;
    let cores = (0..n)
        .map(|i| CoreDesc {
            core_id: i,
            apic_id: if i == 0 { bsp_apic } else { i },
            package: 0,
            node: 0,
        })
        .collect();
    Machine {
        cores,
        madt_entries: n as usize,
        nodes: vec![NodeDesc {
            node: 0,
            ranges: crate::bringup::all_memory(boot_info),
        }],
        distances: vec![],
    }
}
