//! Preemptive user-level threads on this program's dispatcher, in the Barrelfish style.
//!
//! The kernel schedules dispatchers; a dispatcher schedules its own threads. Every thread
//! runs on this dispatcher only (one core), nothing here is shared with other dispatchers.
//! The program's `main` is thread 0 ([`MAIN`]); [`spawn`] starts more, each on its own
//! stack from the heap.
//!
//! # Switching
//! * Preemption: when the timer preempts the dispatcher while it is *enabled*, the kernel
//!   saves the thread's registers in `enabled_area` and later upcalls the `run` entry
//!   (disabled, on the upcall stack). The upcall (`libos_upcall`) hands that state to
//!   `preempted`, which stores it in the thread's control block and picks the next
//!   ready thread round-robin; the upcall then resumes it with `libos_resume`, which clears
//!   `disabled` inside the registered critical region. With a single thread nothing changes:
//!   the upcall resumes the preempted state as it always did.
//! * Voluntary ([`yield_now`], [`join`] waiting, a thread's end): the thread sets
//!   `disabled` (`fs:[0]`) while it reads and changes the thread table, saves its
//!   callee-saved registers, stack pointer and return address into its control block
//!   (`libos_thread_switch`) and resumes the other thread's saved [`Registers`] through
//!   the same `libos_resume`, which re-enables atomically. A preemption meanwhile finds the
//!   dispatcher disabled (or inside the critical region) and resumes it exactly.
//!
//! Both kinds of saved state are complete [`Registers`], so a thread preempted by the timer
//! may be resumed by another thread's yield and the other way round.
//!
//! # Rules
//! * The thread table is only touched while `disabled` is set by this module (from an
//!   enabled thread) or by the kernel for the `run` upcall. Code that already runs disabled
//!   — the fault handler, an LRPC handler (which may interrupt a thread anywhere, also in
//!   the middle of a switch) — must not change it: there [`spawn`] and [`join`] return
//!   [`ThreadError::Disabled`] and [`yield_now`] only yields to the kernel. [`current`]
//!   works anywhere.
//! * Nothing here allocates or frees while disabled: a thread preempted while holding the
//!   allocator's lock can only release it if the others can be switched away from.
//! * Returning from `main` ends the program, other threads included (join them first).
//!   A thread that ends keeps its slot, result and stack until it is joined.

use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use abi::{reg_offset, Registers};

/// Most threads a dispatcher can have at once (the main thread included).
pub const MAX_THREADS: usize = 64;
/// Stack size of a thread started with [`spawn`].
pub const DEFAULT_STACK_SIZE: usize = 32 * 1024;
/// Smallest stack [`spawn_with_stack`] accepts.
pub const MIN_STACK_SIZE: usize = 4 * 1024;
/// Largest stack [`spawn_with_stack`] accepts (the whole heap is `heap::HEAP_SIZE`).
pub const MAX_STACK_SIZE: usize = 256 * 1024;

/// Written at the lowest word of every spawned thread's stack; found changed when the
/// thread is switched away from, the thread has overflowed its stack.
const STACK_CANARY: u64 = 0x5354_4143_4b5f_454e;
/// RFLAGS of a new thread: interrupts on (user code cannot change IF anyway), bit 1.
const NEW_THREAD_RFLAGS: u64 = 0x202;

/// A thread of this dispatcher. Ids are never reused while the program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(u64);

/// The main thread (the program's `main`).
pub const MAIN: ThreadId = ThreadId(0);

impl ThreadId {
    /// The id as a number (0 for the main thread).
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The id with number `n` (e.g. passed to another thread as its argument). Naming a
    /// thread that does not exist is harmless: [`join`] says [`ThreadError::NoSuchThread`].
    pub const fn from_u64(n: u64) -> ThreadId {
        ThreadId(n)
    }
}

impl core::fmt::Display for ThreadId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a thread operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadError {
    /// The heap has no room for the thread's stack.
    OutOfMemory,
    /// The dispatcher already has [`MAX_THREADS`] threads (ended but unjoined ones count).
    TooManyThreads,
    /// The stack size is outside `MIN_STACK_SIZE..=MAX_STACK_SIZE`.
    BadStackSize,
    /// No such thread: never spawned, or already joined.
    NoSuchThread,
    /// A thread cannot join itself (it would wait forever).
    JoinSelf,
    /// The main thread cannot be joined (its end is the program's end).
    NotJoinable,
    /// Called while the dispatcher runs disabled (a fault or LRPC handler, an upcall),
    /// where the thread table must not be touched.
    Disabled,
}

impl core::fmt::Display for ThreadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            ThreadError::OutOfMemory => "no memory for the thread's stack",
            ThreadError::TooManyThreads => "too many threads",
            ThreadError::BadStackSize => "stack size out of range",
            ThreadError::NoSuchThread => "no such thread (or already joined)",
            ThreadError::JoinSelf => "a thread cannot join itself",
            ThreadError::NotJoinable => "the main thread cannot be joined",
            ThreadError::Disabled => "not allowed while the dispatcher runs disabled",
        };
        f.write_str(s)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// The slot is unused.
    Free,
    /// Running or ready to run.
    Ready,
    /// Ended with its result; waiting to be joined.
    Finished,
}

/// A thread control block.
struct Tcb {
    state: State,
    id: u64,
    /// The state to resume the thread with while it does not run.
    regs: Registers,
    /// Lowest address and size of the thread's stack (0 for the main thread's, which the
    /// kernel maps).
    stack: usize,
    stack_size: usize,
    /// The value the thread ended with.
    result: usize,
}

const ZERO_REGS: Registers = Registers {
    rax: 0,
    rbx: 0,
    rcx: 0,
    rdx: 0,
    rsi: 0,
    rdi: 0,
    rbp: 0,
    rsp: 0,
    r8: 0,
    r9: 0,
    r10: 0,
    r11: 0,
    r12: 0,
    r13: 0,
    r14: 0,
    r15: 0,
    rip: 0,
    rflags: 0,
};

const FREE_TCB: Tcb = Tcb {
    state: State::Free,
    id: 0,
    regs: ZERO_REGS,
    stack: 0,
    stack_size: 0,
    result: 0,
};

struct Threads {
    slots: [Tcb; MAX_THREADS],
    /// Slot of the running thread.
    current: usize,
    /// Number of `Ready` slots.
    ready: usize,
    next_id: u64,
}

impl Threads {
    /// The next ready slot after `from`, round-robin; `None` when `from` is the only one.
    fn next_ready(&self, from: usize) -> Option<usize> {
        if self.ready <= 1 && self.slots[from].state == State::Ready {
            return None;
        }
        (1..=MAX_THREADS)
            .map(|k| (from + k) % MAX_THREADS)
            .find(|&i| i != from && self.slots[i].state == State::Ready)
    }

    fn find(&self, id: ThreadId) -> Option<usize> {
        self.slots
            .iter()
            .position(|t| t.state != State::Free && t.id == id.0)
    }

    /// Whether the thread in `slot` has overwritten the bottom of its stack.
    fn overflowed(&self, slot: usize) -> bool {
        let t = &self.slots[slot];
        // SAFETY: `stack` is the start of the live allocation of at least MIN_STACK_SIZE
        // bytes (aligned to 16) made for this thread, freed only after the slot is.
        t.stack != 0 && unsafe { (t.stack as *const u64).read_volatile() } != STACK_CANARY
    }
}

/// This dispatcher's threads.
struct ThreadTable(UnsafeCell<Threads>);

// SAFETY: the table belongs to this dispatcher alone: its threads all run on its one core,
// one at a time, and no other dispatcher can reach this memory. It is only accessed while
// `disabled` is set (by this module from an enabled thread, or by the kernel for the `run`
// upcall), so a preemption resumes the accessing code exactly instead of switching
// threads; code that runs disabled on its own (fault and LRPC handlers) never touches it.
// Hence no two accesses overlap.
unsafe impl Sync for ThreadTable {}

static THREADS: ThreadTable = ThreadTable(UnsafeCell::new(Threads {
    slots: {
        let mut s = [FREE_TCB; MAX_THREADS];
        s[0].state = State::Ready;
        s
    },
    current: 0,
    ready: 1,
    next_id: 1,
}));

/// The running thread's id, readable anywhere (also from LRPC and fault handlers).
static CURRENT_ID: AtomicU64 = AtomicU64::new(0);

/// The thread table. Callers must run disabled (see [`ThreadTable`]) and must drop the
/// reference before switching threads.
///
/// # Safety
/// The dispatcher must be disabled, set by [`disable`] or by the kernel's upcall, and no
/// other reference to the table may be alive.
unsafe fn table() -> &'static mut Threads {
    // SAFETY: the caller guarantees exclusive, disabled access (see `ThreadTable`).
    unsafe { &mut *THREADS.0.get() }
}

/// Whether the dispatcher runs disabled now.
fn is_disabled() -> bool {
    let v: u32;
    // SAFETY: FS base is this dispatcher's frame, mapped for the program's life; `disabled`
    // is its first word (`abi::DISABLED_OFFSET` = 0).
    unsafe {
        core::arch::asm!(
            "mov {0:e}, dword ptr fs:[0]",
            out(reg) v,
            options(nostack, preserves_flags, readonly)
        )
    };
    v != 0
}

/// Set `disabled`, if it was clear: true if this call disabled the dispatcher (the caller
/// then owns the thread table until [`enable`] or a switch), false if it already ran
/// disabled (then nothing changed). A preemption between the test and the store switches
/// threads at most; this thread resumes enabled, as it was, and disables.
fn disable() -> bool {
    if is_disabled() {
        return false;
    }
    // SAFETY: writes this dispatcher's own `disabled` flag at fs:[0]. The asm has no
    // `nomem`, so it is also a compiler barrier: table accesses stay after it.
    unsafe { core::arch::asm!("mov dword ptr fs:[0], 1", options(nostack, preserves_flags)) };
    true
}

/// Clear `disabled` (after [`disable`] returned true).
fn enable() {
    // SAFETY: as in `disable`; a compiler barrier, so table accesses stay before it.
    unsafe { core::arch::asm!("mov dword ptr fs:[0], 0", options(nostack, preserves_flags)) };
}

core::arch::global_asm!(
    r#"
    .text
    # libos_thread_switch(save: *mut Registers, next: *const Registers), called disabled:
    # save the callee-saved registers, the stack pointer after return, the return address
    # and the flags in `save`, then resume `next` (libos_resume clears `disabled` in the
    # critical region). Whoever resumes `save` later returns from this call.
    .global libos_thread_switch
libos_thread_switch:
    mov [rdi + {rbx}], rbx
    mov [rdi + {rbp}], rbp
    mov [rdi + {r12}], r12
    mov [rdi + {r13}], r13
    mov [rdi + {r14}], r14
    mov [rdi + {r15}], r15
    mov rax, [rsp]
    mov [rdi + {rip}], rax
    lea rax, [rsp + 8]
    mov [rdi + {rsp}], rax
    pushfq
    pop rax
    mov [rdi + {rflags}], rax
    mov rdi, rsi
    jmp libos_resume

    # A new thread's first instruction, enabled, on its own stack: rdi = function,
    # rsi = argument.
    .global libos_thread_start
libos_thread_start:
    xor ebp, ebp
    and rsp, -16
    call {entry}
    ud2
    "#,
    rbx = const reg_offset::RBX,
    rbp = const reg_offset::RBP,
    r12 = const reg_offset::R12,
    r13 = const reg_offset::R13,
    r14 = const reg_offset::R14,
    r15 = const reg_offset::R15,
    rip = const reg_offset::RIP,
    rsp = const reg_offset::RSP,
    rflags = const reg_offset::RFLAGS,
    entry = sym thread_entry,
);

unsafe extern "C" {
    fn libos_thread_switch(save: *mut Registers, next: *const Registers);
    fn libos_thread_start();
    fn libos_resume(regs: *const Registers) -> !;
}

extern "C" fn thread_entry(f: usize, arg: usize) -> ! {
    // SAFETY: only `spawn_with_stack` starts threads here, with `f` a `fn(usize) -> usize`.
    let f = unsafe { core::mem::transmute::<usize, fn(usize) -> usize>(f) };
    exit(f(arg))
}

/// Report a stack overflow of `slot` and end the program (its memory is corrupt).
fn overflow(t: &Threads, slot: usize) -> ! {
    crate::println!(
        "libos: thread {} overflowed its {}-byte stack",
        t.slots[slot].id,
        t.slots[slot].stack_size
    );
    crate::exit(104)
}

/// Called by the `run` upcall with the state the kernel saved when it preempted the
/// running thread while enabled: store it and return the state of the next ready thread
/// to resume, or `None` when the preempted thread is the only one (resume it as before).
pub(crate) fn preempted(saved: &Registers) -> Option<*const Registers> {
    // SAFETY: the upcall runs disabled (the kernel set the flag) and holds no other
    // reference to the table; the preempted thread was enabled, so it was not using it.
    let t = unsafe { table() };
    let cur = t.current;
    let next = t.next_ready(cur)?;
    if t.overflowed(cur) {
        overflow(t, cur);
    }
    t.slots[cur].regs = *saved;
    t.current = next;
    CURRENT_ID.store(t.slots[next].id, Ordering::Relaxed);
    Some(&raw const t.slots[next].regs)
}

/// The running thread.
pub fn current() -> ThreadId {
    ThreadId(CURRENT_ID.load(Ordering::Relaxed))
}

/// Start `f(arg)` as a new thread with a [`DEFAULT_STACK_SIZE`] stack. It becomes ready at
/// once and runs when its turn comes (a yield or a timer preemption).
///
/// # Errors
/// As [`spawn_with_stack`].
pub fn spawn(f: fn(usize) -> usize, arg: usize) -> Result<ThreadId, ThreadError> {
    spawn_with_stack(f, arg, DEFAULT_STACK_SIZE)
}

/// Start `f(arg)` as a new thread with a stack of `stack_size` bytes from the heap.
///
/// # Errors
/// [`ThreadError::BadStackSize`] outside `MIN_STACK_SIZE..=MAX_STACK_SIZE`,
/// [`ThreadError::Disabled`] while the dispatcher runs disabled,
/// [`ThreadError::OutOfMemory`] when the heap has no room for the stack,
/// [`ThreadError::TooManyThreads`] when all [`MAX_THREADS`] slots are taken.
pub fn spawn_with_stack(
    f: fn(usize) -> usize,
    arg: usize,
    stack_size: usize,
) -> Result<ThreadId, ThreadError> {
    if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&stack_size) {
        return Err(ThreadError::BadStackSize);
    }
    // Allocating while disabled could wait forever on a lock held by a preempted thread.
    if is_disabled() {
        return Err(ThreadError::Disabled);
    }
    let layout = Layout::from_size_align(stack_size.next_multiple_of(16), 16)
        .map_err(|_| ThreadError::BadStackSize)?;
    // SAFETY: the layout has a non-zero size.
    let stack = unsafe { alloc::alloc::alloc(layout) };
    if stack.is_null() {
        return Err(ThreadError::OutOfMemory);
    }
    // SAFETY: `stack` is a fresh allocation of at least MIN_STACK_SIZE bytes, 16-aligned.
    unsafe { stack.cast::<u64>().write_volatile(STACK_CANARY) };
    let free_stack = || {
        // SAFETY: `stack` was allocated above with `layout` and never handed out.
        unsafe { alloc::alloc::dealloc(stack, layout) }
    };
    if !disable() {
        // Cannot happen (checked above, and a preemption resumes this thread enabled).
        free_stack();
        return Err(ThreadError::Disabled);
    }
    // SAFETY: disabled by `disable` just above; the reference is dropped before `enable`.
    let t = unsafe { table() };
    let Some(slot) = t.slots.iter().position(|s| s.state == State::Free) else {
        enable();
        free_stack();
        return Err(ThreadError::TooManyThreads);
    };
    let id = t.next_id;
    t.next_id += 1;
    let top = stack as u64 + layout.size() as u64;
    t.slots[slot] = Tcb {
        state: State::Ready,
        id,
        regs: Registers {
            rip: libos_thread_start as *const () as u64,
            rsp: top,
            rdi: f as usize as u64,
            rsi: arg as u64,
            rflags: NEW_THREAD_RFLAGS,
            ..ZERO_REGS
        },
        stack: stack as usize,
        stack_size: layout.size(),
        result: 0,
    };
    t.ready += 1;
    enable();
    Ok(ThreadId(id))
}

/// Let the next ready thread of this dispatcher run; when this is the only one, give the
/// rest of the time slice to the kernel instead ([`crate::syscall::yield_now`]). Called
/// while the dispatcher runs disabled (e.g. from an LRPC handler), only the kernel yield
/// happens.
pub fn yield_now() {
    if !disable() {
        crate::syscall::yield_now();
        return;
    }
    let (save, next) = {
        // SAFETY: disabled by `disable` just above; the reference ends in this block,
        // before the switch.
        let t = unsafe { table() };
        let cur = t.current;
        let Some(next) = t.next_ready(cur) else {
            enable();
            crate::syscall::yield_now();
            return;
        };
        if t.overflowed(cur) {
            overflow(t, cur);
        }
        t.current = next;
        CURRENT_ID.store(t.slots[next].id, Ordering::Relaxed);
        (&raw mut t.slots[cur].regs, &raw const t.slots[next].regs)
    };
    // SAFETY: disabled; both pointers name control blocks in the static table, distinct
    // slots (`next_ready` never returns `cur`); `next` holds the complete state of a ready
    // thread (saved by a switch, an upcall or `spawn`). Nothing else touches them until
    // the resume sequence has loaded `next` and re-enabled. This call returns when some
    // thread resumes `save`, enabled.
    unsafe { libos_thread_switch(save, next) };
}

/// Wait (yielding) until thread `id` has ended and return its result. A thread can be
/// joined once; its stack is freed then. Two threads joining each other wait forever.
///
/// # Errors
/// [`ThreadError::JoinSelf`], [`ThreadError::NotJoinable`] for the main thread,
/// [`ThreadError::NoSuchThread`] for an id never spawned or already joined,
/// [`ThreadError::Disabled`] while the dispatcher runs disabled.
pub fn join(id: ThreadId) -> Result<usize, ThreadError> {
    if id == current() {
        return Err(ThreadError::JoinSelf);
    }
    if id == MAIN {
        return Err(ThreadError::NotJoinable);
    }
    loop {
        if !disable() {
            return Err(ThreadError::Disabled);
        }
        // SAFETY: disabled by `disable` just above; the reference is not used after
        // `enable`.
        let t = unsafe { table() };
        let Some(slot) = t.find(id) else {
            enable();
            return Err(ThreadError::NoSuchThread);
        };
        if t.slots[slot].state == State::Finished {
            let s = &mut t.slots[slot];
            let (result, stack, size) = (s.result, s.stack, s.stack_size);
            *s = FREE_TCB;
            enable();
            if stack != 0 {
                // SAFETY: the thread's stack, allocated by `spawn_with_stack` with this size
                // and alignment; the thread ended (it switched away for good) and its slot
                // is free, so nothing uses the memory any more.
                unsafe {
                    alloc::alloc::dealloc(
                        stack as *mut u8,
                        Layout::from_size_align_unchecked(size, 16),
                    )
                };
            }
            return Ok(result);
        }
        enable();
        yield_now();
    }
}

/// End the running thread with `value` (what returning from its function does); [`join`]
/// returns it. On the main thread this ends the program with `value` as status. Called
/// while the dispatcher runs disabled (a fault or LRPC handler), the program ends with
/// status 103, since no thread switch can happen there.
pub fn exit(value: usize) -> ! {
    if current() == MAIN {
        crate::exit(value as u64);
    }
    if !disable() {
        crate::println!("libos: thread::exit while disabled");
        crate::exit(103);
    }
    // SAFETY: disabled by `disable` just above; the reference is dropped before the resume
    // (which does not return).
    let t = unsafe { table() };
    let cur = t.current;
    if t.overflowed(cur) {
        overflow(t, cur);
    }
    t.slots[cur].state = State::Finished;
    t.slots[cur].result = value;
    t.ready -= 1;
    // The main thread is always ready (it ends only with the program), so there is a next.
    let Some(next) = t.next_ready(cur) else {
        crate::exit(value as u64)
    };
    t.current = next;
    CURRENT_ID.store(t.slots[next].id, Ordering::Relaxed);
    let next = &raw const t.slots[next].regs;
    // SAFETY: disabled; `next` is the complete saved state of a ready thread in the static
    // table, untouched until the resume sequence has loaded it and re-enabled. This
    // thread's stack is left for good here (it is freed by `join`, never used again).
    unsafe { libos_resume(next) }
}
