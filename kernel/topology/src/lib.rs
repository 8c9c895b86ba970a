//! Machine topology from ACPI tables, for the multikernel's boot core and for host tools.
//!
//! The boot core needs to know which cores exist (local APIC and x2APIC ids from the MADT,
//! with their enabled and online-capable flags), which NUMA node (proximity domain) each core
//! and each memory range belongs to (SRAT), how far apart the nodes are (SLIT), where the HPET
//! is and where PCI Express configuration space lives (MCFG). This crate turns the ACPI tables
//! into one [`Topology`] value holding all of that.
//!
//! The same code runs in two places:
//!
//! * In the kernel, [`from_rsdp`] walks the firmware's tables in physical memory through a
//!   [`PhysMemory`] (the kernel has all physical memory mapped at an offset, so
//!   [`OffsetMapped`] is all it needs).
//! * On the host, [`from_acpidump_text`] reads the Linux `acpidump` text format, lays the
//!   tables out in a synthetic physical memory image (an RSDP and an XSDT pointing at every
//!   table) and then runs exactly the same discovery code on that image. `cargo xtask topology`
//!   uses it, and the tests check it against real server dumps.
//!
//! Tables are discovered with the `acpi` crate's types (RSDP, SDT header, MADT and its entry
//! iterator, HPET, MCFG) behind bounds checks of our own; SRAT and SLIT are parsed here from raw
//! bytes. Malformed tables (bad checksum, truncated, entries whose lengths overrun) never cause
//! a panic: they are reported in [`Topology::warnings`] and ignored. Only input that leaves
//! nothing to work with (no RSDP, no usable MADT, no enabled CPU) is an error
//! ([`TopologyError`]).
//!
//! Without an SRAT the machine is one node, 0, holding every enabled CPU; without a SLIT the
//! distances are the ACPI defaults (10 local, 20 remote).
//!
//! Two things need more than the static tables: how to power the machine off, and which PCI
//! host bridges (root buses) exist and on which node. The FADT gives the PM1 control registers,
//! the SMI command that switches the chipset into ACPI mode and the reset register; the `\_S5_`
//! sleep type values and the PCI host bridges (`PNP0A03`/`PNP0A08` devices with their `_SEG`,
//! `_BBN`, `_PXM` and `_UID`) come from the DSDT and SSDTs. There is no AML interpreter here: a
//! small scanner walks the AML namespace declarations and takes only values that are constants
//! ([`Topology::power_off`], [`Topology::pci_roots`]).
#![no_std]

extern crate alloc;

#[cfg(test)]
extern crate std;

pub mod acpidump;
mod aml;
#[cfg(test)]
mod aml_tests;
mod discover;
mod fadt;
mod json;
mod phys;
mod tables;
#[cfg(test)]
mod tests;

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use discover::from_rsdp;
pub use phys::{OffsetMapped, PhysMemory, SliceMemory};

/// Builds the topology from the text of a Linux `acpidump` (host tools and tests).
///
/// The tables in the dump are placed in a synthetic physical memory image behind a fresh
/// RSDP and XSDT, and [`from_rsdp`] runs on that image. Problems with the dump itself (lines
/// that are not hex, truncated tables, repeated tables) become warnings.
pub fn from_acpidump_text(text: &str, hint: CpuHint) -> Result<Topology, TopologyError> {
    acpidump::topology_from_text(text, hint)
}

/// Greatest length accepted for a table this crate reads in full (MADT, SRAT, SLIT, HPET,
/// MCFG, FADT, DSDT, SSDT). Anything longer is taken as a corrupt length field.
pub const MAX_TABLE_LEN: u32 = 4 << 20;

/// What the caller knows about the CPU that ACPI does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuHint {
    /// Number of low APIC-id bits below the package level: from CPUID leaf 0x1F (or 0xB), the
    /// "shift right for next level" of the last level below the package (the core level on
    /// most CPUs). When given, a core's package is `apic_id >> package_shift`; when not (host
    /// tools), packages are estimated from the proximity domains and
    /// [`Topology::package_source`] says so.
    pub package_shift: Option<u32>,
}

impl CpuHint {
    /// No CPUID information: packages are estimated.
    pub const NONE: CpuHint = CpuHint {
        package_shift: None,
    };

    /// Packages from the CPUID APIC-id shift of the package level.
    pub const fn with_package_shift(shift: u32) -> CpuHint {
        CpuHint {
            package_shift: Some(shift),
        }
    }
}

/// Where [`Cpu::package`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageSource {
    /// `apic_id >> shift` with the package shift from CPUID ([`CpuHint::package_shift`]).
    Cpuid {
        /// The shift used.
        shift: u32,
    },
    /// An estimate: the package number is the CPU's proximity domain. Right for one node per
    /// socket, wrong where a socket holds several nodes (e.g. two-die Opterons) or a node
    /// spans sockets.
    ProximityDomain,
}

/// One processor entry of the MADT (local APIC or local x2APIC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// Local APIC id (the x2APIC id for x2APIC entries).
    pub apic_id: u32,
    /// ACPI processor UID (the 8-bit processor id of local APIC entries).
    pub uid: u32,
    /// The MADT "enabled" flag: the processor is usable and may be started.
    pub enabled: bool,
    /// The MADT "online capable" flag (MADT revision 5 and later; false before): a disabled
    /// processor that may be brought online later.
    pub online_capable: bool,
    /// Whether the entry was a local x2APIC entry.
    pub x2apic: bool,
    /// NUMA node (proximity domain). With an SRAT: the domain of the CPU's enabled affinity
    /// entry, `None` when there is none. Without an SRAT: 0 for enabled CPUs. `None` for
    /// disabled CPUs without an enabled affinity entry.
    pub node: Option<u32>,
    /// Package (socket) number, see [`Topology::package_source`]. `None` when it cannot be
    /// estimated (no node known and no CPUID shift).
    pub package: Option<u32>,
}

/// One enabled memory range from the SRAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRange {
    /// Proximity domain.
    pub node: u32,
    /// Physical base address.
    pub base: u64,
    /// Length in bytes (never 0).
    pub length: u64,
    /// The SRAT "hot pluggable" flag.
    pub hotpluggable: bool,
    /// The SRAT "non-volatile" flag.
    pub non_volatile: bool,
}

impl MemoryRange {
    /// One past the last byte of the range.
    pub fn end(&self) -> u64 {
        self.base + self.length
    }
}

/// The SLIT as found: distances between proximity domains (localities) `0..localities`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slit {
    /// Number of localities (the matrix is `localities × localities`).
    pub localities: usize,
    /// Row-major distances: `entries[i * localities + j]` is the distance from `i` to `j`.
    pub entries: Vec<u8>,
}

impl Slit {
    /// The distance from locality `i` to `j`, if both are in the table.
    pub fn get(&self, i: u32, j: u32) -> Option<u8> {
        let (i, j) = (i as usize, j as usize);
        if i < self.localities && j < self.localities {
            self.entries.get(i * self.localities + j).copied()
        } else {
            None
        }
    }
}

/// The HPET, from the HPET table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hpet {
    /// Physical base address of the event timer block.
    pub base_address: u64,
    /// Address space id of the base address (0 = system memory, the only sane value).
    pub address_space: u8,
    /// HPET sequence number.
    pub hpet_number: u8,
    /// Number of comparators (timers).
    pub comparators: u8,
    /// Whether the main counter is 64 bits wide.
    pub counter_64bit: bool,
    /// Whether the legacy replacement IRQ routing is supported.
    pub legacy_replacement: bool,
    /// PCI vendor id of the timer block.
    pub pci_vendor_id: u16,
    /// Minimum clock ticks for periodic mode without losing interrupts.
    pub min_tick: u16,
}

/// One PCI Express ECAM segment from the MCFG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcamSegment {
    /// Physical base address of the configuration space (of bus 0 of the segment, even when
    /// `bus_start` is not 0).
    pub base_address: u64,
    /// PCI segment group number.
    pub segment_group: u16,
    /// First bus decoded.
    pub bus_start: u8,
    /// Last bus decoded.
    pub bus_end: u8,
}

/// One I/O APIC from the MADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    /// I/O APIC id.
    pub id: u8,
    /// Physical address of its registers.
    pub address: u32,
    /// First global system interrupt it handles.
    pub gsi_base: u32,
}

/// An ISA interrupt the MADT routes differently from the identity mapping (an "interrupt
/// source override").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaOverride {
    /// ISA IRQ number.
    pub irq: u8,
    /// Global system interrupt it arrives at.
    pub gsi: u32,
    /// MPS INTI flags: bits 0-1 polarity (0 bus default, 1 high, 3 low), bits 2-3 trigger
    /// mode (0 bus default, 1 edge, 3 level).
    pub flags: u16,
}

/// A register as the FADT describes it: an ACPI Generic Address Structure, or a legacy FADT
/// I/O port block expressed as one (space [`AcpiRegister::SYSTEM_IO`], width from the FADT's
/// block length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcpiRegister {
    /// Address space id: [`AcpiRegister::SYSTEM_MEMORY`], [`AcpiRegister::SYSTEM_IO`], or
    /// another ACPI space (PCI configuration, ...) exactly as the table says.
    pub space: u8,
    /// Register width in bits (0 when the firmware leaves it unset).
    pub bit_width: u8,
    /// Bit offset of the register at the address.
    pub bit_offset: u8,
    /// Access size: 0 undefined (legacy), 1 byte, 2 word, 3 dword, 4 qword.
    pub access_size: u8,
    /// The address (an I/O port number in system I/O space). Never 0.
    pub address: u64,
}

impl AcpiRegister {
    /// Address space id of system memory.
    pub const SYSTEM_MEMORY: u8 = 0;
    /// Address space id of system I/O.
    pub const SYSTEM_IO: u8 = 1;

    /// The I/O port, if the register is in system I/O space at an address that fits a port.
    pub fn io_port(&self) -> Option<u16> {
        if self.space == Self::SYSTEM_IO {
            u16::try_from(self.address).ok()
        } else {
            None
        }
    }
}

/// How to enter the S5 (soft off) sleep state: the FADT's PM1 control registers and the
/// `\_S5_` sleep type values from the DSDT or an SSDT.
///
/// Power off is: switch to ACPI mode if needed (see [`AcpiEnable`]), then write
/// [`SleepControl::pm1a_value`] to PM1a_CNT and, when there is one, [`SleepControl::pm1b_value`]
/// to PM1b_CNT (16-bit writes; keeping the register's other bits, e.g. SCI_EN, is customary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SleepControl {
    /// PM1a_CNT: the FADT's X_PM1a_CNT_BLK when it is set and in system I/O space (or when
    /// there is no legacy PM1a_CNT_BLK), otherwise PM1a_CNT_BLK.
    pub pm1a_control: AcpiRegister,
    /// PM1b_CNT, chosen the same way; `None` when the FADT has none.
    pub pm1b_control: Option<AcpiRegister>,
    /// SLP_TYPa for S5: the first element of `\_S5_` (0..=7).
    pub slp_typ_a: u8,
    /// SLP_TYPb for S5: the second element of `\_S5_` (0..=7), or SLP_TYPa when the package
    /// has only one element.
    pub slp_typ_b: u8,
}

impl SleepControl {
    /// The SLP_EN bit of PM1x_CNT.
    pub const SLP_EN: u16 = 1 << 13;
    /// Position of the 3-bit SLP_TYP field in PM1x_CNT.
    pub const SLP_TYP_SHIFT: u32 = 10;

    /// The value to write to PM1a_CNT: `SLP_TYPa << 10 | SLP_EN`.
    pub fn pm1a_value(&self) -> u16 {
        u16::from(self.slp_typ_a & 7) << Self::SLP_TYP_SHIFT | Self::SLP_EN
    }

    /// The value to write to PM1b_CNT: `SLP_TYPb << 10 | SLP_EN`.
    pub fn pm1b_value(&self) -> u16 {
        u16::from(self.slp_typ_b & 7) << Self::SLP_TYP_SHIFT | Self::SLP_EN
    }
}

/// How to switch the chipset from legacy (SMM) mode into ACPI mode: write `enable_value` to
/// the `smi_command` I/O port, then wait for SCI_EN (bit 0 of PM1a_CNT) to read as 1. Only
/// needed when SCI_EN is clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcpiEnable {
    /// The FADT's SMI_CMD: an I/O port number (never 0).
    pub smi_command: u32,
    /// The FADT's ACPI_ENABLE value.
    pub enable_value: u8,
    /// The FADT's ACPI_DISABLE value.
    pub disable_value: u8,
}

/// The FADT's reset register (ACPI 2.0 and later): writing `value` to `register` resets the
/// machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResetRegister {
    /// RESET_REG.
    pub register: AcpiRegister,
    /// RESET_VALUE.
    pub value: u8,
    /// The FADT's RESET_REG_SUP flag (bit 10). Firmware often fills in the register (usually
    /// port 0xcf9) without setting the flag; the specification says to use it only with the
    /// flag set.
    pub supported: bool,
}

/// One of the objects of a PCI host bridge this crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PciRootObject {
    /// `_SEG`: the PCI segment group.
    Seg,
    /// `_BBN`: the base bus number.
    Bbn,
    /// `_PXM`: the proximity domain.
    Pxm,
    /// `_UID`: the unique id.
    Uid,
}

impl fmt::Display for PciRootObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PciRootObject::Seg => "_SEG",
            PciRootObject::Bbn => "_BBN",
            PciRootObject::Pxm => "_PXM",
            PciRootObject::Uid => "_UID",
        })
    }
}

/// A PCI host bridge (root bus): a `Device` of the ACPI namespace whose `_HID` or `_CID` is
/// `PNP0A03` (PCI) or `PNP0A08` (PCI Express).
///
/// Only constants count: `Name (_PXM, 1)`, or a method whose first statement returns an
/// integer constant or calls a method without arguments that does (`Method (_BBN) { Return
/// (BN00 ()) }` with `Method (BN00) { Return (Zero) }`, common in AMI firmware). Anything
/// else (a method that reads registers, a reference to another named object) needs an AML
/// interpreter: the value is `None` and the object is listed in
/// [`PciRoot::not_constant`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciRoot {
    /// Absolute namespace path, e.g. `\_SB_.PCI0`.
    pub path: String,
    /// Whether `_HID` or `_CID` says `PNP0A08` (PCI Express); otherwise only `PNP0A03` did.
    pub pcie: bool,
    /// `_SEG`, the PCI segment group: `Some(0)` when the device has no `_SEG`, `None` when it
    /// is not a constant (or out of range).
    pub segment: Option<u16>,
    /// `_BBN`, the bus number of the root bus: `Some(0)` when the device has no `_BBN`, `None`
    /// when it is not a constant (or out of range).
    pub bus: Option<u8>,
    /// `_PXM`, the proximity domain (NUMA node): `None` when the device has none or it is not
    /// a constant.
    pub proximity_domain: Option<u32>,
    /// `_UID` if it is an integer constant (string ids, e.g. `"PCI0"`, give `None`).
    pub uid: Option<u64>,
    /// The objects among `_SEG`, `_BBN`, `_PXM` and `_UID` that exist but are not integer
    /// constants (string `_UID`s aside); their fields above are `None`.
    pub not_constant: Vec<PciRootObject>,
}

/// What the AML scanner could not follow in a DSDT or SSDT ([`Warning::Aml`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmlProblem {
    /// An opcode the scanner does not know (`0x5bxx` for extended opcodes).
    UnknownOpcode(u16),
    /// An object or name runs past the end of the object or table holding it.
    Truncated,
    /// A package length points past the end of the object or table holding it; the object
    /// was taken to end there.
    LengthOverrun,
    /// A package length shorter than its own encoding.
    BadLength,
    /// A name segment with characters AML does not allow, or `^` above the root.
    BadName,
    /// Objects nested more deeply than the scanner follows.
    TooDeep,
}

impl fmt::Display for AmlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmlProblem::UnknownOpcode(op) if *op > 0xff => write!(f, "unknown opcode {op:#06x}"),
            AmlProblem::UnknownOpcode(op) => write!(f, "unknown opcode {op:#04x}"),
            AmlProblem::Truncated => write!(f, "object runs past its end"),
            AmlProblem::LengthOverrun => write!(f, "package length runs past its end"),
            AmlProblem::BadLength => write!(f, "package length shorter than its encoding"),
            AmlProblem::BadName => write!(f, "malformed name"),
            AmlProblem::TooDeep => write!(f, "objects nested too deeply"),
        }
    }
}

/// A four-byte ACPI table signature, kept as raw bytes (corrupt tables may carry non-ASCII
/// signatures; [`fmt::Display`] escapes them).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableSig(pub [u8; 4]);

impl TableSig {
    /// MADT.
    pub const MADT: TableSig = TableSig(*b"APIC");
    /// SRAT.
    pub const SRAT: TableSig = TableSig(*b"SRAT");
    /// SLIT.
    pub const SLIT: TableSig = TableSig(*b"SLIT");
    /// HPET.
    pub const HPET: TableSig = TableSig(*b"HPET");
    /// MCFG.
    pub const MCFG: TableSig = TableSig(*b"MCFG");
    /// XSDT.
    pub const XSDT: TableSig = TableSig(*b"XSDT");
    /// RSDT.
    pub const RSDT: TableSig = TableSig(*b"RSDT");
    /// FADT.
    pub const FADT: TableSig = TableSig(*b"FACP");
    /// DSDT.
    pub const DSDT: TableSig = TableSig(*b"DSDT");
    /// SSDT.
    pub const SSDT: TableSig = TableSig(*b"SSDT");
}

impl fmt::Display for TableSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TableSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Something wrong in the tables that was reported and worked around.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// The RSDP checksum (or extended checksum) is wrong; it was used anyway.
    RsdpChecksum,
    /// The XSDT could not be used (address 0, unreadable, wrong signature or length); the RSDT
    /// was used instead.
    XsdtUnusable {
        /// Its physical address.
        address: u64,
    },
    /// The checksum of the root table (XSDT or RSDT) is wrong; it was used anyway.
    RootTableChecksum {
        /// XSDT or RSDT.
        signature: TableSig,
    },
    /// A root table entry is 0 or points outside readable memory; skipped.
    TableUnreadable {
        /// The entry's physical address.
        address: u64,
    },
    /// A table's length is shorter than its fixed part, longer than [`MAX_TABLE_LEN`], or
    /// runs past readable memory; the table was ignored.
    TableLength {
        /// Its signature.
        signature: TableSig,
        /// The length its header claims.
        length: u32,
    },
    /// A table's checksum is wrong; the table was ignored.
    BadChecksum {
        /// Its signature.
        signature: TableSig,
    },
    /// A second valid table with the same signature; the first one was used.
    DuplicateTable {
        /// Its signature.
        signature: TableSig,
    },
    /// An entry of a table with entries is malformed (its length is too small for its type
    /// or runs past the end of the table). It and the entries after it were ignored.
    MalformedEntry {
        /// Table signature.
        signature: TableSig,
        /// Byte offset of the entry in the table.
        offset: usize,
        /// Entry type (0 if not even the type byte fits).
        entry_type: u8,
        /// The entry's length field (0 if it does not fit).
        length: usize,
    },
    /// An SRAT entry of a known type is shorter than that type; it was skipped.
    ShortEntry {
        /// Table signature.
        signature: TableSig,
        /// Byte offset of the entry in the table.
        offset: usize,
        /// Entry type.
        entry_type: u8,
        /// The entry's length field.
        length: usize,
    },
    /// Two MADT processor entries with the same APIC id; the first one was kept.
    DuplicateApicId {
        /// The APIC id.
        apic_id: u32,
    },
    /// An enabled CPU has no enabled SRAT affinity entry, so its node is unknown.
    CpuWithoutAffinity {
        /// The APIC id.
        apic_id: u32,
    },
    /// An enabled SRAT memory range is empty or wraps around the address space; skipped.
    InvalidMemoryRange {
        /// Its base.
        base: u64,
        /// Its length.
        length: u64,
    },
    /// The SLIT is inconsistent (size does not fit the table, a diagonal entry is not 10, or
    /// an off-diagonal entry is 10 or less); it was ignored and default distances used.
    InvalidSlit {
        /// The locality count it claims.
        localities: u64,
    },
    /// A node's proximity domain is not covered by the SLIT; default distances are used for it.
    SlitMissingDomain {
        /// The proximity domain.
        domain: u32,
    },
    /// An MCFG entry whose end bus is below its start bus; skipped.
    InvalidEcamSegment {
        /// Its segment group.
        segment_group: u16,
        /// Its start bus.
        bus_start: u8,
        /// Its end bus.
        bus_end: u8,
    },
    /// `acpidump` text: a line inside a table block that is not a hex dump line; the block was
    /// dropped.
    DumpBadLine {
        /// 1-based line number.
        line: usize,
    },
    /// `acpidump` text: a block whose bytes end before the length its header claims (or that
    /// is too short for a header); dropped.
    DumpTruncatedTable {
        /// The block's name.
        signature: TableSig,
        /// The length in the table header (0 if there is no header).
        declared: u32,
        /// The bytes present.
        available: usize,
    },
    /// `acpidump` text: the same table (same bytes) appears twice; the copy was dropped.
    DumpDuplicateTable {
        /// Its signature.
        signature: TableSig,
    },
    /// The DSDT the FADT points to (X_DSDT, or DSDT when X_DSDT is 0) is not readable, is not
    /// a DSDT, or has an impossible length; no `\_S5_` or PCI roots from it.
    DsdtUnusable {
        /// The address in the FADT.
        address: u64,
    },
    /// The AML scanner could not follow part of a DSDT or SSDT; it skipped to the end of the
    /// enclosing object (a `Scope`, `Device`, ... or the table), keeping what it found before.
    Aml {
        /// DSDT or SSDT.
        signature: TableSig,
        /// Byte offset in the table.
        offset: usize,
        /// What went wrong.
        problem: AmlProblem,
    },
    /// More AML problems in one table than are reported; the rest were dropped.
    AmlProblemsDropped {
        /// DSDT or SSDT.
        signature: TableSig,
        /// How many were not reported.
        count: usize,
    },
    /// `\_S5_` exists but is not a package starting with one or two constant sleep types
    /// (0..=7); no power-off information.
    S5Unusable,
    /// The FADT has no PM1a control block (and is not for hardware-reduced ACPI); no
    /// power-off information.
    NoPm1aControl,
    /// A PCI host bridge's `_SEG`, `_BBN` or `_PXM` constant does not fit its field (16, 8,
    /// 32 bits); ignored.
    PciRootValueRange {
        /// The device's namespace path.
        path: String,
        /// Which object.
        object: PciRootObject,
        /// Its value.
        value: u64,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::RsdpChecksum => write!(f, "RSDP checksum is wrong (used anyway)"),
            Warning::XsdtUnusable { address } => {
                write!(f, "XSDT at {address:#x} is unusable, used the RSDT")
            }
            Warning::RootTableChecksum { signature } => {
                write!(f, "{signature} checksum is wrong (used anyway)")
            }
            Warning::TableUnreadable { address } => {
                write!(f, "root table entry {address:#x} is not readable, skipped")
            }
            Warning::TableLength { signature, length } => {
                write!(f, "{signature} has an impossible length {length}, ignored")
            }
            Warning::BadChecksum { signature } => {
                write!(f, "{signature} checksum is wrong, table ignored")
            }
            Warning::DuplicateTable { signature } => {
                write!(f, "second {signature} table ignored")
            }
            Warning::MalformedEntry {
                signature,
                offset,
                entry_type,
                length,
            } => write!(
                f,
                "{signature} entry at offset {offset} (type {entry_type}, length {length}) is \
                 malformed; it and the rest of the table ignored"
            ),
            Warning::ShortEntry {
                signature,
                offset,
                entry_type,
                length,
            } => write!(
                f,
                "{signature} entry at offset {offset} (type {entry_type}) is too short \
                 ({length} bytes), skipped"
            ),
            Warning::DuplicateApicId { apic_id } => {
                write!(f, "APIC id {apic_id} listed twice in the MADT, first kept")
            }
            Warning::CpuWithoutAffinity { apic_id } => {
                write!(f, "enabled CPU with APIC id {apic_id} has no SRAT entry")
            }
            Warning::InvalidMemoryRange { base, length } => write!(
                f,
                "SRAT memory range base {base:#x} length {length:#x} is invalid, skipped"
            ),
            Warning::InvalidSlit { localities } => write!(
                f,
                "SLIT with {localities} localities is inconsistent, default distances used"
            ),
            Warning::SlitMissingDomain { domain } => write!(
                f,
                "proximity domain {domain} is not in the SLIT, default distances used"
            ),
            Warning::InvalidEcamSegment {
                segment_group,
                bus_start,
                bus_end,
            } => write!(
                f,
                "MCFG segment {segment_group} has bus range {bus_start}..={bus_end}, skipped"
            ),
            Warning::DumpBadLine { line } => {
                write!(
                    f,
                    "acpidump line {line} is not a hex dump line, block dropped"
                )
            }
            Warning::DumpTruncatedTable {
                signature,
                declared,
                available,
            } => write!(
                f,
                "acpidump table {signature} has {available} bytes of {declared}, dropped"
            ),
            Warning::DumpDuplicateTable { signature } => {
                write!(
                    f,
                    "acpidump lists the same {signature} table twice, copy dropped"
                )
            }
            Warning::DsdtUnusable { address } => write!(
                f,
                "DSDT at {address:#x} is unusable: no _S5_ or PCI roots from it"
            ),
            Warning::Aml {
                signature,
                offset,
                problem,
            } => write!(
                f,
                "{signature} AML at offset {offset:#x}: {problem}; rest of the enclosing object \
                 skipped"
            ),
            Warning::AmlProblemsDropped { signature, count } => {
                write!(f, "{signature}: {count} more AML problems not reported")
            }
            Warning::S5Unusable => write!(
                f,
                "\\_S5_ is not a package of constant sleep types: no power-off information"
            ),
            Warning::NoPm1aControl => write!(
                f,
                "FADT has no PM1a control block: no power-off information"
            ),
            Warning::PciRootValueRange {
                path,
                object,
                value,
            } => write!(
                f,
                "{path}.{object} value {value:#x} is out of range, ignored"
            ),
        }
    }
}

/// Input from which no topology can be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopologyError {
    /// The RSDP address is not readable memory.
    RsdpUnreadable {
        /// The address given.
        address: u64,
    },
    /// No RSDP signature at the address given.
    RsdpSignature,
    /// The RSDP claims an impossible length.
    RsdpLength {
        /// The claimed length.
        length: u32,
    },
    /// Neither the XSDT nor the RSDT is usable.
    NoRootTable {
        /// What was found on the way.
        warnings: Vec<Warning>,
    },
    /// No usable MADT (missing, or every copy malformed: see the warnings).
    NoMadt {
        /// What was found on the way.
        warnings: Vec<Warning>,
    },
    /// The MADT lists no enabled processor.
    NoEnabledCpu {
        /// What was found on the way.
        warnings: Vec<Warning>,
    },
    /// The `acpidump` text holds no table at all.
    EmptyDump,
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let warnings = match self {
            TopologyError::RsdpUnreadable { address } => {
                return write!(f, "RSDP address {address:#x} is not readable")
            }
            TopologyError::RsdpSignature => return write!(f, "no RSDP signature"),
            TopologyError::RsdpLength { length } => {
                return write!(f, "RSDP length {length} is impossible")
            }
            TopologyError::EmptyDump => return write!(f, "the acpidump text holds no table"),
            TopologyError::NoRootTable { warnings } => {
                write!(f, "neither XSDT nor RSDT is usable")?;
                warnings
            }
            TopologyError::NoMadt { warnings } => {
                write!(f, "no usable MADT")?;
                warnings
            }
            TopologyError::NoEnabledCpu { warnings } => {
                write!(f, "the MADT lists no enabled processor")?;
                warnings
            }
        };
        for w in warnings {
            write!(f, "; {w}")?;
        }
        Ok(())
    }
}

/// The machine as the ACPI tables describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// Every MADT processor entry (enabled or not), in MADT order, without duplicate APIC ids.
    pub cpus: Vec<Cpu>,
    /// Sorted proximity domains that have an enabled CPU or an enabled memory range. `[0]`
    /// without an SRAT (when any CPU is enabled).
    pub nodes: Vec<u32>,
    /// Enabled SRAT memory ranges, sorted by base address. Empty without an SRAT: then the
    /// firmware memory map is all there is, all of it on node 0.
    pub memory: Vec<MemoryRange>,
    /// The SLIT when present and valid.
    pub slit: Option<Slit>,
    /// Whether a valid SRAT was found.
    pub has_srat: bool,
    /// How [`Cpu::package`] was determined.
    pub package_source: PackageSource,
    /// Local APIC physical address (MADT, or its 64-bit override entry).
    pub local_apic_address: u64,
    /// I/O APICs from the MADT.
    pub io_apics: Vec<IoApic>,
    /// ISA interrupt source overrides from the MADT.
    pub isa_overrides: Vec<IsaOverride>,
    /// The HPET, if there is a valid HPET table.
    pub hpet: Option<Hpet>,
    /// ECAM segments from the MCFG (empty without one).
    pub mcfg: Vec<EcamSegment>,
    /// How to power off (S5), when the FADT has a PM1a control block and the DSDT or an SSDT
    /// a usable `\_S5_` package.
    pub power_off: Option<SleepControl>,
    /// How to switch the chipset into ACPI mode, from the FADT; `None` without a FADT or when
    /// its SMI_CMD is 0 (the hardware is always in ACPI mode).
    pub acpi_enable: Option<AcpiEnable>,
    /// The FADT's reset register, when the FADT has one (address not 0); see
    /// [`ResetRegister::supported`].
    pub reset: Option<ResetRegister>,
    /// PCI host bridges (root buses) in namespace declaration order (DSDT, then SSDTs).
    pub pci_roots: Vec<PciRoot>,
    /// What was wrong in the tables and ignored.
    pub warnings: Vec<Warning>,
}

impl Topology {
    /// The enabled CPUs, in MADT order. These, and only these, may be started.
    pub fn enabled_cpus(&self) -> impl Iterator<Item = &Cpu> + '_ {
        self.cpus.iter().filter(|c| c.enabled)
    }

    /// Number of enabled CPUs.
    pub fn enabled_cpu_count(&self) -> usize {
        self.enabled_cpus().count()
    }

    /// The CPU with this APIC id.
    pub fn cpu_by_apic(&self, apic_id: u32) -> Option<&Cpu> {
        self.cpus.iter().find(|c| c.apic_id == apic_id)
    }

    /// The node (proximity domain) of the CPU with this APIC id, if known. `None` for an
    /// unknown APIC id, a disabled CPU, or an enabled CPU the SRAT forgot (then
    /// [`Warning::CpuWithoutAffinity`] was reported; the kernel picks a node itself).
    pub fn node_of_apic(&self, apic_id: u32) -> Option<u32> {
        self.cpu_by_apic(apic_id).and_then(|c| c.node)
    }

    /// The enabled CPUs of a node.
    pub fn cpus_of_node(&self, node: u32) -> impl Iterator<Item = &Cpu> + '_ {
        self.enabled_cpus().filter(move |c| c.node == Some(node))
    }

    /// The memory ranges of a node (none at all without an SRAT).
    pub fn memory_of_node(&self, node: u32) -> impl Iterator<Item = &MemoryRange> + '_ {
        self.memory.iter().filter(move |m| m.node == node)
    }

    /// The node a physical address belongs to, if an SRAT range holds it.
    pub fn node_of_address(&self, phys: u64) -> Option<u32> {
        self.memory
            .iter()
            .find(|m| m.base <= phys && phys - m.base < m.length)
            .map(|m| m.node)
    }

    /// Sorted, distinct package numbers of the enabled CPUs.
    pub fn packages(&self) -> Vec<u32> {
        let set: BTreeSet<u32> = self.enabled_cpus().filter_map(|c| c.package).collect();
        set.into_iter().collect()
    }

    /// Distance between proximity domains `a` and `b`: the SLIT's value when it covers both,
    /// otherwise the ACPI defaults (10 for `a == b`, 20 otherwise).
    pub fn distance(&self, a: u32, b: u32) -> u8 {
        match self.slit.as_ref().and_then(|s| s.get(a, b)) {
            Some(d) => d,
            None if a == b => 10,
            None => 20,
        }
    }

    /// Distance matrix indexed like [`Topology::nodes`]: `m[i][j] = distance(nodes[i], nodes[j])`.
    pub fn node_distances(&self) -> Vec<Vec<u8>> {
        self.nodes
            .iter()
            .map(|&a| self.nodes.iter().map(|&b| self.distance(a, b)).collect())
            .collect()
    }

    /// The topology as JSON: `enabled_cpus`, `nodes`, `cpus` (`apic_id`, `uid`, `enabled`,
    /// `online_capable`, `x2apic`, `node`, `package`), `package_source`, `memory` (`node`,
    /// `base`, `length`, `hotpluggable`, `non_volatile`), `distances` (the SLIT matrix by
    /// proximity domain, `[]` without a valid SLIT), `node_distances` (indexed like `nodes`,
    /// defaults filled in), `local_apic_address`, `io_apics`, `hpet` (or `null`), `mcfg`,
    /// `power_off`, `acpi_enable`, `reset` (each an object or `null`), `pci_roots` and
    /// `warnings` (messages). Numbers are plain JSON integers.
    pub fn to_json(&self) -> alloc::string::String {
        json::topology(self, None)
    }

    /// [`Topology::to_json`] with a leading `"source"` field naming where the tables came from.
    pub fn to_json_with_source(&self, source: &str) -> alloc::string::String {
        json::topology(self, Some(source))
    }
}
