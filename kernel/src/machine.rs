//! What the boot core knows about the machine: the cores to start (with APIC id, package
//! and NUMA node), the NUMA nodes with their memory ranges and distances, and CPU features.
//! Built from the ACPI tables (through the `topology` crate) and CPUID.

use alloc::vec::Vec;
use physmem::PhysRange;

/// One enabled core.
#[derive(Clone, Copy, Debug)]
pub struct CoreDesc {
    /// Dense core number: 0 is the boot core, then MADT order.
    pub core_id: u32,
    /// Local APIC id.
    pub apic_id: u32,
    /// Package (socket).
    pub package: u32,
    /// NUMA node (proximity domain).
    pub node: u32,
}

/// One NUMA node.
#[derive(Clone, Debug)]
pub struct NodeDesc {
    /// Proximity domain.
    pub node: u32,
    /// Its memory ranges.
    pub ranges: Vec<PhysRange>,
}

/// The machine as discovered.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Enabled cores, boot core first.
    pub cores: Vec<CoreDesc>,
    /// MADT entries in all (enabled or not).
    pub madt_entries: usize,
    /// Nodes, sorted by proximity domain.
    pub nodes: Vec<NodeDesc>,
    /// Distance between two proximity domains.
    pub distances: Vec<(u32, u32, u32)>,
    /// I/O APICs: (register base, first GSI).
    pub io_apics: Vec<(u32, u32)>,
    /// ISA interrupt source overrides.
    pub isa_overrides: Vec<cpudriver::arch::ioapic::IsaOverride>,
    /// PCI Express ECAM windows (MCFG entries with a usable bus range).
    pub pci_segments: Vec<abi::PciSegment>,
    /// PCI host bridges' root buses (ACPI namespace), with their nodes.
    pub pci_roots: Vec<abi::PciRootBus>,
    /// How to power off and reset through ACPI.
    pub acpi_power: Option<cpudriver::arch::power::AcpiPower>,
}

impl Machine {
    /// NUMA distance between nodes `a` and `b` (10 local, 20 remote when unknown).
    pub fn distance(&self, a: u32, b: u32) -> u32 {
        self.distances
            .iter()
            .find(|&&(x, y, _)| x == a && y == b)
            .map(|&(_, _, d)| d)
            .unwrap_or(if a == b { 10 } else { 20 })
    }
}
