//! Same-core LRPC: a program serves calls with [`listen`]; another program on the same core
//! calls it through an EndPoint capability with [`call`]. The CPU driver switches directly
//! from caller to receiver and back; arguments and the reply travel in registers, and with
//! [`call_msg`] a message of up to `abi::MAX_MSG` bytes travels each way through the
//! dispatcher frames' message buffers (the server reads it with [`request`] and answers
//! with [`set_reply`]).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use ::abi::Syscall;
use caps::abi::CapRef;

use crate::syscall::syscall5;

/// A call's handler: `(badge, a0, a1, a2) -> reply`.
pub type Handler = fn(u64, u64, u64, u64) -> u64;

/// Size of the stack calls are served on.
const STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK_SIZE]>);

// SAFETY: only the kernel's LRPC entry uses this memory, as a stack, one call at a time (a
// dispatcher serves one call at a time).
unsafe impl Sync for Stack {}

static STACK: Stack = Stack(UnsafeCell::new([0; STACK_SIZE]));
static HANDLER: AtomicUsize = AtomicUsize::new(0);
/// The reply value of a call that arrived while the server could not take it: retry.
///
/// A handler runs on the receiving dispatcher while that dispatcher's own thread may have
/// been preempted anywhere, also inside the allocator or holding a lock the handler
/// needs: a handler that allocates must check [`crate::heap::is_busy`] first (and answer
/// `BUSY`), and must only `try_lock` what its thread locks.
pub const BUSY: u64 = u64::MAX - 1;

/// Length of the reply message of the call being served.
static REPLY_LEN: AtomicUsize = AtomicUsize::new(0);

fn frame_mut() -> *mut ::abi::DispatcherFrame {
    ::abi::DISPATCHER_FRAME_VADDR as *mut ::abi::DispatcherFrame
}

/// Put `bytes` (truncated to `abi::MAX_MSG`) into this dispatcher's message buffer, for
/// the kernel to copy at the next call or reply; returns the length.
fn put_msg(bytes: &[u8]) -> usize {
    let len = bytes.len().min(::abi::MAX_MSG);
    // SAFETY: the frame is mapped read-write for this dispatcher; the kernel reads the
    // buffer only at the call or reply syscall, after this write, and writes it (the
    // served call's message, a reply) only while this dispatcher does not run.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), (*frame_mut()).msg.as_mut_ptr(), len) };
    len
}

/// The message of the call being served (in this dispatcher's frame).
pub fn request() -> &'static [u8] {
    let f = crate::dispatcher_frame();
    let len = (f.msg_len as usize).min(::abi::MAX_MSG);
    &f.msg[..len]
}

/// Set the reply message of the call being served (truncated to `abi::MAX_MSG` bytes).
pub fn set_reply(bytes: &[u8]) {
    let len = put_msg(bytes);
    REPLY_LEN.store(len, Ordering::Release);
}

core::arch::global_asm!(
    r#"
    .text
    .global libos_lrpc_entry
libos_lrpc_entry:
    and rsp, -16
    mov rcx, r10
    call {serve}
    ud2
    "#,
    serve = sym serve,
);

unsafe extern "C" {
    fn libos_lrpc_entry();
}

extern "C" fn serve(badge: u64, a0: u64, a1: u64, a2: u64) -> ! {
    let h = HANDLER.load(Ordering::Acquire);
    REPLY_LEN.store(0, Ordering::Release);
    let reply = if h == 0 {
        u64::MAX
    } else {
        // SAFETY: only `listen` stores into HANDLER, always a `Handler`.
        let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(h) };
        handler(badge, a0, a1, a2)
    };
    let len = REPLY_LEN.swap(0, Ordering::AcqRel) as u64;
    syscall5(Syscall::LrpcReply, reply, len, 0, 0, 0);
    unreachable!("LrpcReply does not return")
}

/// Serve LRPC calls with `handler`.
pub fn listen(handler: Handler) {
    HANDLER.store(handler as usize, Ordering::Release);
    let top = STACK.0.get() as u64 + STACK_SIZE as u64;
    syscall5(
        Syscall::LrpcListen,
        libos_lrpc_entry as *const () as u64,
        top,
        0,
        0,
        0,
    );
}

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The capability is not an EndPoint, or cannot be found (the capability error code).
    Cap(u64),
    /// The receiver does not listen, is busy, or ended.
    Unavailable,
}

/// The outcome of an `LrpcCall` syscall.
fn outcome(err: u64, val: u64) -> Result<u64, CallError> {
    match ::abi::SysError::from_u64(err) {
        Some(::abi::SysError::Ok) => Ok(val),
        Some(::abi::SysError::CapFailed) => Err(CallError::Cap(val)),
        _ => Err(CallError::Unavailable),
    }
}

/// Call the dispatcher behind `endpoint` with three arguments; returns its reply.
pub fn call(endpoint: CapRef, a0: u64, a1: u64, a2: u64) -> Result<u64, CallError> {
    // r9 = 0: no capability transfer.
    let (err, val) = crate::syscall::syscall6(Syscall::LrpcCall, endpoint.pack(), a0, a1, a2, 0, 0);
    outcome(err, val)
}

/// Call with a message: `msg` (at most `abi::MAX_MSG` bytes) goes to the receiver, and its
/// reply message is copied into `reply` (truncated to its size). Returns the reply value
/// and the reply message's length.
pub fn call_msg(
    endpoint: CapRef,
    a0: u64,
    a1: u64,
    msg: &[u8],
    reply: &mut [u8],
) -> Result<(u64, usize), CallError> {
    call_with(endpoint, a0, a1, msg, 0, reply)
}

/// [`call_msg`] transferring a copy of the capability `cap` (in this program's CSpace) to
/// the receiver, which finds it with [`received_cap`].
pub fn call_cap(
    endpoint: CapRef,
    a0: u64,
    msg: &[u8],
    cap: CapRef,
    reply: &mut [u8],
) -> Result<(u64, usize), CallError> {
    call_with(endpoint, a0, 0, msg, cap.pack(), reply)
}

/// A call with a message and, when `transfer` is not 0, a capability to transfer.
fn call_with(
    endpoint: CapRef,
    a0: u64,
    a1: u64,
    msg: &[u8],
    transfer: u64,
    reply: &mut [u8],
) -> Result<(u64, usize), CallError> {
    let len = put_msg(msg);
    let (err, val) = crate::syscall::syscall6(
        Syscall::LrpcCall,
        endpoint.pack(),
        a0,
        a1,
        0,
        len as u64,
        transfer,
    );
    let val = outcome(err, val)?;
    let r = request();
    let n = r.len().min(reply.len());
    reply[..n].copy_from_slice(&r[..n]);
    Ok((val, n))
}

/// The root slot of the capability transferred with the call being served, if any.
pub fn received_cap() -> Option<u32> {
    crate::dispatcher_frame().msg_cap.checked_sub(1)
}
