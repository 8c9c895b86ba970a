//! Talking to the core's monitor: the requests a program makes over LRPC (through the
//! EndPoint in root slot `abi::ROOT_SLOT_MONITOR_EP`), and blocking wrappers over them.
//!
//! Requests that involve other cores (spawn elsewhere, names, capability operations that
//! need agreement) are split-phase at the monitor: the call returns a ticket at once and
//! the program polls it ([`op::POLL`]); the monitor never waits inside a call. The
//! wrappers here poll, yielding between polls.
//!
//! Every reply message is words: `[status, v0, v1, ...]` with `status` from [`status`].

use alloc::vec::Vec;

use caps::abi::CapRef;

use crate::cap::root_slot;
use crate::lrpc;

/// Request numbers (the LRPC call's first argument).
pub mod op {
    /// Echo: reply with the argument plus one (value only).
    pub const ECHO: u64 = 1;
    /// The monitor's core (value only).
    pub const CORE: u64 = 2;
    /// Start a program: argument = core, message = `"PROGRAM ARGS"`. Ticket.
    pub const SPAWN: u64 = 3;
    /// Poll ticket `argument`: status `PENDING`, or the request's result.
    pub const POLL: u64 = 4;
    /// Register the name in the message for the caller, argument = port word. Ticket.
    pub const REGISTER: u64 = 5;
    /// Look the name in the message up in the local replica: `[OK, owner, port]`.
    pub const LOOKUP: u64 = 6;
    /// Unregister the caller's name in the message. Ticket.
    pub const UNREGISTER: u64 = 7;
    /// Send a copy of the caller's capability in root slot `argument` to a domain on
    /// another core: message = `[domain, dest slot]`. Ticket.
    pub const CAP_SEND: u64 = 8;
    /// Retype through the monitors (after `RetryThroughMonitor`): message = the six words
    /// `[source cap, retype word, offset, size, dest, 0]`. Ticket.
    pub const CAP_RETYPE: u64 = 9;
    /// Revoke the caller's capability at the address in `argument` across cores. Ticket.
    pub const CAP_REVOKE: u64 = 10;
    /// The domains in the local replica: `[OK, n, domain0, domain1, ...]` (first 100).
    pub const DOMAINS: u64 = 11;
    /// Deliberately send a malformed message to the monitor of core `argument` (for
    /// testing the monitors' handling of bad input). Value only.
    pub const SEND_GARBAGE: u64 = 12;
    /// Counters of this monitor: `[OK, members, committed, failed, bad messages, groups of
    /// its multicast tree (0: broadcasts go direct)]`.
    pub const STATS: u64 = 13;
    /// Connect to the service named in the message: argument = root slot of a Frame
    /// capability (the channel page) that goes to the service's domain. Ticket.
    pub const BIND: u64 = 14;
    /// A binding a client made to the caller's service named in the message: `[OK, slot]`
    /// (the channel frame's capability, now in the caller's CSpace), `NotFound` if none.
    pub const ACCEPT: u64 = 15;
    /// Delete the caller's capability at the address in `argument`, the last local copy of
    /// an object with copies elsewhere: `[OK]`.
    pub const CAP_DELETE: u64 = 17;
    /// The multicast tree for the broadcasts of core `argument`'s monitor (from the SKB
    /// service): message = words `[root, groups, then per group: forwarder, n, n cores]`.
    /// Ticket.
    pub const SET_ROUTE: u64 = 18;
    /// A capability transferred with the call (LRPC capability transfer): the monitor
    /// describes it, `[OK, type, bytes]`, and deletes its copy.
    pub const CAP_ECHO: u64 = 19;
    /// Bytes from offset `argument` of the machine's facts for the SKB (boot core only):
    /// the reply message is `[OK]` followed by the bytes (none past the end).
    pub const FACTS: u64 = 16;
    /// Start a dispatcher of a program on core `argument` that shares the caller's
    /// capability window (a spanned program): message = `"PROGRAM ARGS"`; unmaps in the
    /// window are shot down on that core from then on. Ticket; the result is its domain.
    pub const SPAN: u64 = 20;
    /// The machine's cores from core `argument` on, a page at a time: words
    /// `[OK, then per core: core, APIC id, package, node, monitor up (0/1)]`.
    pub const CORES_INFO: u64 = 21;
    /// The domains of the replica as text lines `CORE:ID PROGRAM`, from byte `argument`:
    /// the reply message is `[OK]` followed by at most 1000 bytes.
    pub const PS: u64 = 22;
    /// Free memory of core `argument`: `[OK, bytes, node]`. Ticket when remote.
    pub const MEM: u64 = 23;
    /// End domain `argument`. Ticket when remote.
    pub const KILL: u64 = 24;
    /// Capabilities of domain `argument` from the slot in message word 0 (numbered as
    /// [`CAPS_PAGE_SLOTS_FROM`](crate::monitor::CAPS_PAGE_SLOTS_FROM) says):
    /// `[OK, next slot (`CAPS_SLOTS` = done), then per capability: slot, type, base,
    /// bytes]`. Ticket when remote.
    pub const CAPS: u64 = 25;
    /// Set the kernel log level to `argument` (1 error .. 5 trace).
    pub const LOG: u64 = 26;
    /// Power off (`argument` = 0) or reset (1); message word 0 = status (0 = success).
    pub const POWER: u64 = 27;
    /// Route interrupt source `argument` of the caller's IrqSrc capability (message word 0,
    /// a packed capability reference; `argument` counts from its first GSI) to the vector
    /// of the caller's IRQ capability (message word 1) on the caller's core. Reply
    /// `[OK, gsi]`; ticket when this is not the boot core.
    pub const IRQ_ROUTE: u64 = 28;
    /// The exit status of domain `argument`, which ended (its core's monitor remembers the
    /// last [`EXITS_KEPT`](crate::monitor::EXITS_KEPT) of its core): reply `[status]`
    /// (`abi::EXIT_KILLED` if the kernel ended it); `NotFound` if it is still running or
    /// not remembered. Ticket when the domain is another core's.
    pub const EXIT_STATUS: u64 = 29;
    /// The kernel log core `argument` keeps in memory, from position message word 0 on:
    /// reply `[OK, from, len, len bytes in words]` (at most [`super::KLOG_CHUNK`] bytes;
    /// `from` is later than asked when those bytes were dropped; `len` 0 at the end);
    /// ticket when the core is another.
    pub const KLOG: u64 = 30;
}

/// How many ended domains each monitor remembers the exit status of.
pub const EXITS_KEPT: usize = 64;

/// How [`op::CAPS`] numbers slots: root slots below this, then slot `i` of the page CNode
/// (`abi::ROOT_SLOT_PAGECN`) as `CAPS_PAGE_SLOTS_FROM + i`.
pub const CAPS_PAGE_SLOTS_FROM: u64 = 256;
/// One past the last slot [`op::CAPS`] lists.
pub const CAPS_SLOTS: u64 = CAPS_PAGE_SLOTS_FROM + (1 << ::abi::PAGECN_RADIX);

/// Most bytes of kernel log one [`op::KLOG`] reply carries (with its two header words,
/// within a monitor message).
pub const KLOG_CHUNK: usize = 464;

/// Bytes of core `core`'s in-memory kernel log from position `pos` on (see [`op::KLOG`]):
/// the position they start at, and the bytes (none at the end).
pub fn klog(core: u32, pos: u64) -> Result<(u64, alloc::vec::Vec<u8>), MonError> {
    let w = request_wait(op::KLOG, u64::from(core), &bytes_of(&[pos]))?;
    let (&from, rest) = w.split_first().ok_or(MonError::BadRequest)?;
    let (&len, text) = rest.split_first().ok_or(MonError::BadRequest)?;
    let mut bytes = bytes_of(text);
    if len > bytes.len() as u64 {
        return Err(MonError::BadRequest);
    }
    bytes.truncate(len as usize);
    Ok((from, bytes))
}

/// The exit status of domain `domain`, which has ended (see [`op::EXIT_STATUS`]).
pub fn exit_status(domain: DomainId) -> Result<u64, MonError> {
    request_wait(op::EXIT_STATUS, domain, &[])
        .and_then(|w| w.first().copied().ok_or(MonError::BadRequest))
}

/// Status words.
pub mod status {
    /// Done.
    pub const OK: u64 = 0;
    /// Not done yet: poll again.
    pub const PENDING: u64 = 1;
}

/// Why a request to the monitor failed.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonError {
    /// The monitor could not be called.
    Unavailable = 2,
    /// The request is malformed.
    BadRequest = 3,
    /// No monitor on that core.
    NoSuchCore = 4,
    /// No such name, program or ticket.
    NotFound = 5,
    /// The name is taken.
    Exists = 6,
    /// The memory is claimed by another retype.
    Conflict = 7,
    /// Not the owner.
    NotOwner = 8,
    /// The monitors kept colliding with concurrent updates and gave up.
    GaveUp = 9,
    /// The program could not be started.
    SpawnFailed = 10,
    /// A capability operation failed (the capability error follows in the reply).
    CapFailed = 11,
    /// The monitor is busy (its queues are full): try again.
    Busy = 12,
    /// The monitor's mesh is not up yet.
    NotReady = 13,
}

impl MonError {
    /// Decode a status word (not `OK`/`PENDING`).
    pub fn from_status(s: u64) -> MonError {
        match s {
            3 => MonError::BadRequest,
            4 => MonError::NoSuchCore,
            5 => MonError::NotFound,
            6 => MonError::Exists,
            7 => MonError::Conflict,
            8 => MonError::NotOwner,
            9 => MonError::GaveUp,
            10 => MonError::SpawnFailed,
            11 => MonError::CapFailed,
            12 => MonError::Busy,
            13 => MonError::NotReady,
            _ => MonError::Unavailable,
        }
    }
}

/// How long a request is retried (one yield apart) while the monitor is not listening
/// yet, busy, or waiting for its mesh (boot of an emulated 32-core machine on a loaded
/// host takes seconds).
const RETRY_MS: u64 = 60_000;

/// A program instance system-wide: `core << 32 | dispatcher id`.
pub type DomainId = u64;

fn endpoint() -> CapRef {
    root_slot(::abi::ROOT_SLOT_MONITOR_EP)
}

/// Little-endian words of `bytes` (the last one zero-padded): how requests carry words.
pub fn words(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect()
}

/// The little-endian bytes of `words`.
pub fn bytes_of(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// One call: `(status, reply words)`.
pub fn request(op: u64, arg: u64, msg: &[u8]) -> (u64, Vec<u64>) {
    let mut reply = [0u8; ::abi::MAX_MSG];
    match lrpc::call_msg(endpoint(), op, arg, msg, &mut reply) {
        Ok((_, n)) if n >= 8 => {
            let w = words(&reply[..n]);
            (w[0], w[1..].to_vec())
        }
        Ok((lrpc::BUSY, 0)) => (MonError::Busy as u64, Vec::new()),
        Ok(_) => (MonError::BadRequest as u64, Vec::new()),
        // No endpoint to a monitor in the slot: nothing to retry.
        Err(lrpc::CallError::Cap(_)) => (MonError::BadRequest as u64, Vec::new()),
        // Not listening yet (a program can start before its monitor) or serving another call.
        Err(lrpc::CallError::Unavailable) => (MonError::Unavailable as u64, Vec::new()),
    }
}

/// A request whose reply is `[status]` followed by bytes (for example [`op::PS`]),
/// retried while the monitor is busy: `(status, bytes)`.
pub fn request_bytes(op: u64, arg: u64, msg: &[u8]) -> Result<(u64, Vec<u8>), MonError> {
    let mut reply = alloc::vec![0u8; ::abi::MAX_MSG];
    for _ in 0..10_000 {
        match lrpc::call_msg(endpoint(), op, arg, msg, &mut reply) {
            Ok((_, n)) if n >= 8 => {
                let st = u64::from_le_bytes(reply[..8].try_into().unwrap_or([0xff; 8]));
                // Busy, or still starting (a program may run before its monitor is up).
                if st == MonError::Busy as u64 || st == MonError::NotReady as u64 {
                    crate::yield_now();
                    continue;
                }
                return Ok((st, reply[8..n].to_vec()));
            }
            Ok((lrpc::BUSY, 0)) | Err(lrpc::CallError::Unavailable) => crate::yield_now(),
            Ok(_) | Err(lrpc::CallError::Cap(_)) => return Err(MonError::BadRequest),
        }
    }
    Err(MonError::Busy)
}

/// Make a request and, if it answers with a ticket, poll it (yielding) until done; the
/// result words on success.
pub fn request_wait(op: u64, arg: u64, msg: &[u8]) -> Result<Vec<u64>, MonError> {
    let (st, w) = request_raw_wait(op, arg, msg);
    if st == status::OK {
        Ok(w)
    } else {
        Err(MonError::from_status(st))
    }
}

/// [`request`], retried while the monitor is busy, and polled to the end if it answers
/// with a ticket: the final `(status, words)`.
fn request_raw_wait(op: u64, arg: u64, msg: &[u8]) -> (u64, Vec<u64>) {
    let (mut st, mut w) = request(op, arg, msg);
    // Monitor not listening yet, busy, or its mesh not up yet: try again for a while.
    let retry = |st: u64| {
        st == MonError::Busy as u64
            || st == MonError::NotReady as u64
            || st == MonError::Unavailable as u64
    };
    let deadline = crate::time::Deadline::after_ms(RETRY_MS);
    while retry(st) && !deadline.passed() {
        crate::syscall::yield_now();
        (st, w) = request(op, arg, msg);
    }
    if st == status::PENDING {
        let ticket = w.first().copied().unwrap_or(0);
        loop {
            crate::syscall::yield_now();
            (st, w) = request(op::POLL, ticket, &[]);
            if st != status::PENDING && !retry(st) {
                break;
            }
        }
    }
    (st, w)
}

/// Start `program` with `args` on core `core`; returns the new domain.
pub fn spawn(core: u32, program: &str, args: &str) -> Result<DomainId, MonError> {
    start(op::SPAWN, core, program, args)
}

/// A `SPAWN` or `SPAN` request: message `"PROGRAM ARGS"`, result the domain.
fn start(op: u64, core: u32, program: &str, args: &str) -> Result<DomainId, MonError> {
    let mut msg = Vec::from(program.as_bytes());
    if !args.is_empty() {
        msg.push(b' ');
        msg.extend_from_slice(args.as_bytes());
    }
    request_wait(op, u64::from(core), &msg).map(|w| w.first().copied().unwrap_or(0))
}

/// Start `program` with `args` on core `core` sharing this program's capability window
/// (see [`op::SPAN`]).
pub fn span(core: u32, program: &str, args: &str) -> Result<DomainId, MonError> {
    start(op::SPAN, core, program, args)
}

/// Register `name` for this program with a `port` word of its choosing.
pub fn register(name: &str, port: u64) -> Result<(), MonError> {
    request_wait(op::REGISTER, port, name.as_bytes()).map(|_| ())
}

/// Remove this program's registration of `name`.
pub fn unregister(name: &str) -> Result<(), MonError> {
    request_wait(op::UNREGISTER, 0, name.as_bytes()).map(|_| ())
}

/// One core of the machine as [`op::CORES_INFO`] describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreInfo {
    /// Core number.
    pub core: u32,
    /// Local APIC id.
    pub apic_id: u32,
    /// Package (socket).
    pub package: u32,
    /// NUMA node.
    pub node: u32,
    /// Whether its monitor takes part in the mesh.
    pub monitor_up: bool,
}

/// Every core of the machine, in core order ([`op::CORES_INFO`], a page at a time).
pub fn cores_info() -> Result<Vec<CoreInfo>, MonError> {
    let mut rows = Vec::new();
    // Bounded: at most 4096 cores.
    while rows.len() <= 4096 {
        let w = request_wait(op::CORES_INFO, rows.len() as u64, &[])?;
        if w.is_empty() {
            break;
        }
        for c in w.as_chunks::<5>().0 {
            rows.push(CoreInfo {
                core: c[0] as u32,
                apic_id: c[1] as u32,
                package: c[2] as u32,
                node: c[3] as u32,
                monitor_up: c[4] != 0,
            });
        }
    }
    Ok(rows)
}

/// Look `name` up in this core's replica: `(owner domain, port)`.
pub fn lookup(name: &str) -> Result<(DomainId, u64), MonError> {
    let w = request_wait(op::LOOKUP, 0, name.as_bytes())?;
    match w.as_slice() {
        [owner, port, ..] => Ok((*owner, *port)),
        _ => Err(MonError::BadRequest),
    }
}

/// Send a copy of this program's capability in root slot `slot` to root slot `dest_slot`
/// of `domain` (on another core).
pub fn send_cap(slot: u32, domain: DomainId, dest_slot: u32) -> Result<(), MonError> {
    let msg = bytes_of(&[domain, u64::from(dest_slot)]);
    request_wait(op::CAP_SEND, u64::from(slot), &msg).map(|_| ())
}

/// Retype through the monitors, for a capability with copies on other cores: the same
/// words as the `Retype` invocation. The error comes with the capability error code when
/// it is `CapFailed`.
pub fn retype(
    src: CapRef,
    retype_word: u64,
    offset: u64,
    size: u64,
    dest: u64,
) -> Result<(), (MonError, u64)> {
    let msg = bytes_of(&[src.pack(), retype_word, offset, size, dest, 0]);
    request_detail(op::CAP_RETYPE, 0, &msg).map(|_| ())
}

/// Revoke the capability at `cap` across every core (errors as for [`retype`]).
pub fn revoke(cap: CapRef) -> Result<u64, (MonError, u64)> {
    request_detail(op::CAP_REVOKE, cap.pack(), &[]).map(|w| w.first().copied().unwrap_or(0))
}

/// Delete the last local copy of a capability that has copies on other cores (errors as
/// for [`retype`]).
pub fn delete(cap: CapRef) -> Result<u64, (MonError, u64)> {
    request_detail(op::CAP_DELETE, cap.pack(), &[]).map(|w| w.first().copied().unwrap_or(0))
}

/// [`request_wait`], keeping the first reply word of an error.
fn request_detail(op: u64, arg: u64, msg: &[u8]) -> Result<Vec<u64>, (MonError, u64)> {
    let (st, w) = request_raw_wait(op, arg, msg);
    if st == status::OK {
        Ok(w)
    } else {
        Err((MonError::from_status(st), w.first().copied().unwrap_or(0)))
    }
}

/// The domains this core's replica knows.
pub fn domains() -> Result<Vec<DomainId>, MonError> {
    let w = request_wait(op::DOMAINS, 0, &[])?;
    let n = w.first().copied().unwrap_or(0) as usize;
    Ok(w.iter().skip(1).take(n).copied().collect())
}

/// The machine's facts for the SKB, as its core 0 monitor has them (empty elsewhere).
pub fn facts() -> Result<alloc::string::String, MonError> {
    let mut all = Vec::new();
    let mut reply = [0u8; ::abi::MAX_MSG];
    loop {
        let mut n = None;
        let deadline = crate::time::Deadline::after_ms(RETRY_MS);
        while n.is_none() && !deadline.passed() {
            match lrpc::call_msg(endpoint(), op::FACTS, all.len() as u64, &[], &mut reply) {
                Ok((status::OK, len)) if len >= 8 => n = Some(len - 8),
                Ok((s, _)) if s == MonError::Busy as u64 || s == lrpc::BUSY => {
                    crate::syscall::yield_now()
                }
                Err(lrpc::CallError::Unavailable) => crate::syscall::yield_now(),
                Ok((s, _)) => return Err(MonError::from_status(s)),
                Err(_) => return Err(MonError::Unavailable),
            }
        }
        match n {
            Some(0) => break,
            Some(k) => all.extend_from_slice(&reply[8..8 + k]),
            None => return Err(MonError::Unavailable),
        }
    }
    alloc::string::String::from_utf8(all).map_err(|_| MonError::BadRequest)
}

/// Give core `root`'s monitor the multicast tree for its broadcasts: `(forwarder, cores)`
/// groups, each group's cores including its forwarder.
pub fn set_route(root: u32, groups: &[(u32, Vec<u32>)]) -> Result<(), MonError> {
    let mut w = alloc::vec![u64::from(root), groups.len() as u64];
    for (f, cores) in groups {
        w.push(u64::from(*f));
        w.push(cores.len() as u64);
        w.extend(cores.iter().map(|&c| u64::from(c)));
    }
    request_wait(op::SET_ROUTE, u64::from(root), &bytes_of(&w)).map(|_| ())
}

/// Route interrupt source `index` of IrqSrc capability `src` (its first GSI + `index`) to
/// the vector of IRQ capability `irq` on this core. Returns the global system interrupt.
pub fn irq_route(src: CapRef, index: u32, irq: CapRef) -> Result<u32, MonError> {
    let w = request_wait(
        op::IRQ_ROUTE,
        u64::from(index),
        &bytes_of(&[src.pack(), irq.pack()]),
    )?;
    Ok(w.first().copied().unwrap_or(0) as u32)
}
