//! Unit tests: hand-built tables (well-formed and malformed) laid out in synthetic images, the
//! kernel's `OffsetMapped` path, the FADT and the DSDT found through it, power-off and PCI
//! roots of the real dumps, and fixed-seed fuzz loops over mutated real dumps.

use crate::acpidump::{dsdt_table, fix_checksum, parse, xsdt_tables, Image};
use crate::aml_tests::{
    byte, device, dsdt, dual, eisa_pnp0a03, eisa_pnp0a08, hid_pci, name, package, scope, ssdt,
};
use crate::{
    from_acpidump_text, from_rsdp, AcpiEnable, AcpiRegister, AmlProblem, CpuHint, OffsetMapped,
    PackageSource, PciRoot, PhysMemory, ResetRegister, SleepControl, SliceMemory, TableSig,
    Topology, TopologyError, Warning,
};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use std::panic;

/// A table: header with `sig` and `revision`, then `body`, checksum fixed.
fn table(sig: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 36];
    t[0..4].copy_from_slice(sig);
    t[8] = revision;
    t[10..16].copy_from_slice(b"TESTID");
    t[16..24].copy_from_slice(b"UNITTEST");
    t.extend_from_slice(body);
    let len = t.len() as u32;
    t[4..8].copy_from_slice(&len.to_le_bytes());
    fix_checksum(&mut t);
    t
}

fn madt(revision: u8, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    for e in entries {
        body.extend_from_slice(e);
    }
    table(b"APIC", revision, &body)
}

fn lapic(uid: u8, apic_id: u8, flags: u32) -> Vec<u8> {
    let mut e = vec![0, 8, uid, apic_id];
    e.extend_from_slice(&flags.to_le_bytes());
    e
}

fn x2apic(x2apic_id: u32, uid: u32, flags: u32) -> Vec<u8> {
    let mut e = vec![9, 16, 0, 0];
    e.extend_from_slice(&x2apic_id.to_le_bytes());
    e.extend_from_slice(&flags.to_le_bytes());
    e.extend_from_slice(&uid.to_le_bytes());
    e
}

fn srat(revision: u8, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![0u8; 12];
    body[0] = 1;
    for e in entries {
        body.extend_from_slice(e);
    }
    table(b"SRAT", revision, &body)
}

fn srat_cpu(apic_id: u8, domain: u32, enabled: bool) -> Vec<u8> {
    let d = domain.to_le_bytes();
    let mut e = vec![0, 16, d[0], apic_id];
    e.extend_from_slice(&u32::from(enabled).to_le_bytes());
    e.extend_from_slice(&[0, d[1], d[2], d[3]]);
    e.extend_from_slice(&[0; 4]);
    e
}

fn srat_x2(x2apic_id: u32, domain: u32, enabled: bool) -> Vec<u8> {
    let mut e = vec![2, 24, 0, 0];
    e.extend_from_slice(&domain.to_le_bytes());
    e.extend_from_slice(&x2apic_id.to_le_bytes());
    e.extend_from_slice(&u32::from(enabled).to_le_bytes());
    e.extend_from_slice(&[0; 8]);
    e
}

fn srat_mem(domain: u32, base: u64, length: u64, flags: u32) -> Vec<u8> {
    let mut e = vec![1, 40];
    e.extend_from_slice(&domain.to_le_bytes());
    e.extend_from_slice(&[0; 2]);
    e.extend_from_slice(&base.to_le_bytes());
    e.extend_from_slice(&length.to_le_bytes());
    e.extend_from_slice(&[0; 4]);
    e.extend_from_slice(&flags.to_le_bytes());
    e.extend_from_slice(&[0; 8]);
    e
}

fn slit(n: u64, matrix: &[u8]) -> Vec<u8> {
    let mut body = n.to_le_bytes().to_vec();
    body.extend_from_slice(matrix);
    table(b"SLIT", 1, &body)
}

fn hpet(base: u64) -> Vec<u8> {
    let mut body = 0x8086_a201u32.to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0x40, 0, 0]);
    body.extend_from_slice(&base.to_le_bytes());
    body.push(0);
    body.extend_from_slice(&0x80u16.to_le_bytes());
    body.push(0);
    table(b"HPET", 1, &body)
}

fn mcfg(segments: &[(u64, u16, u8, u8)]) -> Vec<u8> {
    let mut body = vec![0u8; 8];
    for &(base, seg, start, end) in segments {
        body.extend_from_slice(&base.to_le_bytes());
        body.extend_from_slice(&seg.to_le_bytes());
        body.extend_from_slice(&[start, end, 0, 0, 0, 0]);
    }
    table(b"MCFG", 1, &body)
}

fn run(tables: &[Vec<u8>]) -> Result<Topology, TopologyError> {
    let image = Image::build(tables);
    from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE)
}

fn ok(tables: &[Vec<u8>]) -> Topology {
    run(tables).unwrap_or_else(|e| panic!("expected a topology, got {e}"))
}

/// Four enabled CPUs on two domains, one disabled; two memory ranges; a 2x2 SLIT.
fn two_node_tables() -> Vec<Vec<u8>> {
    vec![
        madt(
            3,
            &[
                lapic(1, 0, 1),
                lapic(2, 1, 1),
                lapic(3, 2, 1),
                lapic(4, 3, 1),
                lapic(5, 9, 0),
            ],
        ),
        srat(
            2,
            &[
                srat_cpu(0, 0, true),
                srat_cpu(1, 0, true),
                srat_cpu(2, 1, true),
                srat_cpu(3, 1, true),
                srat_mem(0, 0, 0x8000_0000, 1),
                srat_mem(1, 0x1_0000_0000, 0x8000_0000, 3),
                srat_mem(0, 0, 0, 0),
            ],
        ),
        slit(2, &[10, 21, 21, 10]),
        hpet(0xfed0_0000),
        mcfg(&[(0xe000_0000, 0, 0, 255)]),
    ]
}

#[test]
fn well_formed_two_nodes() {
    let t = ok(&two_node_tables());
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    assert_eq!(t.enabled_cpu_count(), 4);
    assert_eq!(t.cpus.len(), 5);
    assert_eq!(t.nodes, [0, 1]);
    assert_eq!(t.node_of_apic(2), Some(1));
    assert_eq!(t.node_of_apic(9), None, "disabled CPU without affinity");
    assert_eq!(t.memory.len(), 2);
    assert!(t.memory[1].hotpluggable);
    assert_eq!(t.memory_of_node(1).count(), 1);
    assert_eq!(t.node_of_address(0x1_2345_0000), Some(1));
    assert_eq!(t.distance(0, 1), 21);
    assert_eq!(t.node_distances(), vec![vec![10, 21], vec![21, 10]]);
    assert_eq!(t.hpet.map(|h| h.base_address), Some(0xfed0_0000));
    assert_eq!(t.hpet.map(|h| h.comparators), Some(3));
    assert_eq!(t.mcfg.len(), 1);
    assert_eq!(t.mcfg[0].bus_end, 255);
    assert_eq!(t.local_apic_address, 0xfee0_0000);
    assert_eq!(t.packages(), [0, 1]);
    assert_eq!(t.package_source, PackageSource::ProximityDomain);
    assert!(t.has_srat);
}

#[test]
fn kernel_path_through_offset_mapping() {
    let image = Image::build(&two_node_tables());
    let bytes = image.bytes();
    // SAFETY: physical address p of the image is readable at bytes.as_ptr() + p for every
    // p < bytes.len(), for as long as `image` lives, which outlives the call.
    let mem = unsafe { OffsetMapped::new(bytes.as_ptr() as u64, bytes.len() as u64) };
    assert!(!mem.is_readable(bytes.len() as u64 - 4, 8));
    assert!(!mem.is_readable(u64::MAX - 2, 8));
    let t = from_rsdp(mem, image.rsdp_address(), CpuHint::with_package_shift(1)).unwrap();
    assert_eq!(t, {
        let mut s = from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE).unwrap();
        s.package_source = PackageSource::Cpuid { shift: 1 };
        for c in &mut s.cpus {
            c.package = Some(c.apic_id >> 1);
        }
        s
    });
}

#[test]
fn no_srat_no_slit_is_one_node() {
    let t = ok(&[madt(1, &[lapic(1, 0, 1), lapic(2, 1, 1), lapic(3, 7, 0)])]);
    assert!(t.warnings.is_empty());
    assert!(!t.has_srat);
    assert_eq!(t.nodes, [0]);
    assert_eq!(t.cpus_of_node(0).count(), 2);
    assert_eq!(t.cpus[2].node, None, "disabled CPUs get no node");
    assert!(t.memory.is_empty());
    assert!(t.slit.is_none());
    assert_eq!(t.distance(0, 0), 10);
    assert_eq!(t.node_distances(), vec![vec![10]]);
    assert!(t.hpet.is_none());
    assert!(t.mcfg.is_empty());
}

#[test]
fn srat_without_slit_uses_default_distances() {
    let mut tables = two_node_tables();
    tables.remove(2);
    let t = ok(&tables);
    assert!(t.slit.is_none());
    assert_eq!(t.node_distances(), vec![vec![10, 20], vec![20, 10]]);
    let json: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(json["distances"], serde_json::json!([]));
    assert_eq!(
        json["node_distances"],
        serde_json::json!([[10, 20], [20, 10]])
    );
}

#[test]
fn bad_checksum_srat_is_ignored() {
    let mut tables = two_node_tables();
    tables[1][9] ^= 0x55;
    let t = ok(&tables);
    assert_eq!(
        t.warnings,
        [Warning::BadChecksum {
            signature: TableSig::SRAT
        }]
    );
    assert!(!t.has_srat);
    assert_eq!(t.nodes, [0]);
    assert!(t.memory.is_empty());
}

#[test]
fn bad_checksum_madt_is_an_error() {
    let mut tables = two_node_tables();
    tables[0][40] ^= 1;
    match run(&tables) {
        Err(TopologyError::NoMadt { warnings }) => {
            assert_eq!(
                warnings,
                [Warning::BadChecksum {
                    signature: TableSig::MADT
                }]
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_madt_is_an_error() {
    let mut tables = two_node_tables();
    tables.remove(0);
    assert!(matches!(run(&tables), Err(TopologyError::NoMadt { .. })));
    assert!(matches!(run(&[]), Err(TopologyError::NoMadt { .. })));
}

#[test]
fn no_enabled_cpu_is_an_error() {
    let r = run(&[madt(1, &[lapic(1, 0, 0)])]);
    assert!(
        matches!(r, Err(TopologyError::NoEnabledCpu { .. })),
        "{r:?}"
    );
}

#[test]
fn table_length_past_memory_is_ignored() {
    let mut tables = two_node_tables();
    // The SLIT goes last and claims far more bytes than the image holds.
    let mut s = tables.remove(2);
    s[4..8].copy_from_slice(&100_000u32.to_le_bytes());
    tables.push(s);
    let t = ok(&tables);
    assert_eq!(
        t.warnings,
        [Warning::TableLength {
            signature: TableSig::SLIT,
            length: 100_000
        }]
    );
    assert!(t.slit.is_none());
}

#[test]
fn table_length_shorter_than_fixed_part_is_ignored() {
    let mut tables = two_node_tables();
    let mut h = table(b"HPET", 1, &[0; 4]);
    fix_checksum(&mut h);
    tables[3] = h;
    let t = ok(&tables);
    assert_eq!(
        t.warnings,
        [Warning::TableLength {
            signature: TableSig::HPET,
            length: 40
        }]
    );
    assert!(t.hpet.is_none());
}

#[test]
fn madt_entry_with_zero_length_stops_the_walk() {
    let t = ok(&[madt(
        1,
        &[
            lapic(1, 0, 1),
            lapic(2, 1, 1),
            vec![0, 0, 0, 0],
            lapic(3, 2, 1),
        ],
    )]);
    assert_eq!(t.cpus.len(), 2);
    assert_eq!(
        t.warnings,
        [Warning::MalformedEntry {
            signature: TableSig::MADT,
            offset: 60,
            entry_type: 0,
            length: 0
        }]
    );
}

#[test]
fn madt_entry_overrunning_the_table_is_ignored() {
    let mut long = lapic(2, 1, 1);
    long[1] = 200;
    let t = ok(&[madt(1, &[lapic(1, 0, 1), long])]);
    assert_eq!(t.cpus.len(), 1);
    assert!(matches!(
        t.warnings[..],
        [Warning::MalformedEntry { length: 200, .. }]
    ));
}

#[test]
fn madt_entry_shorter_than_its_type_is_ignored() {
    let mut short = lapic(2, 1, 1);
    short[1] = 4;
    short.truncate(4);
    let t = ok(&[madt(1, &[lapic(1, 0, 1), short, lapic(3, 2, 1)])]);
    assert_eq!(t.cpus.len(), 1);
    assert!(matches!(
        t.warnings[..],
        [Warning::MalformedEntry {
            entry_type: 0,
            length: 4,
            ..
        }]
    ));
}

#[test]
fn madt_reserved_and_oem_entries_are_skipped() {
    let t = ok(&[madt(
        1,
        &[
            vec![0x7f, 3, 0],
            lapic(1, 0, 1),
            vec![0x80, 2],
            lapic(2, 1, 1),
        ],
    )]);
    assert!(t.warnings.is_empty());
    assert_eq!(t.cpus.len(), 2);
}

#[test]
fn madt_trailing_byte_is_reported() {
    let mut m = madt(1, &[lapic(1, 0, 1)]);
    m.push(0);
    let len = m.len() as u32;
    m[4..8].copy_from_slice(&len.to_le_bytes());
    fix_checksum(&mut m);
    let t = ok(&[m]);
    assert_eq!(t.cpus.len(), 1);
    assert_eq!(t.warnings.len(), 1);
}

#[test]
fn x2apic_entries_and_duplicates() {
    let t = ok(&[
        madt(
            5,
            &[
                lapic(1, 0, 1),
                x2apic(0, 1, 1),
                x2apic(300, 2, 1),
                x2apic(301, 3, 2),
                x2apic(u32::MAX, 4, 1),
            ],
        ),
        srat(
            3,
            &[
                srat_cpu(0, 0, true),
                srat_x2(300, 70_000, true),
                srat_x2(301, 70_000, false),
            ],
        ),
    ]);
    assert_eq!(t.warnings, [Warning::DuplicateApicId { apic_id: 0 }]);
    assert_eq!(t.cpus.len(), 3);
    let c300 = t.cpu_by_apic(300).unwrap();
    assert!(c300.x2apic && c300.enabled && c300.uid == 2);
    assert_eq!(c300.node, Some(70_000));
    let c301 = t.cpu_by_apic(301).unwrap();
    assert!(!c301.enabled && c301.online_capable);
    assert_eq!(c301.node, None);
    assert_eq!(t.nodes, [0, 70_000]);
}

#[test]
fn online_capable_needs_madt_revision_5() {
    let t = ok(&[madt(4, &[lapic(1, 0, 1), lapic(2, 1, 2)])]);
    assert!(!t.cpus[1].online_capable && !t.cpus[1].enabled);
    let t = ok(&[madt(5, &[lapic(1, 0, 1), lapic(2, 1, 2)])]);
    assert!(t.cpus[1].online_capable && !t.cpus[1].enabled);
}

#[test]
fn srat_revision_1_uses_the_low_domain_byte_only() {
    let entries = [srat_cpu(0, 0x0102, true), srat_mem(0x0102, 0, 0x1000, 1)];
    let t = ok(&[madt(1, &[lapic(1, 0, 1)]), srat(1, &entries)]);
    assert_eq!(t.cpus[0].node, Some(2));
    assert_eq!(t.memory[0].node, 2);
    let t = ok(&[madt(1, &[lapic(1, 0, 1)]), srat(2, &entries)]);
    assert_eq!(t.cpus[0].node, Some(0x0102));
    assert_eq!(t.memory[0].node, 0x0102);
}

#[test]
fn srat_garbage_entries() {
    let mut short = srat_cpu(1, 1, true);
    short[1] = 8;
    short.truncate(8);
    let t = ok(&[
        madt(1, &[lapic(1, 0, 1), lapic(2, 1, 1)]),
        srat(
            2,
            &[
                srat_cpu(0, 0, true),
                short,
                srat_mem(0, 0, 0x1000, 1),
                vec![1, 0, 0, 0],
            ],
        ),
    ]);
    assert_eq!(t.cpus[0].node, Some(0));
    assert_eq!(t.cpus[1].node, None);
    assert_eq!(t.memory.len(), 1);
    assert_eq!(
        t.warnings,
        [
            Warning::ShortEntry {
                signature: TableSig::SRAT,
                offset: 64,
                entry_type: 0,
                length: 8
            },
            Warning::MalformedEntry {
                signature: TableSig::SRAT,
                offset: 112,
                entry_type: 1,
                length: 0
            },
            Warning::CpuWithoutAffinity { apic_id: 1 },
        ]
    );
}

#[test]
fn srat_bad_memory_ranges() {
    let t = ok(&[
        madt(1, &[lapic(1, 0, 1)]),
        srat(
            2,
            &[
                srat_cpu(0, 0, true),
                srat_mem(0, 0x1000, 0, 1),
                srat_mem(0, u64::MAX - 10, 100, 1),
                srat_mem(3, 0x1_0000_0000, 0x1000, 0),
                srat_mem(5, 0x2000, 0x1000, 1),
                srat_mem(4, 0x1000, 0x1000, 1),
            ],
        ),
    ]);
    assert_eq!(t.warnings.len(), 2);
    assert!(t
        .warnings
        .iter()
        .all(|w| matches!(w, Warning::InvalidMemoryRange { .. })));
    let bases: Vec<u64> = t.memory.iter().map(|m| m.base).collect();
    assert_eq!(
        bases,
        [0x1000, 0x2000],
        "sorted by base, disabled range left out"
    );
    assert_eq!(t.nodes, [0, 4, 5]);
}

#[test]
fn slit_inconsistent_or_oversized() {
    let base = || vec![madt(1, &[lapic(1, 0, 1)])];
    for s in [
        slit(3, &[10, 20, 20, 10]),
        slit(u64::MAX, &[10]),
        slit(1 << 32, &[10]),
        slit(0, &[]),
        slit(2, &[10, 20, 20, 11]),
        slit(2, &[10, 9, 20, 10]),
    ] {
        let mut tables = base();
        tables.push(s);
        let t = ok(&tables);
        assert!(t.slit.is_none());
        assert!(
            matches!(t.warnings[..], [Warning::InvalidSlit { .. }]),
            "{:?}",
            t.warnings
        );
    }
}

#[test]
fn slit_smaller_than_the_domains() {
    let t = ok(&[
        madt(1, &[lapic(1, 0, 1), lapic(2, 1, 1)]),
        srat(2, &[srat_cpu(0, 0, true), srat_cpu(1, 3, true)]),
        slit(2, &[10, 15, 15, 10]),
    ]);
    assert_eq!(t.warnings, [Warning::SlitMissingDomain { domain: 3 }]);
    assert_eq!(t.distance(0, 3), 20);
    assert_eq!(t.distance(3, 3), 10);
}

#[test]
fn mcfg_reversed_bus_range_is_skipped() {
    let t = ok(&[
        madt(1, &[lapic(1, 0, 1)]),
        mcfg(&[(0xe000_0000, 0, 0, 63), (0xf000_0000, 1, 9, 3)]),
    ]);
    assert_eq!(t.mcfg.len(), 1);
    assert!(matches!(
        t.warnings[..],
        [Warning::InvalidEcamSegment {
            segment_group: 1,
            ..
        }]
    ));
}

#[test]
fn second_table_of_a_kind_is_ignored() {
    let mut tables = two_node_tables();
    tables.push(madt(1, &[lapic(1, 0, 1)]));
    let t = ok(&tables);
    assert_eq!(
        t.warnings,
        [Warning::DuplicateTable {
            signature: TableSig::MADT
        }]
    );
    assert_eq!(t.cpus.len(), 5, "the first MADT is used");
}

#[test]
fn invalid_first_copy_then_valid_second() {
    let mut bad = madt(1, &[lapic(1, 0, 1)]);
    bad[9] ^= 1;
    let t = ok(&[bad, madt(1, &[lapic(1, 0, 1), lapic(2, 1, 1)])]);
    assert_eq!(t.cpus.len(), 2);
    assert_eq!(
        t.warnings,
        [Warning::BadChecksum {
            signature: TableSig::MADT
        }]
    );
}

#[test]
fn rsdp_problems() {
    let image = Image::build(&two_node_tables());
    let mem = image.memory();
    assert_eq!(
        from_rsdp(mem, 0x10, CpuHint::NONE),
        Err(TopologyError::RsdpSignature)
    );
    assert_eq!(
        from_rsdp(mem, 1 << 40, CpuHint::NONE),
        Err(TopologyError::RsdpUnreadable { address: 1 << 40 })
    );
    assert_eq!(
        from_rsdp(mem, image.bytes().len() as u64 - 8, CpuHint::NONE),
        Err(TopologyError::RsdpUnreadable {
            address: image.bytes().len() as u64 - 8
        })
    );

    // A wrong checksum is tolerated.
    let mut broken = image.clone();
    broken.bytes_mut()[0x1000 + 8] ^= 1;
    let t = from_rsdp(broken.memory(), 0x1000, CpuHint::NONE).unwrap();
    assert_eq!(t.warnings, [Warning::RsdpChecksum]);

    // An impossible length is not.
    let mut broken = image.clone();
    broken.bytes_mut()[0x1000 + 20..0x1000 + 24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        from_rsdp(broken.memory(), 0x1000, CpuHint::NONE),
        Err(TopologyError::RsdpLength { length: u32::MAX })
    );
}

#[test]
fn broken_xsdt_falls_back_to_rsdt() {
    let mut image = Image::build(&two_node_tables());
    let xsdt = image.xsdt_address() as usize;
    image.bytes_mut()[xsdt] = b'Y';
    let t = from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE).unwrap();
    assert_eq!(
        t.warnings,
        [Warning::XsdtUnusable {
            address: xsdt as u64
        }]
    );
    assert_eq!(t.enabled_cpu_count(), 4);

    // Both gone: no root table.
    let rsdt = u32::from_le_bytes(image.bytes()[0x1010..0x1014].try_into().unwrap()) as usize;
    image.bytes_mut()[rsdt] = b'Y';
    let r = from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE);
    assert!(matches!(r, Err(TopologyError::NoRootTable { .. })), "{r:?}");
}

#[test]
fn xsdt_entries_pointing_nowhere() {
    let mut image = Image::build(&two_node_tables());
    let xsdt = image.xsdt_address() as usize;
    // Entry 1 (the SRAT) to nowhere, entry 2 (the SLIT) to 0; fix the checksum.
    image.bytes_mut()[xsdt + 44..xsdt + 52].copy_from_slice(&(1u64 << 50).to_le_bytes());
    image.bytes_mut()[xsdt + 52..xsdt + 60].copy_from_slice(&0u64.to_le_bytes());
    let len = 36 + 8 * 5;
    fix_checksum(&mut image.bytes_mut()[xsdt..xsdt + len]);
    let t = from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE).unwrap();
    assert_eq!(
        t.warnings,
        [
            Warning::TableUnreadable { address: 1 << 50 },
            Warning::TableUnreadable { address: 0 }
        ]
    );
    assert!(!t.has_srat && t.slit.is_none());
}

#[test]
fn xsdt_bad_checksum_is_tolerated() {
    let mut image = Image::build(&two_node_tables());
    let xsdt = image.xsdt_address() as usize;
    image.bytes_mut()[xsdt + 9] ^= 1;
    let t = from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE).unwrap();
    assert_eq!(
        t.warnings,
        [Warning::RootTableChecksum {
            signature: TableSig::XSDT
        }]
    );
}

#[test]
fn package_shift_of_32_or_more() {
    let image = Image::build(&[madt(1, &[lapic(1, 0, 1), lapic(2, 200, 1)])]);
    let t = from_rsdp(image.memory(), 0x1000, CpuHint::with_package_shift(40)).unwrap();
    assert_eq!(t.packages(), [0]);
}

#[test]
fn warnings_and_errors_display() {
    let mut tables = two_node_tables();
    tables[1][9] ^= 1;
    let t = ok(&tables);
    let json: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(json["warnings"][0], "SRAT checksum is wrong, table ignored");
    let e = TopologyError::NoMadt {
        warnings: vec![Warning::BadChecksum {
            signature: TableSig(*b"AP\x01C"),
        }],
    };
    assert_eq!(
        std::format!("{e}"),
        "no usable MADT; AP\\x01C checksum is wrong, table ignored"
    );
}

// ---- FADT, DSDT, SSDTs ---------------------------------------------------------------

/// A Generic Address Structure.
fn gas(space: u8, bit_width: u8, address: u64) -> Vec<u8> {
    let mut g = vec![space, bit_width, 0, 0];
    g.extend_from_slice(&address.to_le_bytes());
    g
}

/// A FADT of `len` bytes (116 for ACPI 1.0, 244 for ACPI 2.0 to 4.0) with `fields` written
/// at their byte offsets in the table.
fn fadt(len: usize, fields: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![0u8; len - 36];
    for (off, bytes) in fields {
        body[off - 36..off - 36 + bytes.len()].copy_from_slice(bytes);
    }
    table(b"FACP", if len >= 244 { 3 } else { 1 }, &body)
}

/// A FADT as servers have it: SMI_CMD 0xb2 (enable 0xa0, disable 0xa1), PM1a_CNT at port
/// 0x404 in the legacy and the X_ field, the reset register at port 0xcf9 (value 6,
/// supported), and DSDT and X_DSDT at `dsdt`.
fn server_fadt(dsdt: u64) -> Vec<u8> {
    fadt(
        244,
        &[
            (40, (dsdt as u32).to_le_bytes().to_vec()),
            (48, 0xb2u32.to_le_bytes().to_vec()),
            (52, vec![0xa0, 0xa1]),
            (64, 0x404u32.to_le_bytes().to_vec()),
            (89, vec![2]),
            (112, (1u32 << 10).to_le_bytes().to_vec()),
            (116, gas(1, 8, 0xcf9)),
            (128, vec![6]),
            (140, dsdt.to_le_bytes().to_vec()),
            (172, gas(1, 16, 0x404)),
        ],
    )
}

/// `\_SB_.PCI0` (PCI Express, proximity domain 1) and `\_S5_` = (5, 0).
fn server_dsdt() -> Vec<u8> {
    dsdt(&[
        &scope(
            b"\\_SB_",
            &[&device(
                b"PCI0",
                &[&name(b"_HID", &eisa_pnp0a08()), &name(b"_PXM", &[0x01])],
            )],
        ),
        &name(b"\\_S5_", &package(&[&byte(5), &[0x00], &[0x00], &[0x00]])),
    ])
}

fn io_register(bit_width: u8, address: u64) -> AcpiRegister {
    AcpiRegister {
        space: AcpiRegister::SYSTEM_IO,
        bit_width,
        bit_offset: 0,
        access_size: 0,
        address,
    }
}

/// A PCI root with the defaults of a device that has no `_SEG`, `_BBN`, `_PXM` or `_UID`.
pub(crate) fn pci_root(path: &str) -> PciRoot {
    PciRoot {
        path: String::from(path),
        pcie: false,
        segment: Some(0),
        bus: Some(0),
        proximity_domain: None,
        uid: None,
        not_constant: Vec::new(),
    }
}

fn with_dsdt(tables: &[Vec<u8>], dsdt: &[u8]) -> Topology {
    let image = Image::build_with_dsdt(tables, Some(dsdt));
    from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE).unwrap()
}

#[test]
fn fadt_dsdt_and_ssdts() {
    let mut tables = two_node_tables();
    tables.push(server_fadt(0xdead_0000));
    tables.push(ssdt(&[&device(
        &dual(b"_SB_", b"PCI1"),
        &[
            &hid_pci(),
            &name(b"_BBN", &byte(0x80)),
            &name(b"_PXM", &[0x00]),
        ],
    )]));
    tables.push(ssdt(&[&scope(
        &dual(b"_SB_", b"PCI0"),
        &[&name(b"_UID", &byte(7))],
    )]));
    let image = Image::build_with_dsdt(&tables, Some(&server_dsdt()));
    let t = from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE).unwrap();
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    let power_off = SleepControl {
        pm1a_control: io_register(16, 0x404),
        pm1b_control: None,
        slp_typ_a: 5,
        slp_typ_b: 0,
    };
    assert_eq!(t.power_off, Some(power_off));
    assert_eq!(power_off.pm1a_value(), 5 << 10 | 1 << 13);
    assert_eq!(power_off.pm1b_value(), 1 << 13);
    assert_eq!(
        t.acpi_enable,
        Some(AcpiEnable {
            smi_command: 0xb2,
            enable_value: 0xa0,
            disable_value: 0xa1
        })
    );
    assert_eq!(
        t.reset,
        Some(ResetRegister {
            register: io_register(8, 0xcf9),
            value: 6,
            supported: true
        })
    );
    assert_eq!(
        t.pci_roots,
        [
            PciRoot {
                pcie: true,
                proximity_domain: Some(1),
                uid: Some(7),
                ..pci_root("\\_SB_.PCI0")
            },
            PciRoot {
                bus: Some(0x80),
                proximity_domain: Some(0),
                ..pci_root("\\_SB_.PCI1")
            },
        ]
    );
    // The kernel's path reads the same.
    let bytes = image.bytes();
    // SAFETY: physical address p of the image is readable at bytes.as_ptr() + p for every
    // p < bytes.len(), for as long as `image` lives, which outlives the call.
    let mem = unsafe { OffsetMapped::new(bytes.as_ptr() as u64, bytes.len() as u64) };
    assert_eq!(
        from_rsdp(mem, image.rsdp_address(), CpuHint::NONE).unwrap(),
        t
    );
    // And the JSON carries it.
    let json: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
    assert_eq!(json["power_off"]["pm1a_control"]["address"], 0x404);
    assert_eq!(json["power_off"]["slp_typ_a"], 5);
    assert_eq!(json["acpi_enable"]["smi_command"], 0xb2);
    assert_eq!(json["reset"]["supported"], true);
    assert_eq!(json["pci_roots"][0]["path"], "\\_SB_.PCI0");
    assert_eq!(json["pci_roots"][0]["proximity_domain"], 1);
    assert_eq!(json["pci_roots"][1]["bus"], 0x80);
}

#[test]
fn dsdt_through_the_32_bit_field_when_x_dsdt_is_0() {
    let mut f = server_fadt(0xdead_0000);
    f[140..148].fill(0);
    fix_checksum(&mut f);
    let t = with_dsdt(&[madt(1, &[lapic(1, 0, 1)]), f], &server_dsdt());
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    assert_eq!(t.pci_roots.len(), 1);
    assert!(t.power_off.is_some());
}

#[test]
fn acpi_1_fadt() {
    // 116 bytes: no reset register, no X_ fields; SMI_CMD 0 (always in ACPI mode).
    let f = fadt(
        116,
        &[
            (40, 0xdead_0000u32.to_le_bytes().to_vec()),
            (64, 0x804u32.to_le_bytes().to_vec()),
            (68, 0x904u32.to_le_bytes().to_vec()),
            (89, vec![2]),
            (112, (1u32 << 10).to_le_bytes().to_vec()),
        ],
    );
    let t = with_dsdt(&[madt(1, &[lapic(1, 0, 1)]), f], &server_dsdt());
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    assert_eq!(
        t.power_off,
        Some(SleepControl {
            pm1a_control: io_register(16, 0x804),
            pm1b_control: Some(io_register(16, 0x904)),
            slp_typ_a: 5,
            slp_typ_b: 0,
        })
    );
    assert_eq!(t.acpi_enable, None);
    assert_eq!(t.reset, None);
}

#[test]
fn pm1_control_register_choice() {
    let cpu = madt(1, &[lapic(1, 0, 1)]);
    let with = |fields: &[(usize, Vec<u8>)]| {
        let mut all = vec![(140usize, 0xdead_0000u64.to_le_bytes().to_vec())];
        all.extend_from_slice(fields);
        with_dsdt(&[cpu.clone(), fadt(244, &all)], &server_dsdt())
    };
    // X_PM1a in memory space, legacy port present: the port. X_PM1b in I/O space: taken.
    let t = with(&[
        (64, 0x404u32.to_le_bytes().to_vec()),
        (89, vec![2]),
        (172, gas(0, 16, 0xfed8_0404)),
        (184, gas(1, 16, 0x504)),
    ]);
    let p = t.power_off.unwrap();
    assert_eq!(p.pm1a_control, io_register(16, 0x404));
    assert_eq!(p.pm1b_control, Some(io_register(16, 0x504)));
    assert_eq!(p.pm1a_control.io_port(), Some(0x404));
    // X_PM1a in memory space and no legacy port: kept, with its space id.
    let t = with(&[(172, gas(0, 16, 0xfed8_0404))]);
    let p = t.power_off.unwrap();
    assert_eq!(p.pm1a_control.space, AcpiRegister::SYSTEM_MEMORY);
    assert_eq!(p.pm1a_control.address, 0xfed8_0404);
    assert_eq!(p.pm1a_control.io_port(), None);
    // No PM1a at all: reported, unless the FADT is for hardware-reduced ACPI.
    let t = with(&[]);
    assert_eq!(t.power_off, None);
    assert_eq!(t.warnings, [Warning::NoPm1aControl]);
    assert_eq!(t.pci_roots.len(), 1);
    let t = with(&[(112, (1u32 << 20).to_le_bytes().to_vec())]);
    assert_eq!(t.power_off, None);
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

#[test]
fn dsdt_problems() {
    let cpu = madt(1, &[lapic(1, 0, 1)]);
    // Pointing nowhere, or at 0.
    for address in [1u64 << 40, 0] {
        let t = ok(&[cpu.clone(), server_fadt(address)]);
        assert_eq!(t.warnings, [Warning::DsdtUnusable { address }]);
        assert!(t.power_off.is_none() && t.pci_roots.is_empty());
        assert!(t.acpi_enable.is_some() && t.reset.is_some());
    }
    // Pointing at a table that is not a DSDT (the MADT, the first XSDT entry).
    let image = Image::build(&[cpu.clone(), server_fadt(0)]);
    let x = image.xsdt_address() as usize + 36;
    let madt_at = u64::from_le_bytes(image.bytes()[x..x + 8].try_into().unwrap());
    let t = ok(&[cpu.clone(), server_fadt(madt_at)]);
    assert_eq!(t.warnings, [Warning::DsdtUnusable { address: madt_at }]);
    // A DSDT with a bad checksum, or an impossible length.
    let mut bad = server_dsdt();
    bad[9] ^= 1;
    let t = with_dsdt(&[cpu.clone(), server_fadt(1)], &bad);
    assert_eq!(
        t.warnings,
        [Warning::BadChecksum {
            signature: TableSig::DSDT
        }]
    );
    assert!(t.pci_roots.is_empty());
    let mut bad = server_dsdt();
    bad[4..8].copy_from_slice(&20u32.to_le_bytes());
    let image = Image::build_with_dsdt(&[cpu.clone(), server_fadt(1)], Some(&bad));
    let t = from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE).unwrap();
    assert!(matches!(t.warnings[..], [Warning::DsdtUnusable { .. }]));
    // A FADT whose checksum is wrong stays wrong after the DSDT is placed: it is ignored.
    let mut f = server_fadt(1);
    f[9] ^= 1;
    let t = with_dsdt(&[cpu.clone(), f], &server_dsdt());
    assert_eq!(
        t.warnings,
        [Warning::BadChecksum {
            signature: TableSig::FADT
        }]
    );
    assert!(t.power_off.is_none() && t.acpi_enable.is_none() && t.pci_roots.is_empty());
}

#[test]
fn unusable_s5_and_aml_problems_are_reported() {
    let cpu = madt(1, &[lapic(1, 0, 1)]);
    // _S5_ is not a package; then an unknown opcode.
    let d = dsdt(&[
        &name(b"\\_S5_", &byte(5)),
        &device(b"PCI0", &[&hid_pci()]),
        &[0x03],
    ]);
    let at = d.len() - 1;
    let t = with_dsdt(&[cpu, server_fadt(1)], &d);
    assert_eq!(
        t.warnings,
        [
            Warning::Aml {
                signature: TableSig::DSDT,
                offset: at,
                problem: AmlProblem::UnknownOpcode(3)
            },
            Warning::S5Unusable
        ]
    );
    assert!(t.power_off.is_none());
    assert_eq!(t.pci_roots, [pci_root("\\PCI0")]);
}

#[test]
fn dump_places_the_dsdt_and_every_ssdt() {
    let cpu = madt(1, &[lapic(1, 0, 1)]);
    let f = server_fadt(0xbf00_0000);
    let d = server_dsdt();
    let s1 = ssdt(&[&device(b"\\PCI1", &[&name(b"_HID", &eisa_pnp0a03())])]);
    let s2 = ssdt(&[&device(b"\\PCI2", &[&hid_pci(), &name(b"_PXM", &byte(3))])]);
    let text = dump_text(&[
        ("APIC", &cpu),
        ("SSDT", &s1),
        ("FACP", &f),
        ("DSDT", &d),
        ("SSDT", &s2),
        ("SSDT", &s1),
    ]);
    let t = from_acpidump_text(&text, CpuHint::NONE).unwrap();
    assert_eq!(
        t.warnings,
        [Warning::DumpDuplicateTable {
            signature: TableSig::SSDT
        }]
    );
    let roots: Vec<(&str, Option<u32>)> = t
        .pci_roots
        .iter()
        .map(|r| (r.path.as_str(), r.proximity_domain))
        .collect();
    assert_eq!(
        roots,
        [
            ("\\_SB_.PCI0", Some(1)),
            ("\\PCI1", None),
            ("\\PCI2", Some(3))
        ]
    );
    assert_eq!(t.power_off.map(|p| p.slp_typ_a), Some(5));

    // Two DSDTs: the same one twice, or a different second one.
    let other = dsdt(&[]);
    let mut w = Vec::new();
    let text = dump_text(&[("DSDT", &d), ("DSDT", &d), ("DSDT", &other)]);
    assert_eq!(dsdt_table(&parse(&text), &mut w), Some(d.clone()));
    assert_eq!(
        w,
        [
            Warning::DumpDuplicateTable {
                signature: TableSig::DSDT
            },
            Warning::DuplicateTable {
                signature: TableSig::DSDT
            }
        ]
    );

    // A truncated DSDT block: dropped, and the FADT keeps pointing where the firmware had it.
    let text = dump_text(&[("APIC", &cpu), ("FACP", &f), ("DSDT", &d[..d.len() - 1])]);
    let t = from_acpidump_text(&text, CpuHint::NONE).unwrap();
    assert_eq!(
        t.warnings,
        [
            Warning::DumpTruncatedTable {
                signature: TableSig::DSDT,
                declared: d.len() as u32,
                available: d.len() - 1
            },
            Warning::DsdtUnusable {
                address: 0xbf00_0000
            }
        ]
    );
}

// ---- acpidump text -------------------------------------------------------------------

/// Formats tables as acpidump text.
fn dump_text(tables: &[(&str, &[u8])]) -> String {
    use core::fmt::Write;
    let mut s = String::new();
    for (name, bytes) in tables {
        writeln!(s, "{name} @ 0x0000000000000000").unwrap();
        for (i, chunk) in bytes.chunks(16).enumerate() {
            write!(s, "    {:04X}:", i * 16).unwrap();
            for b in chunk {
                write!(s, " {b:02X}").unwrap();
            }
            for _ in chunk.len()..16 {
                s.push_str("   ");
            }
            s.push_str("  ");
            for &b in chunk {
                s.push(if b.is_ascii_graphic() { b as char } else { '.' });
            }
            s.push('\n');
        }
        s.push('\n');
    }
    s
}

#[test]
fn dump_round_trip() {
    let tables = two_node_tables();
    let named: Vec<(&str, &[u8])> = tables
        .iter()
        .map(|t| (core::str::from_utf8(&t[..4]).unwrap(), t.as_slice()))
        .collect();
    let text = dump_text(&named);
    let dump = parse(&text);
    assert!(dump.warnings.is_empty());
    assert_eq!(dump.tables.len(), tables.len());
    for (got, want) in dump.tables.iter().zip(&tables) {
        assert_eq!(&got.bytes, want);
    }
    assert_eq!(
        from_acpidump_text(&text, CpuHint::NONE).unwrap(),
        ok(&tables)
    );
}

#[test]
fn dump_ascii_column_that_looks_like_hex() {
    let text = "APIC @ 0x0\n    0000: 41 42      AB CD EF\n";
    let dump = parse(text);
    assert_eq!(dump.tables[0].bytes, [0x41, 0x42]);
}

#[test]
fn dump_empty_or_garbage_is_an_error() {
    assert_eq!(
        from_acpidump_text("", CpuHint::NONE),
        Err(TopologyError::EmptyDump)
    );
    assert_eq!(
        from_acpidump_text("hello\nworld\n    0000: 00\n", CpuHint::NONE),
        Err(TopologyError::EmptyDump)
    );
}

#[test]
fn dump_without_madt_is_an_error() {
    let s = slit(1, &[10]);
    let text = dump_text(&[("SLIT", &s)]);
    assert!(matches!(
        from_acpidump_text(&text, CpuHint::NONE),
        Err(TopologyError::NoMadt { .. })
    ));
}

#[test]
fn dump_truncated_table() {
    let tables = two_node_tables();
    let srat = &tables[1][..tables[1].len() - 20];
    let text = dump_text(&[("APIC", &tables[0]), ("SRAT", srat)]);
    let t = from_acpidump_text(&text, CpuHint::NONE).unwrap();
    assert_eq!(
        t.warnings,
        [Warning::DumpTruncatedTable {
            signature: TableSig::SRAT,
            declared: tables[1].len() as u32,
            available: srat.len()
        }]
    );
    assert!(!t.has_srat);
}

#[test]
fn dump_bad_lines_drop_the_block() {
    let tables = two_node_tables();
    let mut text = dump_text(&[("APIC", &tables[0]), ("SRAT", &tables[1])]);
    // Break a line inside the SRAT block: its offset no longer follows on.
    let at = text.find("SRAT @").unwrap();
    let line = text[at..].find("    0010:").unwrap() + at;
    text.replace_range(line..line + 9, "    0020:");
    let t = from_acpidump_text(&text, CpuHint::NONE).unwrap();
    assert!(
        matches!(t.warnings[..], [Warning::DumpBadLine { .. }]),
        "{:?}",
        t.warnings
    );
    assert!(!t.has_srat);
    assert_eq!(t.enabled_cpu_count(), 4);
}

#[test]
fn dump_duplicates_rsdp_facs_and_messages() {
    let tables = two_node_tables();
    let rsdp = *b"RSD PTR \x00TESTID\x02\x00\x00\x00\x00\x24\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    let facs = {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"FACS");
        f[4] = 64;
        f
    };
    let text = std::format!(
        "{}Firmware Warning (ACPI): Incorrect checksum in table [OEMB]\n{}",
        dump_text(&[("RSD PTR", &rsdp), ("FACS", &facs), ("APIC", &tables[0])]),
        dump_text(&[
            ("APIC", &tables[0]),
            ("SRAT", &tables[1]),
            ("HPET", &tables[3])
        ])
    );
    let t = from_acpidump_text(&text, CpuHint::NONE).unwrap();
    assert_eq!(
        t.warnings,
        [Warning::DumpDuplicateTable {
            signature: TableSig::MADT
        }]
    );
    assert_eq!(t.nodes, [0, 1]);
    assert!(t.hpet.is_some());
}

// ---- fuzz ----------------------------------------------------------------------------

/// xorshift64*: a small fixed-seed generator.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn real_dumps() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/acpi");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("ACPI dumps not found at {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "acpidump"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

/// Path, `_SEG`, `_BBN`, `_PXM`, `_UID` of a PCI root.
type ExpectedRoot = (
    &'static str,
    Option<u16>,
    Option<u8>,
    Option<u32>,
    Option<u64>,
);

/// What one real dump says about power-off and PCI roots.
struct PowerExpected {
    dump: &'static str,
    /// SLP_TYPa, SLP_TYPb from `\_S5_`.
    s5: (u8, u8),
    /// PM1a_CNT port.
    pm1a: u64,
    /// SMI_CMD port and ACPI_ENABLE value.
    acpi_enable: (u32, u8),
    /// RESET_VALUE and RESET_REG_SUP (the register is port 0xcf9 in every dump).
    reset: (u8, bool),
    /// Path, _SEG, _BBN, _PXM, _UID of each root.
    roots: &'static [ExpectedRoot],
    /// Devices in the namespace (DSDT and SSDTs).
    devices: usize,
}

/// Power-off, reset and PCI roots of the real dumps.
///
/// The values were read from ACPICA's disassembly, independently of this crate: `acpixtract
/// -a` on each dump, `iasl -d` of the FADT (PM1A Control Block, SMI Command Port, ACPI Enable
/// Value, Reset Register, Value to cause reset, Reset Register Supported), and `iasl -e
/// ssdt*.dat -d dsdt.dat` of the DSDT (`Name (_S5, Package ...)` and every device with
/// `EisaId ("PNP0A08")`/`("PNP0A03")`, its `_SEG`, `_BBN`, `_PXM`, `_UID`). The device counts
/// are those of the namespace listing of `iasl -ln` on the disassembled DSDT and SSDTs, less
/// the predefined `\_SB_` and `\_TZ_`, the processors the Fujitsu SSDT disassembly guesses to
/// be `External (..., DeviceObj)` (they are `Processor`s), and plus the three Supermicro
/// devices (`ITPM`, `IPMI`, `TPM_`) the listing misses because the disassembly does not
/// recompile past a syntax error before them.
///
/// - No root has a `_SEG`; most `_BBN`s are methods. `Method (_BBN) { Return (0x7F) }` (Dell)
///   counts, and so does the AMI pattern `Method (_BBN) { Return (BN00 ()) }` with
///   `Method (^BN00) { Return (Zero) }`. Dell's `\_SB_.PCI1._BBN` computes the bus from a
///   buffer and Supermicro H8QG6's `\_SB_.PC40._BBN` calls `\_SB_.PC40.BN40`, which returns
///   the register field `SEB1` (the search rules find it before `\_SB_.BN40`, which returns
///   0x40): both are `None`.
/// - Only the Dell has `_PXM`s, all `Name (_PXM, n)`; Dell `_UID`s are strings ("PCI0").
const POWER_EXPECTED: &[PowerExpected] = &[
    PowerExpected {
        dump: "dell-poweredge-r820.acpidump",
        s5: (7, 0),
        pm1a: 0x804,
        acpi_enable: (0xb2, 0x70),
        reset: (6, false),
        roots: &[
            ("\\_SB_.PCI0", Some(0), Some(0), Some(1), None),
            ("\\_SB_.PCI1", Some(0), None, Some(2), None),
            ("\\_SB_.P0B1", Some(0), Some(0x3f), Some(1), None),
            ("\\_SB_.P1B1", Some(0), Some(0x7f), Some(2), None),
            ("\\_SB_.P2B1", Some(0), Some(0xbf), Some(3), None),
            ("\\_SB_.P3B1", Some(0), Some(0xff), Some(4), None),
        ],
        devices: 67,
    },
    PowerExpected {
        dump: "fujitsu-primergy.acpidump",
        s5: (7, 0),
        pm1a: 0x404,
        acpi_enable: (0xb2, 0xa0),
        reset: (6, true),
        roots: &[("\\_SB_.PCI0", Some(0), Some(0), None, Some(0))],
        devices: 82,
    },
    PowerExpected {
        dump: "hp-proliant-dl165-g7.acpidump",
        s5: (5, 0),
        pm1a: 0x804,
        acpi_enable: (0xb0, 0xe1),
        reset: (0x0e, false),
        roots: &[("\\_SB_.PCI0", Some(0), Some(0), None, Some(0))],
        devices: 79,
    },
    PowerExpected {
        dump: "supermicro-h8qg6.acpidump",
        s5: (5, 0),
        pm1a: 0x804,
        acpi_enable: (0xb0, 0xe1),
        reset: (6, false),
        roots: &[
            ("\\_SB_.PCI0", Some(0), Some(0), None, Some(0)),
            ("\\_SB_.PC40", Some(0), None, None, Some(0x40)),
        ],
        devices: 77,
    },
    PowerExpected {
        dump: "supermicro-x8dtt.acpidump",
        s5: (7, 0),
        pm1a: 0x804,
        acpi_enable: (0xb2, 0xe1),
        reset: (6, false),
        roots: &[("\\_SB_.PCI0", Some(0), Some(0), None, Some(0))],
        devices: 74,
    },
];

#[test]
fn real_dumps_power_off_and_pci_roots() {
    let dumps = real_dumps();
    assert_eq!(dumps.len(), POWER_EXPECTED.len());
    for ((name, text), want) in dumps.iter().zip(POWER_EXPECTED) {
        assert_eq!(name, want.dump);
        let t = from_acpidump_text(text, CpuHint::NONE).unwrap();
        assert!(t.warnings.is_empty(), "{name}: {:?}", t.warnings);
        let p = t
            .power_off
            .unwrap_or_else(|| panic!("{name}: no power-off"));
        assert_eq!((p.slp_typ_a, p.slp_typ_b), want.s5, "{name}: _S5_");
        assert_eq!(
            p.pm1a_control,
            io_register(16, want.pm1a),
            "{name}: PM1a_CNT"
        );
        assert_eq!(p.pm1b_control, None, "{name}: PM1b_CNT");
        let e = t.acpi_enable.unwrap();
        assert_eq!((e.smi_command, e.enable_value), want.acpi_enable, "{name}");
        let r = t.reset.unwrap();
        assert_eq!(r.register, io_register(8, 0xcf9), "{name}: RESET_REG");
        assert_eq!((r.value, r.supported), want.reset, "{name}: reset");
        let roots: Vec<_> = t
            .pci_roots
            .iter()
            .map(|r| (r.path.as_str(), r.segment, r.bus, r.proximity_domain, r.uid))
            .collect();
        assert_eq!(roots, want.roots, "{name}: PCI roots");
        assert!(t.pci_roots.iter().all(|r| r.pcie), "{name}: all PNP0A08");
        for r in &t.pci_roots {
            assert_eq!(
                r.not_constant.is_empty(),
                r.bus.is_some(),
                "{name}: {}: {:?}",
                r.path,
                r.not_constant
            );
        }

        let dump = parse(text);
        let mut w = Vec::new();
        let dsdt = dsdt_table(&dump, &mut w).unwrap();
        let ssdts: Vec<Vec<u8>> = xsdt_tables(&dump, &mut w)
            .into_iter()
            .filter(|t| t.starts_with(b"SSDT"))
            .collect();
        let mut tables = vec![(TableSig::DSDT, dsdt.as_slice())];
        tables.extend(ssdts.iter().map(|s| (TableSig::SSDT, s.as_slice())));
        let (ns, problems) = crate::aml::scan(&tables);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        assert_eq!(ns.device_paths().len(), want.devices, "{name}: devices");
    }
}

/// Mutates the tables this crate reads (MADT, SRAT, SLIT, HPET, MCFG) of every real dump:
/// random bytes, with a bias towards entry length fields and table lengths, usually with the
/// checksum fixed so the entry parsers see the damage. Nothing may panic or hang.
#[test]
fn fuzz_mutated_tables_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let interesting = [b"APIC", b"SRAT", b"SLIT", b"HPET", b"MCFG"];
    let mut outcomes = [0usize; 2];
    let mut kinds = Vec::new();
    for (name, text) in real_dumps() {
        let mut w = Vec::new();
        let tables: Vec<Vec<u8>> = xsdt_tables(&parse(&text), &mut w)
            .into_iter()
            .filter(|t| interesting.iter().any(|s| &t[..4] == *s))
            .collect();
        for round in 0..300 {
            let mut tables = tables.clone();
            let mutations = 1 + rng.below(8);
            for _ in 0..mutations {
                let ti = rng.below(tables.len());
                let t = &mut tables[ti];
                if t.len() <= 36 {
                    continue;
                }
                match rng.below(6) {
                    // Any byte past the header.
                    0 | 1 => {
                        let at = 36 + rng.below(t.len() - 36);
                        t[at] = rng.next() as u8;
                    }
                    // The length byte of some entry-sized position.
                    2 => {
                        let at = 36 + rng.below(t.len() - 36);
                        t[at] = [0, 1, 2, 3, 7, 15, 255][rng.below(7)];
                    }
                    // The table length.
                    3 => {
                        let len = [0u32, 1, 35, 36, 43, 44, 47, 48, 57, u32::MAX][rng.below(10)];
                        let len = if rng.below(2) == 0 {
                            len
                        } else {
                            t.len() as u32 - 1
                        };
                        t[4..8].copy_from_slice(&len.to_le_bytes());
                    }
                    // Truncate the table (its length field now overruns).
                    4 => {
                        let keep = rng.below(t.len()) + 1;
                        t.truncate(keep);
                    }
                    // A header field (signature, revision).
                    _ => {
                        let at = rng.below(36.min(t.len()));
                        t[at] = rng.next() as u8;
                    }
                }
            }
            if rng.below(8) != 0 {
                for t in &mut tables {
                    fix_checksum(t);
                }
            }
            let image = Image::build(&tables);
            let r = panic::catch_unwind(|| {
                from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE)
            });
            match r {
                Ok(Ok(t)) => {
                    outcomes[0] += 1;
                    let _ = t.to_json();
                    for w in &t.warnings {
                        let kind = core::mem::discriminant(w);
                        if !kinds.contains(&kind) {
                            kinds.push(kind);
                        }
                    }
                }
                Ok(Err(_)) => outcomes[1] += 1,
                Err(_) => panic!("{name}: round {round} panicked"),
            }
        }
    }
    // Both outcomes must occur, and the entry parsers must see damage, or the fuzzing is not
    // reaching them.
    assert!(outcomes[0] > 100 && outcomes[1] > 10, "{outcomes:?}");
    let sig = TableSig::MADT;
    for w in [
        Warning::BadChecksum { signature: sig },
        Warning::TableLength {
            signature: sig,
            length: 0,
        },
        Warning::MalformedEntry {
            signature: sig,
            offset: 0,
            entry_type: 0,
            length: 0,
        },
        Warning::ShortEntry {
            signature: sig,
            offset: 0,
            entry_type: 0,
            length: 0,
        },
        Warning::InvalidSlit { localities: 0 },
        Warning::CpuWithoutAffinity { apic_id: 0 },
    ] {
        assert!(
            kinds.contains(&core::mem::discriminant(&w)),
            "fuzzing never produced {w:?}"
        );
    }
}

/// Mutates the FADT, DSDT and SSDTs of every real dump, with a bias towards bytes that are
/// opcodes, name prefixes and package lengths, and towards cutting tables short; checksums
/// are fixed so the scanner sees the damage. Nothing may panic or hang, and the scanner must
/// see damage.
#[test]
fn fuzz_mutated_aml_never_panics() {
    let mut rng = Rng(0x5eed_0a31_0000_0005);
    let mut problems = Vec::new();
    for (name, text) in real_dumps() {
        let dump = parse(&text);
        let mut w = Vec::new();
        let tables: Vec<Vec<u8>> = xsdt_tables(&dump, &mut w)
            .into_iter()
            .filter(|t| [&b"APIC"[..], b"FACP", b"SSDT"].contains(&&t[..4]))
            .collect();
        let dsdt = dsdt_table(&dump, &mut w).unwrap();
        for round in 0..25 {
            let mut tables = tables.clone();
            let mut dsdt = dsdt.clone();
            for _ in 0..1 + rng.below(6) {
                let pick = rng.below(tables.len() + 2);
                let t = match tables.get_mut(pick) {
                    Some(t) if !t.starts_with(b"APIC") => t,
                    _ => &mut dsdt,
                };
                if t.len() <= 36 {
                    continue;
                }
                let at = 36 + rng.below(t.len() - 36);
                match rng.below(5) {
                    0 => t[at] = rng.next() as u8,
                    1 => {
                        t[at] = b"\x08\x10\x12\x14\x2e\x2f\x5b\x5c\x5e\x82\xa0\xa4\xff\x00\x03"
                            [rng.below(15)]
                    }
                    2 => t[at] = [0x3f, 0x40, 0x7f, 0xbf, 0xff, 0x00, 0x01][rng.below(7)],
                    3 => {
                        t.truncate(at);
                        let len = t.len() as u32;
                        t[4..8].copy_from_slice(&len.to_le_bytes());
                    }
                    _ => {
                        // Swap two bytes.
                        let other = 36 + rng.below(t.len() - 36);
                        t.swap(at, other);
                    }
                }
            }
            for t in tables.iter_mut().chain([&mut dsdt]) {
                fix_checksum(t);
            }
            let image = Image::build_with_dsdt(&tables, Some(&dsdt));
            let r = panic::catch_unwind(|| {
                from_rsdp(image.memory(), image.rsdp_address(), CpuHint::NONE)
            });
            match r {
                Ok(Ok(t)) => {
                    let _ = t.to_json();
                    for w in t.warnings {
                        if let Warning::Aml { problem, .. } = w {
                            let kind = core::mem::discriminant(&problem);
                            if !problems.contains(&kind) {
                                problems.push(kind);
                            }
                        }
                    }
                }
                Ok(Err(_)) => {}
                Err(_) => panic!("{name}: round {round} panicked"),
            }
        }
    }
    for p in [
        AmlProblem::UnknownOpcode(0),
        AmlProblem::Truncated,
        AmlProblem::LengthOverrun,
        AmlProblem::BadName,
    ] {
        assert!(
            problems.contains(&core::mem::discriminant(&p)),
            "fuzzing never produced {p:?}"
        );
    }
}

/// Random images: random bytes with an RSDP signature planted at random places.
#[test]
fn fuzz_random_memory_never_panics() {
    let mut rng = Rng(0x0bad_cafe_f00d_0002);
    for _ in 0..2000 {
        let len = 64 + rng.below(4096);
        let mut mem: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let at = rng.below(len - 40);
        mem[at..at + 8].copy_from_slice(b"RSD PTR ");
        if rng.below(2) == 0 {
            // Point the XSDT somewhere inside, often at a plausible header.
            let x = rng.below(len - 36);
            mem[at + 24..at + 32].copy_from_slice(&(x as u64).to_le_bytes());
            mem[x..x + 4].copy_from_slice(b"XSDT");
            let xl = (36 + 8 * rng.below(6)) as u32;
            mem[x + 4..x + 8].copy_from_slice(&xl.to_le_bytes());
        }
        let r = from_rsdp(SliceMemory::new(0, &mem), at as u64, CpuHint::NONE);
        if let Ok(t) = r {
            let _ = t.to_json();
        }
    }
}

/// Mutated acpidump text of the small dumps: characters replaced, lines cut or dropped.
#[test]
fn fuzz_mutated_text_never_panics() {
    let mut rng = Rng(0xfeed_face_0000_0003);
    for (name, text) in real_dumps() {
        if text.len() > 300_000 {
            continue;
        }
        for round in 0..20 {
            let mut bytes = text.clone().into_bytes();
            for _ in 0..1 + rng.below(40) {
                let at = rng.below(bytes.len());
                bytes[at] = b" \n:0123456789ABCDEFxz@"[rng.below(22)];
            }
            if rng.below(4) == 0 {
                let cut = rng.below(bytes.len());
                bytes.truncate(cut);
            }
            let mutated = String::from_utf8(bytes).expect("ASCII stays UTF-8");
            let r = panic::catch_unwind(|| from_acpidump_text(&mutated, CpuHint::NONE));
            assert!(r.is_ok(), "{name}: round {round} panicked");
        }
    }
}
