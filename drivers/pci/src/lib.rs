//! PCI enumeration logic for the user-level PCI driver.
//!
//! The PCI driver program owns configuration space (through ECAM memory it was given a
//! capability for, or through the legacy 0xCF8/0xCFC ports) and has to find out what is on
//! the buses: which functions exist, what they are, which BARs they decode and how large those
//! are, so it can report them to the SKB (`pci_device/7` facts, see `skb/rules/topology.pl`)
//! and hand device capabilities to the drivers. None of that needs hardware to be tested, so
//! this crate is pure logic over an abstract accessor, [`ConfigSpace`]; the driver program
//! supplies the accessor, and the unit tests supply a fake machine.
//!
//! * Addressing: [`Ecam`] (PCI Express enhanced configuration access, one segment of the ACPI
//!   MCFG table) computes byte offsets into the ECAM window; [`legacy_address`] computes the
//!   `CONFIG_ADDRESS` value of configuration mechanism #1 (ports [`CONFIG_ADDRESS_PORT`] and
//!   [`CONFIG_DATA_PORT`]). Both reject addresses they cannot reach.
//! * Enumeration: [`scan`] (and [`enumerate`], which drops the warnings) walks the bus tree
//!   from the host bridge's bus, following PCI-to-PCI bridges, detects multi-function devices
//!   and decodes and sizes BARs ([`Function`], [`Bar`]).
//! * Presentation: [`class_name`], [`lspci_line`] and [`skb_fact`].
//!
//! Malformed hardware (a 64-bit BAR in the last slot, a bridge pointing back at an earlier bus,
//! an unknown header layout, ...) never panics and never loops: the offending part is skipped
//! and a [`Warning`] is recorded. Errors ([`PciError`]) are reserved for invalid arguments and
//! for accessor failures, which end the scan.
//!
//! BAR sizing writes to configuration space (all ones to each BAR, then the original value
//! back, with I/O and memory decoding disabled in the command register meanwhile, and the
//! command register restored afterwards). The scan must therefore run while no driver is
//! using the devices, i.e. at boot, before device capabilities are handed out.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

#[cfg(test)]
extern crate std;

mod access;
mod enumerate;
mod names;

#[cfg(test)]
mod tests;

pub use access::{legacy_address, Ecam, CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT};
pub use enumerate::{
    enumerate, scan, Bar, BarKind, BridgeBuses, Function, HeaderLayout, Scan, Warning,
};
pub use names::{class_name, lspci_line, skb_fact};

use core::fmt;

/// Number of devices on a bus.
pub const DEVICES_PER_BUS: u8 = 32;
/// Number of functions of a device.
pub const FUNCTIONS_PER_DEVICE: u8 = 8;
/// Size of one function's PCI Express (extended) configuration space in bytes.
pub const CONFIG_SPACE_SIZE: u16 = 4096;
/// Size of one function's conventional PCI configuration space in bytes (all that the legacy
/// port mechanism reaches).
pub const LEGACY_CONFIG_SPACE_SIZE: u16 = 256;

/// Offsets of the configuration-space registers this crate uses (all dword aligned).
pub mod reg {
    /// Vendor id (bits 0..16) and device id (bits 16..32).
    pub const ID: u16 = 0x00;
    /// Command (bits 0..16) and status (bits 16..32, write-1-to-clear).
    pub const COMMAND_STATUS: u16 = 0x04;
    /// Revision (bits 0..8), prog-if (8..16), subclass (16..24), class (24..32).
    pub const CLASS_REVISION: u16 = 0x08;
    /// Cache line size, latency timer, header type (bits 16..24), BIST.
    pub const HEADER_TYPE: u16 = 0x0c;
    /// First base address register; BAR `n` is at `BAR0 + 4 * n`.
    pub const BAR0: u16 = 0x10;
    /// Header type 1: primary (bits 0..8), secondary (8..16), subordinate (16..24) bus.
    pub const BRIDGE_BUSES: u16 = 0x18;
    /// Interrupt line (bits 0..8) and interrupt pin (8..16).
    pub const INTERRUPT: u16 = 0x3c;

    /// Command register: I/O space decoding enabled.
    pub const COMMAND_IO: u32 = 1 << 0;
    /// Command register: memory space decoding enabled.
    pub const COMMAND_MEMORY: u32 = 1 << 1;
    /// Header type register: the device has more than one function.
    pub const HEADER_MULTIFUNCTION: u8 = 0x80;
}

/// A PCI function address: segment (group), bus, device, function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    /// PCI segment group (0 on machines with a single segment).
    pub segment: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0..=31.
    pub device: u8,
    /// Function number, 0..=7.
    pub function: u8,
}

impl Bdf {
    /// A function address (not checked; see [`Bdf::is_valid`]).
    pub const fn new(segment: u16, bus: u8, device: u8, function: u8) -> Self {
        Bdf {
            segment,
            bus,
            device,
            function,
        }
    }

    /// Whether the device and function numbers are in range (device <= 31, function <= 7).
    pub const fn is_valid(&self) -> bool {
        self.device < DEVICES_PER_BUS && self.function < FUNCTIONS_PER_DEVICE
    }
}

/// `bb:dd.f` (hex), prefixed with `ssss:` when the segment is not 0, as `lspci` prints it.
impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segment != 0 {
            write!(f, "{:04x}:", self.segment)?;
        }
        write!(
            f,
            "{:02x}:{:02x}.{:x}",
            self.bus, self.device, self.function
        )
    }
}

/// Errors of this crate and of [`ConfigSpace`] implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciError {
    /// Device number above 31 or function number above 7.
    InvalidFunction(Bdf),
    /// Register offset not dword aligned or beyond the reachable configuration space.
    InvalidRegister {
        /// The function addressed.
        bdf: Bdf,
        /// The offending offset.
        offset: u16,
    },
    /// The function is in a segment the accessor does not cover.
    SegmentNotCovered(Bdf),
    /// The function is on a bus the accessor (or the scan's bus range) does not cover.
    BusNotCovered(Bdf),
    /// A bus range whose end is below its start.
    InvalidBusRange {
        /// First bus.
        start_bus: u8,
        /// Last bus.
        end_bus: u8,
    },
    /// The accessor could not perform the access (hardware, mapping or IPC failure).
    AccessFailed {
        /// The function addressed.
        bdf: Bdf,
        /// The register offset.
        offset: u16,
    },
}

impl fmt::Display for PciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PciError::InvalidFunction(bdf) => write!(f, "invalid device/function number {bdf}"),
            PciError::InvalidRegister { bdf, offset } => {
                write!(f, "invalid config register {offset:#x} of {bdf}")
            }
            PciError::SegmentNotCovered(bdf) => write!(f, "segment of {bdf} not covered"),
            PciError::BusNotCovered(bdf) => write!(f, "bus of {bdf} not covered"),
            PciError::InvalidBusRange { start_bus, end_bus } => {
                write!(f, "invalid bus range {start_bus}..={end_bus}")
            }
            PciError::AccessFailed { bdf, offset } => {
                write!(f, "config access to {bdf} register {offset:#x} failed")
            }
        }
    }
}

impl core::error::Error for PciError {}

/// Access to PCI configuration space, supplied by the driver program (ECAM mapping or legacy
/// ports) or by a test.
///
/// Offsets are byte offsets of dword-aligned registers. Reading a function that does not
/// exist must return all ones (as the hardware does), not an error; errors are for addresses
/// the accessor cannot reach and for failures of the access itself.
pub trait ConfigSpace {
    /// Reads the 32-bit register at `offset` of function `addr`.
    fn read32(&mut self, addr: Bdf, offset: u16) -> Result<u32, PciError>;

    /// Writes the 32-bit register at `offset` of function `addr`.
    fn write32(&mut self, addr: Bdf, offset: u16, value: u32) -> Result<(), PciError>;
}

impl<T: ConfigSpace + ?Sized> ConfigSpace for &mut T {
    fn read32(&mut self, addr: Bdf, offset: u16) -> Result<u32, PciError> {
        (**self).read32(addr, offset)
    }

    fn write32(&mut self, addr: Bdf, offset: u16, value: u32) -> Result<(), PciError> {
        (**self).write32(addr, offset, value)
    }
}
