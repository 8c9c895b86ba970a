//! Configuration-space addressing: ECAM windows and the legacy port mechanism.

use crate::{Bdf, PciError, CONFIG_SPACE_SIZE, LEGACY_CONFIG_SPACE_SIZE};

/// I/O port of the legacy `CONFIG_ADDRESS` register (configuration mechanism #1).
pub const CONFIG_ADDRESS_PORT: u16 = 0xcf8;
/// I/O port of the legacy `CONFIG_DATA` register; byte `n` of the dword is at port `0xcfc + n`.
pub const CONFIG_DATA_PORT: u16 = 0xcfc;

/// One PCI Express ECAM window: the configuration space of buses `start_bus..=end_bus` of
/// one segment, 1 MiB per bus, 32 KiB per device, 4 KiB per function.
///
/// `base` is the address of the configuration space of **`start_bus`**, i.e. the start of
/// the window. The ACPI MCFG table instead gives the address bus 0 would have (even when its
/// start bus is not 0); build an `Ecam` from an MCFG entry with [`Ecam::from_mcfg`], which
/// converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ecam {
    /// Address of the configuration space of (`start_bus`, device 0, function 0).
    pub base: u64,
    /// PCI segment group.
    pub segment: u16,
    /// First bus decoded.
    pub start_bus: u8,
    /// Last bus decoded.
    pub end_bus: u8,
}

impl Ecam {
    /// An ECAM window from an ACPI MCFG entry, whose base address is that of bus 0. `None` if
    /// the bus range is empty (end below start) or the window would overflow the address
    /// space.
    pub fn from_mcfg(mcfg_base: u64, segment: u16, start_bus: u8, end_bus: u8) -> Option<Ecam> {
        if end_bus < start_bus {
            return None;
        }
        let base = mcfg_base.checked_add(u64::from(start_bus) << 20)?;
        let ecam = Ecam {
            base,
            segment,
            start_bus,
            end_bus,
        };
        // The last byte of the window must be addressable.
        base.checked_add(ecam.size() - 1)?;
        Some(ecam)
    }

    /// Size of the window in bytes (1 MiB per bus; 0 if the bus range is empty).
    pub fn size(&self) -> u64 {
        if self.end_bus < self.start_bus {
            0
        } else {
            (u64::from(self.end_bus - self.start_bus) + 1) << 20
        }
    }

    /// Whether the window decodes `bus` of `segment`.
    pub fn covers(&self, segment: u16, bus: u8) -> bool {
        segment == self.segment && (self.start_bus..=self.end_bus).contains(&bus)
    }

    /// Byte offset from [`Ecam::base`] of register `reg` of function `bdf`, or why there is
    /// none: the segment or bus is not decoded by this window, the device or function number
    /// is out of range, or the register is not dword aligned or not below 4096.
    pub fn locate(&self, bdf: Bdf, reg: u16) -> Result<u64, PciError> {
        if bdf.segment != self.segment {
            return Err(PciError::SegmentNotCovered(bdf));
        }
        if !self.covers(bdf.segment, bdf.bus) {
            return Err(PciError::BusNotCovered(bdf));
        }
        if !bdf.is_valid() {
            return Err(PciError::InvalidFunction(bdf));
        }
        if reg >= CONFIG_SPACE_SIZE || !reg.is_multiple_of(4) {
            return Err(PciError::InvalidRegister { bdf, offset: reg });
        }
        Ok((u64::from(bdf.bus - self.start_bus) << 20)
            | (u64::from(bdf.device) << 15)
            | (u64::from(bdf.function) << 12)
            | u64::from(reg))
    }

    /// Byte offset from [`Ecam::base`] of register `reg` of function `bdf`:
    /// `(bus - start_bus) << 20 | device << 15 | function << 12 | reg`. `None` for addresses
    /// the window does not reach (see [`Ecam::locate`]).
    pub fn offset_of(&self, bdf: Bdf, reg: u16) -> Option<u64> {
        self.locate(bdf, reg).ok()
    }

    /// Address (`base + offset_of`) of register `reg` of function `bdf`.
    pub fn address_of(&self, bdf: Bdf, reg: u16) -> Option<u64> {
        self.base.checked_add(self.offset_of(bdf, reg)?)
    }
}

/// The value to write to `CONFIG_ADDRESS` (port 0xCF8) to reach register `reg` of `bdf`
/// through configuration mechanism #1: `0x8000_0000 | bus << 16 | device << 11 |
/// function << 8 | (reg & 0xfc)`. The dword is then accessed at port 0xCFC (byte `reg & 3`
/// of it at port `0xcfc + (reg & 3)`).
///
/// `None` unless the segment is 0, the device and function numbers are in range and `reg` is
/// below 256 (the mechanism reaches neither other segments nor extended configuration space).
pub fn legacy_address(bdf: Bdf, reg: u16) -> Option<u32> {
    if bdf.segment != 0 || !bdf.is_valid() || reg >= LEGACY_CONFIG_SPACE_SIZE {
        return None;
    }
    Some(
        0x8000_0000
            | (u32::from(bdf.bus) << 16)
            | (u32::from(bdf.device) << 11)
            | (u32::from(bdf.function) << 8)
            | (u32::from(reg) & 0xfc),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q35: Ecam = Ecam {
        base: 0xb000_0000,
        segment: 0,
        start_bus: 0,
        end_bus: 255,
    };

    #[test]
    fn ecam_offsets() {
        assert_eq!(Q35.offset_of(Bdf::new(0, 0, 0, 0), 0), Some(0));
        assert_eq!(
            Q35.offset_of(Bdf::new(0, 0, 0x1f, 2), 0x24),
            Some((0x1f << 15) | (2 << 12) | 0x24)
        );
        assert_eq!(
            Q35.offset_of(Bdf::new(0, 255, 31, 7), 0xffc),
            Some(0x0fff_fffc)
        );
        assert_eq!(Q35.size(), 256 << 20);
        assert_eq!(
            Q35.address_of(Bdf::new(0, 1, 0, 0), 0x100),
            Some(0xb010_0100)
        );
    }

    #[test]
    fn ecam_with_nonzero_start_bus() {
        let e = Ecam {
            base: 0x1_0000_0000,
            segment: 2,
            start_bus: 0x40,
            end_bus: 0x4f,
        };
        assert_eq!(e.offset_of(Bdf::new(2, 0x40, 0, 0), 0), Some(0));
        assert_eq!(
            e.offset_of(Bdf::new(2, 0x41, 3, 1), 8),
            Some((1 << 20) | (3 << 15) | (1 << 12) | 8)
        );
        assert_eq!(e.size(), 16 << 20);
        assert!(e.covers(2, 0x4f) && !e.covers(2, 0x50) && !e.covers(0, 0x40));
    }

    #[test]
    fn ecam_rejects_unreachable_addresses() {
        let e = Ecam {
            base: 0xe000_0000,
            segment: 1,
            start_bus: 0x10,
            end_bus: 0x1f,
        };
        let ok = Bdf::new(1, 0x10, 0, 0);
        assert!(e.offset_of(ok, 0).is_some());
        for (bdf, reg, err) in [
            (
                Bdf::new(0, 0x10, 0, 0),
                0,
                PciError::SegmentNotCovered(Bdf::new(0, 0x10, 0, 0)),
            ),
            (
                Bdf::new(1, 0x0f, 0, 0),
                0,
                PciError::BusNotCovered(Bdf::new(1, 0x0f, 0, 0)),
            ),
            (
                Bdf::new(1, 0x20, 0, 0),
                0,
                PciError::BusNotCovered(Bdf::new(1, 0x20, 0, 0)),
            ),
            (
                Bdf::new(1, 0x10, 32, 0),
                0,
                PciError::InvalidFunction(Bdf::new(1, 0x10, 32, 0)),
            ),
            (
                Bdf::new(1, 0x10, 0, 8),
                0,
                PciError::InvalidFunction(Bdf::new(1, 0x10, 0, 8)),
            ),
            (
                ok,
                4096,
                PciError::InvalidRegister {
                    bdf: ok,
                    offset: 4096,
                },
            ),
            (ok, 2, PciError::InvalidRegister { bdf: ok, offset: 2 }),
            (
                ok,
                0xfff,
                PciError::InvalidRegister {
                    bdf: ok,
                    offset: 0xfff,
                },
            ),
        ] {
            assert_eq!(e.locate(bdf, reg), Err(err), "{bdf} {reg:#x}");
            assert_eq!(e.offset_of(bdf, reg), None);
        }
        // A window whose range is empty decodes nothing.
        let empty = Ecam {
            start_bus: 5,
            end_bus: 4,
            ..e
        };
        assert_eq!(empty.size(), 0);
        assert_eq!(empty.offset_of(Bdf::new(1, 5, 0, 0), 0), None);
        assert_eq!(empty.offset_of(Bdf::new(1, 4, 0, 0), 0), None);
    }

    #[test]
    fn ecam_from_mcfg() {
        // MCFG gives the address of bus 0; the window starts at bus 0x40.
        let e = Ecam::from_mcfg(0x8000_0000, 0, 0x40, 0x7f).unwrap();
        assert_eq!(e.base, 0x8000_0000 + (0x40 << 20));
        assert_eq!(
            e.address_of(Bdf::new(0, 0x41, 0, 0), 0),
            Some(0x8000_0000 + (0x41 << 20))
        );
        assert_eq!(Ecam::from_mcfg(0x8000_0000, 0, 3, 2), None);
        assert!(Ecam::from_mcfg(u64::MAX - 0xfffff, 0, 0, 0).is_some());
        assert_eq!(Ecam::from_mcfg(u64::MAX - 0xffffe, 0, 0, 0), None);
        assert_eq!(Ecam::from_mcfg(u64::MAX - 0xfffff, 0, 0, 1), None);
        assert_eq!(Ecam::from_mcfg(u64::MAX, 0, 1, 1), None);
    }

    #[test]
    fn legacy_addresses() {
        assert_eq!(legacy_address(Bdf::new(0, 0, 0, 0), 0), Some(0x8000_0000));
        assert_eq!(
            legacy_address(Bdf::new(0, 0, 0x1f, 2), 0x24),
            Some(0x8000_fa24)
        );
        assert_eq!(
            legacy_address(Bdf::new(0, 0xff, 31, 7), 0xff),
            Some(0x80ff_fffc)
        );
        // Byte accesses share the dword address.
        assert_eq!(
            legacy_address(Bdf::new(0, 1, 2, 3), 0x3d),
            legacy_address(Bdf::new(0, 1, 2, 3), 0x3c)
        );
        assert_eq!(legacy_address(Bdf::new(1, 0, 0, 0), 0), None);
        assert_eq!(legacy_address(Bdf::new(0, 0, 0, 0), 0x100), None);
        assert_eq!(legacy_address(Bdf::new(0, 0, 32, 0), 0), None);
        assert_eq!(legacy_address(Bdf::new(0, 0, 0, 8), 0), None);
    }
}
