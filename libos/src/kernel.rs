//! The monitor's requests to its CPU driver (`KernelOp`). They need the core's Kernel
//! capability, which only the monitor holds; anyone else gets `SysError::NotPermitted`.

use abi::{kop, SysError, Syscall};
use caps::abi::{CapError, CapIdentity, CapRef};

use crate::syscall::syscall6;

/// Why a kernel operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// The syscall error.
    Sys(SysError),
    /// A capability error (when the syscall error is `CapFailed`).
    Cap(CapError),
    /// An error code this library does not know.
    Unknown(u64),
}

fn op(o: u64, a: u64, b: u64, c: u64, d: u64) -> Result<u64, KernelError> {
    op6(o, a, b, c, d, 0)
}

fn op6(o: u64, a: u64, b: u64, c: u64, d: u64, e: u64) -> Result<u64, KernelError> {
    let (err, val) = syscall6(Syscall::KernelOp, o, a, b, c, d, e);
    result(err, val)
}

/// A syscall's `(rax, rdx)` as a result: the value, or the syscall error with the
/// capability error when it is `CapFailed`.
pub(crate) fn result(err: u64, val: u64) -> Result<u64, KernelError> {
    match SysError::from_u64(err) {
        Some(SysError::Ok) => Ok(val),
        Some(SysError::CapFailed) => Err(CapError::try_from(val)
            .map(KernelError::Cap)
            .unwrap_or(KernelError::Unknown(val))),
        Some(e) => Err(KernelError::Sys(e)),
        None => Err(KernelError::Unknown(err)),
    }
}

/// Number of cores of the machine (including ones that did not come up).
pub fn cores() -> Result<u32, KernelError> {
    op(kop::CORES, 0, 0, 0, 0).map(|n| n as u32)
}

/// Word `w` of the bitmap of cores whose monitors take part; `Sys(NotFound)` while boot
/// is still going on.
pub fn online_word(w: u64) -> Result<u64, KernelError> {
    op(kop::ONLINE, w, 0, 0, 0)
}

/// Wake the monitor of core `core`.
pub fn notify(core: u32) -> Result<(), KernelError> {
    op(kop::NOTIFY, u64::from(core), 0, 0, 0).map(|_| ())
}

/// Start `bin/NAME` from the ramdisk on this core; returns its dispatcher id.
pub fn spawn(name: &str, args: &str) -> Result<u32, KernelError> {
    op(
        kop::SPAWN,
        name.as_ptr() as u64,
        name.len() as u64,
        args.as_ptr() as u64,
        args.len() as u64,
    )
    .map(|id| id as u32)
}

/// An event of this core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Dispatcher `id` was created, running program `name`.
    Started(u32, alloc::string::String),
    /// Dispatcher `id` ended with an exit status (`abi::EXIT_KILLED` if the kernel ended it).
    Exited(u32, u64),
    /// An event kind this library does not know.
    Unknown(u64),
}

/// The next event, if any.
pub fn next_event() -> Option<Event> {
    let mut name = [0u8; 32];
    let v = op(kop::EVENT, name.as_mut_ptr() as u64, 0, 0, 0).ok()?;
    let len = ((v >> 40) & 0xffff) as usize;
    Some(match v >> 56 {
        kop::event::EXITED => {
            let status = match name.first_chunk::<8>() {
                Some(b) if len == 8 => u64::from_le_bytes(*b),
                _ => abi::EXIT_KILLED,
            };
            Event::Exited(v as u32, status)
        }
        kop::event::STARTED => Event::Started(
            v as u32,
            alloc::string::String::from_utf8_lossy(&name[..len.min(32)]).into_owned(),
        ),
        _ => Event::Unknown(v),
    })
}

/// The TSC frequency in Hz.
pub fn tsc_hz() -> Result<u64, KernelError> {
    op(kop::TSC_HZ, 0, 0, 0, 0)
}

/// The identity of capability `cap` in the CSpace of dispatcher `dispatcher` of this core.
pub fn cap_identify(dispatcher: u32, cap: CapRef) -> Result<CapIdentity, KernelError> {
    let mut words = [0u64; 5];
    op(
        kop::CAP_IDENTIFY,
        u64::from(dispatcher),
        cap.pack(),
        words.as_mut_ptr() as u64,
        0,
    )?;
    Ok(CapIdentity::from_words(words))
}

/// Put a capability received from another core into root slot `slot` of dispatcher
/// `dispatcher`'s CSpace.
pub fn cap_insert(dispatcher: u32, id: &CapIdentity, slot: u32) -> Result<(), KernelError> {
    cap_insert_at(dispatcher, id, u64::from(slot)).map(|_| ())
}

/// As [`cap_insert`] into the first free slot from `abi::kop::FIRST_FREE_SLOT`; returns
/// the slot.
pub fn cap_insert_any(dispatcher: u32, id: &CapIdentity) -> Result<u32, KernelError> {
    cap_insert_at(dispatcher, id, kop::ANY_SLOT)
}

fn cap_insert_at(dispatcher: u32, id: &CapIdentity, slot: u64) -> Result<u32, KernelError> {
    let words = id.to_words();
    op(
        kop::CAP_INSERT,
        u64::from(dispatcher),
        words.as_ptr() as u64,
        slot,
        0,
    )
    .map(|s| s as u32)
}

/// Record that capability `cap` of dispatcher `dispatcher` has copies on other cores.
pub fn cap_mark_remote(dispatcher: u32, cap: CapRef) -> Result<(), KernelError> {
    op(
        kop::CAP_MARK_REMOTE,
        u64::from(dispatcher),
        cap.pack(),
        0,
        0,
    )
    .map(|_| ())
}

/// Record that capability `cap` of dispatcher `dispatcher` no longer has copies or
/// descendants on other cores (after a distributed revoke).
pub fn cap_clear_remote(dispatcher: u32, cap: CapRef) -> Result<(), KernelError> {
    op(
        kop::CAP_MARK_REMOTE,
        u64::from(dispatcher),
        cap.pack(),
        1,
        0,
    )
    .map(|_| ())
}

/// Delete this core's capabilities to objects inside `[base, base + size)`; returns how
/// many were deleted.
pub fn cap_revoke_range(base: u64, size: u64) -> Result<u64, KernelError> {
    op(kop::CAP_REVOKE_RANGE, base, size, 0, 0)
}

/// Invoke capability `cap` of dispatcher `dispatcher` as the monitor (after agreement).
pub fn cap_invoke(
    dispatcher: u32,
    cap: u64,
    cap_op: u64,
    args: [u64; 4],
) -> Result<u64, KernelError> {
    let words = [cap, cap_op, args[0], args[1], args[2], args[3]];
    op(
        kop::CAP_INVOKE,
        u64::from(dispatcher),
        words.as_ptr() as u64,
        0,
        0,
    )
}

/// Copy bytes from `offset` of the machine's facts for the SKB into `buf`; returns how
/// many (0 past the end, or on a core other than the boot core).
pub fn facts(offset: u64, buf: &mut [u8]) -> Result<usize, KernelError> {
    op(
        kop::FACTS,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
        offset,
        0,
    )
    .map(|n| n as usize)
}

/// Record that core `core` links the capability window of dispatcher `dispatcher` of this
/// core (a spanned program).
pub fn span_add(dispatcher: u32, core: u32) -> Result<(), KernelError> {
    op(kop::SPAN_ADD, u64::from(dispatcher), u64::from(core), 0, 0).map(|_| ())
}

/// Start `bin/NAME` on this core as a dispatcher of a spanned program: its capability
/// window is the page table `window` (from another core). Returns its dispatcher id.
pub fn spawn_spanned(name: &str, args: &str, window: &CapIdentity) -> Result<u32, KernelError> {
    let words = window.to_words();
    op6(
        kop::SPAWN,
        name.as_ptr() as u64,
        name.len() as u64,
        args.as_ptr() as u64,
        args.len() as u64,
        words.as_ptr() as u64,
    )
    .map(|id| id as u32)
}

/// A shootdown the monitor must carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbRequest {
    /// For [`tlb_done`].
    pub token: u64,
    /// First virtual address.
    pub va: u64,
    /// Pages.
    pub pages: u64,
    /// Protocol (`abi::tlb`).
    pub protocol: u64,
    /// The cores to reach: bit `c` of word `c / 64`.
    pub cores: [u64; 2],
}

/// The next shootdown request of this core, if any.
pub fn tlb_next() -> Option<TlbRequest> {
    let mut w = [0u64; 6];
    op(kop::TLB_NEXT, w.as_mut_ptr() as u64, 0, 0, 0).ok()?;
    Some(TlbRequest {
        token: w[0],
        va: w[1],
        pages: w[2],
        protocol: w[3],
        cores: [w[4], w[5]],
    })
}

/// Drop `pages` pages from `va` from this core's TLB.
pub fn tlb_invalidate(va: u64, pages: u64) -> Result<(), KernelError> {
    op(kop::TLB_INVALIDATE, va, pages, 0, 0).map(|_| ())
}

/// Shootdown `token` is complete; returns the cycles since it started.
pub fn tlb_done(token: u64) -> Result<u64, KernelError> {
    op(kop::TLB_DONE, token, 0, 0, 0)
}

/// Core `core`'s package and NUMA node.
pub fn place(core: u32) -> Result<(u32, u32), KernelError> {
    place_full(core).map(|(_, p, n)| (p, n))
}

/// Core `core`'s APIC id, package and NUMA node.
pub fn place_full(core: u32) -> Result<(u32, u32, u32), KernelError> {
    op(kop::PLACE, u64::from(core), 0, 0, 0).map(kop::unpack_place)
}

/// Power the machine off (`reset` false) or reset it, with a clean (`status` 0) or failed
/// end.
pub fn shutdown(reset: bool, status: u64) -> Result<(), KernelError> {
    op(kop::SHUTDOWN, u64::from(reset), status, 0, 0).map(|_| ())
}

/// Set the kernel log level (1 error .. 5 trace).
pub fn log_level(level: u64) -> Result<(), KernelError> {
    op(kop::LOG_LEVEL, level, 0, 0, 0).map(|_| ())
}

/// End dispatcher `id` of this core.
pub fn kill(id: u32) -> Result<(), KernelError> {
    op(kop::KILL, u64::from(id), 0, 0, 0).map(|_| ())
}

/// Free bytes of this core's memory pool.
pub fn mem_free() -> Result<u64, KernelError> {
    op(kop::MEM_FREE, 0, 0, 0, 0)
}

/// Copy this monitor's capability `cap` into root slot `slot` of dispatcher `dispatcher`.
pub fn cap_give(dispatcher: u32, cap: CapRef, slot: u32) -> Result<(), KernelError> {
    op(
        kop::CAP_GIVE,
        u64::from(dispatcher),
        cap.pack(),
        u64::from(slot),
        0,
    )
    .map(|_| ())
}

/// Copy capability `cap` of dispatcher `source` (of this core) into root slot `slot` of
/// dispatcher `dispatcher`.
pub fn cap_give_from(
    source: u32,
    cap: CapRef,
    dispatcher: u32,
    slot: u32,
) -> Result<(), KernelError> {
    op(
        kop::CAP_GIVE,
        u64::from(dispatcher),
        cap.pack(),
        u64::from(slot),
        u64::from(source) + 1,
    )
    .map(|_| ())
}

/// Route global system interrupt `gsi` to `vector` of core `core` (boot core only; the
/// signalling comes from the MADT). Returns the GSI.
pub fn irq_route(gsi: u32, core: u32, vector: u32) -> Result<u32, KernelError> {
    op(
        kop::IRQ_ROUTE,
        u64::from(gsi),
        u64::from(core),
        u64::from(vector),
        0,
    )
    .map(|g| g as u32)
}

/// Copy this core's kernel log from position `pos` on into `buf` (monitor only): the
/// position the bytes start at (later than `pos` when those were dropped) and how many.
pub fn klog(pos: u64, buf: &mut [u8]) -> Result<(u64, usize), KernelError> {
    let len = (buf.len() as u64).min(kop::KLOG_MAX_READ);
    let w = op(kop::KLOG, buf.as_mut_ptr() as u64, len, pos, 0)?;
    Ok((w >> 16, (w & 0xffff) as usize))
}

/// The GSI ISA IRQ `irq` arrives on (boot core only).
pub fn isa_gsi(irq: u8) -> Result<u32, KernelError> {
    op(kop::ISA_GSI, u64::from(irq), 0, 0, 0).map(|g| g as u32)
}

/// ECAM window `index` of the machine's MCFG (`NotFound` past the last; boot core only).
pub fn pci_segment(index: u32) -> Result<abi::PciSegment, KernelError> {
    let mut w = [0u64; 4];
    op(
        kop::PCI_SEGMENT,
        w.as_mut_ptr() as u64,
        u64::from(index),
        0,
        0,
    )?;
    abi::PciSegment::from_words(w).ok_or(KernelError::Sys(SysError::BadArgument))
}

/// PCI root bus `index` of the ACPI namespace (`NotFound` past the last; boot core only).
pub fn pci_root(index: u32) -> Result<abi::PciRootBus, KernelError> {
    let mut w = [0u64; 3];
    op(kop::PCI_ROOT, w.as_mut_ptr() as u64, u64::from(index), 0, 0)?;
    abi::PciRootBus::from_words(w).ok_or(KernelError::Sys(SysError::BadArgument))
}

/// The boot framebuffer; with `release`, the CPU drivers stop drawing their log on it.
pub fn framebuffer(release: bool) -> Result<abi::Framebuffer, KernelError> {
    let mut w = [0u64; 7];
    op(
        kop::FRAMEBUFFER,
        w.as_mut_ptr() as u64,
        u64::from(release),
        0,
        0,
    )?;
    Ok(abi::Framebuffer::from_words(w))
}
