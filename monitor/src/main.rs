//! The monitor: the first user-mode dispatcher on every core, started by the core's CPU
//! driver with the core's Kernel capability and a URPC channel to every other monitor.
//!
//! It holds this core's replica of the global OS state (domains, names, claims of memory
//! being retyped) and keeps it consistent with the other monitors by two-phase commit
//! (`monitor-proto`); it starts programs on its core for anyone who asks, forwards its
//! programs' requests to the monitors of other cores, and carries out the cross-core parts
//! of capability operations. Its programs reach it by LRPC (`libos::monitor`); it answers
//! at once, with a ticket for anything that takes messages, and never blocks: one event
//! loop handles channels, kernel events and retries, and sleeps (armed for notification)
//! when there is nothing to do. The monitor of core 0 also starts the SKB service and the
//! device drivers.
#![no_std]
#![no_main]

extern crate alloc;

mod drivers;
mod links;
mod service;

use alloc::vec::Vec;

use libos::monitor::{op, status, MonError};
use libos::println;
use libos::time::rdtsc;
use spin::Mutex;

use service::Monitor;

libos::entry!(main);

/// The monitor's state, shared between its event loop and its LRPC entry (which runs when
/// a program calls, possibly while the loop was preempted holding the lock: the call is
/// then answered `Busy` and the program retries).
static STATE: Mutex<Option<Monitor>> = Mutex::new(None);

fn reply_words(status: u64, words: &[u64]) {
    let mut bytes = Vec::with_capacity(8 + 8 * words.len());
    bytes.extend_from_slice(&status.to_le_bytes());
    for w in words {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    libos::lrpc::set_reply(&bytes);
}

fn serve(badge: u64, op: u64, arg: u64, _arg2: u64) -> u64 {
    let (st, w) = match op {
        op::ECHO => return arg.wrapping_add(1),
        op::CORE => return u64::from(libos::core_id()),
        op::FACTS => return facts(arg),
        op::PS => return ps(arg),
        op::CAP_ECHO => return cap_echo(),
        // The event loop was preempted inside the allocator: no allocation now.
        _ if libos::heap::is_busy() => return libos::lrpc::BUSY,
        _ => match (badge.checked_sub(1).map(|b| b as u32), STATE.try_lock()) {
            (None, _) => (MonError::BadRequest as u64, Vec::new()),
            (_, None) => (MonError::Busy as u64, Vec::new()),
            (Some(caller), Some(mut g)) => match g.as_mut() {
                Some(m) => m.client(caller, op, arg, libos::lrpc::request()),
                None => (MonError::NotReady as u64, Vec::new()),
            },
        },
    };
    reply_words(st, &w);
    st
}

/// Describe (and drop) a capability transferred with the call.
fn cap_echo() -> u64 {
    let (st, w) = match libos::lrpc::received_cap() {
        Some(slot) => {
            let c = libos::cap::root_slot(slot);
            let r = libos::cap::identify(c);
            let _ = libos::cap::delete(c);
            match r {
                Ok(id) => (status::OK, [u64::from(id.cap_type), id.bytes]),
                Err(e) => (MonError::CapFailed as u64, [e as u64, 0]),
            }
        }
        None => (MonError::NotFound as u64, [0, 0]),
    };
    let mut buf = [0u8; 24];
    buf[..8].copy_from_slice(&st.to_le_bytes());
    buf[8..16].copy_from_slice(&w[0].to_le_bytes());
    buf[16..].copy_from_slice(&w[1].to_le_bytes());
    libos::lrpc::set_reply(&buf);
    st
}

/// The domain list as text from byte `offset` (see `op::PS`).
fn ps(offset: u64) -> u64 {
    if libos::heap::is_busy() {
        return libos::lrpc::BUSY;
    }
    let text = match STATE.try_lock() {
        Some(g) => match g.as_ref() {
            Some(m) => m.ps_text(offset),
            None => return reply_status(MonError::NotReady as u64),
        },
        None => return reply_status(MonError::Busy as u64),
    };
    let mut buf = Vec::with_capacity(8 + text.len());
    buf.extend_from_slice(&status::OK.to_le_bytes());
    buf.extend_from_slice(&text);
    libos::lrpc::set_reply(&buf);
    status::OK
}

fn reply_status(st: u64) -> u64 {
    libos::lrpc::set_reply(&st.to_le_bytes());
    st
}

/// Serve a chunk of the machine's facts from the kernel (no allocation, no lock).
fn facts(offset: u64) -> u64 {
    let mut buf = [0u8; abi::MAX_MSG];
    buf[..8].copy_from_slice(&status::OK.to_le_bytes());
    match libos::kernel::facts(offset, &mut buf[8..]) {
        Ok(n) => {
            libos::lrpc::set_reply(&buf[..8 + n]);
            status::OK
        }
        Err(_) => reply_status(MonError::NotFound as u64),
    }
}

/// The cores whose monitors take part, once the boot core has published them.
fn members() -> Vec<u32> {
    loop {
        match libos::kernel::online_word(0) {
            Ok(_) => break,
            Err(_) => libos::yield_now(),
        }
    }
    let n = libos::kernel::cores().unwrap_or(1);
    let mut cores = Vec::new();
    for w in 0..n.div_ceil(64) {
        let bits = libos::kernel::online_word(u64::from(w)).unwrap_or(0);
        for b in 0..64 {
            let c = w * 64 + b;
            if c < n && bits & (1 << b) != 0 {
                cores.push(c);
            }
        }
    }
    cores
}

/// How long the monitor waits for every peer to answer its hello before reporting in
/// anyway, in seconds (emulated 32-core machines on a loaded host are slow).
const HELLO_PATIENCE_S: u64 = 30;

fn main() -> i32 {
    libos::lrpc::listen(serve);
    let me = libos::core_id();
    let members = members();
    let mut m = Monitor::new(me, members);
    m.greet();
    let n = m.members();
    *STATE.lock() = Some(m);
    let mut reported = false;
    let hz = libos::kernel::tsc_hz().unwrap_or(1_000_000_000);
    let deadline = rdtsc().saturating_add(hz.saturating_mul(HELLO_PATIENCE_S));
    loop {
        let (busy, up) = {
            let mut g = STATE.lock();
            let Some(m) = g.as_mut() else { continue };
            m.awake();
            let busy = m.step();
            let sleep = !busy && m.may_sleep();
            (!sleep, m.mesh_up())
        };
        if !reported && (up || rdtsc() > deadline) {
            reported = true;
            if up {
                println!("monitor alive on core {me}: mesh of {n} monitors up");
            } else {
                println!("monitor on core {me}: not every peer answered; reporting in anyway");
            }
            libos::report_in();
            // The monitor of core 0 starts the System Knowledge Base service.
            if me == 0 {
                match libos::kernel::spawn("skbd", "") {
                    Ok(id) => println!("monitor: started the SKB service (dispatcher {id})"),
                    Err(e) => println!("monitor: cannot start the SKB service: {e:?}"),
                }
                // `devices=0` in boot.cfg: no device manager, no drivers.
                if libos::args().split_whitespace().all(|a| a != "no-devices") {
                    drivers::start();
                }
            }
        }
        if !busy {
            libos::yield_now();
        }
    }
}
