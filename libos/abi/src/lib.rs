//! The binary interface between the CPU driver and user space, in one crate both sides use:
//! syscall numbers and error codes, the register save area, and the layout of the
//! dispatcher frame (the page the kernel and a dispatcher share).
//!
//! # Syscall convention
//! `syscall` with the number in `rax` and up to six arguments in `rdi, rsi, rdx, r10, r8, r9`.
//! The kernel returns an error code in `rax` ([`SysError`], 0 is success) and a value in
//! `rdx`. All other registers are preserved except `rcx` and `r11`, which the instruction
//! itself clobbers.
//!
//! # Dispatch by upcall
//! A dispatcher is entered at its `run` entry with `rdi` = its dispatcher frame, on its
//! upcall stack, with `disabled` set, whenever the kernel resumes it after it was preempted
//! *enabled* (the preempted state is then in [`DispatcherFrame::enabled_area`]) or after it
//! yielded. A dispatcher preempted while *disabled* (the flag set, or its instruction
//! pointer inside the critical region it registered) is resumed exactly where it was.
#![no_std]

/// Syscall numbers.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// Write bytes (`rdi` = pointer, `rsi` = length) to the kernel console.
    Print = 1,
    /// Give up the rest of the time slice; resumed later by upcall.
    Yield = 2,
    /// End the calling dispatcher (`rdi` = status).
    Exit = 3,
    /// Identity of the calling dispatcher: returns core id in `rdx`... see [`SelfInfo`].
    CoreId = 4,
    /// Does nothing; for measuring the syscall path.
    Null = 5,
    /// Register the dispatcher's `run` upcall entry (`rdx`), its fault upcall entry (`r10`,
    /// 0 for none) and the critical region `[rdi, rsi)` of its resume code. Until then the
    /// dispatcher counts as disabled.
    SetUpcall = 6,
    /// Invoke a capability (`rdi` = capability address, `rsi` = operation, then arguments).
    CapInvoke = 7,
    /// The core's monitor reports that it is up (the boot core's `system ready` waits for
    /// every core's report).
    ReportIn = 8,
    /// Serve LRPC calls: entry `rdi`, on the stack whose top is `rsi`. A call arrives at the
    /// entry with `rdi` = the endpoint's badge and `rsi, rdx, r10` = the caller's arguments.
    LrpcListen = 9,
    /// Call the dispatcher behind the EndPoint capability `rdi` (a packed capability
    /// reference) on this core with arguments `rsi, rdx, r10`; the reply value comes back in
    /// `rdx`. Control passes directly to the receiver and back. `r8` bytes of the caller's
    /// [`DispatcherFrame::msg`] go to the receiver's; if `r9` is not 0, the capability at
    /// that (packed) address is copied into the first free root slot of the receiver from
    /// [`kop::FIRST_FREE_SLOT`] on ([`DispatcherFrame::msg_cap`] says which).
    LrpcCall = 10,
    /// Reply `rdi` to the LRPC call being served and return to the caller. `rsi` bytes of
    /// the server's [`DispatcherFrame::msg`] go back to the caller's.
    LrpcReply = 11,
    /// A monitor's request to its CPU driver: `rdi` = operation ([`kop`]), arguments in
    /// `rsi, rdx, r10, r8, r9`. Only for a caller holding the core's Kernel capability in
    /// root slot [`ROOT_SLOT_KERNEL`]; anyone else gets [`SysError::NotPermitted`].
    KernelOp = 12,
    /// Unmap entries `rsi .. rsi + rdx` of the page-table VNode at capability address `rdi`
    /// (a packed capability reference) and make sure no core of the address space can reach
    /// them through its TLB before returning: `r10` names the shootdown protocol
    /// ([`tlb`]). Returns in `rdx` the cycles from the start of the shootdown to the last
    /// acknowledgement (0 when the table is linked on this core only).
    TlbUnmap = 13,
}

impl Syscall {
    /// Decode a syscall number.
    pub fn from_u64(n: u64) -> Option<Syscall> {
        Some(match n {
            1 => Syscall::Print,
            2 => Syscall::Yield,
            3 => Syscall::Exit,
            4 => Syscall::CoreId,
            5 => Syscall::Null,
            6 => Syscall::SetUpcall,
            7 => Syscall::CapInvoke,
            8 => Syscall::ReportIn,
            9 => Syscall::LrpcListen,
            10 => Syscall::LrpcCall,
            11 => Syscall::LrpcReply,
            12 => Syscall::KernelOp,
            13 => Syscall::TlbUnmap,
            _ => return None,
        })
    }
}

/// What [`Syscall::CoreId`] returns in `rdx`: `core_id | dispatcher_id << 32`.
pub struct SelfInfo;

/// Error codes returned in `rax`.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysError {
    /// Success.
    Ok = 0,
    /// No such syscall.
    NoSuchSyscall = 1,
    /// A pointer argument does not point into the caller's user memory.
    BadAddress = 2,
    /// An argument is out of range.
    BadArgument = 3,
    /// A capability operation failed (the capability error code is in `rdx`).
    CapFailed = 4,
    /// The LRPC receiver is not listening, is busy, or ended during the call.
    LrpcUnavailable = 5,
    /// The caller lacks the capability the syscall needs (the Kernel capability).
    NotPermitted = 6,
    /// The kernel has nothing to report right now (no event, no such core online).
    NotFound = 7,
    /// The kernel could not do it for lack of memory or slots.
    NoResources = 8,
}

impl SysError {
    /// Decode an error code.
    pub fn from_u64(n: u64) -> Option<SysError> {
        Some(match n {
            0 => SysError::Ok,
            1 => SysError::NoSuchSyscall,
            2 => SysError::BadAddress,
            3 => SysError::BadArgument,
            4 => SysError::CapFailed,
            5 => SysError::LrpcUnavailable,
            6 => SysError::NotPermitted,
            7 => SysError::NotFound,
            8 => SysError::NoResources,
            _ => return None,
        })
    }
}

/// User register state, as saved by the kernel on preemption.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct Registers {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

/// Byte offsets of [`Registers`] fields, for assembly.
pub mod reg_offset {
    #![allow(missing_docs)]
    pub const RAX: usize = 0;
    pub const RBX: usize = 8;
    pub const RCX: usize = 16;
    pub const RDX: usize = 24;
    pub const RSI: usize = 32;
    pub const RDI: usize = 40;
    pub const RBP: usize = 48;
    pub const RSP: usize = 56;
    pub const R8: usize = 64;
    pub const R9: usize = 72;
    pub const R10: usize = 80;
    pub const R11: usize = 88;
    pub const R12: usize = 96;
    pub const R13: usize = 104;
    pub const R14: usize = 112;
    pub const R15: usize = 120;
    pub const RIP: usize = 128;
    pub const RFLAGS: usize = 136;
}

/// The page shared by the kernel and a dispatcher. The kernel writes the identity fields
/// and `enabled_area`; the dispatcher writes `disabled` and reads the rest. Also the
/// dispatcher's FS base, so user code reaches `disabled` as `fs:[0]`.
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct DispatcherFrame {
    /// Non-zero while the dispatcher must not be upcalled (it is resumed exactly instead).
    pub disabled: u32,
    /// The core this dispatcher runs on.
    pub core_id: u32,
    /// The dispatcher's id on its core.
    pub dispatcher_id: u32,
    /// Number of upcalls so far.
    pub upcalls: u32,
    /// State saved when the kernel preempted the dispatcher while enabled.
    pub enabled_area: Registers,
    /// Non-zero if `enabled_area` holds state to resume.
    pub enabled_valid: u32,
    /// How this dispatcher enters the kernel: [`SYSCALL_GATE_SYSCALL`] or
    /// [`SYSCALL_GATE_INT`] (set by the kernel before the dispatcher first runs).
    pub syscall_gate: u32,
    /// Top of the upcall stack.
    pub upcall_stack_top: u64,
    /// Timer ticks seen on this core when the dispatcher was last entered.
    pub ticks: u64,
    /// Length of `args`.
    pub args_len: u32,
    /// Padding.
    pub _pad2: u32,
    /// The argument string the program was started with (UTF-8).
    pub args: [u8; MAX_ARGS],
    /// The last fault delivered to the fault upcall.
    pub fault: FaultInfo,
    /// Length of the message in `msg`.
    pub msg_len: u32,
    /// 1 + the root slot where the capability transferred with the LRPC call being served
    /// was put (0: none).
    pub msg_cap: u32,
    /// LRPC message buffer: a caller puts up to [`MAX_MSG`] bytes here before `LrpcCall`
    /// (length in `r8`); the kernel copies them into the receiver's buffer, and the reply's
    /// bytes back into the caller's.
    pub msg: [u8; MAX_MSG],
}

/// Longest LRPC message (bytes copied between dispatcher frames on a call or reply).
pub const MAX_MSG: usize = 1024;

/// A fault taken in user mode, as given to the dispatcher's fault upcall.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultInfo {
    /// Exception vector (14 = page fault, 13 = general protection, 6 = invalid opcode...).
    pub vector: u64,
    /// The CPU's error code.
    pub error_code: u64,
    /// The faulting address (page faults).
    pub address: u64,
    /// The registers at the fault.
    pub regs: Registers,
}

/// The exit status of a program the kernel ended (a fault, or killed by request).
pub const EXIT_KILLED: u64 = u64::MAX;

/// Longest argument string.
pub const MAX_ARGS: usize = 256;

/// Offset of [`DispatcherFrame::disabled`] (for `fs:[..]`).
pub const DISABLED_OFFSET: usize = 0;

/// [`DispatcherFrame::syscall_gate`]: system calls use the `syscall` instruction.
pub const SYSCALL_GATE_SYSCALL: u32 = 0;
/// [`DispatcherFrame::syscall_gate`]: system calls use `int` [`SYSCALL_INT_VECTOR`] (same
/// registers; slower on hardware). The kernel chooses it where `syscall` does not reach it
/// (a PVM hypervisor running the kernel emulated: see the CPU driver's `arch::syscall`).
pub const SYSCALL_GATE_INT: u32 = 1;
/// The interrupt vector of the `int` system call gate (the one PVM lets user code raise).
pub const SYSCALL_INT_VECTOR: u8 = 0x80;
/// Offset of [`DispatcherFrame::syscall_gate`] (for the syscall stubs' `fs:` read).
pub const SYSCALL_GATE_OFFSET: usize = core::mem::offset_of!(DispatcherFrame, syscall_gate);

/// Root CNode slot of a program's own root CNode capability (capability addresses in the
/// root CNode use depth 8: address = slot index).
pub const ROOT_SLOT_CNODE: u32 = 0;
/// Root CNode slot of the program's RAM capability.
pub const ROOT_SLOT_RAM: u32 = 1;
/// Root CNode slot of the program's page-table VNode, which maps [`CAP_WINDOW`].
pub const ROOT_SLOT_PT: u32 = 2;
/// Root CNode slot of an EndPoint capability to the core's monitor (programs other than the
/// monitor).
pub const ROOT_SLOT_MONITOR_EP: u32 = 3;
/// Root CNode slot of the core's Kernel capability (the monitor only).
pub const ROOT_SLOT_KERNEL: u32 = 4;
/// Root CNode slot of the program's page CNode: the capabilities its address space was
/// built from, in the order the loader made them: a copy of its top-level table (a PML4
/// VNode, slot [`PAGECN_SLOT_PML4`]; entries 256 and up, the kernel's, cannot be mapped
/// into), then the page tables and the Frames of its program image and stacks. Deleting
/// one unmaps it. The kernel keeps its own copy of the top-level table (which revoking
/// the program's copy does not delete) and the dispatcher frame.
pub const ROOT_SLOT_PAGECN: u32 = 5;
/// Slot of the top-level table in the page CNode.
pub const PAGECN_SLOT_PML4: u32 = 0;
/// Radix of the page CNode (256 slots).
pub const PAGECN_RADIX: u8 = 8;

/// Where the monitor finds its URPC channel to the monitor of core `c`:
/// `MONITOR_CHANNELS + c * 4096` (one page, mapped by the CPU driver).
pub const MONITOR_CHANNELS: u64 = 0x0000_5000_0000_0000;

/// The device manager's capabilities: root slots where the monitor of core 0 puts the
/// fixed devices' capabilities in `devmgr`'s CSpace.
pub mod devmgr {
    /// IO capability for the PCI configuration ports `0xcf8..=0xcff`.
    pub const PCI_PORTS: u32 = 10;
    /// IO capability for COM1's ports `0x3f8..=0x3ff`.
    pub const COM1_PORTS: u32 = 11;
    /// IRQ capability for COM1's vector ([`COM1_VECTOR`]).
    pub const COM1_IRQ: u32 = 12;
    /// IrqSrc capability for COM1's interrupt line (ISA IRQ 4's GSI).
    pub const COM1_IRQ_SRC: u32 = 21;
    /// IrqSrc capability for the keyboard's interrupt line (ISA IRQ 1's GSI).
    pub const KEYBOARD_IRQ_SRC: u32 = 22;
    /// The vector COM1's interrupt is delivered on (on its driver's core).
    pub const COM1_VECTOR: u64 = 0x34;
    /// DevFrame capability for the boot framebuffer (its geometry is in devmgr's
    /// arguments: `fb=WIDTHxHEIGHTxSTRIDExBYTESxLAYOUT`).
    pub const FRAMEBUFFER: u32 = 13;
    /// IO capability for the PS/2 controller's data port `0x60`.
    pub const PS2_DATA: u32 = 14;
    /// IO capability for the PS/2 controller's status/command port `0x64`.
    pub const PS2_STATUS: u32 = 15;
    /// IRQ capability for the keyboard's vector ([`KEYBOARD_VECTOR`]).
    pub const KEYBOARD_IRQ: u32 = 16;
    /// The vector the keyboard's interrupt (ISA 1) is delivered on.
    pub const KEYBOARD_VECTOR: u64 = 0x31;
    /// DevFrame capabilities for the PCI Express ECAM windows, one per MCFG entry, from
    /// this slot on (at most [`MAX_PCI_SEGMENTS`]); what each covers is in devmgr's
    /// arguments (`ecam=SEGMENT:START:END,...`, in the same order).
    pub const PCI_ECAM: u32 = 17;
    /// How many ECAM windows the device manager is given at most.
    pub const MAX_PCI_SEGMENTS: u32 = 4;
}

/// A PCI host bridge's root bus as [`kop::PCI_ROOT`] describes it (from the ACPI
/// namespace: a `PNP0A03`/`PNP0A08` device's `_SEG`, `_BBN` and `_PXM`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciRootBus {
    /// PCI segment group.
    pub segment: u16,
    /// Bus number of the root bus.
    pub bus: u8,
    /// NUMA node (proximity domain) of the devices below it, when the firmware says.
    pub node: Option<u32>,
}

impl PciRootBus {
    /// The words [`kop::PCI_ROOT`] writes (`u64::MAX` for an unknown node).
    pub fn to_words(&self) -> [u64; 3] {
        [
            u64::from(self.segment),
            u64::from(self.bus),
            self.node.map_or(u64::MAX, u64::from),
        ]
    }

    /// The inverse of [`PciRootBus::to_words`] (`None` if a field is out of range).
    pub fn from_words(w: [u64; 3]) -> Option<Self> {
        Some(PciRootBus {
            segment: u16::try_from(w[0]).ok()?,
            bus: u8::try_from(w[1]).ok()?,
            node: if w[2] == u64::MAX {
                None
            } else {
                Some(u32::try_from(w[2]).ok()?)
            },
        })
    }
}

/// One PCI Express ECAM window as [`kop::PCI_SEGMENT`] describes it: the configuration
/// space of buses `start_bus..=end_bus` of one segment group, 1 MiB per bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciSegment {
    /// Physical address of the configuration space of `start_bus` (the window's start; the
    /// MCFG's base is that of bus 0).
    pub base: u64,
    /// PCI segment group.
    pub segment: u16,
    /// First bus decoded.
    pub start_bus: u8,
    /// Last bus decoded.
    pub end_bus: u8,
}

impl PciSegment {
    /// Bytes of the window (1 MiB per bus).
    pub fn bytes(&self) -> u64 {
        (u64::from(self.end_bus.saturating_sub(self.start_bus)) + 1) << 20
    }

    /// The words [`kop::PCI_SEGMENT`] writes.
    pub fn to_words(&self) -> [u64; 4] {
        [
            self.base,
            u64::from(self.segment),
            u64::from(self.start_bus),
            u64::from(self.end_bus),
        ]
    }

    /// The inverse of [`PciSegment::to_words`] (`None` if a field is out of range).
    pub fn from_words(w: [u64; 4]) -> Option<Self> {
        Some(PciSegment {
            base: w[0],
            segment: u16::try_from(w[1]).ok()?,
            start_bus: u8::try_from(w[2]).ok()?,
            end_bus: u8::try_from(w[3]).ok()?,
        })
    }
}

/// The boot framebuffer as [`kop::FRAMEBUFFER`] describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framebuffer {
    /// Physical address of the first pixel.
    pub phys: u64,
    /// Bytes.
    pub len: u64,
    /// Visible pixels per line.
    pub width: u64,
    /// Lines.
    pub height: u64,
    /// Pixels per line in memory.
    pub stride: u64,
    /// Bytes per pixel.
    pub bytes_per_pixel: u64,
    /// [`Framebuffer::RGB`], [`Framebuffer::BGR`] or [`Framebuffer::GREY`].
    pub layout: u64,
}

impl Framebuffer {
    /// Red, green, blue.
    pub const RGB: u64 = 0;
    /// Blue, green, red.
    pub const BGR: u64 = 1;
    /// One grey byte.
    pub const GREY: u64 = 2;

    /// The words [`kop::FRAMEBUFFER`] writes.
    pub fn to_words(&self) -> [u64; 7] {
        [
            self.phys,
            self.len,
            self.width,
            self.height,
            self.stride,
            self.bytes_per_pixel,
            self.layout,
        ]
    }

    /// The inverse of [`Framebuffer::to_words`].
    pub fn from_words(w: [u64; 7]) -> Framebuffer {
        Framebuffer {
            phys: w[0],
            len: w[1],
            width: w[2],
            height: w[3],
            stride: w[4],
            bytes_per_pixel: w[5],
            layout: w[6],
        }
    }

    /// The whole pages holding the framebuffer: (first page's address, bytes).
    pub fn pages(&self) -> (u64, u64) {
        let base = self.phys & !0xfff;
        let end = self.phys.saturating_add(self.len).next_multiple_of(4096);
        (base, end - base)
    }
}

/// Operations of [`Syscall::KernelOp`].
pub mod kop {
    /// Number of cores the machine has (`rdx`), including ones that did not come up.
    pub const CORES: u64 = 1;
    /// Word `rsi` of the bitmap of cores whose monitors take part in the mesh (bit `c % 64`
    /// of word `c / 64`); [`crate::SysError::NotFound`] while the boot core has not
    /// published it yet (boot still going on).
    pub const ONLINE: u64 = 2;
    /// Send a notification IPI to core `rsi` (to wake its monitor).
    pub const NOTIFY: u64 = 3;
    /// Start program `bin/NAME` from the ramdisk on this core: name at `rsi` (`rdx` bytes),
    /// argument string at `r10` (`r8` bytes). Returns the new dispatcher's id. If `r9` is
    /// not 0 it points to the identity (5 words) of a page table from another core, which
    /// becomes the new dispatcher's capability window before it first runs (a spanned
    /// program): its own window table is dropped, a copy of the shared one without the
    /// write right goes into root slot [`crate::ROOT_SLOT_PT`], linked at
    /// [`crate::CAP_WINDOW`].
    pub const SPAWN: u64 = 4;
    /// The next event of this core: `rdx` = `kind << 56 | name length << 40 | dispatcher
    /// id`, or `NotFound` when none; for [`event::STARTED`] the program name (at most 32
    /// bytes), for [`event::EXITED`] the exit status (8 bytes), is written to `rsi` if it
    /// is not 0 (the length field says how many bytes).
    pub const EVENT: u64 = 5;
    /// Capability identity (5 words written to `r10`) of capability address `rdx` in the
    /// CSpace of dispatcher `rsi` of this core; its flags also carry
    /// [`IDENTITY_LOCAL_DESCENDANTS`].
    pub const CAP_IDENTIFY: u64 = 6;
    /// Identity flag (from [`CAP_IDENTIFY`] only): descendants exist on this core.
    pub const IDENTITY_LOCAL_DESCENDANTS: u8 = 16;
    /// Put a copy of a capability received from another core (identity: 5 words at `rdx`)
    /// into root slot `r10` of dispatcher `rsi`'s CSpace, marked as having remote copies;
    /// `r10` = [`ANY_SLOT`] picks the first free slot from [`FIRST_FREE_SLOT`] on. Returns
    /// the slot.
    pub const CAP_INSERT: u64 = 7;
    /// "Any free slot" for [`CAP_INSERT`].
    pub const ANY_SLOT: u64 = u64::MAX;
    /// Slots below this one are left to the program for [`CAP_INSERT`] with [`ANY_SLOT`].
    pub const FIRST_FREE_SLOT: u32 = 192;
    /// Mark capability address `rdx` of dispatcher `rsi` (and its local copies) as having
    /// copies on other cores (`r10` = 0), or as having none any more (`r10` = 1, after a
    /// distributed revoke).
    pub const CAP_MARK_REMOTE: u64 = 8;
    /// Delete every capability of this core to an object inside `[rsi, rsi + rdx)` (copies
    /// and descendants), clearing their mappings: the local part of a distributed revoke.
    /// Returns the number of capabilities deleted.
    pub const CAP_REVOKE_RANGE: u64 = 9;
    /// Invoke a capability on behalf of dispatcher `rsi` of this core, as the monitor
    /// (`Origin::Monitor`: retype, delete and revoke skip the checks for copies and
    /// descendants on other cores, which the monitors have settled by agreement). `rdx`
    /// points to six words: capability address, operation, and its four arguments.
    pub const CAP_INVOKE: u64 = 10;
    /// The TSC frequency in Hz (`rdx`).
    pub const TSC_HZ: u64 = 11;
    /// Record that core `rdx` links the capability-window page table of dispatcher `rsi`
    /// of this core (a spanned program), so that its unmaps are shot down there too.
    pub const SPAN_ADD: u64 = 13;

    /// The next shootdown the monitor must carry out (see [`crate::tlb`]): six words are
    /// written to `rsi`: token, virtual address, pages, protocol, and the first two words
    /// of the bitmap of cores to reach; `NotFound` when there is none.
    pub const TLB_NEXT: u64 = 15;
    /// Invalidate this core's TLB entries for `rdx` pages from virtual address `rsi`.
    pub const TLB_INVALIDATE: u64 = 16;
    /// Shootdown `rsi` is complete (every core acknowledged): the program that asked
    /// resumes.
    pub const TLB_DONE: u64 = 17;
    /// Where core `rsi` is: `rdx` = [`pack_place`]`(apic_id, package, node)`.
    pub const PLACE: u64 = 18;

    /// The [`PLACE`] word: `apic_id << 40 | package << 20 | node` (package and node kept
    /// to 20 bits, the APIC id to 24).
    pub fn pack_place(apic_id: u32, package: u32, node: u32) -> u64 {
        u64::from(apic_id & 0xff_ffff) << 40
            | u64::from(package & 0xf_ffff) << 20
            | u64::from(node & 0xf_ffff)
    }

    /// `(apic_id, package, node)` of a [`PLACE`] word.
    pub fn unpack_place(w: u64) -> (u32, u32, u32) {
        (
            ((w >> 40) & 0xff_ffff) as u32,
            ((w >> 20) & 0xf_ffff) as u32,
            (w & 0xf_ffff) as u32,
        )
    }
    /// Route global system interrupt `rsi` to vector `r10` (a device vector,
    /// `0x30..=0xef`) of core `rdx`. How the line signals comes from the MADT: as its ISA
    /// interrupt source override says; edge-triggered, active high for GSIs 0-15 that no
    /// override moved (ISA); else level-triggered, active low (PCI). Only on the boot core,
    /// whose CPU driver programs the I/O APICs; the monitors route for drivers holding an
    /// IrqSrc capability for the GSI. Returns the GSI.
    pub const IRQ_ROUTE: u64 = 19;
    /// Power the machine off (`rsi` = 0) or reset it (`rsi` = 1); `rdx` = 0 for a clean
    /// end, anything else for a failed one (the status QEMU's exit device reports when the
    /// run was started by `xtask`).
    pub const SHUTDOWN: u64 = 20;
    /// Set the kernel log level: `rsi` = 1 error, 2 warn, 3 info, 4 debug, 5 trace (every
    /// core: the level is the log facade's one setting).
    pub const LOG_LEVEL: u64 = 21;
    /// End dispatcher `rsi` of this core (not the monitor itself).
    pub const KILL: u64 = 22;
    /// Free memory of this core's pool in bytes (`rdx`).
    pub const MEM_FREE: u64 = 23;
    /// Copy the capability at address `rdx` into root slot `r10` of dispatcher `rsi` of
    /// this core: the caller's own when `r8` = 0, else that of dispatcher `r8 - 1` (how the
    /// monitor hands drivers their device capabilities and copies between programs).
    pub const CAP_GIVE: u64 = 24;
    /// The boot framebuffer: writes `[physical address, bytes, width, height, stride,
    /// bytes per pixel, layout (0 RGB, 1 BGR, 2 grey)]` to the caller's memory at `rsi`;
    /// with `rdx` = 1 the CPU drivers also stop drawing their log on it (a user-level
    /// driver takes it over). `NotFound` without a framebuffer.
    pub const FRAMEBUFFER: u64 = 25;
    /// ECAM window `rdx` (0, 1, ...) of the machine's MCFG: writes `[physical address of
    /// its first bus, segment, first bus, last bus]` to the caller's memory at `rsi`.
    /// `NotFound` past the last one (at once without an MCFG). Only the boot core has them.
    pub const PCI_SEGMENT: u64 = 26;
    /// PCI root bus `rdx` (0, 1, ...) of the ACPI namespace: writes `[segment, bus, node
    /// (u64::MAX when unknown)]` to the caller's memory at `rsi`. `NotFound` past the last
    /// one. Only the boot core has them.
    pub const PCI_ROOT: u64 = 27;
    /// The global system interrupt ISA IRQ `rsi` (0-15) arrives on (the MADT's interrupt
    /// source overrides applied). Only the boot core has them.
    pub const ISA_GSI: u64 = 28;
    /// Copy at most `rdx` bytes (up to [`KLOG_MAX_READ`]) of this core's in-memory kernel
    /// log from position `r10` on (bytes written before it; the log keeps the newest whole
    /// lines) to `rsi`. Returns `from << 16 | len`: the position the copy starts at (later
    /// than `r10` when those bytes were dropped) and how many bytes were copied (0 at the
    /// end).
    pub const KLOG: u64 = 29;
    /// Most bytes one [`KLOG`] copies.
    pub const KLOG_MAX_READ: u64 = 0xffff;
    /// Copy bytes `[r10, r10 + rdx)` of the machine's facts for the SKB (Prolog text made
    /// at boot: cores, nodes, distances, memory, URPC latencies) to `rsi`; returns how
    /// many were copied (0 past the end). Only the boot core has them.
    pub const FACTS: u64 = 12;

    /// Event kinds.
    pub mod event {
        /// A dispatcher of this core ended; its exit status (8 bytes, little-endian) goes
        /// to the buffer (length 8), [`crate::EXIT_KILLED`] if the kernel ended it.
        pub const EXITED: u64 = 1;
        /// A dispatcher of this core was created.
        pub const STARTED: u64 = 2;
    }
}

/// Where the monitor finds core `c`'s broadcast line (for the broadcast shootdown
/// protocol): `MONITOR_BROADCAST + c * 4096`, one page per core, written only by that
/// core's monitor and read by every other.
pub const MONITOR_BROADCAST: u64 = 0x0000_5000_4000_0000;

/// TLB shootdown protocols of [`Syscall::TlbUnmap`].
pub mod tlb {
    /// The initiating CPU driver interrupts every other core of the address space and spins
    /// on their acknowledgements (shared-memory design).
    pub const IPI: u64 = 0;
    /// Through the monitors: one message per core over its own channel.
    pub const UNICAST: u64 = 1;
    /// Through the monitors: one message in a line every other monitor reads.
    pub const BROADCAST: u64 = 2;
    /// Through the monitors: one message per package, forwarded inside the package.
    pub const MULTICAST: u64 = 3;
    /// Through the monitors: along the SKB's NUMA-aware `multicast_tree`.
    pub const NUMA: u64 = 4;
    /// Protocol names, by number.
    pub const NAMES: [&str; 5] = ["ipi", "unicast", "broadcast", "multicast", "numa"];

    /// Most cores a shootdown request for a monitor names ([`crate::kop::TLB_NEXT`]).
    pub const MAX_REQUEST_CORES: u32 = 128;

    /// The cores of `targets` as the two bitmap words of a monitor's shootdown request
    /// (bit `c % 64` of word `c / 64`); `None` if one is at or above
    /// [`MAX_REQUEST_CORES`].
    pub fn core_words(targets: &[u32]) -> Option<[u64; 2]> {
        let mut w = [0u64; 2];
        for &t in targets {
            *w.get_mut(t as usize / 64)? |= 1 << (t % 64);
        }
        Some(w)
    }

    /// The cores named by the bitmap words of a shootdown request.
    pub fn cores_of(words: [u64; 2]) -> impl Iterator<Item = u32> {
        (0..MAX_REQUEST_CORES).filter(move |&c| words[c as usize / 64] & (1 << (c % 64)) != 0)
    }
}

/// Where entry `i` of the program's page-table VNode appears: `CAP_WINDOW + i * 4096`.
pub const CAP_WINDOW: u64 = 0x0000_6000_0000_0000;

/// Virtual address at which every program's dispatcher frame is mapped.
pub const DISPATCHER_FRAME_VADDR: u64 = 0x0000_7f00_0000_0000;
/// Top of the initial user stack (grows down).
pub const USER_STACK_TOP: u64 = 0x0000_7ff0_0000_0000;
/// Size of the initial user stack.
pub const USER_STACK_SIZE: u64 = 64 * 1024;
/// Top of the upcall stack.
pub const UPCALL_STACK_TOP: u64 = 0x0000_7fe0_0000_0000;
/// Size of the upcall stack.
pub const UPCALL_STACK_SIZE: u64 = 16 * 1024;
/// Lowest address a program may be linked at.
pub const USER_MIN: u64 = 0x0000_0000_0040_0000;
/// One past the highest user address.
pub const USER_END: u64 = 0x0000_8000_0000_0000;
