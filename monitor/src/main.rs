//! The monitor: the first user-mode dispatcher on every core, started by the core's CPU
//! driver. For now it serves same-core LRPC requests (echo, core id), reports that it is
//! alive and then yields its time; URPC channels,
//! agreement protocols and distributed capability operations come with the monitor issue.
#![no_std]
#![no_main]

use libos::println;

libos::entry!(main);

/// LRPC requests programs on the same core make to their monitor.
mod request {
    /// Echo: reply with the argument plus one.
    pub const ECHO: u64 = 1;
    /// The core the monitor runs on.
    pub const CORE: u64 = 2;
}

fn serve(_badge: u64, op: u64, arg: u64, _arg2: u64) -> u64 {
    match op {
        request::ECHO => arg.wrapping_add(1),
        request::CORE => libos::core_id() as u64,
        _ => u64::MAX,
    }
}

fn main() -> i32 {
    libos::lrpc::listen(serve);
    println!("monitor alive on core {}", libos::core_id());
    libos::report_in();
    loop {
        libos::yield_now();
    }
}
