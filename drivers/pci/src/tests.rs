//! Enumeration tests against a fake configuration space modelling a QEMU q35 machine, and
//! malformed variants of it.

use std::collections::{BTreeMap, BTreeSet};
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::*;

/// Status bits set in every fake function: capabilities list (read-only) and received
/// master abort (write-1-to-clear), which the scan must leave alone.
const STATUS: u32 = 0x0010 | 0x2000;
/// Command of every fake function unless changed: I/O, memory, bus master.
const COMMAND: u32 = 0x0007;

/// One fake function: its registers and, per dword, the bits a write can change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dev {
    cfg: [u32; 64],
    writable: [u32; 64],
}

impl Dev {
    fn new(vendor: u16, device: u16, class_code: u32, revision: u8, header_type: u8) -> Dev {
        let mut cfg = [0; 64];
        cfg[0] = u32::from(vendor) | (u32::from(device) << 16);
        cfg[1] = COMMAND | (STATUS << 16);
        cfg[2] = (class_code << 8) | u32::from(revision);
        cfg[3] = u32::from(header_type) << 16;
        Dev {
            cfg,
            writable: [0; 64],
        }
    }

    fn slot(index: u8) -> usize {
        4 + usize::from(index)
    }

    fn mem32(mut self, index: u8, address: u32, size: u32, prefetchable: bool) -> Dev {
        let i = Dev::slot(index);
        self.cfg[i] = address | if prefetchable { 0x8 } else { 0 };
        self.writable[i] = !(size - 1) & !0xf;
        self
    }

    fn mem64(mut self, index: u8, address: u64, size: u64, prefetchable: bool) -> Dev {
        let i = Dev::slot(index);
        let mask = !(size - 1);
        self.cfg[i] = (address as u32) | 0x4 | if prefetchable { 0x8 } else { 0 };
        self.writable[i] = (mask as u32) & !0xf;
        self.cfg[i + 1] = (address >> 32) as u32;
        self.writable[i + 1] = (mask >> 32) as u32;
        self
    }

    /// An I/O BAR that, like most, decodes only 16 address bits.
    fn io(mut self, index: u8, port: u16, size: u16) -> Dev {
        let i = Dev::slot(index);
        self.cfg[i] = u32::from(port) | 1;
        self.writable[i] = u32::from(!(size - 1)) & 0xfffc;
        self
    }

    /// A BAR dword with fixed contents (malformed types).
    fn raw_bar(mut self, index: u8, value: u32, writable: u32) -> Dev {
        let i = Dev::slot(index);
        self.cfg[i] = value;
        self.writable[i] = writable;
        self
    }

    fn irq(mut self, line: u8, pin: u8) -> Dev {
        self.cfg[15] = u32::from(line) | (u32::from(pin) << 8);
        self
    }

    fn buses(mut self, primary: u8, secondary: u8, subordinate: u8) -> Dev {
        self.cfg[6] =
            u32::from(primary) | (u32::from(secondary) << 8) | (u32::from(subordinate) << 16);
        self
    }

    fn command(mut self, command: u16) -> Dev {
        self.cfg[1] = u32::from(command) | (STATUS << 16);
        self
    }
}

/// A fake configuration space. Absent functions read as all ones. It checks that the scan
/// only writes the command register and BARs, and BARs only while decoding is disabled.
#[derive(Default)]
struct Fake {
    devs: BTreeMap<Bdf, Dev>,
    /// Functions whose vendor id was read.
    probed: BTreeSet<Bdf>,
    /// Everything the scan did wrong.
    violations: Vec<String>,
    /// Writes to BARs (sizing) and to command registers.
    bar_writes: usize,
    command_writes: BTreeMap<Bdf, usize>,
    /// Fail the `n`th read (1-based) of this register.
    fail_read: Option<(Bdf, u16, usize)>,
    reads_of_failing: usize,
    /// Accesses left before the fake assumes an endless loop.
    budget: usize,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            budget: 1_000_000,
            ..Fake::default()
        }
    }

    fn add(&mut self, bdf: Bdf, dev: Dev) -> &mut Fake {
        self.devs.insert(bdf, dev);
        self
    }

    fn check(&mut self, bdf: Bdf, offset: u16) -> Result<(), PciError> {
        if self.budget == 0 {
            return Err(PciError::AccessFailed { bdf, offset });
        }
        self.budget -= 1;
        if !bdf.is_valid() {
            self.violations.push(format!("access to invalid {bdf:?}"));
            return Err(PciError::InvalidFunction(bdf));
        }
        if !offset.is_multiple_of(4) || offset >= CONFIG_SPACE_SIZE {
            self.violations.push(format!("bad offset {offset:#x}"));
            return Err(PciError::InvalidRegister { bdf, offset });
        }
        Ok(())
    }
}

impl ConfigSpace for Fake {
    fn read32(&mut self, bdf: Bdf, offset: u16) -> Result<u32, PciError> {
        self.check(bdf, offset)?;
        if let Some((b, o, n)) = self.fail_read {
            if (b, o) == (bdf, offset) {
                self.reads_of_failing += 1;
                if self.reads_of_failing == n {
                    return Err(PciError::AccessFailed { bdf, offset });
                }
            }
        }
        if offset == 0 {
            self.probed.insert(bdf);
        }
        Ok(match self.devs.get(&bdf) {
            Some(d) => d.cfg.get(usize::from(offset / 4)).copied().unwrap_or(0),
            None => u32::MAX,
        })
    }

    fn write32(&mut self, bdf: Bdf, offset: u16, value: u32) -> Result<(), PciError> {
        self.check(bdf, offset)?;
        let Some(d) = self.devs.get_mut(&bdf) else {
            self.violations.push(format!("write to absent {bdf}"));
            return Ok(());
        };
        let layout = HeaderLayout::from_header_type((d.cfg[3] >> 16) as u8);
        let i = usize::from(offset / 4);
        if offset == reg::COMMAND_STATUS {
            let status = (d.cfg[1] >> 16) & !(value >> 16);
            d.cfg[1] = (value & 0xffff) | (status << 16);
            *self.command_writes.entry(bdf).or_default() += 1;
        } else if i >= 4 && i < 4 + usize::from(layout.bar_slots()) {
            if d.cfg[1] & 0x3 != 0 {
                self.violations
                    .push(format!("BAR write to {bdf} {offset:#x} while decoding"));
            }
            d.cfg[i] = (d.cfg[i] & !d.writable[i]) | (value & d.writable[i]);
            self.bar_writes += 1;
        } else {
            self.violations
                .push(format!("unexpected write to {bdf} {offset:#x}"));
        }
        Ok(())
    }
}

fn b(bus: u8, device: u8, function: u8) -> Bdf {
    Bdf::new(0, bus, device, function)
}

/// QEMU q35-like machine: host bridge, VGA, virtio-net, a PCI-PCI bridge to bus 1 with an
/// NVMe controller behind it, and the ICH9 LPC/SATA/SMBus device at 00:1f.
fn q35() -> Fake {
    let mut m = Fake::new();
    m.add(b(0, 0, 0), Dev::new(0x8086, 0x29c0, 0x06_00_00, 0, 0))
        .add(
            b(0, 1, 0),
            Dev::new(0x1234, 0x1111, 0x03_00_00, 2, 0)
                .mem32(0, 0xfd00_0000, 16 << 20, true)
                .mem32(2, 0xfebf_0000, 4096, false),
        )
        .add(
            b(0, 2, 0),
            Dev::new(0x1af4, 0x1000, 0x02_00_00, 0, 0)
                .io(0, 0xc000, 32)
                .mem32(1, 0xfebf_1000, 4096, false)
                .mem64(4, 0x8_0000_0000, 16 << 10, true)
                .irq(11, 1),
        )
        .add(
            b(0, 3, 0),
            Dev::new(0x1b36, 0x0001, 0x06_04_00, 0, 1)
                .mem32(0, 0xfebf_2000, 256, false)
                .buses(0, 1, 1)
                .irq(10, 1),
        )
        .add(b(0, 0x1f, 0), Dev::new(0x8086, 0x2918, 0x06_01_00, 2, 0x80))
        .add(
            b(0, 0x1f, 2),
            Dev::new(0x8086, 0x2922, 0x01_06_01, 2, 0)
                .io(4, 0xc040, 32)
                .mem32(5, 0xfebf_3000, 4096, false)
                .irq(10, 1),
        )
        .add(
            b(0, 0x1f, 3),
            Dev::new(0x8086, 0x2930, 0x0c_05_00, 2, 0)
                .io(4, 0x0700, 64)
                .irq(10, 1),
        )
        .add(
            b(1, 0, 0),
            Dev::new(0x1b36, 0x0010, 0x01_08_02, 2, 0)
                .mem64(0, 0xfe80_0000, 16 << 10, false)
                .irq(11, 1),
        );
    m
}

fn lines(functions: &[Function]) -> Vec<String> {
    functions.iter().map(lspci_line).collect()
}

fn find(functions: &[Function], bdf: Bdf) -> &Function {
    functions
        .iter()
        .find(|f| f.bdf == bdf)
        .unwrap_or_else(|| panic!("{bdf} not found"))
}

fn mem(index: u8, address: u64, size: u64, prefetchable: bool, wide: bool) -> Bar {
    Bar {
        index,
        kind: if wide {
            BarKind::Memory64
        } else {
            BarKind::Memory32
        },
        prefetchable,
        address,
        size,
    }
}

fn io(index: u8, address: u64, size: u64) -> Bar {
    Bar {
        index,
        kind: BarKind::Io,
        prefetchable: false,
        address,
        size,
    }
}

#[test]
fn q35_functions_in_scan_order() {
    let mut m = q35();
    let s = scan(&mut m, 0, 0, 255).unwrap();
    assert_eq!(s.warnings, []);
    assert_eq!(
        lines(&s.functions),
        [
            "00:00.0 Host bridge [0600]: 8086:29c0",
            "00:01.0 VGA compatible controller [0300]: 1234:1111 (rev 02)",
            "00:02.0 Ethernet controller [0200]: 1af4:1000",
            "00:03.0 PCI bridge [0604]: 1b36:0001",
            "00:1f.0 ISA bridge [0601]: 8086:2918 (rev 02)",
            "00:1f.2 SATA controller [0106]: 8086:2922 (rev 02)",
            "00:1f.3 SMBus [0c05]: 8086:2930 (rev 02)",
            "01:00.0 Non-Volatile memory controller [0108]: 1b36:0010 (rev 02)",
        ]
    );
    assert_eq!(enumerate(&mut q35(), 0, 0, 255).unwrap(), s.functions);
    assert_eq!(m.violations, Vec::<String>::new());
}

#[test]
fn q35_header_fields() {
    let fs = enumerate(&mut q35(), 0, 0, 255).unwrap();
    let host = find(&fs, b(0, 0, 0));
    assert_eq!((host.vendor_id, host.device_id), (0x8086, 0x29c0));
    assert_eq!(host.layout(), HeaderLayout::General);
    assert!(host.bars.is_empty() && host.bridge.is_none());

    let lpc = find(&fs, b(0, 0x1f, 0));
    assert!(lpc.is_multifunction());
    assert_eq!(lpc.header_type, 0x80);
    assert_eq!(lpc.layout(), HeaderLayout::General);

    let sata = find(&fs, b(0, 0x1f, 2));
    assert_eq!(
        (sata.class, sata.subclass, sata.prog_if, sata.revision),
        (0x01, 0x06, 0x01, 0x02)
    );
    assert_eq!(sata.class_code(), 0x01_06_01);
    assert_eq!((sata.interrupt_line, sata.interrupt_pin), (10, 1));
    assert!(!sata.is_multifunction());

    let bridge = find(&fs, b(0, 3, 0));
    assert_eq!(bridge.layout(), HeaderLayout::PciBridge);
    assert_eq!(
        bridge.bridge,
        Some(BridgeBuses {
            primary: 0,
            secondary: 1,
            subordinate: 1
        })
    );
    let nvme = find(&fs, b(1, 0, 0));
    assert_eq!(nvme.class_code(), 0x01_08_02);
    assert_eq!((nvme.interrupt_line, nvme.interrupt_pin), (11, 1));
}

#[test]
fn q35_bars() {
    let fs = enumerate(&mut q35(), 0, 0, 255).unwrap();
    assert_eq!(
        find(&fs, b(0, 1, 0)).bars,
        [
            mem(0, 0xfd00_0000, 16 << 20, true, false),
            mem(2, 0xfebf_0000, 4096, false, false),
        ]
    );
    let nic = find(&fs, b(0, 2, 0));
    assert_eq!(
        nic.bars,
        [
            io(0, 0xc000, 32),
            mem(1, 0xfebf_1000, 4096, false, false),
            mem(4, 0x8_0000_0000, 16 << 10, true, true),
        ]
    );
    assert_eq!(nic.bar(4).map(|b| b.kind), Some(BarKind::Memory64));
    assert_eq!(nic.bar(5), None);
    assert_eq!(
        find(&fs, b(0, 3, 0)).bars,
        [mem(0, 0xfebf_2000, 256, false, false)]
    );
    assert_eq!(
        find(&fs, b(0, 0x1f, 2)).bars,
        [io(4, 0xc040, 32), mem(5, 0xfebf_3000, 4096, false, false)]
    );
    assert_eq!(find(&fs, b(0, 0x1f, 3)).bars, [io(4, 0x0700, 64)]);
    assert_eq!(
        find(&fs, b(1, 0, 0)).bars,
        [mem(0, 0xfe80_0000, 16 << 10, false, true)]
    );
    assert!(find(&fs, b(0, 0x1f, 0)).bars.is_empty());
}

#[test]
fn sizing_restores_everything_and_disables_decoding() {
    let before = q35().devs;
    let mut m = q35();
    enumerate(&mut m, 0, 0, 255).unwrap();
    // No BAR written while decoding, nothing but BARs and commands written.
    assert_eq!(m.violations, Vec::<String>::new());
    assert!(m.bar_writes > 0);
    // Every register restored, including the write-1-to-clear status bits.
    assert_eq!(m.devs, before);
    // Each function with BAR slots had decoding disabled once and restored once.
    assert_eq!(m.command_writes.len(), m.devs.len());
    assert!(m.command_writes.values().all(|&n| n == 2));
}

#[test]
fn functions_with_decoding_off_are_sized_without_command_writes() {
    let mut m = Fake::new();
    m.add(
        b(0, 4, 0),
        Dev::new(0x8086, 0x100e, 0x02_00_00, 3, 0)
            .command(0x0004)
            .mem32(0, 0xfeb8_0000, 128 << 10, false)
            .io(1, 0xd000, 64),
    );
    let fs = enumerate(&mut m, 0, 0, 0).unwrap();
    assert_eq!(
        fs[0].bars,
        [
            mem(0, 0xfeb8_0000, 128 << 10, false, false),
            io(1, 0xd000, 64)
        ]
    );
    assert!(m.command_writes.is_empty());
    assert_eq!(m.violations, Vec::<String>::new());
}

#[test]
fn functions_probed_only_where_allowed() {
    let mut m = q35();
    enumerate(&mut m, 0, 0, 255).unwrap();
    let probed = |bus: u8, device: u8| -> Vec<u8> {
        m.probed
            .iter()
            .filter(|p| (p.bus, p.device) == (bus, device))
            .map(|p| p.function)
            .collect()
    };
    // Single-function devices: function 0 only. Absent devices: function 0 only.
    assert_eq!(probed(0, 1), [0]);
    assert_eq!(probed(0, 3), [0]);
    assert_eq!(probed(0, 7), [0]);
    // The multi-function device: all eight.
    assert_eq!(probed(0, 0x1f), [0, 1, 2, 3, 4, 5, 6, 7]);
    // Bus 1 is scanned (behind the bridge), bus 2 is not.
    assert_eq!(probed(1, 31), [0]);
    assert_eq!(probed(2, 0), Vec::<u8>::new());
    assert_eq!(m.probed.len(), 32 + 7 + 32);
}

#[test]
fn skb_facts_for_q35() {
    let fs = enumerate(&mut q35(), 0, 0, 255).unwrap();
    let facts: Vec<String> = fs.iter().map(|f| skb_fact(f, 0)).collect();
    assert_eq!(
        facts,
        [
            "pci_device(0, 0, 0, 32902, 10688, 393216, 0).",
            "pci_device(0, 1, 0, 4660, 4369, 196608, 0).",
            "pci_device(0, 2, 0, 6900, 4096, 131072, 0).",
            "pci_device(0, 3, 0, 6966, 1, 394240, 0).",
            "pci_device(0, 31, 0, 32902, 10520, 393472, 0).",
            "pci_device(0, 31, 2, 32902, 10530, 67073, 0).",
            "pci_device(0, 31, 3, 32902, 10544, 787712, 0).",
            "pci_device(1, 0, 0, 6966, 16, 67586, 0).",
        ]
    );

    // The facts load into the SKB's system rules and answer its queries.
    let mut kb = skb::Skb::with_system_rules();
    kb.consult("core(0,0,0,0). core(1,1,0,0). core(2,2,0,1). core(3,3,0,1).")
        .unwrap();
    kb.consult(&facts.join("\n")).unwrap();
    kb.consult(&skb_fact(find(&fs, b(1, 0, 0)), 1).replace("(1, 0, 0,", "(1, 0, 1,"))
        .unwrap();
    let get = |kb: &mut skb::Skb, q: &str, var: &str| -> String {
        let s = kb
            .query_once(q, skb::Limits::default())
            .unwrap()
            .unwrap_or_else(|| panic!("no answer: {q}"));
        s.get(var).unwrap().to_string()
    };
    assert_eq!(
        get(&mut kb, "pci_device(0, 31, 2, V, D, C, N)", "C"),
        "67073"
    );
    assert_eq!(get(&mut kb, "driver_core(pci(0, 31, 2), C)", "C"), "0");
    assert_eq!(get(&mut kb, "driver_core(pci(1, 0, 1), C)", "C"), "2");
}

#[test]
fn bridge_loops_are_not_followed() {
    let mut m = q35();
    // Bus 1 (behind 00:03.0) gets bridges pointing back at bus 0, at itself, at bus 2
    // (also claimed by a second bridge on bus 0, scanned first), and bus 2 has a bridge
    // back to bus 1.
    m.add(
        b(1, 1, 0),
        Dev::new(0x1b36, 1, 0x06_04_00, 0, 1).buses(1, 0, 0),
    )
    .add(
        b(1, 2, 0),
        Dev::new(0x1b36, 1, 0x06_04_00, 0, 1).buses(1, 1, 1),
    )
    .add(
        b(1, 3, 0),
        Dev::new(0x1b36, 1, 0x06_04_00, 0, 1).buses(1, 2, 2),
    )
    .add(
        b(0, 4, 0),
        Dev::new(0x1b36, 1, 0x06_04_00, 0, 1).buses(0, 2, 2),
    )
    .add(
        b(2, 0, 0),
        Dev::new(0x1b36, 1, 0x06_04_00, 0, 1).buses(2, 1, 1),
    )
    .add(b(2, 5, 0), Dev::new(0x8086, 0x100e, 0x02_00_00, 3, 0));
    let s = scan(&mut m, 0, 0, 255).unwrap();
    assert_eq!(
        s.warnings,
        [
            Warning::BridgeLoop {
                bdf: b(1, 1, 0),
                secondary: 0
            },
            Warning::BridgeLoop {
                bdf: b(1, 2, 0),
                secondary: 1
            },
            Warning::BusAlreadyScanned {
                bdf: b(1, 3, 0),
                secondary: 2
            },
            Warning::BridgeLoop {
                bdf: b(2, 0, 0),
                secondary: 1
            },
        ]
    );
    let buses: Vec<u8> = s.functions.iter().map(|f| f.bdf.bus).collect();
    // Bus 0, then bus 1 (first bridge), then bus 2 (second bridge); each once.
    assert_eq!(buses, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
    assert_eq!(m.violations, Vec::<String>::new());
}

#[test]
fn bridges_outside_the_bus_range_are_not_followed() {
    let mut m = q35();
    m.add(
        b(0, 5, 0),
        Dev::new(0x1b36, 1, 0x06_04_00, 0, 1).buses(0, 9, 9),
    )
    .add(b(9, 0, 0), Dev::new(0x8086, 0x100e, 0x02_00_00, 3, 0));
    let s = scan(&mut m, 0, 0, 7).unwrap();
    assert_eq!(
        s.warnings,
        [Warning::BridgeOutOfRange {
            bdf: b(0, 5, 0),
            secondary: 9
        }]
    );
    assert!(s.functions.iter().all(|f| f.bdf.bus != 9));
    assert!(!m.probed.iter().any(|p| p.bus == 9));
    // With end_bus 0 the q35 bridge to bus 1 is out of range too.
    let s = scan(&mut q35(), 0, 0, 0).unwrap();
    assert_eq!(
        s.warnings,
        [Warning::BridgeOutOfRange {
            bdf: b(0, 3, 0),
            secondary: 1
        }]
    );
    assert_eq!(s.functions.len(), 7);
}

#[test]
fn long_bridge_chain_covers_every_bus_once() {
    // Bus n has a bridge to bus n + 1 for every bus, and bus 255's bridge points back to 0.
    let mut m = Fake::new();
    for bus in 0..=255u8 {
        let next = bus.wrapping_add(1);
        m.add(
            b(bus, 0, 0),
            Dev::new(0x1b36, 1, 0x06_04_00, 0, 1).buses(bus, next, 255),
        );
    }
    let s = scan(&mut m, 0, 0, 255).unwrap();
    assert_eq!(s.functions.len(), 256);
    assert_eq!(
        s.warnings,
        [Warning::BridgeLoop {
            bdf: b(255, 0, 0),
            secondary: 0
        }]
    );
    assert!(s
        .functions
        .iter()
        .enumerate()
        .all(|(i, f)| usize::from(f.bdf.bus) == i));
}

#[test]
fn bar64_in_last_slot_is_skipped() {
    let mut m = Fake::new();
    m.add(
        b(0, 6, 0),
        Dev::new(0x1af4, 0x1041, 0x02_00_00, 1, 0)
            .mem32(0, 0xfeb0_0000, 4096, false)
            .raw_bar(5, 0xfeb1_0004, 0xffff_f000),
    )
    .add(
        b(0, 7, 0),
        Dev::new(0x1b36, 1, 0x06_04_00, 0, 1)
            .raw_bar(1, 0xfeb2_000c, 0xffff_ff00)
            .buses(0, 1, 1),
    );
    let before = m.devs.clone();
    let s = scan(&mut m, 0, 0, 1).unwrap();
    assert_eq!(
        s.warnings,
        [
            Warning::Bar64InLastSlot {
                bdf: b(0, 6, 0),
                index: 5
            },
            Warning::Bar64InLastSlot {
                bdf: b(0, 7, 0),
                index: 1
            },
        ]
    );
    assert_eq!(
        s.functions[0].bars,
        [mem(0, 0xfeb0_0000, 4096, false, false)]
    );
    assert!(s.functions[1].bars.is_empty());
    assert_eq!(m.devs, before);
    assert_eq!(m.violations, Vec::<String>::new());
}

#[test]
fn reserved_bar_type_is_skipped() {
    let mut m = Fake::new();
    m.add(
        b(0, 0, 0),
        Dev::new(0x8086, 0x1234, 0x08_80_00, 0, 0)
            .raw_bar(0, 0xfeb0_0006, 0xffff_f000)
            .io(1, 0xe000, 16),
    );
    let s = scan(&mut m, 0, 0, 0).unwrap();
    assert_eq!(
        s.warnings,
        [Warning::ReservedBarType {
            bdf: b(0, 0, 0),
            index: 0
        }]
    );
    assert_eq!(s.functions[0].bars, [io(1, 0xe000, 16)]);
}

#[test]
fn large_and_unassigned_bars() {
    let mut m = Fake::new();
    m.add(
        b(0, 0, 0),
        Dev::new(0x10de, 0x2204, 0x03_00_00, 0xa1, 0)
            .mem32(0, 0xfa00_0000, 32 << 20, false)
            .mem64(1, 0x38_0000_0000, 8 << 30, true)
            // Unassigned: address 0, still sized.
            .mem64(3, 0, 32 << 20, true)
            .io(5, 0, 128),
    );
    let fs = enumerate(&mut m, 0, 0, 0).unwrap();
    assert_eq!(
        fs[0].bars,
        [
            mem(0, 0xfa00_0000, 32 << 20, false, false),
            mem(1, 0x38_0000_0000, 8 << 30, true, true),
            mem(3, 0, 32 << 20, true, true),
            io(5, 0, 128),
        ]
    );
}

#[test]
fn aliasing_device_without_multifunction_bit_counts_once() {
    let mut m = q35();
    let dev = Dev::new(0x8086, 0x7010, 0x01_01_80, 0, 0).io(4, 0xc060, 16);
    for function in 0..8 {
        m.add(b(0, 9, function), dev.clone());
    }
    let fs = enumerate(&mut m, 0, 0, 255).unwrap();
    let at_9: Vec<Bdf> = fs
        .iter()
        .filter(|f| f.bdf.device == 9)
        .map(|f| f.bdf)
        .collect();
    assert_eq!(at_9, [b(0, 9, 0)]);
    assert!(!m.probed.iter().any(|p| p.device == 9 && p.function != 0));
    assert_eq!(fs.len(), 9);
}

#[test]
fn absurd_header_type_is_listed_without_bars() {
    let mut m = Fake::new();
    m.add(
        b(0, 2, 0),
        Dev::new(0xdead, 0xbeef, 0x02_00_00, 0, 0x7f).mem32(0, 0xfe00_0000, 4096, false),
    )
    // With the multi-function bit: functions 1..7 are probed; function 3 exists.
    .add(b(0, 3, 0), Dev::new(0xdead, 0xbeef, 0xff_00_00, 0, 0xff))
    .add(b(0, 3, 3), Dev::new(0xdead, 0xbef0, 0x02_00_00, 0, 0));
    let before = m.devs.clone();
    let s = scan(&mut m, 0, 0, 0).unwrap();
    assert_eq!(
        s.warnings,
        [
            Warning::UnknownHeaderType {
                bdf: b(0, 2, 0),
                header_type: 0x7f
            },
            Warning::UnknownHeaderType {
                bdf: b(0, 3, 0),
                header_type: 0xff
            },
        ]
    );
    assert_eq!(
        s.functions.iter().map(|f| f.bdf).collect::<Vec<_>>(),
        [b(0, 2, 0), b(0, 3, 0), b(0, 3, 3)]
    );
    assert!(s.functions[0].bars.is_empty());
    assert_eq!(s.functions[0].layout(), HeaderLayout::Unknown(0x7f));
    assert_eq!(
        lspci_line(&s.functions[1]),
        "00:03.0 Unassigned class [ff00]: dead:beef"
    );
    assert_eq!(m.devs, before);
    // Functions with an unknown layout are not written at all.
    assert!(!m.command_writes.contains_key(&b(0, 2, 0)));
    assert!(!m.command_writes.contains_key(&b(0, 3, 0)));
    assert_eq!(m.command_writes.get(&b(0, 3, 3)), Some(&2));
}

#[test]
fn vendor_zero_is_absent() {
    let mut m = Fake::new();
    m.add(b(0, 0, 0), Dev::new(0, 0, 0, 0, 0x80))
        .add(b(0, 1, 0), Dev::new(0x8086, 0x29c0, 0x06_00_00, 0, 0));
    let fs = enumerate(&mut m, 0, 0, 0).unwrap();
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].bdf, b(0, 1, 0));
    // Function 0 absent: the device's other functions are not probed.
    assert!(!m.probed.iter().any(|p| p.device == 0 && p.function != 0));
}

#[test]
fn cardbus_bridge_has_one_bar_and_is_not_followed() {
    let mut m = Fake::new();
    m.add(
        b(0, 0, 0),
        Dev::new(0x104c, 0xac56, 0x06_07_00, 0, 2)
            .mem32(0, 0xfeb0_0000, 4096, false)
            .mem32(1, 0xfeb1_0000, 4096, false)
            .buses(0, 1, 1),
    )
    .add(b(1, 0, 0), Dev::new(0x8086, 0x100e, 0x02_00_00, 3, 0));
    let s = scan(&mut m, 0, 0, 255).unwrap();
    assert_eq!(s.warnings, []);
    assert_eq!(s.functions.len(), 1);
    assert_eq!(s.functions[0].layout(), HeaderLayout::CardBusBridge);
    assert_eq!(s.functions[0].bridge, None);
    assert_eq!(
        s.functions[0].bars,
        [mem(0, 0xfeb0_0000, 4096, false, false)]
    );
}

#[test]
fn nonzero_segment_and_start_bus() {
    let mut m = Fake::new();
    let seg = |bus, device, function| Bdf::new(1, bus, device, function);
    m.add(seg(0x80, 0, 0), Dev::new(0x8086, 0x09a2, 0x08_80_00, 4, 0))
        .add(
            seg(0x80, 2, 0),
            Dev::new(0x8086, 0x347a, 0x06_04_00, 4, 1).buses(0x80, 0x81, 0x81),
        )
        .add(seg(0x81, 0, 0), Dev::new(0x144d, 0xa808, 0x01_08_02, 0, 0));
    let s = scan(&mut m, 1, 0x80, 0x8f).unwrap();
    assert_eq!(s.warnings, []);
    assert_eq!(
        lines(&s.functions),
        [
            "0001:80:00.0 System peripheral [0880]: 8086:09a2 (rev 04)",
            "0001:80:02.0 PCI bridge [0604]: 8086:347a (rev 04)",
            "0001:81:00.0 Non-Volatile memory controller [0108]: 144d:a808",
        ]
    );
    assert_eq!(
        skb_fact(&s.functions[2], 3),
        "pci_device(129, 0, 0, 5197, 43016, 67586, 3)."
    );
    assert!(m.probed.iter().all(|p| p.segment == 1));
}

#[test]
fn invalid_bus_range_is_an_error() {
    assert_eq!(
        scan(&mut q35(), 0, 5, 4),
        Err(PciError::InvalidBusRange {
            start_bus: 5,
            end_bus: 4
        })
    );
}

#[test]
fn accessor_errors_end_the_scan_and_restore_the_command() {
    // Fail the read-back of the VGA's BAR 0 after all ones were written (2nd read).
    let before = q35().devs;
    let mut m = q35();
    m.fail_read = Some((b(0, 1, 0), reg::BAR0, 2));
    assert_eq!(
        scan(&mut m, 0, 0, 255),
        Err(PciError::AccessFailed {
            bdf: b(0, 1, 0),
            offset: reg::BAR0
        })
    );
    assert_eq!(m.devs, before);
    assert_eq!(m.violations, Vec::<String>::new());
    // Not scanned past the failure.
    assert!(!m.probed.contains(&b(0, 2, 0)));

    // A failure while probing ends the scan as well.
    let mut m = q35();
    m.fail_read = Some((b(0, 0x1f, 3), reg::ID, 1));
    assert!(matches!(
        enumerate(&mut m, 0, 0, 255),
        Err(PciError::AccessFailed { .. })
    ));
}

#[test]
fn config_space_through_a_mutable_reference() {
    let mut m = q35();
    let mut r = &mut m;
    let fs = enumerate(&mut r, 0, 0, 255).unwrap();
    assert_eq!(fs.len(), 8);
}
