//! Same-core LRPC: a program serves calls with [`listen`]; another program on the same core
//! calls it through an EndPoint capability with [`call`]. The CPU driver switches directly
//! from caller to receiver and back; arguments and the reply travel in registers.

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
    let reply = if h == 0 {
        u64::MAX
    } else {
        // SAFETY: only `listen` stores into HANDLER, always a `Handler`.
        let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(h) };
        handler(badge, a0, a1, a2)
    };
    syscall5(Syscall::LrpcReply, reply, 0, 0, 0, 0);
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

/// Call the dispatcher behind `endpoint` with three arguments; returns its reply.
pub fn call(endpoint: CapRef, a0: u64, a1: u64, a2: u64) -> Result<u64, CallError> {
    let (err, val) = syscall5(Syscall::LrpcCall, endpoint.pack(), a0, a1, a2, 0);
    match ::abi::SysError::from_u64(err) {
        Some(::abi::SysError::Ok) => Ok(val),
        Some(::abi::SysError::CapFailed) => Err(CallError::Cap(val)),
        _ => Err(CallError::Unavailable),
    }
}
