//! The Linux `acpidump` text format, and synthetic physical memory images for host tools.
//!
//! A dump is a sequence of blocks, each a header line `NAME @ 0xADDRESS` followed by hex
//! lines `    OFFSET: HH HH ... HH  ASCII` of up to 16 bytes; blank lines separate blocks, and
//! acpidump's own messages may stand between them.
//! [`parse`] returns the blocks as byte vectors. [`Image::build`] lays tables out in a buffer
//! that stands in for physical memory, behind a fresh RSDP, XSDT and RSDT, so that
//! [`crate::from_rsdp`] runs on the host exactly as it runs in the kernel.
//! [`Image::build_with_dsdt`] also places the DSDT, which no root table lists: the FADT points
//! to it, so the FADT's DSDT and X_DSDT fields are rewritten to where it now lies.

use crate::discover::{checksum, HEADER_LEN};
use crate::phys::SliceMemory;
use crate::{from_rsdp, CpuHint, TableSig, Topology, TopologyError, Warning};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

/// One block of an `acpidump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpTable {
    /// The name on the block's header line (`APIC`, `SSDT`, `RSD PTR`, ...).
    pub name: String,
    /// The physical address on the header line (0 in dumps made from files).
    pub address: u64,
    /// The block's bytes.
    pub bytes: Vec<u8>,
}

impl DumpTable {
    /// The signature in the table's first four bytes, if it has that many.
    pub fn signature(&self) -> Option<TableSig> {
        let b = self.bytes.get(..4)?;
        Some(TableSig([b[0], b[1], b[2], b[3]]))
    }
}

/// A parsed `acpidump`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dump {
    /// The well-formed blocks, in dump order.
    pub tables: Vec<DumpTable>,
    /// Blocks dropped for malformed lines.
    pub warnings: Vec<Warning>,
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn parse_hex_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.bytes()
        .try_fold(0u64, |acc, b| Some(acc << 4 | u64::from(hex_digit(b)?)))
}

/// A header line: `NAME @ 0xADDRESS`, the name not indented.
fn parse_header(line: &str) -> Option<(&str, u64)> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (name, addr) = line.split_once(" @ ")?;
    let addr = addr.trim_end().strip_prefix("0x")?;
    Some((name.trim_end(), parse_hex_u64(addr).unwrap_or(0)))
}

/// A hex line: `OFFSET:` then up to 16 ` HH` groups, then anything (the ASCII column).
fn parse_data(line: &str, out: &mut Vec<u8>) -> Option<u64> {
    if !line.starts_with(char::is_whitespace) {
        return None;
    }
    let (offset, rest) = line.trim_start().split_once(':')?;
    let offset = parse_hex_u64(offset)?;
    let mut rest = rest.as_bytes();
    let mut count = 0;
    while count < 16 && rest.len() >= 3 && rest[0] == b' ' && (rest.len() == 3 || rest[3] == b' ') {
        let (Some(hi), Some(lo)) = (hex_digit(rest[1]), hex_digit(rest[2])) else {
            break;
        };
        out.push(hi << 4 | lo);
        rest = &rest[3..];
        count += 1;
    }
    (count > 0).then_some(offset)
}

/// Parses `acpidump` text. Never fails: lines outside blocks are ignored; a block ends at a
/// blank line or at an unindented line that is not a header; a block with an indented line
/// that is not a hex line (or whose offsets do not follow on) is dropped with a warning.
pub fn parse(text: &str) -> Dump {
    let mut dump = Dump::default();
    let mut current: Option<(DumpTable, bool)> = None;
    let finish = |current: &mut Option<(DumpTable, bool)>, dump: &mut Dump| {
        if let Some((table, true)) = current.take() {
            dump.tables.push(table);
        }
    };
    for (index, line) in text.lines().enumerate() {
        // A blank line or an unindented line that is not a header (acpidump prints its own
        // messages, e.g. "Firmware Warning (ACPI): Incorrect checksum ...") ends a block.
        if line.trim().is_empty() {
            finish(&mut current, &mut dump);
            continue;
        }
        if let Some((name, address)) = parse_header(line) {
            finish(&mut current, &mut dump);
            current = Some((
                DumpTable {
                    name: name.to_string(),
                    address,
                    bytes: Vec::new(),
                },
                true,
            ));
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            finish(&mut current, &mut dump);
            continue;
        }
        let Some((table, good)) = current.as_mut() else {
            continue;
        };
        if !*good {
            continue;
        }
        let before = table.bytes.len();
        match parse_data(line, &mut table.bytes) {
            Some(offset) if offset == before as u64 => {}
            _ => {
                *good = false;
                dump.warnings.push(Warning::DumpBadLine { line: index + 1 });
            }
        }
    }
    finish(&mut current, &mut dump);
    dump
}

/// Where the synthetic RSDP sits (physical memory below it is left empty, so that no table
/// pointer is 0).
const RSDP_AT: usize = 0x1000;
/// Where the root tables start.
const ROOTS_AT: usize = 0x1040;

/// A buffer standing in for physical memory (physical address = index) with an RSDP, an XSDT
/// and an RSDT that list the given tables.
#[derive(Clone, Debug)]
pub struct Image {
    bytes: Vec<u8>,
}

fn put_header(buf: &mut [u8], sig: &[u8; 4], length: usize, revision: u8) {
    buf[0..4].copy_from_slice(sig);
    buf[4..8].copy_from_slice(&(length as u32).to_le_bytes());
    buf[8] = revision;
    buf[10..16].copy_from_slice(b"TOPOLO");
    buf[16..24].copy_from_slice(b"SYNTHETC");
    buf[24..28].copy_from_slice(&1u32.to_le_bytes());
    buf[28..32].copy_from_slice(b"TOPO");
    buf[32..36].copy_from_slice(&1u32.to_le_bytes());
}

/// Sets byte 9 (the checksum) of a table so that its bytes sum to 0 mod 256.
pub fn fix_checksum(table: &mut [u8]) {
    if table.len() >= 10 {
        table[9] = 0;
        table[9] = 0u8.wrapping_sub(checksum(table));
    }
}

fn align16(n: usize) -> usize {
    (n + 15) & !15
}

/// Byte offset of the FADT's 32-bit DSDT address.
const FADT_DSDT: usize = 40;
/// Byte offset of the FADT's 64-bit X_DSDT address.
const FADT_X_DSDT: usize = 140;

/// Points a FADT at a DSDT placed at `dsdt_at`: the 32-bit DSDT field, and X_DSDT when the
/// table has it and it was set. A correct checksum is kept correct (a wrong one stays wrong).
fn relocate_dsdt(fadt: &mut [u8], dsdt_at: usize) {
    let was_valid = checksum(fadt) == 0;
    if let Some(field) = fadt.get_mut(FADT_DSDT..FADT_DSDT + 4) {
        field.copy_from_slice(&(dsdt_at as u32).to_le_bytes());
    }
    if let Some(field) = fadt.get_mut(FADT_X_DSDT..FADT_X_DSDT + 8) {
        if field.iter().any(|&b| b != 0) {
            field.copy_from_slice(&(dsdt_at as u64).to_le_bytes());
        }
    }
    if was_valid {
        fix_checksum(fadt);
    }
}

impl Image {
    /// Lays out `tables` (whole tables, header included, taken as they are) one after
    /// another at 16-byte aligned addresses, behind an RSDP (revision 2) pointing to an XSDT
    /// and an RSDT that list them all, in order.
    pub fn build<T: AsRef<[u8]>>(tables: &[T]) -> Image {
        Image::build_with_dsdt(tables, None)
    }

    /// [`Image::build`], and with a DSDT: it is placed after the tables, and every FADT
    /// (`FACP`) among them is pointed at it (its DSDT field, and X_DSDT when that was not 0;
    /// the checksum is fixed if it was correct). Without a DSDT this is [`Image::build`]: FADTs
    /// keep the pointers they have.
    pub fn build_with_dsdt<T: AsRef<[u8]>>(tables: &[T], dsdt: Option<&[u8]>) -> Image {
        let n = tables.len();
        let xsdt_len = HEADER_LEN + 8 * n;
        let rsdt_len = HEADER_LEN + 4 * n;
        let xsdt_at = ROOTS_AT;
        let rsdt_at = align16(xsdt_at + xsdt_len);
        let mut at = align16(rsdt_at + rsdt_len);
        let mut places = Vec::with_capacity(n);
        for t in tables {
            places.push(at);
            at = align16(at + t.as_ref().len());
        }
        let dsdt_at = at;
        at = align16(at + dsdt.map_or(0, <[u8]>::len));
        let mut bytes = vec![0u8; at];
        for (t, &p) in tables.iter().zip(&places) {
            let t = t.as_ref();
            bytes[p..p + t.len()].copy_from_slice(t);
            if dsdt.is_some() && t.starts_with(b"FACP") {
                relocate_dsdt(&mut bytes[p..p + t.len()], dsdt_at);
            }
        }
        if let Some(dsdt) = dsdt {
            bytes[dsdt_at..dsdt_at + dsdt.len()].copy_from_slice(dsdt);
        }

        let xsdt = &mut bytes[xsdt_at..xsdt_at + xsdt_len];
        put_header(xsdt, b"XSDT", xsdt_len, 1);
        for (i, &p) in places.iter().enumerate() {
            let o = HEADER_LEN + 8 * i;
            xsdt[o..o + 8].copy_from_slice(&(p as u64).to_le_bytes());
        }
        fix_checksum(xsdt);
        let rsdt = &mut bytes[rsdt_at..rsdt_at + rsdt_len];
        put_header(rsdt, b"RSDT", rsdt_len, 1);
        for (i, &p) in places.iter().enumerate() {
            let o = HEADER_LEN + 4 * i;
            rsdt[o..o + 4].copy_from_slice(&(p as u32).to_le_bytes());
        }
        fix_checksum(rsdt);

        let rsdp = &mut bytes[RSDP_AT..RSDP_AT + 36];
        rsdp[0..8].copy_from_slice(b"RSD PTR ");
        rsdp[9..15].copy_from_slice(b"TOPOLO");
        rsdp[15] = 2;
        rsdp[16..20].copy_from_slice(&(rsdt_at as u32).to_le_bytes());
        rsdp[20..24].copy_from_slice(&36u32.to_le_bytes());
        rsdp[24..32].copy_from_slice(&(xsdt_at as u64).to_le_bytes());
        rsdp[8] = 0u8.wrapping_sub(checksum(&rsdp[..20]));
        rsdp[32] = 0u8.wrapping_sub(checksum(&rsdp[..36]));
        Image { bytes }
    }

    /// Physical address of the RSDP.
    pub fn rsdp_address(&self) -> u64 {
        RSDP_AT as u64
    }

    /// Physical address of the XSDT.
    pub fn xsdt_address(&self) -> u64 {
        ROOTS_AT as u64
    }

    /// The image as physical memory for [`crate::from_rsdp`].
    pub fn memory(&self) -> SliceMemory<'_> {
        SliceMemory::new(0, &self.bytes)
    }

    /// The raw image (index = physical address).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The raw image, to corrupt in tests.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

/// A block's signature: from its header, else from the block name.
fn block_signature(table: &DumpTable) -> TableSig {
    table.signature().unwrap_or_else(|| {
        let mut s = [b' '; 4];
        for (d, &c) in s.iter_mut().zip(table.name.as_bytes()) {
            *d = c;
        }
        TableSig(s)
    })
}

/// A block's bytes cut to the length its header gives. `None`, with a warning, for a block
/// shorter than a header or than its header says.
fn whole_table<'a>(
    table: &'a DumpTable,
    sig: TableSig,
    warnings: &mut Vec<Warning>,
) -> Option<&'a [u8]> {
    let declared = table
        .bytes
        .get(4..8)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if table.bytes.len() < HEADER_LEN || (declared as usize) > table.bytes.len() {
        warnings.push(Warning::DumpTruncatedTable {
            signature: sig,
            declared,
            available: table.bytes.len(),
        });
        return None;
    }
    let len = (declared as usize).max(HEADER_LEN);
    Some(&table.bytes[..len])
}

/// The tables of a dump that belong in the XSDT: everything with a table header except the
/// RSDP, the root tables themselves and the tables the FADT points to (FACS, DSDT). Blocks
/// shorter than their header says are dropped with a warning, trailing bytes beyond it are
/// cut, and exact repeats are dropped with a warning. Different tables with the same
/// signature (several SSDTs) are all kept.
pub fn xsdt_tables(dump: &Dump, warnings: &mut Vec<Warning>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for table in &dump.tables {
        if table.name.as_bytes().starts_with(b"RSD") {
            continue;
        }
        let sig = block_signature(table);
        if matches!(&sig.0, b"XSDT" | b"RSDT" | b"FACS" | b"DSDT") {
            continue;
        }
        let Some(bytes) = whole_table(table, sig, warnings) else {
            continue;
        };
        if out.iter().any(|t| t.as_slice() == bytes) {
            warnings.push(Warning::DumpDuplicateTable { signature: sig });
            continue;
        }
        out.push(bytes.to_vec());
    }
    out
}

/// The dump's DSDT (the first whole one). A truncated block is dropped with a warning, an
/// exact repeat with [`Warning::DumpDuplicateTable`], a different second DSDT with
/// [`Warning::DuplicateTable`].
pub fn dsdt_table(dump: &Dump, warnings: &mut Vec<Warning>) -> Option<Vec<u8>> {
    let mut found: Option<Vec<u8>> = None;
    for table in &dump.tables {
        let sig = block_signature(table);
        if sig != TableSig::DSDT {
            continue;
        }
        let Some(bytes) = whole_table(table, sig, warnings) else {
            continue;
        };
        match &found {
            None => found = Some(bytes.to_vec()),
            Some(first) if first.as_slice() == bytes => {
                warnings.push(Warning::DumpDuplicateTable { signature: sig });
            }
            Some(_) => warnings.push(Warning::DuplicateTable { signature: sig }),
        }
    }
    found
}

/// [`crate::from_acpidump_text`].
pub(crate) fn topology_from_text(text: &str, hint: CpuHint) -> Result<Topology, TopologyError> {
    let dump = parse(text);
    if dump.tables.is_empty() {
        return Err(TopologyError::EmptyDump);
    }
    let mut warnings = dump.warnings.clone();
    let tables = xsdt_tables(&dump, &mut warnings);
    let dsdt = dsdt_table(&dump, &mut warnings);
    let image = Image::build_with_dsdt(&tables, dsdt.as_deref());
    let prepend = |mut later: Vec<Warning>| {
        let mut all = warnings.clone();
        all.append(&mut later);
        all
    };
    match from_rsdp(image.memory(), image.rsdp_address(), hint) {
        Ok(mut topology) => {
            topology.warnings = prepend(core::mem::take(&mut topology.warnings));
            Ok(topology)
        }
        Err(TopologyError::NoMadt { warnings }) => Err(TopologyError::NoMadt {
            warnings: prepend(warnings),
        }),
        Err(TopologyError::NoEnabledCpu { warnings }) => Err(TopologyError::NoEnabledCpu {
            warnings: prepend(warnings),
        }),
        Err(TopologyError::NoRootTable { warnings }) => Err(TopologyError::NoRootTable {
            warnings: prepend(warnings),
        }),
        Err(e) => Err(e),
    }
}
