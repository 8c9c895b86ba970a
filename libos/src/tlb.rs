//! Unmapping from a capability window shared with other cores (a spanned program, see
//! [`crate::monitor::span`]) with a chosen TLB shootdown protocol.

use abi::Syscall;

use crate::syscall::syscall5;

pub use abi::tlb::{BROADCAST, IPI, MULTICAST, NAMES, NUMA, UNICAST};

/// Why an unmap failed: the capability operation (nothing mapped there, no write
/// right...) or the syscall's arguments.
pub use crate::kernel::KernelError as TlbError;

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
    crate::kernel::result(err, val)
}
