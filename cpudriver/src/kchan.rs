//! The kernel channel: a URPC channel between this core's CPU driver and the boot core's,
//! in memory the boot core allocated and handed over at start. The boot core uses it to
//! check every core at boot and to drive the URPC benchmark.
//!
//! The receiving CPU driver does not busy-poll: after draining the channel it arms the
//! channel's notification flag, so a sender learns that it must send a notification IPI
//! (vector [`crate::trap::NOTIFY_VECTOR`]); the IPI handler drains the channel again.

use alloc::vec;
use urpc::bench::{self, PingPongLines};
use urpc::{Config, Endpoint, Message, PageChannel, Side};

use crate::arch::cpu::rdtsc;
use crate::percore;

/// Message tags of the kernel channel.
pub mod tag {
    /// Echo request: words are echoed back in a [`PONG`].
    pub const PING: u16 = 0x0101;
    /// Echo reply.
    pub const PONG: u16 = 0x0102;
    /// Run the responder side of a benchmark: `[kind, phys addr, iterations, batch]`.
    pub const BENCH_RESPOND: u16 = 0x0201;
    /// Run the initiator side of a benchmark and reply with a [`BENCH_RESULT`]:
    /// `[kind, phys addr, warmup, samples, batch]`.
    pub const BENCH_INITIATE: u16 = 0x0202;
    /// A benchmark result: `[kind, count, min, median, p99, max, mean]`, or `[kind, 0, err]`
    /// when it failed.
    pub const BENCH_RESULT: u16 = 0x0203;
}

/// Benchmark kinds.
pub mod kind {
    /// The bare cache-line ping-pong.
    pub const PINGPONG: u64 = 1;
    /// URPC round trip.
    pub const RTT: u64 = 2;
    /// Pipelined throughput (samples are whole batches).
    pub const THROUGHPUT: u64 = 3;
}

/// Channel configuration of benchmark runs: neither side blocks, so no notification check
/// (the same configuration as the host benchmark's main rows).
pub const BENCH_CONFIG: Config = Config {
    notify_check: false,
    ..Config::DEFAULT
};

/// The endpoint type of a kernel channel.
pub type KEndpoint = Endpoint<'static, 31>;

/// Attach to channel memory at physical address `pa` as side `side`.
///
/// # Safety
/// `pa` must be a 4 KiB page of channel memory that lives forever and is used only by the
/// two ends of this channel.
pub unsafe fn attach(pa: u64, side: Side) -> Option<KEndpoint> {
    // SAFETY: forwarded to the caller.
    unsafe { attach_with(pa, side, Config::default()) }
}

/// [`attach`] with a given configuration.
///
/// # Safety
/// As [`attach`].
pub unsafe fn attach_with(pa: u64, side: Side, config: Config) -> Option<KEndpoint> {
    let pc = percore::current();
    let ptr = pc.phys_to_virt(pa) as *const PageChannel;
    // SAFETY: forwarded to the caller; `from_raw` checks alignment.
    let mem: &'static PageChannel = unsafe { PageChannel::from_raw(ptr) }.ok()?;
    Some(mem.endpoint(side, config))
}

/// Run the responder side of benchmark `k` over the memory at `pa`.
pub fn run_responder(
    k: u64,
    pa: u64,
    iterations: usize,
    batch: usize,
) -> Result<(), bench::BenchError> {
    let pc = percore::current();
    match k {
        kind::PINGPONG => {
            // SAFETY: the boot core allocated the lines for this run and keeps them alive.
            if let Ok(lines) =
                unsafe { PingPongLines::from_raw(pc.phys_to_virt(pa) as *const PingPongLines) }
            {
                bench::pingpong_responder(lines, iterations);
            }
            Ok(())
        }
        kind::RTT | kind::THROUGHPUT => {
            // SAFETY: as above, a fresh channel for this run.
            let Some(mut ep) = (unsafe { attach_with(pa, Side::B, BENCH_CONFIG) }) else {
                return Ok(());
            };
            if k == kind::RTT {
                bench::urpc_rtt_responder(&mut ep, iterations)
            } else {
                bench::throughput_responder(&mut ep, batch, iterations)
            }
        }
        _ => Ok(()),
    }
}

/// Run the initiator side of benchmark `k` over the memory at `pa`; the result as a
/// [`tag::BENCH_RESULT`] message.
pub fn run_initiator(k: u64, pa: u64, warmup: usize, count: usize, batch: usize) -> Message {
    let pc = percore::current();
    let mut samples = vec![0u64; count.clamp(1, 100_000)];
    let r = match k {
        kind::PINGPONG => {
            // SAFETY: the boot core allocated the lines for this run and keeps them alive.
            match unsafe { PingPongLines::from_raw(pc.phys_to_virt(pa) as *const PingPongLines) } {
                Ok(lines) => {
                    bench::pingpong_initiator(lines, warmup, &mut samples, rdtsc);
                    Ok(())
                }
                Err(_) => Err(1),
            }
        }
        kind::RTT | kind::THROUGHPUT => {
            // SAFETY: as above, a fresh channel for this run.
            match unsafe { attach_with(pa, Side::A, BENCH_CONFIG) } {
                Some(mut ep) if k == kind::RTT => {
                    bench::urpc_rtt_initiator(&mut ep, warmup, &mut samples, rdtsc).map_err(|_| 2)
                }
                Some(mut ep) => {
                    bench::throughput_initiator(&mut ep, batch, warmup, &mut samples, rdtsc)
                        .map_err(|_| 2)
                }
                None => Err(1),
            }
        }
        _ => Err(3),
    };
    match r.ok().and_then(|()| bench::summarize(&mut samples)) {
        Some(s) => Message::new(
            tag::BENCH_RESULT,
            [k, s.count as u64, s.min, s.median, s.p99, s.max, s.mean],
        ),
        None => Message::new(tag::BENCH_RESULT, [k, 0, r.err().unwrap_or(4), 0, 0, 0, 0]),
    }
}

/// Drain this core's kernel channel, handling every message, then arm the notification.
pub fn poll() {
    let pc = percore::current();
    let Ok(mut slot) = pc.kchan.try_borrow_mut() else {
        return;
    };
    let Some(ep) = slot.as_mut() else {
        return;
    };
    loop {
        let msg = match ep.try_recv() {
            Ok(m) => m,
            Err(urpc::RecvError::WouldBlock) => {
                // Arm, then look once more: a message that raced with arming is handled now.
                if ep.arm_notify() == urpc::Armed::MessagePending {
                    continue;
                }
                return;
            }
            Err(e) => {
                log::error!("kernel channel: dropped a bad message: {e:?}");
                continue;
            }
        };
        let w = *msg.words();
        let reply = match msg.tag() {
            tag::PING => Some(Message::new(tag::PONG, w)),
            tag::BENCH_RESPOND => {
                if let Err(e) = run_responder(w[0], w[1], w[2] as usize, w[3] as usize) {
                    log::error!("benchmark responder failed: {e}");
                }
                None
            }
            tag::BENCH_INITIATE => Some(run_initiator(
                w[0],
                w[1],
                w[2] as usize,
                w[3] as usize,
                w[4] as usize,
            )),
            t => {
                log::warn!("kernel channel: unexpected message tag {t:#x}, dropped");
                None
            }
        };
        if let Some(r) = reply {
            // The boot core polls for replies, so no notification is needed.
            let mut tries = 0u32;
            while ep.try_send(&r).is_err() && tries < 1_000_000 {
                tries += 1;
                core::hint::spin_loop();
            }
        }
    }
}
