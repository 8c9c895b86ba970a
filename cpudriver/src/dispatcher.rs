//! Dispatchers: the unit the CPU driver schedules, one per program per core.
//!
//! Each core keeps its own dispatcher table and round-robin run queue in its per-core
//! record. The CPU driver is event-driven: every entry from user mode (syscall, interrupt,
//! fault) saves the user state into the [`TrapFrame`] on the kernel stack; the handler
//! decides which dispatcher runs next and leaves that dispatcher's state in the same frame,
//! which the common exit path restores.
//!
//! Preemption follows the upcall model: a dispatcher preempted while *enabled* has its
//! registers stored in its dispatcher frame's `enabled_area` and is later resumed by an
//! upcall to its `run` entry; one preempted while *disabled* (flag set, or inside its
//! registered critical region) is resumed exactly.

use alloc::string::String;
use alloc::vec::Vec;

use abi::{DispatcherFrame, Registers};

use crate::arch::idt::TrapFrame;
use crate::arch::syscall::IA32_FS_BASE;
use crate::capspace::{CapSetupError, CoreCaps, ProgramCaps};
use crate::percore;
use crate::vspace::{AddressSpace, VSpaceError};

/// User (64-bit) code segment selector (GDT entry 6, RPL 3; see `arch::gdt`).
pub const USER_CS: u64 = 0x33;
/// User data segment selector (GDT entry 5, RPL 3).
pub const USER_SS: u64 = 0x2b;
/// RFLAGS for user mode: interrupts on, reserved bit 1.
pub const USER_RFLAGS: u64 = 0x202;

/// Where a dispatcher is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DispatcherState {
    /// Can run.
    Runnable,
    /// Ended (exited or killed); its memory has been returned.
    Dead,
}

/// A dispatcher control block.
pub struct Dispatcher {
    /// Id on this core.
    pub id: u32,
    /// Program name.
    pub name: String,
    /// State.
    pub state: DispatcherState,
    vspace: Option<AddressSpace>,
    /// Kernel view of the dispatcher frame (through the physical-memory mapping).
    frame: *mut DispatcherFrame,
    /// The `run` upcall entry (0 until the dispatcher registers one; until then it is
    /// always resumed exactly).
    run_entry: u64,
    /// The fault upcall entry (0: faults kill the program).
    fault_entry: u64,
    /// Critical region of the resume code: preempted inside it means disabled.
    critical: (u64, u64),
    /// State to resume exactly (preempted while disabled), if any.
    exact: Option<TrapFrame>,
    /// Times entered.
    pub runs: u64,
    /// The program's capabilities.
    pub caps: Option<crate::capspace::ProgramCaps>,
    /// LRPC entry point and stack top, once the dispatcher listens.
    lrpc_listen: Option<(u64, u64)>,
    /// While serving an LRPC call: the caller's index, and this dispatcher's own state and
    /// `disabled` flag from before the call (restored on reply).
    serving: Option<(usize, Option<TrapFrame>, u32)>,
    /// Waiting for an LRPC reply (not runnable).
    awaiting_reply: bool,
    /// Blocked in the kernel (a message-based TLB shootdown, an interrupt wait) until
    /// [`Scheduler::end_wait`].
    blocked: bool,
}

/// Why an LRPC call could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrpcError {
    /// The endpoint names no dispatcher on this core, or it does not listen.
    NoReceiver,
    /// The receiver is serving another call.
    Busy,
    /// Reply without a call being served.
    NotServing,
    /// The message is longer than [`abi::MAX_MSG`].
    MessageTooLong,
}

/// Copy the first `len` bytes of one dispatcher frame's LRPC message buffer into another's.
fn copy_msg(from: *mut DispatcherFrame, to: *mut DispatcherFrame, len: usize) {
    let len = len.min(abi::MAX_MSG);
    // SAFETY: both are kernel-mapped dispatcher frames of this core's dispatchers (distinct
    // pages: caller and receiver differ); `len` is within the buffers.
    unsafe {
        core::ptr::copy_nonoverlapping((*from).msg.as_ptr(), (*to).msg.as_mut_ptr(), len);
        (*to).msg_len = len as u32;
    }
}

impl Dispatcher {
    /// Runnable and not waiting for an LRPC reply.
    fn can_run(&self) -> bool {
        self.state == DispatcherState::Runnable && !self.awaiting_reply && !self.blocked
    }
}

/// Why a program could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// The ELF file is not acceptable.
    Elf(elfload::ElfError),
    /// Building the address space failed.
    VSpace(VSpaceError),
    /// The argument string is longer than [`abi::MAX_ARGS`].
    ArgsTooLong,
    /// The program's capabilities could not be made.
    Caps(crate::capspace::CapSetupError),
}

impl From<VSpaceError> for SpawnError {
    fn from(e: VSpaceError) -> Self {
        SpawnError::VSpace(e)
    }
}

/// A core's dispatchers and run queue.
#[derive(Default)]
pub struct Scheduler {
    dispatchers: Vec<Dispatcher>,
    current: Option<usize>,
    next_id: u32,
    /// Events for the monitor: `(abi::kop::event kind, dispatcher id, exit status)`.
    events: alloc::collections::VecDeque<(u64, u32, u64)>,
}

fn regs_from(f: &TrapFrame) -> Registers {
    Registers {
        rax: f.rax,
        rbx: f.rbx,
        rcx: f.rcx,
        rdx: f.rdx,
        rsi: f.rsi,
        rdi: f.rdi,
        rbp: f.rbp,
        rsp: f.rsp,
        r8: f.r8,
        r9: f.r9,
        r10: f.r10,
        r11: f.r11,
        r12: f.r12,
        r13: f.r13,
        r14: f.r14,
        r15: f.r15,
        rip: f.rip,
        rflags: f.rflags,
    }
}

impl Scheduler {
    /// Load the ELF program `image` as a new dispatcher called `name`: its CSpace and its
    /// address space are made from this core's RAM capabilities (`capspace`, `vspace`).
    pub fn spawn(&mut self, name: &str, args: &[u8], image: &[u8]) -> Result<u32, SpawnError> {
        if args.len() > abi::MAX_ARGS {
            return Err(SpawnError::ArgsTooLong);
        }
        let exe = elfload::parse(
            image,
            abi::USER_MIN,
            abi::UPCALL_STACK_TOP - abi::UPCALL_STACK_SIZE,
        )
        .map_err(SpawnError::Elf)?;
        let pc = percore::current();
        let (program, built) = {
            let mut slot = pc.caps.borrow_mut();
            let c = slot
                .as_mut()
                .ok_or(SpawnError::Caps(CapSetupError::NoMemory))?;
            let program = c.new_program(pc).map_err(SpawnError::Caps)?;
            (program, build_address_space(c, pc, &program, &exe, image))
        };
        let (vs, frame) = match built {
            Ok(b) => b,
            Err(e) => {
                crate::capspace::destroy_program(&program);
                return Err(e);
            }
        };
        let program_caps = Some(program);
        let id = self.next_id;
        self.next_id += 1;
        self.events.push_back((abi::kop::event::STARTED, id, 0));
        // SAFETY: the frame page was just mapped and zeroed; the kernel view is through the
        // physical-memory mapping and only this core touches it.
        let df = unsafe { &mut *frame };
        df.core_id = percore::core_id();
        df.dispatcher_id = id;
        df.upcall_stack_top = abi::UPCALL_STACK_TOP;
        df.syscall_gate = percore::current().syscall_gate.get();
        df.disabled = 1;
        df.args[..args.len()].copy_from_slice(args);
        df.args_len = args.len() as u32;
        // The first entry is an exact resume at the ELF entry on the initial stack.
        let start = TrapFrame {
            rip: exe.entry,
            cs: USER_CS,
            rflags: USER_RFLAGS,
            rsp: abi::USER_STACK_TOP - 8,
            ss: USER_SS,
            rdi: abi::DISPATCHER_FRAME_VADDR,
            ..TrapFrame::default()
        };
        self.dispatchers.push(Dispatcher {
            id,
            name: String::from(name),
            state: DispatcherState::Runnable,
            vspace: Some(vs),
            frame,
            run_entry: 0,
            fault_entry: 0,
            critical: (0, 0),
            exact: Some(start),
            runs: 0,
            caps: program_caps,
            lrpc_listen: None,
            serving: None,
            awaiting_reply: false,
            blocked: false,
        });
        Ok(id)
    }

    /// The dispatcher running now.
    pub fn current(&mut self) -> Option<&mut Dispatcher> {
        self.current.and_then(|i| self.dispatchers.get_mut(i))
    }

    /// All dispatchers.
    pub fn dispatchers(&self) -> &[Dispatcher] {
        &self.dispatchers
    }

    /// Number of runnable dispatchers.
    pub fn runnable(&self) -> usize {
        self.dispatchers.iter().filter(|d| d.can_run()).count()
    }

    /// Number of live dispatchers (runnable or waiting for an LRPC reply).
    pub fn live(&self) -> usize {
        self.dispatchers
            .iter()
            .filter(|d| d.state == DispatcherState::Runnable)
            .count()
    }

    /// The name of dispatcher `id` (live or not).
    pub fn name_of(&self, id: u32) -> Option<&str> {
        self.dispatchers
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.name.as_str())
    }

    /// The live dispatcher with id `id` (its id on this core).
    pub fn by_id(&self, id: u32) -> Option<&Dispatcher> {
        self.dispatchers
            .iter()
            .find(|d| d.id == id && d.state == DispatcherState::Runnable)
    }

    /// The next event for the monitor: `(kind, dispatcher id, exit status)` (see
    /// `abi::kop::event`; the status is 0 but for `EXITED`).
    pub fn take_event(&mut self) -> Option<(u64, u32, u64)> {
        self.events.pop_front()
    }

    /// Map physical page `pa`, which the dispatcher does not own (channel memory), at user
    /// address `va` of dispatcher `id`, writable and not executable.
    pub fn map_shared(&mut self, id: u32, va: u64, pa: u64) -> Result<(), VSpaceError> {
        let d = self
            .dispatchers
            .iter_mut()
            .find(|d| d.id == id && d.state == DispatcherState::Runnable)
            .ok_or(VSpaceError::NotUser)?;
        let vs = d.vspace.as_mut().ok_or(VSpaceError::NotUser)?;
        let pc = percore::current();
        let mut slot = pc.caps.borrow_mut();
        let c = slot.as_mut().ok_or(VSpaceError::OutOfMemory)?;
        vs.map_shared(c, pc, va, pa)
    }

    /// The index of the live dispatcher whose dispatcher object has id `id`.
    pub fn by_dispatcher_id(&self, id: u64) -> Option<usize> {
        self.dispatchers.iter().position(|d| {
            d.state == DispatcherState::Runnable && d.caps.is_some_and(|c| c.dispatcher_id == id)
        })
    }

    /// The current dispatcher serves LRPC calls at `entry` on the stack at `stack_top`.
    pub fn lrpc_listen(&mut self, entry: u64, stack_top: u64) {
        if let Some(d) = self.current() {
            d.lrpc_listen = Some((entry, stack_top));
        }
    }

    /// Call dispatcher `target` from the current one: the caller waits (its state `f` is
    /// kept, to be resumed with the reply), and `f` becomes the receiver entering its LRPC
    /// entry with `badge` and `args`; `msg_len` bytes of the message buffer are copied and
    /// `msg_cap` (1 + the slot of a transferred capability, or 0) is given to the receiver.
    pub fn lrpc_call(
        &mut self,
        f: &mut TrapFrame,
        target: usize,
        badge: u64,
        args: [u64; 3],
        msg_len: usize,
        msg_cap: u32,
    ) -> Result<(), LrpcError> {
        let caller = self.current.ok_or(LrpcError::NoReceiver)?;
        if target == caller {
            return Err(LrpcError::Busy);
        }
        let t = self.dispatchers.get(target).ok_or(LrpcError::NoReceiver)?;
        let (entry, stack) = t.lrpc_listen.ok_or(LrpcError::NoReceiver)?;
        if t.serving.is_some() || t.awaiting_reply || t.state != DispatcherState::Runnable {
            return Err(LrpcError::Busy);
        }
        if msg_len > abi::MAX_MSG {
            return Err(LrpcError::MessageTooLong);
        }
        let c = &mut self.dispatchers[caller];
        c.exact = Some(*f);
        c.awaiting_reply = true;
        let from = c.frame;
        let t = &mut self.dispatchers[target];
        copy_msg(from, t.frame, msg_len);
        // SAFETY: the receiver's kernel-mapped dispatcher frame.
        unsafe { (*t.frame).msg_cap = msg_cap };
        // SAFETY: the dispatcher frame is this dispatcher's kernel-mapped page.
        let frame = unsafe { &mut *t.frame };
        // The receiver serves the call disabled, so its own saved state stays untouched.
        t.serving = Some((caller, t.exact.take(), frame.disabled));
        frame.disabled = 1;
        self.enter(target);
        *f = TrapFrame {
            rip: entry,
            cs: USER_CS,
            rflags: USER_RFLAGS,
            rsp: stack,
            ss: USER_SS,
            rdi: badge,
            rsi: args[0],
            rdx: args[1],
            r10: args[2],
            ..TrapFrame::default()
        };
        Ok(())
    }

    /// The current dispatcher replies `value` to the call it serves: it goes back to its
    /// own state, and `f` becomes the caller returning from its call.
    pub fn lrpc_reply(
        &mut self,
        f: &mut TrapFrame,
        value: u64,
        msg_len: usize,
    ) -> Result<(), LrpcError> {
        let server = self.current.ok_or(LrpcError::NotServing)?;
        if msg_len > abi::MAX_MSG {
            return Err(LrpcError::MessageTooLong);
        }
        let (caller, saved, disabled) = self.dispatchers[server]
            .serving
            .take()
            .ok_or(LrpcError::NotServing)?;
        let s = &mut self.dispatchers[server];
        s.exact = saved;
        let from = s.frame;
        copy_msg(from, self.dispatchers[caller].frame, msg_len);
        let s = &mut self.dispatchers[server];
        // SAFETY: the dispatcher frame is this dispatcher's kernel-mapped page.
        unsafe { (*s.frame).disabled = disabled };
        self.resume_caller(caller, f, abi::SysError::Ok, value);
        Ok(())
    }

    /// Resume `caller` (waiting for a reply) with `err` and `value` in `f`.
    fn resume_caller(&mut self, caller: usize, f: &mut TrapFrame, err: abi::SysError, value: u64) {
        let c = &mut self.dispatchers[caller];
        c.awaiting_reply = false;
        let mut state = c.exact.take().unwrap_or_default();
        state.rax = err as u64;
        state.rdx = value;
        self.enter(caller);
        *f = state;
    }

    /// Make `i` the current dispatcher and switch to its address space (the state to run is
    /// set by the caller).
    fn enter(&mut self, i: usize) {
        self.current = Some(i);
        let d = &mut self.dispatchers[i];
        d.runs += 1;
        load_address_space(d.vspace.as_ref().map_or(0, |v| v.pml4));
        // SAFETY: FS base names the dispatcher frame's user address (not dereferenced by
        // the kernel).
        unsafe { crate::arch::cpu::wrmsr(IA32_FS_BASE, abi::DISPATCHER_FRAME_VADDR) };
    }

    /// Save the interrupted state of the current dispatcher (preemption).
    pub fn save_preempted(&mut self, f: &TrapFrame) {
        let Some(d) = self.current() else { return };
        // SAFETY: the dispatcher frame is this dispatcher's kernel-mapped page.
        let frame = unsafe { &mut *d.frame };
        let in_critical = d.critical.0 <= f.rip && f.rip < d.critical.1;
        if frame.disabled != 0 || in_critical || d.run_entry == 0 {
            d.exact = Some(*f);
        } else {
            frame.enabled_area = regs_from(f);
            frame.enabled_valid = 1;
            d.exact = None;
        }
    }

    /// The current dispatcher gave up the rest of its time slice: it resumes right after
    /// the syscall (state `f`) when its turn comes again.
    pub fn yield_current(&mut self, f: &TrapFrame) {
        if let Some(d) = self.current() {
            d.exact = Some(*f);
        }
    }

    /// Set the current dispatcher's upcall entries and critical region.
    pub fn set_upcall(&mut self, run_entry: u64, fault_entry: u64, start: u64, end: u64) {
        if let Some(d) = self.current() {
            d.run_entry = run_entry;
            d.fault_entry = fault_entry;
            d.critical = (start, end);
        }
    }

    /// Deliver a fault of the current dispatcher to its fault upcall: true if it has one
    /// and was enabled (then `f` holds the upcall), false if it must be killed instead.
    pub fn deliver_fault(&mut self, f: &mut TrapFrame, vector: u64, address: u64) -> bool {
        let Some(d) = self.current() else {
            return false;
        };
        // SAFETY: the dispatcher frame is this dispatcher's kernel-mapped page.
        let frame = unsafe { &mut *d.frame };
        let in_critical = d.critical.0 <= f.rip && f.rip < d.critical.1;
        if d.fault_entry == 0 || frame.disabled != 0 || in_critical {
            return false;
        }
        frame.fault = abi::FaultInfo {
            vector,
            error_code: f.error_code,
            address,
            regs: regs_from(f),
        };
        *f = upcall(frame, d.fault_entry);
        true
    }

    /// End the current dispatcher with exit status `status` (`abi::EXIT_KILLED` when the
    /// kernel ended it); deleting its capabilities returns its memory to the core.
    pub fn kill_current(&mut self, status: u64) {
        if let Some(i) = self.current.take() {
            // A caller waiting on this dispatcher gets an error instead of a reply.
            if let Some((caller, _, _)) = self.dispatchers[i].serving.take() {
                let c = &mut self.dispatchers[caller];
                c.awaiting_reply = false;
                if let Some(s) = c.exact.as_mut() {
                    s.rax = abi::SysError::LrpcUnavailable as u64;
                    s.rdx = 0;
                }
            }
            let d = &mut self.dispatchers[i];
            d.state = DispatcherState::Dead;
            percore::current().irqs.borrow_mut().forget(d.id);
            crate::tlb::settle_dispatcher(percore::current(), d.id);
            self.events
                .push_back((abi::kop::event::EXITED, d.id, status));
            let d = &mut self.dispatchers[i];
            // Leave the dying address space before its tables are freed.
            switch_to_kernel_tables();
            d.vspace = None;
            if let Some(p) = d.caps.take() {
                crate::capspace::destroy_program(&p);
            }
        }
    }

    /// End dispatcher `id`, which is not the one running; false if there is no such live
    /// dispatcher.
    pub fn kill_id(&mut self, id: u32) -> bool {
        let Some(i) = self
            .dispatchers
            .iter()
            .position(|d| d.id == id && d.state == DispatcherState::Runnable)
        else {
            return false;
        };
        let caller = self.current;
        if caller == Some(i) {
            return false;
        }
        self.current = Some(i);
        self.kill_current(abi::EXIT_KILLED);
        self.current = caller;
        // Back in the caller's address space (the kill left the dying one).
        if let Some(c) = caller {
            load_address_space(self.dispatchers[c].vspace.as_ref().map_or(0, |v| v.pml4));
        }
        true
    }

    /// Pick the next runnable dispatcher round-robin after the current one, switch to its
    /// address space and write its state into `f`. Returns false when none can run.
    pub fn switch_next(&mut self, f: &mut TrapFrame) -> bool {
        let n = self.dispatchers.len();
        if n == 0 {
            return false;
        }
        let start = self.current.map_or(0, |c| c + 1);
        let Some(i) = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.dispatchers[i].can_run())
        else {
            self.current = None;
            return false;
        };
        self.resume(i, f);
        true
    }

    /// Enter dispatcher `i` and put the state it resumes with into `f`.
    fn resume(&mut self, i: usize, f: &mut TrapFrame) {
        self.enter(i);
        let d = &mut self.dispatchers[i];
        // SAFETY: the dispatcher frame is this dispatcher's kernel-mapped page.
        let frame = unsafe { &mut *d.frame };
        frame.ticks = percore::current().timer_ticks.get();
        *f = match d.exact.take() {
            Some(exact) => exact,
            None => upcall(frame, d.run_entry),
        };
    }

    /// Link the capability window of dispatcher `id` (not running) anew: the table now in
    /// its root slot `abi::ROOT_SLOT_PT`, at physical `pt` (a copy from another core, after
    /// `capspace::adopt_window` deleted its own table, and with it that mapping).
    pub fn relink_window(&mut self, id: u32, pt: u64) -> Result<(), VSpaceError> {
        let d = self
            .dispatchers
            .iter_mut()
            .find(|d| d.id == id && d.state == DispatcherState::Runnable)
            .ok_or(VSpaceError::NotUser)?;
        let vs = d.vspace.as_mut().ok_or(VSpaceError::NotUser)?;
        let p = d.caps.as_mut().ok_or(VSpaceError::NotUser)?;
        let pc = percore::current();
        let mut slot = pc.caps.borrow_mut();
        let c = slot.as_mut().ok_or(VSpaceError::OutOfMemory)?;
        let window = caps::Slot {
            cnode: c.state.cnode_of(p.root)?,
            index: abi::ROOT_SLOT_PT,
        };
        vs.link_window(c, pc, abi::CAP_WINDOW, window)?;
        p.pt = pt;
        Ok(())
    }

    /// The id of the dispatcher running now.
    pub fn current_id(&self) -> Option<u32> {
        self.current.map(|i| self.dispatchers[i].id)
    }

    /// Whether dispatcher `id` exists and can run.
    pub fn can_run_id(&self, id: u32) -> bool {
        self.dispatchers.iter().any(|d| d.id == id && d.can_run())
    }

    /// Switch to dispatcher `id` (which must be able to run) instead of the round-robin
    /// choice; the current one's state must have been saved. False if it cannot run.
    pub fn switch_to_id(&mut self, f: &mut TrapFrame, id: u32) -> bool {
        match self
            .dispatchers
            .iter()
            .position(|d| d.id == id && d.can_run())
        {
            Some(i) => {
                self.resume(i, f);
                true
            }
            None => false,
        }
    }

    /// Block the current dispatcher (state `f`, right after its syscall) until
    /// [`Scheduler::end_wait`]; returns its id.
    pub fn block_current(&mut self, f: &TrapFrame) -> Option<u32> {
        let d = self.current()?;
        d.exact = Some(*f);
        d.blocked = true;
        Some(d.id)
    }

    /// Resume dispatcher `id` blocked in the kernel, its syscall answering `err, value`.
    pub fn end_wait(&mut self, id: u32, err: abi::SysError, value: u64) -> bool {
        let Some(d) = self
            .dispatchers
            .iter_mut()
            .find(|d| d.id == id && d.state == DispatcherState::Runnable && d.blocked)
        else {
            return false;
        };
        d.blocked = false;
        if let Some(s) = d.exact.as_mut() {
            s.rax = err as u64;
            s.rdx = value;
        }
        true
    }

    /// Tell every live dispatcher on this core to enter the kernel through `gate` (an
    /// `abi::SYSCALL_GATE_*`) from its next system call on.
    pub fn set_syscall_gate(&mut self, gate: u32) {
        for d in self.dispatchers.iter_mut() {
            if d.state == DispatcherState::Runnable {
                // SAFETY: a live dispatcher's frame is its kernel-mapped page.
                unsafe { (*d.frame).syscall_gate = gate };
            }
        }
    }

    /// Copy `data` into the current dispatcher's memory at `va`.
    pub fn write_current(&mut self, va: u64, data: &[u8]) -> bool {
        match self.current().and_then(|d| d.vspace.as_mut()) {
            Some(vs) => vs.write_user(va, data),
            None => false,
        }
    }

    /// Copy `len` bytes of the current dispatcher's memory at `va` into `out`.
    pub fn read_current(&mut self, va: u64, out: &mut [u8]) -> bool {
        match self.current().and_then(|d| d.vspace.as_mut()) {
            Some(vs) => vs.read_user(va, out),
            None => false,
        }
    }
}

/// The state that enters a dispatcher at upcall `entry` on its upcall stack, disabled, with
/// its dispatcher frame as argument.
/// Build `program`'s address space for `exe`: the segments of `image`, the two stacks, the
/// dispatcher frame (kernel-private) and the capability window. Returns it with the kernel
/// view of the dispatcher frame.
fn build_address_space(
    c: &mut CoreCaps,
    pc: &percore::PerCore,
    program: &ProgramCaps,
    exe: &elfload::Executable,
    image: &[u8],
) -> Result<(AddressSpace, *mut DispatcherFrame), SpawnError> {
    let mut vs = AddressSpace::new(c, pc, program)?;
    for seg in exe.segments() {
        let first = seg.vaddr & !0xfff;
        let end = (seg.vaddr + seg.mem_size + 0xfff) & !0xfff;
        // One Frame per run of pages no earlier segment mapped (segments can share a page).
        let mut page = first;
        while page < end {
            if vs.translate_user(page, false).is_some() {
                page += 4096;
                continue;
            }
            let mut run = page + 4096;
            while run < end && vs.translate_user(run, false).is_none() {
                run += 4096;
            }
            let mut rights = caps::Rights::READ;
            if seg.write {
                rights |= caps::Rights::WRITE;
            }
            if seg.exec {
                rights |= caps::Rights::EXECUTE;
            }
            vs.map_new(c, pc, page, (run - page) / 4096, rights, false)?;
            page = run;
        }
        // The ELF parser checked the file range.
        let data = &image[seg.file_offset as usize..][..seg.file_size as usize];
        if !vs.write_user_as(seg.vaddr, data, false) {
            return Err(SpawnError::VSpace(VSpaceError::NotUser));
        }
    }
    let rw = caps::Rights::READ | caps::Rights::WRITE;
    for (top, size) in [
        (abi::USER_STACK_TOP, abi::USER_STACK_SIZE),
        (abi::UPCALL_STACK_TOP, abi::UPCALL_STACK_SIZE),
    ] {
        vs.map_new(c, pc, top - size, size / 4096, rw, false)?;
    }
    let fpa = vs.map_new(c, pc, abi::DISPATCHER_FRAME_VADDR, 1, rw, true)?;
    let window = caps::Slot {
        cnode: c
            .state
            .cnode_of(program.root)
            .map_err(|e| SpawnError::Caps(e.into()))?,
        index: abi::ROOT_SLOT_PT,
    };
    vs.link_window(c, pc, abi::CAP_WINDOW, window)?;
    Ok((vs, pc.phys_to_virt(fpa) as *mut DispatcherFrame))
}

fn upcall(frame: &mut DispatcherFrame, entry: u64) -> TrapFrame {
    frame.disabled = 1;
    frame.upcalls = frame.upcalls.wrapping_add(1);
    TrapFrame {
        rip: entry,
        cs: USER_CS,
        rflags: USER_RFLAGS,
        rsp: frame.upcall_stack_top,
        ss: USER_SS,
        rdi: abi::DISPATCHER_FRAME_VADDR,
        ..TrapFrame::default()
    }
}

fn load_address_space(pml4: u64) {
    use x86_64::registers::control::{Cr3, Cr3Flags};
    use x86_64::structures::paging::PhysFrame;
    let (cur, _) = Cr3::read();
    if pml4 != 0 && cur.start_address().as_u64() != pml4 {
        // SAFETY: the table's kernel half is the kernel's, so the kernel keeps running.
        unsafe {
            Cr3::write(
                PhysFrame::containing_address(x86_64::PhysAddr::new(pml4)),
                Cr3Flags::empty(),
            )
        };
    }
}

fn switch_to_kernel_tables() {
    let pc = percore::current();
    load_address_space(pc.kernel_pml4.get());
}
