//! Capability invocations (the `CapInvoke` syscall; numbers and word layouts from
//! `caps::abi`, shared with the CPU driver).

use caps::abi::{self, CapError, CapIdentity, CapOp, CapRef, CapType, Dest, Rights};

/// A capability in the program's root CNode (depth 8: the address is the slot index).
pub const fn root_slot(index: u32) -> CapRef {
    CapRef::with_depth(index, 8)
}

/// A capability in the program's page CNode (root slot `abi::ROOT_SLOT_PAGECN`): the root
/// slot, then `index`, depth 16.
pub const fn page_slot(index: u32) -> CapRef {
    CapRef::with_depth(::abi::ROOT_SLOT_PAGECN << 8 | index, 16)
}

fn invoke(cap: CapRef, op: CapOp, a: [u64; 4]) -> Result<u64, CapError> {
    let (err, val) = crate::syscall::syscall6(
        ::abi::Syscall::CapInvoke,
        cap.pack(),
        op as u64,
        a[0],
        a[1],
        a[2],
        a[3],
    );
    if err == 0 {
        Ok(val)
    } else {
        Err(CapError::try_from(val).unwrap_or(CapError::InvalidArgument))
    }
}

/// A raw invocation with any words (for testing the kernel's checks).
pub fn invoke_raw(cap: u64, op: u64, a: [u64; 4]) -> (u64, u64) {
    crate::syscall::syscall6(::abi::Syscall::CapInvoke, cap, op, a[0], a[1], a[2], a[3])
}

/// The packed destination "root CNode, slot `index`".
pub fn dest(index: u32) -> u64 {
    Dest {
        cnode: root_slot(::abi::ROOT_SLOT_CNODE),
        index,
    }
    .pack()
    .unwrap_or(u64::MAX)
}

/// Retype `count` objects of `ty` and `size` bytes from `src` at `offset` into root slots
/// starting at `dest_slot`. When the capability has copies on other cores or is owned by
/// another core, the kernel refuses (`RetryThroughMonitor`, `NotOwner`) and the retype
/// goes through the monitors, which claim
/// the memory by agreement first (a concurrent claim elsewhere: `RetypeConflict`).
pub fn retype(
    src: CapRef,
    ty: CapType,
    offset: u64,
    size: u64,
    count: u32,
    dest_slot: u32,
) -> Result<u64, CapError> {
    let word = abi::pack_retype_word(ty, count);
    match invoke(src, CapOp::Retype, [word, offset, size, dest(dest_slot)]) {
        Err(CapError::RetryThroughMonitor | CapError::NotOwner) => {
            crate::monitor::retype(src, word, offset, size, dest(dest_slot))
                .map(|()| u64::from(count))
                .map_err(monitor_cap_error)
        }
        r => r,
    }
}

/// A monitor error as the capability error a program expects.
fn monitor_cap_error(e: (crate::monitor::MonError, u64)) -> CapError {
    use crate::monitor::MonError;
    match e.0 {
        MonError::Conflict => CapError::RetypeConflict,
        MonError::CapFailed => CapError::try_from(e.1).unwrap_or(CapError::InvalidArgument),
        MonError::Busy | MonError::GaveUp | MonError::NotReady => CapError::Busy,
        _ => CapError::RetryThroughMonitor,
    }
}

/// Describe a capability.
pub fn identify(cap: CapRef) -> Result<CapIdentity, CapError> {
    let mut words = [0u64; 5];
    invoke(cap, CapOp::Identify, [words.as_mut_ptr() as u64, 0, 0, 0])?;
    Ok(CapIdentity::from_words(words))
}

/// Map `pages` pages of `frame` (from page `offset`) into page table `table` at `entry`.
pub fn map(
    table: CapRef,
    frame: CapRef,
    entry: u16,
    pages: u16,
    rights: Rights,
    offset: u64,
) -> Result<u64, CapError> {
    invoke(
        table,
        CapOp::Map,
        [
            frame.pack(),
            abi::pack_map_word(entry, pages, rights),
            offset,
            0,
        ],
    )
}

/// Delete a capability.
///
/// The last local copy of an object with copies on other cores (or owned by another core)
/// is deleted by the monitor (`RetryThroughMonitor` from the kernel): the other cores'
/// copies stay valid.
pub fn delete(cap: CapRef) -> Result<u64, CapError> {
    match invoke(cap, CapOp::Delete, [0; 4]) {
        Err(CapError::RetryThroughMonitor) => {
            crate::monitor::delete(cap).map_err(monitor_cap_error)
        }
        r => r,
    }
}

/// Delete every descendant and other copy of a capability. With copies or descendants on
/// other cores, the monitors run the distributed revoke.
pub fn revoke(cap: CapRef) -> Result<u64, CapError> {
    match invoke(cap, CapOp::Revoke, [0; 4]) {
        Err(CapError::RetryThroughMonitor) => {
            crate::monitor::revoke(cap).map_err(monitor_cap_error)
        }
        r => r,
    }
}

/// Remove the mapping of `pages` pages at `entry` of page table `table`.
pub fn unmap(table: CapRef, entry: u16, pages: u16) -> Result<u64, CapError> {
    invoke(
        table,
        CapOp::Unmap,
        [abi::pack_map_word(entry, pages, Rights::empty()), 0, 0, 0],
    )
}

/// Read `width` bytes (1, 2 or 4) from I/O port `port` through IO capability `io`.
pub fn io_in(io: CapRef, port: u16, width: u8) -> Result<u32, CapError> {
    invoke(io, CapOp::IoIn, [u64::from(port), u64::from(width), 0, 0]).map(|v| v as u32)
}

/// Write `value` (`width` bytes) to I/O port `port` through IO capability `io`.
pub fn io_out(io: CapRef, port: u16, width: u8, value: u32) -> Result<(), CapError> {
    invoke(
        io,
        CapOp::IoOut,
        [u64::from(port), u64::from(width), u64::from(value), 0],
    )
    .map(|_| ())
}

/// Receive the interrupt vector of IRQ capability `irq` on this core.
pub fn irq_bind(irq: CapRef) -> Result<(), CapError> {
    invoke(irq, CapOp::IrqBind, [0; 4]).map(|_| ())
}

/// Wait for the bound vector of `irq`; returns how many interrupts came.
pub fn irq_wait(irq: CapRef) -> Result<u64, CapError> {
    irq_wait_timeout(irq, 0)
}

/// Wait for the bound vector of `irq` at most `timeout_ms` milliseconds (rounded up to
/// the 10 ms timer tick; 0 waits forever); returns how many interrupts came (0 when the
/// time ran out).
pub fn irq_wait_timeout(irq: CapRef, timeout_ms: u64) -> Result<u64, CapError> {
    invoke(irq, CapOp::IrqWait, [timeout_ms, 0, 0, 0])
}

/// Wait (yielding, at most `timeout_ms`) until root slot `slot` holds a capability, as
/// when a driver's device capabilities are sent right after it was started.
pub fn wait_for(slot: u32, timeout_ms: u64) -> Option<CapRef> {
    let c = root_slot(slot);
    let deadline = crate::time::Deadline::after_ms(timeout_ms);
    while identify(c).is_err() {
        if deadline.passed() {
            return None;
        }
        crate::syscall::yield_now();
    }
    Some(c)
}
