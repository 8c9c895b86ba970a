//! Bus enumeration and BAR decoding.

use alloc::vec::Vec;

use crate::reg;
use crate::{Bdf, ConfigSpace, PciError, DEVICES_PER_BUS, FUNCTIONS_PER_DEVICE};

/// Layout of a function's configuration header (the header type without the multi-function
/// bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderLayout {
    /// Type 0: an endpoint, 6 BARs.
    General,
    /// Type 1: a PCI-to-PCI bridge, 2 BARs and bus numbers.
    PciBridge,
    /// Type 2: a CardBus bridge, 1 BAR (its socket registers); the bus behind it is not
    /// scanned.
    CardBusBridge,
    /// Anything else: not decoded.
    Unknown(u8),
}

impl HeaderLayout {
    /// Layout of a header type register value (bit 7, multi-function, is ignored).
    pub fn from_header_type(header_type: u8) -> Self {
        match header_type & !reg::HEADER_MULTIFUNCTION {
            0 => HeaderLayout::General,
            1 => HeaderLayout::PciBridge,
            2 => HeaderLayout::CardBusBridge,
            other => HeaderLayout::Unknown(other),
        }
    }

    /// Number of BAR slots of the layout.
    pub fn bar_slots(self) -> u8 {
        match self {
            HeaderLayout::General => 6,
            HeaderLayout::PciBridge => 2,
            HeaderLayout::CardBusBridge => 1,
            HeaderLayout::Unknown(_) => 0,
        }
    }
}

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// I/O ports.
    Io,
    /// Memory below 4 GiB (type 0, or the legacy below-1-MiB type 1).
    Memory32,
    /// Memory anywhere; the BAR uses its slot and the next one (upper 32 bits).
    Memory64,
}

/// One implemented base address register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Slot number (0..6); a 64-bit BAR also occupies slot `index + 1`.
    pub index: u8,
    /// Address space and width.
    pub kind: BarKind,
    /// Prefetchable memory (always false for I/O).
    pub prefetchable: bool,
    /// Address assigned by the firmware (port number for I/O; 0 if unassigned).
    pub address: u64,
    /// Size in bytes (a power of two, never 0: unimplemented BARs are not listed).
    pub size: u64,
}

/// Bus numbers of a PCI-to-PCI bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeBuses {
    /// The bus the bridge is on (as programmed).
    pub primary: u8,
    /// The bus directly behind the bridge.
    pub secondary: u8,
    /// The highest bus behind the bridge.
    pub subordinate: u8,
}

/// One PCI function found by the scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// Its address.
    pub bdf: Bdf,
    /// Vendor id.
    pub vendor_id: u16,
    /// Device id.
    pub device_id: u16,
    /// Base class code.
    pub class: u8,
    /// Subclass code.
    pub subclass: u8,
    /// Programming interface.
    pub prog_if: u8,
    /// Revision id.
    pub revision: u8,
    /// Header type register, including the multi-function bit (bit 7).
    pub header_type: u8,
    /// Interrupt line (as routed by the firmware; 0xff: none/unknown).
    pub interrupt_line: u8,
    /// Interrupt pin: 0 none, 1..=4 INTA#..INTD#.
    pub interrupt_pin: u8,
    /// Implemented BARs, by slot.
    pub bars: Vec<Bar>,
    /// Bus numbers, for PCI-to-PCI bridges (header type 1).
    pub bridge: Option<BridgeBuses>,
}

impl Function {
    /// The 24-bit class code: `class << 16 | subclass << 8 | prog_if`.
    pub fn class_code(&self) -> u32 {
        (u32::from(self.class) << 16) | (u32::from(self.subclass) << 8) | u32::from(self.prog_if)
    }

    /// Layout of the configuration header.
    pub fn layout(&self) -> HeaderLayout {
        HeaderLayout::from_header_type(self.header_type)
    }

    /// Whether the header type's multi-function bit is set.
    pub fn is_multifunction(&self) -> bool {
        self.header_type & reg::HEADER_MULTIFUNCTION != 0
    }

    /// The BAR in slot `index`, if implemented (the upper slot of a 64-bit BAR is not one).
    pub fn bar(&self, index: u8) -> Option<&Bar> {
        self.bars.iter().find(|b| b.index == index)
    }
}

/// Something malformed that the scan skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning {
    /// Header layout other than 0, 1, 2: the function is listed, its BARs are not decoded.
    UnknownHeaderType {
        /// The function.
        bdf: Bdf,
        /// Its header type register.
        header_type: u8,
    },
    /// A 64-bit memory BAR in the last slot (no slot for its upper half): skipped.
    Bar64InLastSlot {
        /// The function.
        bdf: Bdf,
        /// The slot.
        index: u8,
    },
    /// A memory BAR with the reserved type (0b11): skipped.
    ReservedBarType {
        /// The function.
        bdf: Bdf,
        /// The slot.
        index: u8,
    },
    /// A bridge whose secondary bus is not above the bus it is on (a loop back to an earlier
    /// bus, or an unconfigured bridge with secondary bus 0): not followed.
    BridgeLoop {
        /// The bridge.
        bdf: Bdf,
        /// Its secondary bus.
        secondary: u8,
    },
    /// A bridge whose secondary bus is beyond the scanned range: not followed.
    BridgeOutOfRange {
        /// The bridge.
        bdf: Bdf,
        /// Its secondary bus.
        secondary: u8,
    },
    /// A bridge whose secondary bus is already scanned or claimed by another bridge: not
    /// followed.
    BusAlreadyScanned {
        /// The bridge.
        bdf: Bdf,
        /// Its secondary bus.
        secondary: u8,
    },
}

/// Result of [`scan`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Functions found, in scan order: a bus's functions by device and function number, then
    /// the buses behind its bridges (depth first, in bridge order).
    pub functions: Vec<Function>,
    /// What was skipped as malformed.
    pub warnings: Vec<Warning>,
}

/// [`scan`] without the warnings.
pub fn enumerate(
    cs: &mut impl ConfigSpace,
    segment: u16,
    start_bus: u8,
    end_bus: u8,
) -> Result<Vec<Function>, PciError> {
    scan(cs, segment, start_bus, end_bus).map(|s| s.functions)
}

/// Scans segment `segment` from the host bridge's bus `start_bus`, following PCI-to-PCI
/// bridges to buses up to `end_bus`.
///
/// Each bus is scanned once: a bridge whose secondary bus is not above its own bus, outside
/// `start_bus..=end_bus`, or already scanned is recorded as a [`Warning`] and not followed,
/// so the scan ends after at most `end_bus - start_bus + 1` buses whatever the hardware says.
/// Functions 1..=7 of a device are probed only when function 0 exists and has the
/// multi-function bit set. A function is absent when its vendor id reads 0xffff (or 0, which
/// some hypervisors return).
///
/// BARs are sized by writing all ones and reading back, with decoding disabled in the
/// command register meanwhile; every BAR and the command register are restored (the status
/// half of that register is written as zero, which leaves its write-1-to-clear bits alone).
///
/// Errors: [`PciError::InvalidBusRange`] if `end_bus < start_bus`; any accessor error ends
/// the scan (after trying to restore the command register of the function being sized).
pub fn scan(
    cs: &mut impl ConfigSpace,
    segment: u16,
    start_bus: u8,
    end_bus: u8,
) -> Result<Scan, PciError> {
    if end_bus < start_bus {
        return Err(PciError::InvalidBusRange { start_bus, end_bus });
    }
    let mut out = Scan::default();
    let mut claimed = BusSet::default();
    claimed.insert(start_bus);
    // Depth-first over buses with an explicit stack (not recursion), so malformed bridge
    // chains cannot exhaust the driver's stack.
    let mut pending = Vec::from([start_bus]);
    while let Some(bus) = pending.pop() {
        let first = out.functions.len();
        scan_bus(cs, segment, bus, &mut out)?;
        let mut children = Vec::new();
        for f in &out.functions[first..] {
            let Some(buses) = f.bridge else { continue };
            let secondary = buses.secondary;
            let bdf = f.bdf;
            if secondary <= bus {
                out.warnings.push(Warning::BridgeLoop { bdf, secondary });
            } else if secondary > end_bus {
                out.warnings
                    .push(Warning::BridgeOutOfRange { bdf, secondary });
            } else if !claimed.insert(secondary) {
                out.warnings
                    .push(Warning::BusAlreadyScanned { bdf, secondary });
            } else {
                children.push(secondary);
            }
        }
        pending.extend(children.into_iter().rev());
    }
    Ok(out)
}

/// Scans the 32 devices of one bus.
fn scan_bus(
    cs: &mut impl ConfigSpace,
    segment: u16,
    bus: u8,
    out: &mut Scan,
) -> Result<(), PciError> {
    for device in 0..DEVICES_PER_BUS {
        let Some(f0) = probe(cs, Bdf::new(segment, bus, device, 0), &mut out.warnings)? else {
            continue;
        };
        let multifunction = f0.is_multifunction();
        out.functions.push(f0);
        if multifunction {
            for function in 1..FUNCTIONS_PER_DEVICE {
                let bdf = Bdf::new(segment, bus, device, function);
                if let Some(f) = probe(cs, bdf, &mut out.warnings)? {
                    out.functions.push(f);
                }
            }
        }
    }
    Ok(())
}

/// Reads one function's header; `None` if it is absent.
fn probe(
    cs: &mut impl ConfigSpace,
    bdf: Bdf,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Function>, PciError> {
    let id = cs.read32(bdf, reg::ID)?;
    let vendor_id = id as u16;
    if vendor_id == 0xffff || vendor_id == 0 {
        return Ok(None);
    }
    let class = cs.read32(bdf, reg::CLASS_REVISION)?;
    let header_type = (cs.read32(bdf, reg::HEADER_TYPE)? >> 16) as u8;
    let interrupt = cs.read32(bdf, reg::INTERRUPT)?;
    let layout = HeaderLayout::from_header_type(header_type);
    if let HeaderLayout::Unknown(_) = layout {
        warnings.push(Warning::UnknownHeaderType { bdf, header_type });
    }
    let bridge = if layout == HeaderLayout::PciBridge {
        let b = cs.read32(bdf, reg::BRIDGE_BUSES)?;
        Some(BridgeBuses {
            primary: b as u8,
            secondary: (b >> 8) as u8,
            subordinate: (b >> 16) as u8,
        })
    } else {
        None
    };
    let bars = read_bars(cs, bdf, layout.bar_slots(), warnings)?;
    Ok(Some(Function {
        bdf,
        vendor_id,
        device_id: (id >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        prog_if: (class >> 8) as u8,
        revision: class as u8,
        header_type,
        interrupt_line: interrupt as u8,
        interrupt_pin: (interrupt >> 8) as u8,
        bars,
        bridge,
    }))
}

/// Decodes and sizes `slots` BARs with decoding disabled, restoring the command register.
fn read_bars(
    cs: &mut impl ConfigSpace,
    bdf: Bdf,
    slots: u8,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Bar>, PciError> {
    if slots == 0 {
        return Ok(Vec::new());
    }
    // Only the command half is written back; zeros in the status half clear nothing.
    let command = cs.read32(bdf, reg::COMMAND_STATUS)? & 0xffff;
    let decode = reg::COMMAND_IO | reg::COMMAND_MEMORY;
    let disabled = command & decode != 0;
    if disabled {
        cs.write32(bdf, reg::COMMAND_STATUS, command & !decode)?;
    }
    let bars = size_bars(cs, bdf, slots, warnings);
    if disabled {
        let restored = cs.write32(bdf, reg::COMMAND_STATUS, command);
        // A sizing error is the more informative one; report it first.
        let bars = bars?;
        restored?;
        Ok(bars)
    } else {
        bars
    }
}

/// Writes all ones to the BAR at `offset`, reads the result back and restores `original`.
fn probe_mask(
    cs: &mut impl ConfigSpace,
    bdf: Bdf,
    offset: u16,
    original: u32,
) -> Result<u32, PciError> {
    cs.write32(bdf, offset, u32::MAX)?;
    let mask = cs.read32(bdf, offset);
    cs.write32(bdf, offset, original)?;
    mask
}

/// Size of a BAR from the address bits that stuck after writing all ones: their lowest set
/// bit (0 if none, i.e. the BAR is not implemented). Taking the lowest bit rather than
/// `!mask + 1` copes with I/O BARs that only implement the low 16 address bits.
fn size_from_mask(mask: u64) -> u64 {
    mask.isolate_lowest_one()
}

fn size_bars(
    cs: &mut impl ConfigSpace,
    bdf: Bdf,
    slots: u8,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Bar>, PciError> {
    let mut bars = Vec::new();
    let mut index = 0;
    while index < slots {
        let offset = reg::BAR0 + 4 * u16::from(index);
        let low = cs.read32(bdf, offset)?;
        let (kind, prefetchable, address, mask) = if low & 1 != 0 {
            let mask = probe_mask(cs, bdf, offset, low)? & !0x3;
            (BarKind::Io, false, u64::from(low & !0x3), u64::from(mask))
        } else {
            let prefetchable = low & 0x8 != 0;
            match (low >> 1) & 0x3 {
                0 | 1 => {
                    let mask = probe_mask(cs, bdf, offset, low)? & !0xf;
                    let address = u64::from(low & !0xf);
                    (BarKind::Memory32, prefetchable, address, u64::from(mask))
                }
                2 => {
                    if index + 1 >= slots {
                        warnings.push(Warning::Bar64InLastSlot { bdf, index });
                        index += 1;
                        continue;
                    }
                    let high = cs.read32(bdf, offset + 4)?;
                    let mask_low = probe_mask(cs, bdf, offset, low)? & !0xf;
                    let mask_high = probe_mask(cs, bdf, offset + 4, high)?;
                    let address = (u64::from(high) << 32) | u64::from(low & !0xf);
                    let mask = (u64::from(mask_high) << 32) | u64::from(mask_low);
                    (BarKind::Memory64, prefetchable, address, mask)
                }
                _ => {
                    warnings.push(Warning::ReservedBarType { bdf, index });
                    index += 1;
                    continue;
                }
            }
        };
        let size = size_from_mask(mask);
        if size != 0 {
            bars.push(Bar {
                index,
                kind,
                prefetchable,
                address,
                size,
            });
        }
        index += if kind == BarKind::Memory64 { 2 } else { 1 };
    }
    Ok(bars)
}

/// A set of bus numbers.
#[derive(Default)]
struct BusSet([u64; 4]);

impl BusSet {
    /// Adds `bus`; false if it was already present.
    fn insert(&mut self, bus: u8) -> bool {
        let (word, bit) = (usize::from(bus / 64), 1u64 << (bus % 64));
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_from_masks() {
        assert_eq!(size_from_mask(0), 0);
        assert_eq!(size_from_mask(0xff00_0000), 16 << 20);
        assert_eq!(size_from_mask(0xffff_f000), 4096);
        // An I/O BAR decoding only 16 address bits.
        assert_eq!(size_from_mask(0x0000_ffe0), 32);
        assert_eq!(size_from_mask(0xffff_ffff_ffff_c000), 16 << 10);
        assert_eq!(size_from_mask(0xffff_fff0_0000_0000), 64 << 30);
        assert_eq!(size_from_mask(1 << 63), 1 << 63);
    }

    #[test]
    fn header_layouts() {
        assert_eq!(HeaderLayout::from_header_type(0x80), HeaderLayout::General);
        assert_eq!(
            HeaderLayout::from_header_type(0x01),
            HeaderLayout::PciBridge
        );
        assert_eq!(
            HeaderLayout::from_header_type(0x82),
            HeaderLayout::CardBusBridge
        );
        assert_eq!(
            HeaderLayout::from_header_type(0xff),
            HeaderLayout::Unknown(0x7f)
        );
        assert_eq!(HeaderLayout::Unknown(3).bar_slots(), 0);
    }

    #[test]
    fn bus_set() {
        let mut s = BusSet::default();
        assert!(s.insert(0) && s.insert(63) && s.insert(64) && s.insert(255));
        assert!(!s.insert(0) && !s.insert(255) && !s.insert(64));
        assert!(s.insert(1));
    }
}
