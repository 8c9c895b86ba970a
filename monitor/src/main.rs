//! The monitor: the first user-mode dispatcher on every core, started by the core's CPU
//! driver. For now it reports that it is alive and then yields its time; URPC channels,
//! agreement protocols and distributed capability operations come with the monitor issue.
#![no_std]
#![no_main]

use libos::println;

libos::entry!(main);

fn main() -> i32 {
    println!("monitor alive on core {}", libos::core_id());
    libos::report_in();
    loop {
        libos::yield_now();
    }
}
