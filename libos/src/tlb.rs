//! Unmapping from a capability window shared with other cores (a spanned program, see
//! [`crate::monitor::span`]) with a chosen TLB shootdown protocol.

use abi::{SysError, Syscall};
use caps::abi::CapError;

use crate::syscall::syscall5;

pub use abi::tlb::{BROADCAST, IPI, MULTICAST, NAMES, NUMA, UNICAST};

/// Why an unmap failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbError {
    /// The capability operation failed (nothing mapped there, no write right...).
    Cap(CapError),
    /// The syscall refused its arguments.
    Sys(SysError),
    /// An error code this library does not know.
    Unknown(u64),
}

/// Unmap `pages` entries from `entry` of this program's capability window and return only
/// once no core of the address space can reach them, using shootdown `protocol`
/// ([`IPI`], [`UNICAST`], [`BROADCAST`], [`MULTICAST`], [`NUMA`]). Returns the cycles the
/// kernel measured from the start of the shootdown to the last acknowledgement (0 when no
/// other core links the window).
pub fn unmap(entry: u16, pages: u16, protocol: u64) -> Result<u64, TlbError> {
    let table = crate::cap::root_slot(abi::ROOT_SLOT_PT);
    let (err, val) = syscall5(
        Syscall::TlbUnmap,
        table.pack(),
        u64::from(entry),
        u64::from(pages),
        protocol,
        0,
    );
    match SysError::from_u64(err) {
        Some(SysError::Ok) => Ok(val),
        Some(SysError::CapFailed) => Err(CapError::try_from(val)
            .map(TlbError::Cap)
            .unwrap_or(TlbError::Unknown(val))),
        Some(e) => Err(TlbError::Sys(e)),
        None => Err(TlbError::Unknown(err)),
    }
}
