//! The FADT (signature `FACP`): where the DSDT is, the PM1 control registers, the SMI command
//! that switches the chipset into ACPI mode, and the reset register.
//!
//! Decoded here from bytes. The `acpi` crate's `Fadt` is the full 276-byte ACPI 6 layout and
//! decides whether the 64-bit (`X_`) fields exist from the revision alone, so an ACPI 1.0 FADT
//! (116 bytes) or one whose revision and length disagree would be read past its end; here
//! every field is read only when the table's length covers it.

use crate::{AcpiEnable, AcpiRegister, ResetRegister};

/// Length of an ACPI 1.0 FADT: everything up to and including the flags.
pub(crate) const MIN_LEN: usize = 116;

/// Byte offsets of the fields read.
const DSDT: usize = 40;
const SMI_CMD: usize = 48;
const ACPI_ENABLE: usize = 52;
const ACPI_DISABLE: usize = 53;
const PM1A_CNT_BLK: usize = 64;
const PM1B_CNT_BLK: usize = 68;
const PM1_CNT_LEN: usize = 89;
const FLAGS: usize = 112;
const RESET_REG: usize = 116;
const RESET_VALUE: usize = 128;
const X_DSDT: usize = 140;
const X_PM1A_CNT_BLK: usize = 172;
const X_PM1B_CNT_BLK: usize = 184;

/// FADT flag: the reset register is supported.
const RESET_REG_SUP: u32 = 1 << 10;
/// FADT flag: hardware-reduced ACPI (no PM1 blocks, no SMI command).
const HW_REDUCED_ACPI: u32 = 1 << 20;

/// What the FADT says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FadtInfo {
    /// Physical address of the DSDT: X_DSDT when present and not 0, else DSDT.
    pub dsdt: u64,
    /// SMI_CMD, ACPI_ENABLE, ACPI_DISABLE, when SMI_CMD is not 0.
    pub acpi_enable: Option<AcpiEnable>,
    /// PM1a control block.
    pub pm1a_control: Option<AcpiRegister>,
    /// PM1b control block.
    pub pm1b_control: Option<AcpiRegister>,
    /// The reset register, when the FADT is long enough for it and its address is not 0.
    pub reset: Option<ResetRegister>,
    /// The hardware-reduced ACPI flag.
    pub hardware_reduced: bool,
}

fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let raw = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let raw = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(raw);
    Some(u64::from_le_bytes(a))
}

/// A Generic Address Structure at `off`, if the table holds it and its address is not 0.
fn gas_at(b: &[u8], off: usize) -> Option<AcpiRegister> {
    let raw = b.get(off..off.checked_add(12)?)?;
    let address = u64_at(raw, 4)?;
    (address != 0).then_some(AcpiRegister {
        space: raw[0],
        bit_width: raw[1],
        bit_offset: raw[2],
        access_size: raw[3],
        address,
    })
}

/// A legacy I/O port block (32-bit port address, length in bytes) as a register.
fn legacy_block(b: &[u8], off: usize, len_off: usize) -> Option<AcpiRegister> {
    let port = u32_at(b, off)?;
    let len = u8_at(b, len_off).unwrap_or(0);
    (port != 0).then_some(AcpiRegister {
        space: AcpiRegister::SYSTEM_IO,
        bit_width: len.saturating_mul(8),
        bit_offset: 0,
        access_size: 0,
        address: u64::from(port),
    })
}

/// The 64-bit block when it is set and in system I/O space, or when there is no legacy block
/// (its space id is kept: it may be memory); otherwise the legacy block.
fn pick(extended: Option<AcpiRegister>, legacy: Option<AcpiRegister>) -> Option<AcpiRegister> {
    match (extended, legacy) {
        (Some(x), _) if x.space == AcpiRegister::SYSTEM_IO => Some(x),
        (Some(x), None) => Some(x),
        (_, legacy) => legacy,
    }
}

/// Decodes a FADT (a whole table with a checked header and checksum, at least
/// [`MIN_LEN`] bytes long; shorter input gives what fits).
pub(crate) fn parse(b: &[u8]) -> FadtInfo {
    let x_dsdt = u64_at(b, X_DSDT).unwrap_or(0);
    let dsdt = if x_dsdt != 0 {
        x_dsdt
    } else {
        u64::from(u32_at(b, DSDT).unwrap_or(0))
    };
    let flags = u32_at(b, FLAGS).unwrap_or(0);
    let smi_command = u32_at(b, SMI_CMD).unwrap_or(0);
    let acpi_enable = (smi_command != 0).then(|| AcpiEnable {
        smi_command,
        enable_value: u8_at(b, ACPI_ENABLE).unwrap_or(0),
        disable_value: u8_at(b, ACPI_DISABLE).unwrap_or(0),
    });
    // RESET_REG and RESET_VALUE came with ACPI 2.0 (FADT revision 3 and later); a revision 1
    // FADT is 116 bytes and has neither.
    let reset = gas_at(b, RESET_REG)
        .zip(u8_at(b, RESET_VALUE))
        .map(|(register, value)| ResetRegister {
            register,
            value,
            supported: flags & RESET_REG_SUP != 0,
        });
    FadtInfo {
        dsdt,
        acpi_enable,
        pm1a_control: pick(
            gas_at(b, X_PM1A_CNT_BLK),
            legacy_block(b, PM1A_CNT_BLK, PM1_CNT_LEN),
        ),
        pm1b_control: pick(
            gas_at(b, X_PM1B_CNT_BLK),
            legacy_block(b, PM1B_CNT_BLK, PM1_CNT_LEN),
        ),
        reset,
        hardware_reduced: flags & HW_REDUCED_ACPI != 0,
    }
}
