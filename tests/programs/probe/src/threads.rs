//! The `threads` mode: preemptive user-level threads on the probe's dispatcher.
//!
//! Counting threads never yield: each spins until all of them have started, which only
//! timer preemption switching threads inside the dispatcher can bring about. Yielding
//! threads switch voluntarily and check that they keep their identity. Then the error
//! cases: joining oneself, an unknown or already-joined thread, a bad stack size, a full
//! thread table.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use libos::println;
use libos::thread::{self, ThreadError, ThreadId};

/// Threads that only timer preemption can interleave.
const PREEMPTED: usize = 4;
/// Threads that yield voluntarily.
const YIELDING: usize = 4;
/// Yields per yielding thread.
const YIELDS: usize = 50;
/// How long a counting thread waits for the others before it gives up (10 ms ticks).
const TIMEOUT_TICKS: u64 = 3000;
/// What a failing thread returns.
const BAD: usize = usize::MAX;

/// Counting threads that have started.
static STARTED: AtomicUsize = AtomicUsize::new(0);
/// Loop iterations of the counting threads while they waited.
static SPINS: AtomicU64 = AtomicU64::new(0);
/// Steps of the yielding threads.
static STEPS: AtomicUsize = AtomicUsize::new(0);
/// Yields after which another yielding thread had made a step.
static INTERLEAVED: AtomicUsize = AtomicUsize::new(0);

/// The core's timer ticks when this dispatcher was last entered.
fn ticks() -> u64 {
    let f = libos::dispatcher_frame();
    // SAFETY: a field of the mapped dispatcher frame; read volatile because the kernel
    // updates it between our instructions.
    unsafe { core::ptr::read_volatile(&raw const f.ticks) }
}

/// A counting thread: never yields; spins until every counting thread has started.
fn counter(i: usize) -> usize {
    STARTED.fetch_add(1, Ordering::SeqCst);
    let start = ticks();
    let mut n = 0u64;
    while STARTED.load(Ordering::SeqCst) < PREEMPTED {
        n = n.wrapping_add(1);
        core::hint::spin_loop();
        if ticks() > start + TIMEOUT_TICKS {
            return BAD;
        }
    }
    SPINS.fetch_add(n, Ordering::Relaxed);
    i * 10 + 1
}

/// A yielding thread: makes a step, yields, and checks it is still itself.
fn yielder(i: usize) -> usize {
    let me = thread::current();
    if me == thread::MAIN {
        return BAD;
    }
    let mut sum = 0;
    for k in 0..YIELDS {
        let after = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
        thread::yield_now();
        if thread::current() != me {
            return BAD - 1;
        }
        if STEPS.load(Ordering::SeqCst) != after {
            INTERLEAVED.fetch_add(1, Ordering::Relaxed);
        }
        sum += k;
    }
    100_000 + i * 1000 + sum
}

fn triple(x: usize) -> usize {
    x * 3
}

pub fn threads(core: u32) -> i32 {
    let mut bad = 0;
    let mut check = |what: &str, ok: bool| {
        if !ok {
            println!("probe: threads on core {core}: FAILED: {what}");
            bad += 1;
        }
    };
    check("main is thread 0", thread::current() == thread::MAIN);
    check(
        "join self refused",
        thread::join(thread::current()) == Err(ThreadError::JoinSelf),
    );
    check(
        "tiny stack refused",
        thread::spawn_with_stack(triple, 1, 16) == Err(ThreadError::BadStackSize),
    );

    // Counting threads first, then yielding ones; all run at once.
    let mut ids: [Option<ThreadId>; PREEMPTED + YIELDING] = [None; PREEMPTED + YIELDING];
    for (i, slot) in ids.iter_mut().enumerate() {
        let r = if i < PREEMPTED {
            thread::spawn(counter, i)
        } else {
            thread::spawn(yielder, i)
        };
        match r {
            Ok(id) => *slot = Some(id),
            Err(e) => check(&alloc::format!("spawn {i}: {e:?}"), false),
        }
    }
    let mut joined = [0usize; 2];
    for (i, id) in ids.iter().enumerate() {
        let Some(id) = *id else { continue };
        let expect = if i < PREEMPTED {
            i * 10 + 1
        } else {
            100_000 + i * 1000 + YIELDS * (YIELDS - 1) / 2
        };
        match thread::join(id) {
            Ok(v) if v == expect => joined[usize::from(i >= PREEMPTED)] += 1,
            other => check(
                &alloc::format!("thread {i} (id {id}) gave {other:?}, not {expect}"),
                false,
            ),
        }
    }
    check(
        "every counting thread started",
        STARTED.load(Ordering::SeqCst) == PREEMPTED,
    );
    let interleaved = INTERLEAVED.load(Ordering::Relaxed);
    check("yields interleaved", interleaved > 0);
    check(
        "main still thread 0 after the joins",
        thread::current() == thread::MAIN,
    );

    // Joining twice, or a thread that never was.
    if let Some(id) = ids[0] {
        check(
            "second join refused",
            thread::join(id) == Err(ThreadError::NoSuchThread),
        );
    }
    check(
        "unknown thread refused",
        thread::join(ThreadId::from_u64(1 << 40)) == Err(ThreadError::NoSuchThread),
    );
    check(
        "main not joinable",
        thread::join(thread::MAIN) == Err(ThreadError::JoinSelf),
    );

    // Fill the thread table with small threads: one slot is main's.
    let mut small = alloc::vec::Vec::new();
    let full = loop {
        match thread::spawn_with_stack(triple, small.len(), thread::MIN_STACK_SIZE) {
            Ok(id) => small.push(id),
            Err(e) => break e,
        }
        if small.len() > thread::MAX_THREADS {
            break ThreadError::NoSuchThread;
        }
    };
    check(
        &alloc::format!("table full after {} threads: {full:?}", small.len()),
        full == ThreadError::TooManyThreads && small.len() == thread::MAX_THREADS - 1,
    );
    let filled = small.len();
    for (i, id) in small.into_iter().enumerate() {
        let r = thread::join(id);
        check(
            &alloc::format!("small thread {i}: {r:?}"),
            r == Ok(triple(i)),
        );
    }

    if bad != 0 {
        return 1;
    }
    println!(
        "probe: threads on core {core}: {} preempted + {} yielding threads joined, results ok ({} spins, {interleaved}/{} yields interleaved, {filled} more threads filled the table, {} upcalls)",
        joined[0],
        joined[1],
        SPINS.load(Ordering::Relaxed),
        YIELDING * YIELDS,
        libos::dispatcher_frame().upcalls,
    );
    0
}
