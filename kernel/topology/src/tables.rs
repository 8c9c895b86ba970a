//! Decoding the MADT, SRAT, SLIT, HPET and MCFG, and putting them together with what the FADT
//! and the AML tables (DSDT, SSDTs) say about power-off, reset and PCI host bridges.
//!
//! The MADT is read with the `acpi` crate's entry iterator, after a bounds walk of our own:
//! that iterator loops forever on an entry of length 0 and hands out references past the end
//! of an entry that is shorter than its type, so it is only let run over the entries the walk
//! found sound. The SRAT and SLIT are decoded here from bytes (the `acpi` crate's SRAT entry
//! header has a 16-bit length where the specification has 8 bits, and its memory-affinity
//! length takes the high half from the base address).

use crate::discover::{locate_dsdt, Found, Located, HEADER_LEN};
use crate::phys::{self, AcpiHandler, PhysMemory};
use crate::{aml, fadt};
use crate::{
    AcpiEnable, Cpu, CpuHint, EcamSegment, Hpet, IoApic, MemoryRange, PackageSource, PciRoot,
    ResetRegister, SleepControl, Slit, TableSig, Topology, TopologyError, Warning,
};
use acpi::sdt::hpet::HpetTable;
use acpi::sdt::madt::{self, Madt, MadtEntry};
use acpi::sdt::mcfg::Mcfg;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::mem::size_of;

/// SRAT: header, then 4 reserved bytes (1 for compatibility) and 8 reserved bytes.
pub(crate) const SRAT_HEADER_LEN: usize = HEADER_LEN + 12;
/// SLIT: header, then the 8-byte number of localities.
pub(crate) const SLIT_HEADER_LEN: usize = HEADER_LEN + 8;

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(raw)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(raw)
}

/// One processor entry of the MADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MadtCpu {
    pub apic_id: u32,
    pub uid: u32,
    pub enabled: bool,
    pub online_capable: bool,
    pub x2apic: bool,
}

/// What the MADT says.
#[derive(Debug, Default)]
pub(crate) struct MadtInfo {
    pub cpus: Vec<MadtCpu>,
    pub local_apic_address: u64,
    pub io_apics: Vec<IoApic>,
    pub isa_overrides: Vec<crate::IsaOverride>,
}

/// The size the `acpi` crate's type for a MADT entry type needs, `None` for types it skips.
fn madt_entry_min_len(entry_type: u8) -> Option<usize> {
    Some(match entry_type {
        0x0 => size_of::<madt::LocalApicEntry>(),
        0x1 => size_of::<madt::IoApicEntry>(),
        0x2 => size_of::<madt::InterruptSourceOverrideEntry>(),
        0x3 => size_of::<madt::NmiSourceEntry>(),
        0x4 => size_of::<madt::LocalApicNmiEntry>(),
        0x5 => size_of::<madt::LocalApicAddressOverrideEntry>(),
        0x6 => size_of::<madt::IoSapicEntry>(),
        0x7 => size_of::<madt::LocalSapicEntry>(),
        0x8 => size_of::<madt::PlatformInterruptSourceEntry>(),
        0x9 => size_of::<madt::LocalX2ApicEntry>(),
        0xa => size_of::<madt::X2ApicNmiEntry>(),
        0xb => size_of::<madt::GiccEntry>(),
        0xc => size_of::<madt::GicdEntry>(),
        0xd => size_of::<madt::GicMsiFrameEntry>(),
        0xe => size_of::<madt::GicRedistributorEntry>(),
        0xf => size_of::<madt::GicInterruptTranslationServiceEntry>(),
        0x10 => size_of::<madt::MultiprocessorWakeupEntry>(),
        _ => return None,
    })
}

/// Walks the MADT entries as bytes. Returns how many entries of the types the `acpi` crate
/// decodes come before the first malformed entry (the iterator may be run for that many).
pub(crate) fn madt_sound_entries(bytes: &[u8], warnings: &mut Vec<Warning>) -> usize {
    let mut off = size_of::<Madt>();
    let mut known = 0;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let entry_type = rest[0];
        let length = rest.get(1).map_or(0, |&l| usize::from(l));
        let too_short = madt_entry_min_len(entry_type).map_or(length < 2, |min| length < min);
        if too_short || length > rest.len() {
            warnings.push(Warning::MalformedEntry {
                signature: TableSig::MADT,
                offset: off,
                entry_type,
                length,
            });
            break;
        }
        if madt_entry_min_len(entry_type).is_some() {
            known += 1;
        }
        off += length;
    }
    known
}

pub(crate) fn parse_madt<M: PhysMemory>(
    handler: &AcpiHandler<M>,
    loc: Located,
    warnings: &mut Vec<Warning>,
) -> Option<MadtInfo> {
    let mapping = phys::map::<M, Madt>(handler, loc.phys, loc.len)?;
    let bytes = phys::mapped_bytes(&mapping);
    let revision = bytes[8];
    let sound = madt_sound_entries(bytes, warnings);
    let mut info = MadtInfo {
        local_apic_address: u64::from(u32_at(bytes, HEADER_LEN)),
        ..MadtInfo::default()
    };
    // Bit 1 ("online capable") is defined from MADT revision 5 on, reserved before.
    let online_capable = |flags: u32| revision >= 5 && flags & 2 != 0;
    let mut push = |cpu: MadtCpu, warnings: &mut Vec<Warning>| {
        if info.cpus.iter().any(|c| c.apic_id == cpu.apic_id) {
            warnings.push(Warning::DuplicateApicId {
                apic_id: cpu.apic_id,
            });
        } else {
            info.cpus.push(cpu);
        }
    };
    for entry in mapping.get().entries().take(sound) {
        match entry {
            MadtEntry::LocalApic(e) => {
                let flags = e.flags;
                push(
                    MadtCpu {
                        apic_id: u32::from(e.apic_id),
                        uid: u32::from(e.processor_id),
                        enabled: flags & 1 != 0,
                        online_capable: online_capable(flags),
                        x2apic: false,
                    },
                    warnings,
                );
            }
            MadtEntry::LocalX2Apic(e) => {
                let (apic_id, flags, uid) = (e.x2apic_id, e.flags, e.processor_uid);
                // All-ones is "no processor here"; firmware fills unused slots with it.
                if apic_id != u32::MAX {
                    push(
                        MadtCpu {
                            apic_id,
                            uid,
                            enabled: flags & 1 != 0,
                            online_capable: online_capable(flags),
                            x2apic: true,
                        },
                        warnings,
                    );
                }
            }
            MadtEntry::IoApic(e) => info.io_apics.push(IoApic {
                id: e.io_apic_id,
                address: e.io_apic_address,
                gsi_base: e.global_system_interrupt_base,
            }),
            MadtEntry::InterruptSourceOverride(e) if e.bus == 0 => {
                info.isa_overrides.push(crate::IsaOverride {
                    irq: e.irq,
                    gsi: e.global_system_interrupt,
                    flags: e.flags,
                })
            }
            MadtEntry::LocalApicAddressOverride(e) => {
                info.local_apic_address = e.local_apic_address;
            }
            _ => {}
        }
    }
    Some(info)
}

/// One SRAT processor affinity entry (local APIC or x2APIC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CpuAffinity {
    pub apic_id: u32,
    pub domain: u32,
    pub enabled: bool,
}

/// One SRAT memory affinity entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemAffinity {
    pub domain: u32,
    pub base: u64,
    pub length: u64,
    pub flags: u32,
}

/// What the SRAT says.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SratInfo {
    pub cpus: Vec<CpuAffinity>,
    pub memory: Vec<MemAffinity>,
}

/// Decodes the SRAT (a whole table with a checked header and checksum).
pub(crate) fn parse_srat(bytes: &[u8], warnings: &mut Vec<Warning>) -> SratInfo {
    let sig = TableSig::SRAT;
    let revision = bytes.get(8).copied().unwrap_or(0);
    let mut info = SratInfo::default();
    let mut off = SRAT_HEADER_LEN;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let entry_type = rest[0];
        let length = rest.get(1).map_or(0, |&l| usize::from(l));
        if length < 2 || length > rest.len() {
            warnings.push(Warning::MalformedEntry {
                signature: sig,
                offset: off,
                entry_type,
                length,
            });
            break;
        }
        let e = &rest[..length];
        off += length;
        let need = match entry_type {
            0 => 16,
            1 => 40,
            2 => 24,
            _ => continue,
        };
        if length < need {
            warnings.push(Warning::ShortEntry {
                signature: sig,
                offset: off - length,
                entry_type,
                length,
            });
            continue;
        }
        match entry_type {
            0 => {
                // Processor local APIC affinity. Bits 8..32 of the domain are defined from
                // SRAT revision 2 on.
                let mut domain = u32::from(e[2]);
                if revision >= 2 {
                    domain |=
                        u32::from(e[9]) << 8 | u32::from(e[10]) << 16 | u32::from(e[11]) << 24;
                }
                info.cpus.push(CpuAffinity {
                    apic_id: u32::from(e[3]),
                    domain,
                    enabled: u32_at(e, 4) & 1 != 0,
                });
            }
            1 => {
                // Memory affinity. Only the low byte of the domain counts before revision 2.
                let mut domain = u32_at(e, 2);
                if revision < 2 {
                    domain &= 0xff;
                }
                info.memory.push(MemAffinity {
                    domain,
                    base: u64_at(e, 8),
                    length: u64_at(e, 16),
                    flags: u32_at(e, 28),
                });
            }
            _ => {
                // Processor local x2APIC affinity.
                info.cpus.push(CpuAffinity {
                    apic_id: u32_at(e, 8),
                    domain: u32_at(e, 4),
                    enabled: u32_at(e, 12) & 1 != 0,
                });
            }
        }
    }
    info
}

/// Decodes and checks the SLIT (a whole table with a checked header and checksum). Follows
/// the rule Linux applies: every diagonal entry is 10 and no other entry is 10 or less.
pub(crate) fn parse_slit(bytes: &[u8], warnings: &mut Vec<Warning>) -> Option<Slit> {
    let localities = u64_at(bytes, HEADER_LEN);
    let size = usize::try_from(localities)
        .ok()
        .and_then(|n| n.checked_mul(n).map(|sq| (n, sq)));
    let Some((n, entries)) = size.filter(|&(n, sq)| {
        n > 0
            && SLIT_HEADER_LEN
                .checked_add(sq)
                .is_some_and(|end| end <= bytes.len())
    }) else {
        warnings.push(Warning::InvalidSlit { localities });
        return None;
    };
    let matrix = &bytes[SLIT_HEADER_LEN..SLIT_HEADER_LEN + entries];
    let consistent = matrix.iter().enumerate().all(|(k, &d)| {
        let (i, j) = (k / n, k % n);
        if i == j {
            d == 10
        } else {
            d > 10
        }
    });
    if !consistent {
        warnings.push(Warning::InvalidSlit { localities });
        return None;
    }
    Some(Slit {
        localities: n,
        entries: matrix.to_vec(),
    })
}

pub(crate) fn parse_hpet<M: PhysMemory>(handler: &AcpiHandler<M>, loc: Located) -> Option<Hpet> {
    let table = phys::map::<M, HpetTable>(handler, loc.phys, loc.len)?;
    let id = table.event_timer_block_id;
    let base = table.base_address;
    Some(Hpet {
        base_address: base.address,
        address_space: base.address_space,
        hpet_number: table.hpet_number,
        comparators: ((id >> 8) & 0x1f) as u8 + 1,
        counter_64bit: id & (1 << 13) != 0,
        legacy_replacement: id & (1 << 15) != 0,
        pci_vendor_id: (id >> 16) as u16,
        min_tick: table.clock_tick_unit,
    })
}

pub(crate) fn parse_mcfg<M: PhysMemory>(
    handler: &AcpiHandler<M>,
    loc: Located,
    warnings: &mut Vec<Warning>,
) -> Vec<EcamSegment> {
    let Some(table) = phys::map::<M, Mcfg>(handler, loc.phys, loc.len) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in table.entries() {
        let seg = EcamSegment {
            base_address: e.base_address,
            segment_group: e.pci_segment_group,
            bus_start: e.bus_number_start,
            bus_end: e.bus_number_end,
        };
        if seg.bus_end < seg.bus_start {
            warnings.push(Warning::InvalidEcamSegment {
                segment_group: seg.segment_group,
                bus_start: seg.bus_start,
                bus_end: seg.bus_end,
            });
        } else {
            out.push(seg);
        }
    }
    out
}

/// Maps a located table and hands its bytes to `f`.
fn with_bytes<M: PhysMemory, R>(
    handler: &AcpiHandler<M>,
    loc: Located,
    f: impl FnOnce(&[u8]) -> R,
) -> Option<R> {
    let mapping = phys::map::<M, u8>(handler, loc.phys, loc.len)?;
    Some(f(phys::mapped_bytes(&mapping)))
}

/// Puts the decoded tables together.
pub(crate) fn build<M: PhysMemory>(
    handler: &AcpiHandler<M>,
    found: &Found,
    hint: CpuHint,
    mut warnings: Vec<Warning>,
) -> Result<Topology, TopologyError> {
    let Some(madt) = found
        .madt
        .and_then(|loc| parse_madt(handler, loc, &mut warnings))
    else {
        return Err(TopologyError::NoMadt { warnings });
    };
    let srat = found
        .srat
        .and_then(|loc| with_bytes(handler, loc, |b| parse_srat(b, &mut warnings)));
    let slit = found
        .slit
        .and_then(|loc| with_bytes(handler, loc, |b| parse_slit(b, &mut warnings)))
        .flatten();
    let hpet = found.hpet.and_then(|loc| parse_hpet(handler, loc));
    let mcfg = found
        .mcfg
        .map(|loc| parse_mcfg(handler, loc, &mut warnings))
        .unwrap_or_default();
    let power = power_and_pci(handler, found, &mut warnings);
    let mut topology = assemble(madt, srat, slit, hpet, mcfg, hint, warnings)?;
    topology.power_off = power.power_off;
    topology.acpi_enable = power.acpi_enable;
    topology.reset = power.reset;
    topology.pci_roots = power.pci_roots;
    Ok(topology)
}

/// What the FADT and the AML tables give.
#[derive(Debug, Default)]
pub(crate) struct PowerAndPci {
    pub power_off: Option<SleepControl>,
    pub acpi_enable: Option<AcpiEnable>,
    pub reset: Option<ResetRegister>,
    pub pci_roots: Vec<PciRoot>,
}

/// Reads the FADT, finds the DSDT through it, and scans the DSDT and the SSDTs.
fn power_and_pci<M: PhysMemory>(
    handler: &AcpiHandler<M>,
    found: &Found,
    warnings: &mut Vec<Warning>,
) -> PowerAndPci {
    let fadt = found
        .fadt
        .and_then(|loc| with_bytes(handler, loc, fadt::parse));
    let dsdt = fadt.and_then(|f| locate_dsdt(handler, f.dsdt, warnings));
    // Map every AML table (mapping is free: memory is mapped already), DSDT first.
    let maps: Vec<_> = dsdt
        .iter()
        .map(|&loc| (TableSig::DSDT, loc))
        .chain(found.ssdts.iter().map(|&loc| (TableSig::SSDT, loc)))
        .filter_map(|(sig, loc)| Some((sig, phys::map::<M, u8>(handler, loc.phys, loc.len)?)))
        .collect();
    let tables: Vec<(TableSig, &[u8])> = maps
        .iter()
        .map(|(sig, m)| (*sig, phys::mapped_bytes(m)))
        .collect();
    let (namespace, mut aml_warnings) = aml::scan(&tables);
    warnings.append(&mut aml_warnings);
    let pci_roots = namespace.pci_roots(warnings);
    let s5 = match namespace.s5() {
        Ok(s5) => s5,
        Err(()) => {
            warnings.push(Warning::S5Unusable);
            None
        }
    };
    let Some(fadt) = fadt else {
        return PowerAndPci {
            pci_roots,
            ..PowerAndPci::default()
        };
    };
    if fadt.pm1a_control.is_none() && !fadt.hardware_reduced {
        warnings.push(Warning::NoPm1aControl);
    }
    let power_off = fadt
        .pm1a_control
        .zip(s5)
        .map(|(pm1a_control, (slp_typ_a, slp_typ_b))| SleepControl {
            pm1a_control,
            pm1b_control: fadt.pm1b_control,
            slp_typ_a,
            slp_typ_b,
        });
    PowerAndPci {
        power_off,
        acpi_enable: fadt.acpi_enable,
        reset: fadt.reset,
        pci_roots,
    }
}

/// The topology from decoded tables.
pub(crate) fn assemble(
    madt: MadtInfo,
    srat: Option<SratInfo>,
    slit: Option<Slit>,
    hpet: Option<Hpet>,
    mcfg: Vec<EcamSegment>,
    hint: CpuHint,
    mut warnings: Vec<Warning>,
) -> Result<Topology, TopologyError> {
    if !madt.cpus.iter().any(|c| c.enabled) {
        return Err(TopologyError::NoEnabledCpu { warnings });
    }
    let has_srat = srat.is_some();
    let package_source = match hint.package_shift {
        Some(shift) => PackageSource::Cpuid { shift },
        None => PackageSource::ProximityDomain,
    };

    let cpus: Vec<Cpu> = madt
        .cpus
        .iter()
        .map(|c| {
            let node = match &srat {
                Some(srat) => srat
                    .cpus
                    .iter()
                    .find(|a| a.enabled && a.apic_id == c.apic_id)
                    .map(|a| a.domain),
                None => c.enabled.then_some(0),
            };
            if c.enabled && node.is_none() {
                warnings.push(Warning::CpuWithoutAffinity { apic_id: c.apic_id });
            }
            let package = match hint.package_shift {
                Some(shift) => Some(c.apic_id.checked_shr(shift).unwrap_or(0)),
                None => node,
            };
            Cpu {
                apic_id: c.apic_id,
                uid: c.uid,
                enabled: c.enabled,
                online_capable: c.online_capable,
                x2apic: c.x2apic,
                node,
                package,
            }
        })
        .collect();

    let mut memory = Vec::new();
    for m in srat.iter().flat_map(|s| s.memory.iter()) {
        if m.flags & 1 == 0 {
            continue;
        }
        if m.length == 0 || m.base.checked_add(m.length).is_none() {
            warnings.push(Warning::InvalidMemoryRange {
                base: m.base,
                length: m.length,
            });
            continue;
        }
        memory.push(MemoryRange {
            node: m.domain,
            base: m.base,
            length: m.length,
            hotpluggable: m.flags & 2 != 0,
            non_volatile: m.flags & 4 != 0,
        });
    }
    memory.sort_by_key(|m| (m.base, m.node));

    let nodes: BTreeSet<u32> = cpus
        .iter()
        .filter(|c| c.enabled)
        .filter_map(|c| c.node)
        .chain(memory.iter().map(|m| m.node))
        .collect();
    let nodes: Vec<u32> = nodes.into_iter().collect();
    if let Some(slit) = &slit {
        for &n in &nodes {
            if n as usize >= slit.localities {
                warnings.push(Warning::SlitMissingDomain { domain: n });
            }
        }
    }

    Ok(Topology {
        cpus,
        nodes,
        memory,
        slit,
        has_srat,
        package_source,
        local_apic_address: madt.local_apic_address,
        io_apics: madt.io_apics,
        isa_overrides: madt.isa_overrides,
        hpet,
        mcfg,
        power_off: None,
        acpi_enable: None,
        reset: None,
        pci_roots: Vec::new(),
        warnings,
    })
}
