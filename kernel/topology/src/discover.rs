//! Table discovery: RSDP, then the XSDT (or RSDT), then the tables this crate reads (every
//! SSDT among them); the DSDT, which no root table lists, through the FADT.
//!
//! The `acpi` crate's `AcpiTables` is not used for the walk itself: it trusts every length and
//! pointer it finds (a corrupt RSDP length or table length makes it read past the mapping), and
//! it reads XSDT entries by dereferencing `*const u64` pointers that are misaligned whenever
//! the XSDT is 8-byte aligned (undefined behaviour in Rust, even though x86 tolerates it). So
//! the walk here checks each range before mapping it and reads the root table entries as
//! bytes; the `acpi` crate's `Rsdp` and `SdtHeader` types and `Rsdp::validate` do the
//! decoding.

use crate::fadt;
use crate::phys::{self, AcpiHandler, PhysMemory};
use crate::tables;
use crate::{CpuHint, TableSig, Topology, TopologyError, Warning, MAX_TABLE_LEN};
use acpi::rsdp::Rsdp;
use acpi::sdt::SdtHeader;
use acpi::AcpiError;
use alloc::vec::Vec;
use core::mem::size_of;

/// Size of the common table header.
pub(crate) const HEADER_LEN: usize = size_of::<SdtHeader>();

/// Physical location of one table that passed the length and checksum checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Located {
    pub phys: u64,
    pub len: usize,
}

/// The first valid instance of each table this crate reads, and every valid SSDT.
#[derive(Default, Debug)]
pub(crate) struct Found {
    pub madt: Option<Located>,
    pub srat: Option<Located>,
    pub slit: Option<Located>,
    pub hpet: Option<Located>,
    pub mcfg: Option<Located>,
    pub fadt: Option<Located>,
    /// SSDTs in root table order (there may be any number).
    pub ssdts: Vec<Located>,
}

/// Builds the topology from the firmware's tables (the kernel's entry point).
///
/// `mem` gives read access to physical memory; with all of it mapped at an offset that is
/// `unsafe { OffsetMapped::new(phys_offset, phys_end) }`. `rsdp_phys` is the RSDP's physical
/// address as the bootloader reports it. `hint` carries what CPUID says about packages.
///
/// Malformed tables are ignored and listed in [`Topology::warnings`]; the function never
/// panics on bad table contents.
pub fn from_rsdp<M: PhysMemory>(
    mem: M,
    rsdp_phys: u64,
    hint: CpuHint,
) -> Result<Topology, TopologyError> {
    let handler = AcpiHandler { mem };
    let mut warnings = Vec::new();
    let root = find_root(&handler, rsdp_phys, &mut warnings)?;
    let found = collect_tables(&handler, &root, &mut warnings);
    tables::build(&handler, &found, hint, warnings)
}

/// The root table: where it is, how long, and how wide its entries are.
struct Root {
    phys: u64,
    len: usize,
    entry_size: usize,
}

fn find_root<M: PhysMemory>(
    handler: &AcpiHandler<M>,
    rsdp_phys: u64,
    warnings: &mut Vec<Warning>,
) -> Result<Root, TopologyError> {
    let unreadable = TopologyError::RsdpUnreadable { address: rsdp_phys };
    let first = phys::map::<M, Rsdp>(handler, rsdp_phys, size_of::<Rsdp>()).ok_or(unreadable)?;
    if first.signature() != *b"RSD PTR " {
        return Err(TopologyError::RsdpSignature);
    }
    let revision = first.revision();
    let rsdt_address = first.rsdt_address();
    let (xsdt_address, length) = if revision > 0 {
        (first.xsdt_address(), first.length())
    } else {
        (0, 20)
    };
    drop(first);
    // `Rsdp::validate` sums `length` bytes, so that many must be mapped.
    if revision > 0 && !(20..=4096).contains(&length) {
        return Err(TopologyError::RsdpLength { length });
    }
    let map_len = size_of::<Rsdp>().max(length as usize);
    let rsdp = phys::map::<M, Rsdp>(handler, rsdp_phys, map_len)
        .ok_or(TopologyError::RsdpUnreadable { address: rsdp_phys })?;
    match rsdp.validate() {
        Ok(()) | Err(AcpiError::RsdpInvalidOemId) => {}
        Err(AcpiError::RsdpIncorrectSignature) => return Err(TopologyError::RsdpSignature),
        Err(_) => warnings.push(Warning::RsdpChecksum),
    }
    drop(rsdp);

    if revision > 0 {
        if let Some(len) = check_root(handler, xsdt_address, TableSig::XSDT, warnings) {
            return Ok(Root {
                phys: xsdt_address,
                len,
                entry_size: 8,
            });
        }
        warnings.push(Warning::XsdtUnusable {
            address: xsdt_address,
        });
    }
    match check_root(handler, u64::from(rsdt_address), TableSig::RSDT, warnings) {
        Some(len) => Ok(Root {
            phys: u64::from(rsdt_address),
            len,
            entry_size: 4,
        }),
        None => Err(TopologyError::NoRootTable {
            warnings: core::mem::take(warnings),
        }),
    }
}

/// Checks a root table's header; returns its length when it is usable.
fn check_root<M: PhysMemory>(
    handler: &AcpiHandler<M>,
    phys: u64,
    sig: TableSig,
    warnings: &mut Vec<Warning>,
) -> Option<usize> {
    if phys == 0 {
        return None;
    }
    let (found_sig, len) = read_header(handler, phys)?;
    if found_sig != sig || !(HEADER_LEN..=MAX_TABLE_LEN as usize).contains(&len) {
        return None;
    }
    let table = phys::map::<M, u8>(handler, phys, len)?;
    if checksum(phys::mapped_bytes(&table)) != 0 {
        warnings.push(Warning::RootTableChecksum { signature: sig });
    }
    Some(len)
}

/// Reads a table header at `phys`: its signature and claimed length.
fn read_header<M: PhysMemory>(handler: &AcpiHandler<M>, phys: u64) -> Option<(TableSig, usize)> {
    let header = phys::map::<M, SdtHeader>(handler, phys, HEADER_LEN)?;
    let bytes = phys::mapped_bytes(&header);
    let sig = TableSig([bytes[0], bytes[1], bytes[2], bytes[3]]);
    Some((sig, header.length() as usize))
}

/// Sum of the bytes, mod 256: 0 for a table with a correct checksum.
pub(crate) fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// The smallest valid length of each table this crate reads (its fixed part).
fn min_len(sig: TableSig) -> Option<usize> {
    Some(match sig {
        TableSig::MADT => size_of::<acpi::sdt::madt::Madt>(),
        TableSig::SRAT => tables::SRAT_HEADER_LEN,
        TableSig::SLIT => tables::SLIT_HEADER_LEN,
        TableSig::HPET => size_of::<acpi::sdt::hpet::HpetTable>(),
        TableSig::MCFG => size_of::<acpi::sdt::mcfg::Mcfg>(),
        TableSig::FADT => fadt::MIN_LEN,
        TableSig::SSDT => HEADER_LEN,
        _ => return None,
    })
}

fn collect_tables<M: PhysMemory>(
    handler: &AcpiHandler<M>,
    root: &Root,
    warnings: &mut Vec<Warning>,
) -> Found {
    let mut found = Found::default();
    let Some(root_map) = phys::map::<M, u8>(handler, root.phys, root.len) else {
        return found;
    };
    let entries = &phys::mapped_bytes(&root_map)[HEADER_LEN..];
    let mut seen: Vec<u64> = Vec::new();
    for entry in entries.chunks_exact(root.entry_size) {
        let mut raw = [0u8; 8];
        raw[..entry.len()].copy_from_slice(entry);
        let address = u64::from_le_bytes(raw);
        if seen.contains(&address) {
            continue;
        }
        seen.push(address);
        let Some((sig, len)) = (address != 0)
            .then(|| read_header(handler, address))
            .flatten()
        else {
            warnings.push(Warning::TableUnreadable { address });
            continue;
        };
        let Some(min) = min_len(sig) else {
            continue;
        };
        let length_ok = (min..=MAX_TABLE_LEN as usize).contains(&len);
        let Some(table) = length_ok
            .then(|| phys::map::<M, u8>(handler, address, len))
            .flatten()
        else {
            warnings.push(Warning::TableLength {
                signature: sig,
                length: len as u32,
            });
            continue;
        };
        if checksum(phys::mapped_bytes(&table)) != 0 {
            warnings.push(Warning::BadChecksum { signature: sig });
            continue;
        }
        let slot = match sig {
            TableSig::SSDT => {
                found.ssdts.push(Located { phys: address, len });
                continue;
            }
            TableSig::MADT => &mut found.madt,
            TableSig::SRAT => &mut found.srat,
            TableSig::SLIT => &mut found.slit,
            TableSig::HPET => &mut found.hpet,
            TableSig::FADT => &mut found.fadt,
            _ => &mut found.mcfg,
        };
        if slot.is_some() {
            warnings.push(Warning::DuplicateTable { signature: sig });
        } else {
            *slot = Some(Located { phys: address, len });
        }
    }
    found
}

/// The DSDT at the address the FADT gives: `None`, with a warning, unless it is readable, says
/// `DSDT`, has a possible length and a correct checksum.
pub(crate) fn locate_dsdt<M: PhysMemory>(
    handler: &AcpiHandler<M>,
    address: u64,
    warnings: &mut Vec<Warning>,
) -> Option<Located> {
    let unusable = Warning::DsdtUnusable { address };
    let Some((sig, len)) = (address != 0)
        .then(|| read_header(handler, address))
        .flatten()
    else {
        warnings.push(unusable);
        return None;
    };
    let Some(table) = (sig == TableSig::DSDT
        && (HEADER_LEN..=MAX_TABLE_LEN as usize).contains(&len))
    .then(|| phys::map::<M, u8>(handler, address, len))
    .flatten() else {
        warnings.push(unusable);
        return None;
    };
    if checksum(phys::mapped_bytes(&table)) != 0 {
        warnings.push(Warning::BadChecksum { signature: sig });
        return None;
    }
    Some(Located { phys: address, len })
}
