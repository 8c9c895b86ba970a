//! Discovery of the machine from the ACPI tables (through the `topology` crate, the same
//! code `cargo xtask topology` runs on the host) and CPUID.

use alloc::vec;
use alloc::vec::Vec;
use bootloader_api::BootInfo;
use physmem::PhysRange;
use topology::{CpuHint, OffsetMapped, Topology};

use crate::machine::{CoreDesc, Machine, NodeDesc};

/// The APIC-id shift of the package level, from CPUID leaf 0xB (the shift of the last
/// level below the package).
fn package_shift() -> Option<u32> {
    let cpuid = raw_cpuid::CpuId::new();
    let levels = cpuid.get_extended_topology_info()?;
    levels.map(|l| l.shift_right_for_next_apic_id()).max()
}

/// The end of what the bootloader maps of physical memory: the end of the memory map, and
/// at least 4 GiB.
fn mapped_end(boot_info: &BootInfo) -> u64 {
    boot_info
        .memory_regions
        .iter()
        .map(|r| r.end)
        .max()
        .unwrap_or(0)
        .max(1 << 32)
}

/// A machine of one core (the boot core) and one node, when the tables are unusable.
fn boot_core_only(boot_info: &BootInfo, bsp_apic: u32) -> Machine {
    Machine {
        cores: vec![CoreDesc {
            core_id: 0,
            apic_id: bsp_apic,
            package: 0,
            node: 0,
        }],
        madt_entries: 1,
        nodes: vec![NodeDesc {
            node: 0,
            ranges: crate::bringup::all_memory(boot_info),
        }],
        distances: vec![],
        io_apics: vec![],
        isa_overrides: vec![],
        pci_segments: vec![],
        pci_roots: vec![],
        acpi_power: None,
    }
}

fn from_topology(t: &Topology, boot_info: &BootInfo, bsp_apic: u32) -> Machine {
    let default_node = t.nodes.first().copied().unwrap_or(0);
    let desc = |c: &topology::Cpu| {
        (
            c.apic_id,
            c.package.unwrap_or(0),
            c.node.unwrap_or(default_node),
        )
    };
    // The boot core first, then the other enabled cores in MADT order.
    let mut list: Vec<(u32, u32, u32)> = Vec::new();
    match t.cpu_by_apic(bsp_apic) {
        Some(c) => list.push(desc(c)),
        None => {
            log::warn!("the boot core (APIC id {bsp_apic}) is not in the MADT");
            list.push((bsp_apic, 0, default_node));
        }
    }
    list.extend(t.enabled_cpus().filter(|c| c.apic_id != bsp_apic).map(desc));
    let cores: Vec<CoreDesc> = list
        .into_iter()
        .enumerate()
        .map(|(i, (apic_id, package, node))| CoreDesc {
            core_id: i as u32,
            apic_id,
            package,
            node,
        })
        .collect();
    let all = crate::bringup::all_memory(boot_info);
    let nodes: Vec<NodeDesc> = t
        .nodes
        .iter()
        .map(|&n| NodeDesc {
            node: n,
            ranges: if t.has_srat {
                t.memory_of_node(n)
                    .map(|m| PhysRange::new(m.base, m.length))
                    .collect()
            } else {
                all.clone()
            },
        })
        .collect();
    let mut distances = Vec::new();
    for &a in &t.nodes {
        for &b in &t.nodes {
            distances.push((a, b, t.distance(a, b) as u32));
        }
    }
    Machine {
        cores,
        madt_entries: t.cpus.len(),
        nodes,
        distances,
        io_apics: t.io_apics.iter().map(|a| (a.address, a.gsi_base)).collect(),
        isa_overrides: t
            .isa_overrides
            .iter()
            .map(|o| cpudriver::arch::ioapic::IsaOverride {
                irq: o.irq,
                gsi: o.gsi,
                flags: o.flags,
            })
            .collect(),
        pci_segments: t
            .mcfg
            .iter()
            .filter_map(|m| {
                let e =
                    pci::Ecam::from_mcfg(m.base_address, m.segment_group, m.bus_start, m.bus_end)?;
                Some(abi::PciSegment {
                    base: e.base,
                    segment: e.segment,
                    start_bus: e.start_bus,
                    end_bus: e.end_bus,
                })
            })
            .collect(),
        pci_roots: t
            .pci_roots
            .iter()
            .filter_map(|r| {
                Some(abi::PciRootBus {
                    segment: r.segment?,
                    bus: r.bus?,
                    node: r.proximity_domain,
                })
            })
            .collect(),
        acpi_power: acpi_power(t),
    }
}

/// The system I/O ports of the FADT's power-off and reset registers (memory-mapped ones are
/// not used).
fn acpi_power(t: &Topology) -> Option<cpudriver::arch::power::AcpiPower> {
    let s5 = t.power_off.as_ref();
    let pm1a = s5.and_then(|s| Some((s.pm1a_control.io_port()?, s.pm1a_value())));
    let pm1b = s5.and_then(|s| Some((s.pm1b_control?.io_port()?, s.pm1b_value())));
    let acpi_enable = t
        .acpi_enable
        .and_then(|e| Some((u16::try_from(e.smi_command).ok()?, e.enable_value)));
    let reset = t
        .reset
        .filter(|r| r.supported)
        .and_then(|r| Some((r.register.io_port()?, r.value)));
    (pm1a.is_some() || reset.is_some()).then_some(cpudriver::arch::power::AcpiPower {
        pm1a,
        pm1b,
        acpi_enable,
        reset,
    })
}

/// Discover the machine. Never fails: unusable tables leave the boot core alone.
pub fn machine(boot_info: &BootInfo, phys_offset: u64, bsp_apic: u32) -> Machine {
    let Some(rsdp) = boot_info.rsdp_addr.into_option() else {
        log::error!("no ACPI RSDP from the firmware: booting the boot core only");
        return boot_core_only(boot_info, bsp_apic);
    };
    let shift = package_shift();
    let hint = shift.map_or(CpuHint::NONE, CpuHint::with_package_shift);
    // SAFETY: the bootloader maps all physical memory up to the end of the memory map (and
    // at least 4 GiB) at `phys_offset`, and ACPI tables do not change while we read them.
    let mem = unsafe { OffsetMapped::new(phys_offset, mapped_end(boot_info)) };
    let t = match topology::from_rsdp(mem, rsdp, hint) {
        Ok(t) => t,
        Err(e) => {
            log::error!("ACPI tables unusable ({e}): booting the boot core only");
            return boot_core_only(boot_info, bsp_apic);
        }
    };
    for w in &t.warnings {
        log::warn!("ACPI: ignored: {w}");
    }
    let m = from_topology(&t, boot_info, bsp_apic);
    let mut packages: Vec<u32> = m.cores.iter().map(|c| c.package).collect();
    packages.sort_unstable();
    packages.dedup();
    log::info!(
        "ACPI: {} MADT entries, {} enabled; NUMA nodes {:?}{}; {} package(s) (APIC-id shift {:?}); HPET {}; {} ECAM segment(s)",
        t.cpus.len(),
        t.enabled_cpu_count(),
        t.nodes,
        if t.has_srat { "" } else { " (no SRAT)" },
        packages.len(),
        shift,
        t.hpet.map_or("none", |_| "present"),
        t.mcfg.len()
    );
    match &m.acpi_power {
        Some(p) => log::info!(
            "ACPI power: S5 {}, reset register {}",
            p.pm1a
                .map_or(alloc::string::String::from("unknown"), |(port, v)| {
                    alloc::format!("through PM1a_CNT {port:#x} <- {v:#x}")
                }),
            p.reset
                .map_or(alloc::string::String::from("none"), |(port, v)| {
                    alloc::format!("{port:#x} <- {v:#x}")
                })
        ),
        None => log::info!("ACPI power: no S5 or reset register found"),
    }
    for r in &m.pci_roots {
        log::info!(
            "ACPI: PCI root bus {:04x}:{:02x} on node {}",
            r.segment,
            r.bus,
            r.node
                .map_or(alloc::string::String::from("unknown"), |n| alloc::format!(
                    "{n}"
                ))
        );
    }
    for c in &m.cores {
        log::debug!(
            "core {:2}: APIC id {:3}, package {}, node {}",
            c.core_id,
            c.apic_id,
            c.package,
            c.node
        );
    }
    if t.nodes.len() > 1 {
        for &a in &t.nodes {
            let row: Vec<u32> = t.nodes.iter().map(|&b| m.distance(a, b)).collect();
            log::info!("NUMA distances from node {a}: {row:?}");
        }
    }
    m
}
