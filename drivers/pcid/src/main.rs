//! The PCI bus driver. The device manager starts it on the core the SKB chose, with an IO
//! capability for the configuration ports (`0xcf8..=0xcff`, root slot [`IO_SLOT`]) and, when
//! the machine has an ACPI MCFG table, a DevFrame capability per PCI Express ECAM window
//! (root slots from [`FIRST_ECAM_SLOT`], described by its argument
//! `ecam=SEGMENT:START:END,...`). It walks configuration space through ECAM where a window
//! covers the bus and through configuration mechanism #1 (segment 0, first 256 bytes)
//! otherwise (the `pci` crate does the enumeration), prints what it found, and records
//! every function in the System Knowledge Base as a `pci_device/7` fact, where placement
//! queries (`driver_core/2`) and the shell's `lspci` find them, then `pci_scan_done(N)` once
//! all N are in.
//!
//! ECAM is reached one device (8 functions, 32 KiB) at a time: those 8 pages of the window's
//! DevFrame are mapped (uncached) at entries of the capability window this driver reserves,
//! and moved when the scan reaches the next device.
//!
//! The scan starts at the root buses of the PCI host bridges the ACPI namespace declares
//! (argument `roots=SEGMENT:BUS:NODE,...`, node `-` when the firmware gives no constant
//! `_PXM`), and every function is recorded on the node of the root bus it is below (node 0
//! when unknown). Without that list it starts at each ECAM window's first bus, or at bus 0.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use caps::abi::{CapError, CapRef, Rights};
use libos::cap::{self, root_slot};
use libos::println;
use pci::{Bdf, ConfigSpace, Ecam, PciError, CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT};

libos::entry!(main);

/// Root slot the device manager puts the IO capability in.
pub const IO_SLOT: u32 = 10;
/// Root slot of the first ECAM window's DevFrame (one slot per window, in argument order).
pub const FIRST_ECAM_SLOT: u32 = 11;
/// Pages of one device's configuration space (8 functions of 4 KiB).
const DEVICE_PAGES: u16 = 8;

/// Configuration mechanism #1 through an IO capability.
struct Ports(CapRef);

impl ConfigSpace for Ports {
    fn read32(&mut self, addr: Bdf, offset: u16) -> Result<u32, PciError> {
        let a = pci::legacy_address(addr, offset)
            .ok_or(PciError::InvalidRegister { bdf: addr, offset })?;
        let failed = |_: CapError| PciError::AccessFailed { bdf: addr, offset };
        cap::io_out(self.0, CONFIG_ADDRESS_PORT, 4, a).map_err(failed)?;
        cap::io_in(self.0, CONFIG_DATA_PORT, 4).map_err(failed)
    }

    fn write32(&mut self, addr: Bdf, offset: u16, value: u32) -> Result<(), PciError> {
        let a = pci::legacy_address(addr, offset)
            .ok_or(PciError::InvalidRegister { bdf: addr, offset })?;
        let failed = |_: CapError| PciError::AccessFailed { bdf: addr, offset };
        cap::io_out(self.0, CONFIG_ADDRESS_PORT, 4, a).map_err(failed)?;
        cap::io_out(self.0, CONFIG_DATA_PORT, 4, value).map_err(failed)
    }
}

/// ECAM windows through their DevFrame capabilities, one device mapped at a time.
struct EcamWindows {
    windows: Vec<(Ecam, CapRef)>,
    /// First of the [`DEVICE_PAGES`] capability-window entries reserved for the mapping.
    entry: u16,
    /// The window index and byte offset (in it) of the device mapped now.
    mapped: Option<(usize, u64)>,
}

impl EcamWindows {
    /// The index of the window decoding `bus` of `segment`.
    fn window_of(&self, segment: u16, bus: u8) -> Option<usize> {
        self.windows
            .iter()
            .position(|(w, _)| w.covers(segment, bus))
    }

    /// The address of register `reg` of `bdf`, mapping its device's pages if needed;
    /// `None` if no window decodes its bus.
    fn register(&mut self, bdf: Bdf, reg: u16) -> Option<Result<*mut u32, PciError>> {
        let i = self.window_of(bdf.segment, bdf.bus)?;
        Some(self.map_register(i, bdf, reg))
    }

    fn map_register(&mut self, i: usize, bdf: Bdf, reg: u16) -> Result<*mut u32, PciError> {
        let (ecam, frame) = self.windows[i];
        let offset = ecam.locate(bdf, reg)?;
        let device = offset & !((u64::from(DEVICE_PAGES) << 12) - 1);
        if self.mapped != Some((i, device)) {
            let failed = |_: CapError| PciError::AccessFailed { bdf, offset: reg };
            let pt = root_slot(abi::ROOT_SLOT_PT);
            if self.mapped.take().is_some() {
                cap::unmap(pt, self.entry, DEVICE_PAGES).map_err(failed)?;
            }
            let rw = Rights::READ | Rights::WRITE;
            cap::map(pt, frame, self.entry, DEVICE_PAGES, rw, device).map_err(failed)?;
            self.mapped = Some((i, device));
        }
        let va = abi::CAP_WINDOW + (u64::from(self.entry) << 12) + (offset - device);
        Ok(va as *mut u32)
    }
}

/// Configuration space: ECAM where a window covers the bus, else the ports.
struct Access {
    ecam: Option<EcamWindows>,
    ports: Option<Ports>,
}

impl ConfigSpace for Access {
    fn read32(&mut self, addr: Bdf, offset: u16) -> Result<u32, PciError> {
        if let Some(p) = self.ecam.as_mut().and_then(|e| e.register(addr, offset)) {
            let p = p?;
            // SAFETY: `register` mapped the page holding `p` (uncached, from the ECAM
            // window's DevFrame) and `p` is 4-byte aligned (`locate` checks).
            return Ok(unsafe { p.read_volatile() });
        }
        match self.ports.as_mut() {
            Some(p) => p.read32(addr, offset),
            None => Err(PciError::BusNotCovered(addr)),
        }
    }

    fn write32(&mut self, addr: Bdf, offset: u16, value: u32) -> Result<(), PciError> {
        if let Some(p) = self.ecam.as_mut().and_then(|e| e.register(addr, offset)) {
            let p = p?;
            // SAFETY: as in `read32`.
            unsafe { p.write_volatile(value) };
            return Ok(());
        }
        match self.ports.as_mut() {
            Some(p) => p.write32(addr, offset, value),
            None => Err(PciError::BusNotCovered(addr)),
        }
    }
}

/// One window of the `ecam=SEGMENT:START:END` argument.
fn parse_window(text: &str) -> Option<(u16, u8, u8)> {
    let mut it = text.split(':');
    let w = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    (it.next().is_none() && w.1 <= w.2).then_some(w)
}

/// The root buses of the `roots=SEGMENT:BUS:NODE,...` argument (the PCI host bridges the
/// ACPI namespace declares; node `-` when the firmware does not say).
fn root_buses() -> Vec<(u16, u8, Option<u32>)> {
    let Some(list) = libos::args()
        .split_whitespace()
        .find_map(|a| a.strip_prefix("roots="))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for text in list.split(',') {
        let mut it = text.split(':');
        let root = (|| {
            let segment = it.next()?.parse().ok()?;
            let bus = it.next()?.parse().ok()?;
            let node = match it.next()? {
                "-" => None,
                n => Some(n.parse().ok()?),
            };
            it.next().is_none().then_some((segment, bus, node))
        })();
        match root {
            Some(r) if !out.contains(&r) => out.push(r),
            Some(_) => {}
            None => println!("pcid: root bus `{text}` not understood"),
        }
    }
    out
}

/// The ECAM windows named in the arguments whose DevFrame capability is here and big
/// enough; what is wrong with the others is printed.
fn ecam_windows() -> Vec<(Ecam, CapRef)> {
    let Some(list) = libos::args()
        .split_whitespace()
        .find_map(|a| a.strip_prefix("ecam="))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, text) in list.split(',').enumerate() {
        let Some((segment, start_bus, end_bus)) = parse_window(text) else {
            println!("pcid: ECAM window `{text}` not understood");
            continue;
        };
        // The device manager sends these after the IO capability.
        let Some(frame) = cap::wait_for(FIRST_ECAM_SLOT + i as u32, 10_000) else {
            println!("pcid: ECAM window {text}: no capability");
            continue;
        };
        let ecam = Ecam {
            base: 0,
            segment,
            start_bus,
            end_bus,
        };
        match cap::identify(frame) {
            Ok(id) if id.bytes >= ecam.size() => out.push((ecam, frame)),
            Ok(id) => println!(
                "pcid: ECAM window {text}: capability of {} bytes, {} needed",
                id.bytes,
                ecam.size()
            ),
            Err(e) => println!("pcid: ECAM window {text}: unusable capability ({e:?})"),
        }
    }
    out
}

fn main() -> i32 {
    // The device manager hands the capabilities over right after starting us.
    let ports = cap::wait_for(IO_SLOT, 10_000).map(Ports);
    let windows = ecam_windows();
    let ecam = if windows.is_empty() {
        None
    } else {
        match libos::vspace::reserve(DEVICE_PAGES) {
            Ok(entry) => Some(EcamWindows {
                windows,
                entry: entry as u16,
                mapped: None,
            }),
            Err(e) => {
                println!("pcid: no room to map ECAM ({e:?}): using the ports");
                None
            }
        }
    };
    if ecam.is_none() && ports.is_none() {
        println!("pcid: neither ECAM windows nor an IO capability for the ports");
        return 1;
    }
    // Where to start: the root buses of the ACPI namespace's host bridges, else each ECAM
    // window's first bus, else bus 0 through the ports. A scan ends at the end of the ECAM
    // window holding its root bus.
    let mut roots = root_buses();
    if roots.is_empty() {
        roots = match &ecam {
            Some(e) => e
                .windows
                .iter()
                .map(|(w, _)| (w.segment, w.start_bus, None))
                .collect(),
            None => Vec::from([(0, 0, None)]),
        };
    }
    println!(
        "pcid: configuration space through {}",
        if ecam.is_some() {
            "ECAM (MCFG)"
        } else {
            "the ports 0xcf8/0xcfc"
        }
    );
    let mut access = Access { ecam, ports };
    // Each function with the node of the root bus it was found below (0 when unknown).
    let mut functions: Vec<(pci::Function, u32)> = Vec::new();
    let mut failed = 0;
    for (segment, start, node) in roots {
        let end = access
            .ecam
            .as_ref()
            .and_then(|e| Some(e.windows[e.window_of(segment, start)?].0.end_bus))
            .unwrap_or(255);
        let node_text = node.map_or(String::from("unknown"), |n| n.to_string());
        match pci::scan(&mut access, segment, start, end) {
            Ok(s) => {
                for w in &s.warnings {
                    println!("pcid: warning: {w:?}");
                }
                println!(
                    "pcid: root bus {segment:04x}:{start:02x} (node {node_text}): {} functions",
                    s.functions.len()
                );
                for f in s.functions {
                    if !functions.iter().any(|(g, _)| g.bdf == f.bdf) {
                        functions.push((f, node.unwrap_or(0)));
                    }
                }
            }
            Err(e) => {
                println!("pcid: enumeration of root bus {segment:04x}:{start:02x} failed: {e:?}");
                failed += 1;
            }
        }
    }
    let mut recorded = 0;
    for (f, node) in &functions {
        println!("pcid: {}", pci::lspci_line(f));
        let fact = pci::skb_fact(f, *node);
        let goal = alloc::format!("assertz({})", fact.trim_end().trim_end_matches('.'));
        match libos::skb::query(&goal) {
            Ok(_) => recorded += 1,
            Err(e) => println!("pcid: not recorded in the SKB: {e:?}"),
        }
    }
    // The end of the scan, for readers of the facts (the shell's `lspci` waits for it).
    if let Err(e) = libos::skb::query(&alloc::format!("assertz(pci_scan_done({recorded}))")) {
        println!("pcid: end of scan not recorded: {e:?}");
    }
    println!(
        "pcid: {} PCI functions, {recorded} recorded in the SKB",
        functions.len()
    );
    i32::from(failed > 0)
}
