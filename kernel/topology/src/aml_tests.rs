//! Unit tests of the AML scanner on hand-assembled AML: names, scopes and paths, constant
//! values, what is skipped, and damaged input (unknown opcodes, truncation, huge lengths,
//! deep nesting, random bytes).

use crate::acpidump::fix_checksum;
use crate::aml::{self, Eval, Value, EISA_PNP0A03, EISA_PNP0A08, MAX_PROBLEMS_PER_TABLE};
use crate::tests::{pci_root, Rng};
use crate::{AmlProblem, PciRoot, PciRootObject, TableSig, Warning};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

// ---- an AML assembler ----------------------------------------------------------------

/// Concatenates byte strings.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// PkgLength followed by `body` (the length counts its own bytes).
pub(crate) fn pkg(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in 1..=4usize {
        let total = body.len() + n;
        if n == 1 && total < 0x40 {
            out.push(total as u8);
            break;
        }
        if n > 1 && total < 1 << (4 + 8 * (n - 1)) {
            out.push(((n - 1) as u8) << 6 | (total & 0xf) as u8);
            for i in 0..n - 1 {
                out.push((total >> (4 + 8 * i)) as u8);
            }
            break;
        }
    }
    assert!(!out.is_empty(), "body too long for a PkgLength");
    out.extend_from_slice(body);
    out
}

pub(crate) fn scope(name: &[u8], body: &[&[u8]]) -> Vec<u8> {
    cat(&[&[0x10], &pkg(&cat(&[name, &body.concat()]))])
}

pub(crate) fn device(name: &[u8], body: &[&[u8]]) -> Vec<u8> {
    cat(&[&[0x5b, 0x82], &pkg(&cat(&[name, &body.concat()]))])
}

pub(crate) fn method(name: &[u8], args: u8, body: &[&[u8]]) -> Vec<u8> {
    cat(&[&[0x14], &pkg(&cat(&[name, &[args], &body.concat()]))])
}

pub(crate) fn name(name: &[u8], value: &[u8]) -> Vec<u8> {
    cat(&[&[0x08], name, value])
}

pub(crate) fn ret(value: &[u8]) -> Vec<u8> {
    cat(&[&[0xa4], value])
}

fn if_(predicate: &[u8], body: &[&[u8]]) -> Vec<u8> {
    cat(&[&[0xa0], &pkg(&cat(&[predicate, &body.concat()]))])
}

fn else_(body: &[&[u8]]) -> Vec<u8> {
    cat(&[&[0xa1], &pkg(&body.concat())])
}

pub(crate) fn package(items: &[&[u8]]) -> Vec<u8> {
    cat(&[
        &[0x12],
        &pkg(&cat(&[&[items.len() as u8], &items.concat()])),
    ])
}

pub(crate) fn byte(v: u8) -> Vec<u8> {
    vec![0x0a, v]
}

pub(crate) fn word(v: u16) -> Vec<u8> {
    cat(&[&[0x0b], &v.to_le_bytes()])
}

pub(crate) fn dword(v: u32) -> Vec<u8> {
    cat(&[&[0x0c], &v.to_le_bytes()])
}

fn qword(v: u64) -> Vec<u8> {
    cat(&[&[0x0e], &v.to_le_bytes()])
}

fn string(s: &str) -> Vec<u8> {
    cat(&[&[0x0d], s.as_bytes(), &[0]])
}

pub(crate) fn eisa_pnp0a03() -> Vec<u8> {
    dword(EISA_PNP0A03 as u32)
}

pub(crate) fn eisa_pnp0a08() -> Vec<u8> {
    dword(EISA_PNP0A08 as u32)
}

/// `\A.B` (DualNamePrefix).
pub(crate) fn dual(a: &[u8; 4], b: &[u8; 4]) -> Vec<u8> {
    cat(&[b"\\", &[0x2e], a, b])
}

/// `\A.B.C...` (MultiNamePrefix).
fn multi(segs: &[&[u8; 4]]) -> Vec<u8> {
    let mut out = vec![b'\\', 0x2f, segs.len() as u8];
    for s in segs {
        out.extend_from_slice(*s);
    }
    out
}

/// A DSDT or SSDT around `body`, checksum fixed.
pub(crate) fn aml_table(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 36];
    t[0..4].copy_from_slice(sig);
    t[8] = 2;
    t.extend_from_slice(body);
    let len = t.len() as u32;
    t[4..8].copy_from_slice(&len.to_le_bytes());
    fix_checksum(&mut t);
    t
}

pub(crate) fn dsdt(body: &[&[u8]]) -> Vec<u8> {
    aml_table(b"DSDT", &body.concat())
}

pub(crate) fn ssdt(body: &[&[u8]]) -> Vec<u8> {
    aml_table(b"SSDT", &body.concat())
}

/// Scans a DSDT and SSDTs: the PCI roots, `\_S5_`, and every warning.
struct Scanned {
    roots: Vec<PciRoot>,
    s5: Result<Option<(u8, u8)>, ()>,
    warnings: Vec<Warning>,
    ns: aml::Namespace,
}

fn scan(tables: &[Vec<u8>]) -> Scanned {
    let tagged: Vec<(TableSig, &[u8])> = tables
        .iter()
        .map(|t| {
            let sig = match t.get(..4) {
                Some(&[a, b, c, d]) => TableSig([a, b, c, d]),
                _ => TableSig::SSDT,
            };
            (sig, t.as_slice())
        })
        .collect();
    let (ns, mut warnings) = aml::scan(&tagged);
    let roots = ns.pci_roots(&mut warnings);
    Scanned {
        roots,
        s5: ns.s5(),
        warnings,
        ns,
    }
}

pub(crate) fn hid_pci() -> Vec<u8> {
    name(b"_HID", &eisa_pnp0a03())
}

fn aml_warning(offset: usize, problem: AmlProblem) -> Warning {
    Warning::Aml {
        signature: TableSig::DSDT,
        offset,
        problem,
    }
}

/// Offset of `needle` in `hay` (the first occurrence).
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in table")
}

// ---- names, values, paths ------------------------------------------------------------

#[test]
fn pci_root_with_constant_names() {
    let t = dsdt(&[&scope(
        b"\\_SB_",
        &[&device(
            b"PCI0",
            &[
                &name(b"_HID", &eisa_pnp0a08()),
                &name(b"_CID", &eisa_pnp0a03()),
                &name(b"_SEG", &word(1)),
                &name(b"_BBN", &byte(0x80)),
                &name(b"_PXM", &[0x01]),
                &name(b"_UID", &[0x00]),
            ],
        )],
    )]);
    let s = scan(&[t]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        s.roots,
        [PciRoot {
            pcie: true,
            segment: Some(1),
            bus: Some(0x80),
            proximity_domain: Some(1),
            uid: Some(0),
            ..pci_root("\\_SB_.PCI0")
        }]
    );
    assert_eq!(s.s5, Ok(None));
}

#[test]
fn integer_encodings() {
    let ids: [(&[u8; 4], Vec<u8>, u64); 7] = [
        (b"ZERO", vec![0x00], 0),
        (b"ONE_", vec![0x01], 1),
        (b"ONES", vec![0xff], u64::MAX),
        (b"BYTE", byte(0xab), 0xab),
        (b"WORD", word(0xabcd), 0xabcd),
        (b"DWRD", dword(0xdead_beef), 0xdead_beef),
        (b"QWRD", qword(0x0123_4567_89ab_cdef), 0x0123_4567_89ab_cdef),
    ];
    let body: Vec<Vec<u8>> = ids.iter().map(|(n, v, _)| name(*n, v)).collect();
    let refs: Vec<&[u8]> = body.iter().map(Vec::as_slice).collect();
    let s = scan(&[dsdt(&refs)]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    for (n, _, want) in &ids {
        assert_eq!(
            s.ns.eval(&[**n]),
            Eval::Constant(Value::Integer(*want)),
            "{}",
            String::from_utf8_lossy(*n)
        );
    }
}

#[test]
fn method_returning_a_constant_counts() {
    let t = dsdt(&[&device(
        b"\\PCI0",
        &[
            &hid_pci(),
            &method(b"_PXM", 0, &[&ret(&byte(3))]),
            &method(b"_BBN", 0, &[&ret(&[0x01])]),
            &method(b"_UID", 0, &[&ret(&word(0x1234))]),
        ],
    )]);
    let s = scan(&[t]);
    assert_eq!(
        s.roots,
        [PciRoot {
            bus: Some(1),
            proximity_domain: Some(3),
            uid: Some(0x1234),
            ..pci_root("\\PCI0")
        }]
    );
}

#[test]
fn computed_values_are_not_constant() {
    // Method (_PXM) { Store (PXMR, Local0) Return (Local0) }: reads a register.
    let computed_pxm = method(b"_PXM", 0, &[&[0x70], b"PXMR", &[0x60], &ret(&[0x60])]);
    let t = dsdt(&[
        &name(b"PXMR", &byte(1)),
        &name(b"BUSN", &byte(2)),
        &device(
            b"PCI0",
            &[
                &hid_pci(),
                &computed_pxm,
                // Return (BUSN): a reference to a Name, which may change at run time.
                &method(b"_BBN", 0, &[&ret(b"BUSN")]),
                // Name (_SEG, Buffer () {...}): not an integer.
                &name(b"_SEG", &[0x11, 0x03, 0x01, 0x00]),
                &name(b"_UID", &string("PCI0")),
            ],
        ),
    ]);
    let s = scan(&[t]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        s.roots,
        [PciRoot {
            segment: None,
            bus: None,
            not_constant: vec![PciRootObject::Seg, PciRootObject::Bbn, PciRootObject::Pxm],
            ..pci_root("\\PCI0")
        }]
    );
}

#[test]
fn method_calling_a_constant_method_is_followed() {
    // The AMI pattern: Method (^BN00) { Return (Zero) } inside PCI0 (so \_SB_.BN00), and
    // Method (_BBN) { Return (BN00 ()) }. PC40 has its own BN40 that reads a register, which
    // the search rules find before \_SB_.BN40.
    let t = dsdt(&[&scope(
        b"\\_SB_",
        &[
            &device(
                b"PCI0",
                &[
                    &hid_pci(),
                    &method(b"^BN00", 0, &[&ret(&[0x00])]),
                    &method(b"_BBN", 0, &[&ret(b"BN00")]),
                ],
            ),
            &device(
                b"PC40",
                &[
                    &hid_pci(),
                    &method(b"^BN40", 0, &[&ret(&byte(0x40))]),
                    &method(b"_BBN", 0, &[&ret(b"BN40")]),
                    &method(b"BN40", 0, &[&ret(b"SEB1")]),
                ],
            ),
            &device(
                b"PC80",
                &[
                    &hid_pci(),
                    &method(b"^BN80", 0, &[&ret(&byte(0x80))]),
                    &method(b"_BBN", 0, &[&ret(b"BN80")]),
                ],
            ),
            // A call chain that loops never ends in a constant.
            &device(
                b"PCC0",
                &[
                    &hid_pci(),
                    &method(b"_BBN", 0, &[&ret(b"LOOP")]),
                    &method(b"LOOP", 0, &[&ret(b"_BBN")]),
                ],
            ),
        ],
    )]);
    let s = scan(&[t]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let buses: Vec<(String, Option<u8>)> =
        s.roots.iter().map(|r| (r.path.clone(), r.bus)).collect();
    assert_eq!(
        buses,
        [
            (String::from("\\_SB_.PCI0"), Some(0)),
            (String::from("\\_SB_.PC40"), None),
            (String::from("\\_SB_.PC80"), Some(0x80)),
            (String::from("\\_SB_.PCC0"), None),
        ]
    );
}

#[test]
fn hid_and_cid_forms() {
    let t = dsdt(&[
        &device(b"STR3", &[&name(b"_HID", &string("PNP0A03"))]),
        &device(b"STR8", &[&name(b"_HID", &string("pnp0a08"))]),
        &device(
            b"CIDP",
            &[
                &name(b"_HID", &string("ACPI0016")),
                &name(b"_CID", &package(&[&dword(0x0c0a_d041), &eisa_pnp0a08()])),
            ],
        ),
        &device(b"METH", &[&method(b"_HID", 0, &[&ret(&eisa_pnp0a03())])]),
        &device(b"OTHR", &[&name(b"_HID", &dword(0x0c0a_d041))]),
        &device(b"NONE", &[&name(b"_ADR", &[0x00])]),
    ]);
    let s = scan(&[t]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let got: Vec<(&str, bool)> = s.roots.iter().map(|r| (r.path.as_str(), r.pcie)).collect();
    assert_eq!(
        got,
        [
            ("\\STR3", false),
            ("\\STR8", true),
            ("\\CIDP", true),
            ("\\METH", false)
        ]
    );
}

#[test]
fn scopes_and_name_paths() {
    let t = dsdt(&[
        // Scope (\_SB) { Scope (PCI0) {...} } after Device (\_SB.PCI0) via DualNamePrefix.
        &device(&dual(b"_SB_", b"PCI0"), &[&hid_pci()]),
        &scope(
            b"\\_SB_",
            &[&scope(
                b"PCI0",
                &[
                    &name(b"_PXM", &byte(4)),
                    // ^PCI1: a sibling of PCI0.
                    &device(b"^PCI1", &[&hid_pci(), &name(b"_BBN", &byte(0x20))]),
                    // ^^PCI2: at the root.
                    &device(b"^^PCI2", &[&hid_pci()]),
                ],
            )],
        ),
        // MultiNamePrefix: \_SB_.PCI0.BR00.PCI3.
        &device(&multi(&[b"_SB_", b"PCI0", b"BR00", b"PCI3"]), &[&hid_pci()]),
        // Scope (\) with NullName.
        &scope(b"\\\x00", &[&name(b"_S5_", &package(&[&byte(5), &[0x00]]))]),
    ]);
    let s = scan(&[t]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let got: Vec<(&str, Option<u8>, Option<u32>)> = s
        .roots
        .iter()
        .map(|r| (r.path.as_str(), r.bus, r.proximity_domain))
        .collect();
    assert_eq!(
        got,
        [
            ("\\_SB_.PCI0", Some(0), Some(4)),
            ("\\_SB_.PCI1", Some(0x20), None),
            ("\\PCI2", Some(0), None),
            ("\\_SB_.PCI0.BR00.PCI3", Some(0), None),
        ]
    );
    assert_eq!(s.s5, Ok(Some((5, 0))));
}

#[test]
fn parent_prefix_above_the_root_is_a_bad_name() {
    let t = dsdt(&[
        &device(b"^^ABCD", &[&hid_pci()]),
        &device(b"PCI0", &[&hid_pci()]),
    ]);
    let s = scan(&[t]);
    assert_eq!(s.warnings, [aml_warning(36 + 3, AmlProblem::BadName)]);
    // The bad device is skipped by its length; the next one is found.
    assert_eq!(s.roots, [pci_root("\\PCI0")]);
}

#[test]
fn ssdt_adds_to_a_device_declared_earlier() {
    let t = dsdt(&[&scope(
        b"\\_SB_",
        &[&device(b"PCI0", &[&name(b"_HID", &eisa_pnp0a08())])],
    )]);
    // External (\_SB.PCI0, DeviceObj) then Scope (\_SB) { Scope (PCI0) { Name (_PXM, 2) } }.
    let s1 = ssdt(&[
        &cat(&[&[0x15], &dual(b"_SB_", b"PCI0"), &[6, 0]]),
        &scope(b"\\_SB_", &[&scope(b"PCI0", &[&name(b"_PXM", &byte(2))])]),
    ]);
    // Scope (_SB.PCI0) from the root, relative DualName.
    let s2 = ssdt(&[&scope(
        &cat(&[&[0x2e], b"_SB_PCI0"]),
        &[&name(b"_SEG", &[0x01])],
    )]);
    let s = scan(&[t, s1, s2]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        s.roots,
        [PciRoot {
            pcie: true,
            segment: Some(1),
            proximity_domain: Some(2),
            ..pci_root("\\_SB_.PCI0")
        }]
    );
}

#[test]
fn a_scope_name_follows_the_search_rules() {
    // Scope (\_SB) { Scope (PCI0) { Scope (XYZ0) {...} } } where XYZ0 exists at the root:
    // the single-segment scope name finds \XYZ0 by searching upwards.
    let t = dsdt(&[
        &device(b"XYZ0", &[]),
        &scope(
            b"\\_SB_",
            &[&device(
                b"PCI0",
                &[&scope(b"XYZ0", &[&device(b"PCI9", &[&hid_pci()])])],
            )],
        ),
    ]);
    let s = scan(&[t]);
    assert_eq!(s.roots, [pci_root("\\XYZ0.PCI9")]);
}

#[test]
fn declarations_inside_if_and_else() {
    // If (LEqual (OSYS, 0x07D9)) { Device (PCI0) {...} } Else { Name (_S5_, ...) }, and a
    // _PXM declared differently in both branches is not a constant.
    let pred = cat(&[&[0x93], b"OSYS", &word(0x07d9)]);
    let t = dsdt(&[
        &name(b"OSYS", &[0x00]),
        &if_(
            &pred,
            &[&device(
                b"PCI0",
                &[
                    &hid_pci(),
                    &if_(&[0x01], &[&name(b"_PXM", &[0x00])]),
                    &else_(&[&name(b"_PXM", &[0x01])]),
                    &if_(&[0x01], &[&name(b"_BBN", &byte(9))]),
                    &else_(&[&name(b"_BBN", &byte(9))]),
                ],
            )],
        ),
        &else_(&[&name(b"_S5_", &package(&[&byte(7), &byte(7)]))]),
    ]);
    let s = scan(&[t]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        s.roots,
        [PciRoot {
            bus: Some(9),
            not_constant: vec![PciRootObject::Pxm],
            ..pci_root("\\PCI0")
        }]
    );
    assert_eq!(s.s5, Ok(Some((7, 7))));
}

#[test]
fn method_calls_at_namespace_level_use_argument_counts() {
    // If (FOO (One, 0x10)) { Device (PCI0) {...} } with FOO, a 2-argument method declared
    // after the call (in an SSDT; the first pass learns its argument count), and a call of a
    // method only declared External: both are skipped whole.
    let pred = cat(&[b"FOO_", &[0x01], &byte(0x10)]);
    let t = dsdt(&[
        &if_(&pred, &[&device(b"PCI0", &[&hid_pci()])]),
        // Store (BAR (One), Local0) with BAR declared External with 1 argument.
        &cat(&[&[0x15], b"BAR_", &[8, 1]]),
        &cat(&[&[0x70], b"BAR_", &[0x01], &[0x60]]),
        &device(b"PCI1", &[&hid_pci()]),
    ]);
    let s1 = ssdt(&[&method(b"\\FOO_", 2, &[&ret(&[0x01])])]);
    let s = scan(&[t, s1]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let paths: Vec<&str> = s.roots.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["\\PCI0", "\\PCI1"]);
}

#[test]
fn common_objects_are_skipped_without_loss() {
    let t = dsdt(&[
        // External (\_SB.EXT0, IntObj)
        &cat(&[&[0x15], &dual(b"_SB_", b"EXT0"), &[1, 0]]),
        // OperationRegion (GNVS, SystemMemory, Add (0x1000, OFFS), 0x100): TermArg operands.
        &name(b"OFFS", &dword(0x10)),
        &cat(&[
            &[0x5b, 0x80],
            b"GNVS",
            &[0x00],
            &[0x72],
            &word(0x1000),
            b"OFFS",
            &[0x00],
            &word(0x100),
        ]),
        // Field (GNVS, AnyAcc, NoLock, Preserve) { OSYS, 16 }
        &cat(&[
            &[0x5b, 0x81],
            &pkg(&cat(&[b"GNVS", &[0x00], b"OSYS", &[0x10]])),
        ]),
        // Mutex (MUT0, 0), Event (EVT0), Alias (OSYS, OSY2)
        &cat(&[&[0x5b, 0x01], b"MUT0", &[0x00]]),
        &cat(&[&[0x5b, 0x02], b"EVT0"]),
        &cat(&[&[0x06], b"OSYS", b"OSY2"]),
        // Name (BUF0, Buffer (4) {...}), CreateDWordField (BUF0, 0, DW00)
        &name(
            b"BUF0",
            &cat(&[&[0x11], &pkg(&cat(&[&byte(4), &[1, 2, 3, 4]]))]),
        ),
        &cat(&[&[0x8a], b"BUF0", &[0x00], b"DW00"]),
        // Processor (CPU0, 1, 0x410, 6) { Name (_PXM, 0) }
        &cat(&[
            &[0x5b, 0x83],
            &pkg(&cat(&[
                b"CPU0",
                &[1, 0x10, 0x04, 0, 0, 6],
                &name(b"_PXM", &[0x00]),
            ])),
        ]),
        // PowerResource (PWR0, 0, 0) { Method (_STA) { Return (One) } }
        &cat(&[
            &[0x5b, 0x84],
            &pkg(&cat(&[
                b"PWR0",
                &[0, 0, 0],
                &method(b"_STA", 0, &[&ret(&[0x01])]),
            ])),
        ]),
        // ThermalZone (TZ00) { Method (_TMP) { Return (0x0BB8) } }
        &cat(&[
            &[0x5b, 0x85],
            &pkg(&cat(&[b"TZ00", &method(b"_TMP", 0, &[&ret(&word(3000))])])),
        ]),
        // DataRegion (DREG, "SIG", "", "")
        &cat(&[
            &[0x5b, 0x88],
            b"DREG",
            &string("SIG"),
            &string(""),
            &string(""),
        ]),
        // Notify (\_SB.PCI0, 0) at namespace level, Store (One, Debug)
        &cat(&[&[0x86], &dual(b"_SB_", b"PCI0"), &[0x00]]),
        &cat(&[&[0x70, 0x01], &[0x5b, 0x31]]),
        // A method with a body the scanner does not read.
        &method(b"MTH0", 1, &[&[0x70, 0x68, 0x60], &[0xde, 0xad]]),
        &scope(
            b"\\_SB_",
            &[&device(b"PCI0", &[&hid_pci(), &name(b"_PXM", &byte(1))])],
        ),
    ]);
    let s = scan(&[t]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        s.roots,
        [PciRoot {
            proximity_domain: Some(1),
            ..pci_root("\\_SB_.PCI0")
        }]
    );
}

// ---- _S5_ ------------------------------------------------------------------------------

#[test]
fn s5_forms() {
    let s5 = |value: &[u8]| scan(&[dsdt(&[&name(b"_S5_", value)])]).s5;
    // Package (4) { 0x07, Zero, Zero, Zero }
    assert_eq!(
        s5(&package(&[&byte(7), &[0x00], &[0x00], &[0x00]])),
        Ok(Some((7, 0)))
    );
    assert_eq!(s5(&package(&[&[0x00], &[0x00]])), Ok(Some((0, 0))));
    assert_eq!(s5(&package(&[&[0x01]])), Ok(Some((1, 1))));
    assert_eq!(s5(&package(&[&byte(5), &byte(5)])), Ok(Some((5, 5))));
    // Out of range, empty, not a package, not constant.
    assert_eq!(s5(&package(&[&byte(9), &[0x00]])), Err(()));
    assert_eq!(s5(&package(&[&[0x00], &string("x")])), Err(()));
    assert_eq!(s5(&package(&[])), Err(()));
    assert_eq!(s5(&byte(5)), Err(()));
    assert_eq!(s5(b"OSYS"), Err(()));
    // As a method returning a package; in an SSDT; absent.
    let m = dsdt(&[&method(
        b"\\_S5_",
        0,
        &[&ret(&package(&[&byte(6), &byte(6)]))],
    )]);
    assert_eq!(scan(&[m]).s5, Ok(Some((6, 6))));
    let in_ssdt = ssdt(&[&name(b"\\_S5_", &package(&[&byte(3), &byte(4)]))]);
    assert_eq!(scan(&[dsdt(&[]), in_ssdt]).s5, Ok(Some((3, 4))));
    assert_eq!(scan(&[dsdt(&[])]).s5, Ok(None));
    // _S5_ under \_SB_ is not the system state object.
    let nested = dsdt(&[&scope(b"\\_SB_", &[&name(b"_S5_", &package(&[&byte(5)]))])]);
    assert_eq!(scan(&[nested]).s5, Ok(None));
}

// ---- damaged input -------------------------------------------------------------------

#[test]
fn unknown_opcode_skips_the_rest_of_the_enclosing_object() {
    let bad = device(
        b"PCI0",
        &[&hid_pci(), &[0x03, 0x00], &name(b"_PXM", &byte(1))],
    );
    let t = dsdt(&[
        &scope(b"\\_SB_", &[&bad, &device(b"PCI1", &[&hid_pci()])]),
        &device(b"PCI2", &[&hid_pci()]),
    ]);
    let at = find(&t, &[0x03, 0x00, 0x08]);
    let s = scan(&[t]);
    assert_eq!(
        s.warnings,
        [aml_warning(at, AmlProblem::UnknownOpcode(0x03))]
    );
    let got: Vec<(&str, Option<u32>)> = s
        .roots
        .iter()
        .map(|r| (r.path.as_str(), r.proximity_domain))
        .collect();
    assert_eq!(
        got,
        [
            ("\\_SB_.PCI0", None),
            ("\\_SB_.PCI1", None),
            ("\\PCI2", None)
        ]
    );
    // An unknown extended opcode.
    let t = dsdt(&[&[0x5b, 0x99], &device(b"PCI0", &[&hid_pci()])]);
    let s = scan(&[t]);
    assert_eq!(
        s.warnings,
        [aml_warning(36, AmlProblem::UnknownOpcode(0x5b99))]
    );
    assert!(s.roots.is_empty());
}

#[test]
fn truncated_table_keeps_what_came_before() {
    let full = dsdt(&[&scope(
        b"\\_SB_",
        &[
            &device(b"PCI0", &[&hid_pci(), &name(b"_PXM", &byte(1))]),
            &device(b"PCI1", &[&hid_pci(), &name(b"_PXM", &byte(2))]),
        ],
    )]);
    // Cut inside PCI1's _PXM, fix up the header: the scope and PCI1 overrun the table.
    let cut = full.len() - 2;
    let mut t = full[..cut].to_vec();
    t[4..8].copy_from_slice(&(cut as u32).to_le_bytes());
    fix_checksum(&mut t);
    let s = scan(&[t]);
    let scope_len_at = 37;
    let pci1_len_at = find(&full, b"PCI1") - 1;
    assert_eq!(
        s.warnings,
        [
            aml_warning(scope_len_at, AmlProblem::LengthOverrun),
            aml_warning(pci1_len_at, AmlProblem::LengthOverrun),
            aml_warning(cut, AmlProblem::Truncated),
        ]
    );
    let got: Vec<(&str, Option<u32>)> = s
        .roots
        .iter()
        .map(|r| (r.path.as_str(), r.proximity_domain))
        .collect();
    assert_eq!(got, [("\\_SB_.PCI0", Some(1)), ("\\_SB_.PCI1", None)]);
}

#[test]
fn huge_and_impossible_package_lengths() {
    // Scope with the largest PkgLength (2^28 - 1): cut at the table's end, contents scanned.
    let inner = device(b"PCI0", &[&hid_pci()]);
    let t = dsdt(&[&cat(&[&[0x10, 0xff, 0xff, 0xff, 0xff], b"\\_SB_", &inner])]);
    let s = scan(&[t]);
    assert_eq!(s.warnings, [aml_warning(37, AmlProblem::LengthOverrun)]);
    assert_eq!(s.roots, [pci_root("\\_SB_.PCI0")]);
    // A 4-byte PkgLength claiming 2 bytes: shorter than itself.
    let t = dsdt(&[
        &[0x10, 0xc2, 0x00, 0x00, 0x00],
        &device(b"PCI0", &[&hid_pci()]),
    ]);
    let s = scan(&[t]);
    assert_eq!(s.warnings, [aml_warning(37, AmlProblem::BadLength)]);
    assert!(s.roots.is_empty());
    // A buffer in a Name whose length overruns: the rest of the table is skipped.
    let t = dsdt(&[
        &name(b"BUF0", &[0x11, 0x3f]),
        &device(b"PCI0", &[&hid_pci()]),
    ]);
    let s = scan(&[t]);
    assert_eq!(s.warnings, [aml_warning(42, AmlProblem::LengthOverrun)]);
}

#[test]
fn deep_nesting_is_bounded() {
    // 1000 nested scopes.
    let mut body = device(b"PCI0", &[&hid_pci()]);
    for _ in 0..1000 {
        body = scope(b"SCOP", &[&body]);
    }
    let s = scan(&[dsdt(&[&body, &device(b"PCI1", &[&hid_pci()])])]);
    assert_only_too_deep(&s.warnings);
    assert_eq!(s.roots, [pci_root("\\PCI1")]);
    // An If predicate of 100 000 nested LNot: the expression is cut off, the rest of the
    // table is still scanned.
    let mut pred = vec![0x92; 100_000];
    pred.push(0x01);
    let t = dsdt(&[
        &if_(&pred, &[&device(b"PCI0", &[&hid_pci()])]),
        &device(b"PCI1", &[&hid_pci()]),
    ]);
    let s = scan(&[t]);
    assert_only_too_deep(&s.warnings);
    assert_eq!(s.roots, [pci_root("\\PCI1")]);
    // Packages nested 1000 deep in a Name.
    let mut value = package(&[&[0x01]]);
    for _ in 0..1000 {
        value = package(&[&value]);
    }
    let s = scan(&[dsdt(&[&name(b"DEEP", &value)])]);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
}

#[test]
fn bad_name_characters() {
    let t = dsdt(&[
        &device(b"pci0", &[&hid_pci()]),
        &device(b"PCI1", &[&hid_pci()]),
    ]);
    let s = scan(&[t]);
    assert_eq!(s.warnings, [aml_warning(39, AmlProblem::BadName)]);
    assert_eq!(s.roots, [pci_root("\\PCI1")]);
}

#[test]
fn problems_per_table_are_capped() {
    let bad = scope(b"\\BAD_", &[&[0x03]]);
    let many: Vec<&[u8]> = (0..20).map(|_| bad.as_slice()).collect();
    let s = scan(&[dsdt(&many), ssdt(&[&bad])]);
    let dropped = 20 - MAX_PROBLEMS_PER_TABLE;
    assert_eq!(s.warnings.len(), MAX_PROBLEMS_PER_TABLE + 2);
    assert_eq!(
        s.warnings[MAX_PROBLEMS_PER_TABLE],
        Warning::AmlProblemsDropped {
            signature: TableSig::DSDT,
            count: dropped
        }
    );
    assert!(matches!(
        s.warnings[MAX_PROBLEMS_PER_TABLE + 1],
        Warning::Aml {
            signature: TableSig::SSDT,
            ..
        }
    ));
}

#[test]
fn out_of_range_values_are_reported() {
    let t = dsdt(&[&device(
        b"PCI0",
        &[
            &hid_pci(),
            &name(b"_BBN", &word(0x100)),
            &name(b"_SEG", &dword(0x1_0000)),
            &name(b"_PXM", &qword(1 << 32)),
        ],
    )]);
    let s = scan(&[t]);
    let range = |object, value| Warning::PciRootValueRange {
        path: String::from("\\PCI0"),
        object,
        value,
    };
    assert_eq!(
        s.warnings,
        [
            range(PciRootObject::Seg, 0x1_0000),
            range(PciRootObject::Bbn, 0x100),
            range(PciRootObject::Pxm, 1 << 32),
        ]
    );
    assert_eq!(
        s.roots,
        [PciRoot {
            segment: None,
            bus: None,
            ..pci_root("\\PCI0")
        }]
    );
}

/// The scan warned once, that objects were nested too deeply.
fn assert_only_too_deep(warnings: &[Warning]) {
    assert!(
        matches!(
            warnings,
            [Warning::Aml {
                problem: AmlProblem::TooDeep,
                ..
            }]
        ),
        "{warnings:?}"
    );
}

#[test]
fn empty_and_header_only_tables() {
    let s = scan(&[dsdt(&[]), vec![0u8; 10], Vec::new()]);
    assert!(s.warnings.is_empty());
    assert!(s.roots.is_empty());
}

/// Random bytes, and random bytes drawn from the opcodes and name characters AML uses most,
/// never panic or hang.
#[test]
fn fuzz_random_aml_never_panics() {
    let mut rng = Rng(0x00a1_1a1a_0000_0004);
    let alphabet: &[u8] = b"\x00\x01\x08\x0a\x0b\x0c\x0d\x0e\x10\x11\x12\x14\x15\x2e\x2f\x5b\x5c\x5e\x70\x72\x82\x83\x80\x81\x93\xa0\xa1\xa4\xffABP_0\x41\x42\x43\x44\xc0\x40\x7f\xfe";
    let mut warned = 0;
    for round in 0..3000 {
        let len = rng.below(600);
        let body: Vec<u8> = (0..len)
            .map(|_| {
                if round % 2 == 0 {
                    rng.next() as u8
                } else {
                    alphabet[rng.below(alphabet.len())]
                }
            })
            .collect();
        let s = scan(&[dsdt(&[&body]), ssdt(&[&body[..len / 2]])]);
        warned += usize::from(!s.warnings.is_empty());
    }
    assert!(warned > 1000, "{warned}");
}
