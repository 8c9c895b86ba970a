//! The in-kernel URPC benchmark (`bench=urpc` in boot.cfg, run by `cargo xtask bench urpc`).
//!
//! On the same pair of cores in the same run it measures the physical limit (a bare
//! cache-line ping-pong), URPC round trips (one way = half) and pipelined throughput, then
//! a round-trip latency matrix over core pairs. Every result is printed as one
//! `BENCH-JSON {...}` line for `xtask` to collect.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use cpudriver::arch::apic::LocalApic;
use cpudriver::arch::cpu::rdtsc;
use cpudriver::kchan::{kind, tag};
use cpudriver::percore;
use urpc::bench::{self, Summary};
use urpc::Message;

use crate::kchannels::Link;

/// Iteration counts.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    /// Warm-up iterations (not recorded).
    pub warmup: usize,
    /// Recorded samples for the main pair.
    pub samples: usize,
    /// Messages per throughput batch.
    pub batch: usize,
    /// Recorded batches.
    pub batches: usize,
    /// Samples per pair in the matrix.
    pub matrix_samples: usize,
}

/// Default counts.
pub const COUNTS: Counts = Counts {
    warmup: 1000,
    samples: 20_000,
    batch: 24,
    batches: 2000,
    matrix_samples: 300,
};

fn cpu_model() -> String {
    raw_cpuid::CpuId::new()
        .get_processor_brand_string()
        .map(|b| String::from(b.as_str().trim()))
        .unwrap_or_else(|| String::from("unknown"))
}

fn json_summary(kind: &str, a: u32, b: u32, s: &Summary, extra: &str) {
    log::info!(
        "BENCH-JSON {{\"kind\":\"{kind}\",\"a\":{a},\"b\":{b},\"count\":{},\"min\":{},\"median\":{},\"p99\":{},\"max\":{},\"mean\":{}{extra}}}",
        s.count,
        s.min,
        s.median,
        s.p99,
        s.max,
        s.mean
    );
}

/// A zeroed frame for one measurement, freed afterwards.
struct Scratch(u64);

impl Scratch {
    fn new() -> Option<Scratch> {
        let pc = percore::current();
        let pa = pc.frames.borrow_mut().alloc_frame().ok()?;
        // SAFETY: a fresh frame of the boot core's pool, mapped through the physical-memory
        // mapping.
        unsafe { core::ptr::write_bytes(pc.phys_to_virt(pa), 0, 4096) };
        Some(Scratch(pa))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = percore::current().frames.borrow_mut().free(self.0, 1);
    }
}

fn link(links: &mut [Link], core: u32) -> Option<&mut Link> {
    links.iter_mut().find(|l| l.core_id == core)
}

/// One measurement: benchmark `kind` between initiator core `a` and responder core `b`.
#[derive(Clone, Copy, Debug)]
struct Measurement {
    kind: u64,
    a: u32,
    b: u32,
    warmup: usize,
    samples: usize,
    batch: usize,
}

/// Run `m` (`m.a` or `m.b` may be 0, the boot core itself).
fn measure(links: &mut [Link], apic: LocalApic, hz: u64, m: Measurement) -> Option<Summary> {
    let Measurement {
        kind: k,
        a,
        b,
        warmup,
        samples,
        batch,
    } = m;
    let scratch = Scratch::new()?;
    let pa = scratch.0;
    // The responder runs the warm-up and the recorded iterations (batches for throughput).
    let responder_iters = warmup + samples;
    if b == 0 {
        // The boot core responds: start the initiator, then serve it here.
        let start = Message::new(
            tag::BENCH_INITIATE,
            [k, pa, warmup as u64, samples as u64, batch as u64, 0, 0],
        );
        link(links, a)?.send(apic, &start).ok()?;
        if let Err(e) = cpudriver::kchan::run_responder(k, pa, responder_iters, batch) {
            log::error!("benchmark responder on core 0 failed: {e}");
            return None;
        }
        return result_from(link(links, a)?, hz, k, a, b);
    }
    let go = Message::new(
        tag::BENCH_RESPOND,
        [k, pa, responder_iters as u64, batch as u64, 0, 0, 0],
    );
    link(links, b)?.send(apic, &go).ok()?;
    if a == 0 {
        // The boot core initiates with the same code the other cores run.
        let result = cpudriver::kchan::run_initiator(k, pa, warmup, samples, batch);
        return summary_of(&result, k, a, b);
    }
    let start = Message::new(
        tag::BENCH_INITIATE,
        [k, pa, warmup as u64, samples as u64, batch as u64, 0, 0],
    );
    let l = link(links, a)?;
    l.send(apic, &start).ok()?;
    result_from(l, hz, k, a, b)
}

/// Wait for the initiator's result message.
fn result_from(l: &mut Link, hz: u64, k: u64, a: u32, b: u32) -> Option<Summary> {
    let reply = l.recv(hz, 120_000).ok()?;
    summary_of(&reply, k, a, b)
}

/// The summary in a `BENCH_RESULT` message, or `None` (reported) when the run failed.
fn summary_of(reply: &Message, k: u64, a: u32, b: u32) -> Option<Summary> {
    let w = reply.words();
    if reply.tag() != tag::BENCH_RESULT || w[1] == 0 {
        log::error!("benchmark {k} on cores {a}->{b} failed (code {})", w[2]);
        return None;
    }
    Some(Summary {
        count: w[1] as usize,
        min: w[2],
        median: w[3],
        p99: w[4],
        max: w[5],
        mean: w[6],
    })
}

/// Run the URPC benchmark over the boot core's links.
pub fn urpc(links: &mut [Link], apic: LocalApic, hz: u64) {
    let c = COUNTS;
    let cores = links.len() as u32 + 1;
    log::info!(
        "BENCH-JSON {{\"kind\":\"machine\",\"cpu\":\"{}\",\"tsc_hz\":{hz},\"cores\":{cores},\"warmup\":{},\"samples\":{},\"batch\":{},\"batches\":{},\"matrix_samples\":{}}}",
        cpu_model(),
        c.warmup,
        c.samples,
        c.batch,
        c.batches,
        c.matrix_samples
    );
    if cores < 2 {
        log::error!("the URPC benchmark needs at least two cores");
        return;
    }
    // The cost of reading the clock itself (under some hypervisors `rdtsc` exits).
    let mut clock = vec![0u64; 1000];
    for s in clock.iter_mut() {
        let t = rdtsc();
        *s = rdtsc() - t;
    }
    if let Some(s) = bench::summarize(&mut clock) {
        json_summary("rdtsc", 0, 0, &s, "");
    }
    let t0 = rdtsc();
    let (a, b) = (0, 1);
    for (k, name) in [
        (kind::PINGPONG, "pingpong_rtt"),
        (kind::RTT, "urpc_rtt"),
        (kind::THROUGHPUT, "throughput_batch"),
    ] {
        let (samples, batch) = if k == kind::THROUGHPUT {
            (c.batches, c.batch)
        } else {
            (c.samples, 1)
        };
        let m = Measurement {
            kind: k,
            a,
            b,
            warmup: c.warmup / batch.max(1),
            samples,
            batch,
        };
        match measure(links, apic, hz, m) {
            Some(s) => json_summary(name, a, b, &s, &alloc::format!(",\"batch\":{batch}")),
            None => log::error!("benchmark {name} on cores {a}->{b} failed"),
        }
    }
    // The matrix: every ordered pair when there are few cores, else core 0 to all and each
    // core to the next.
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    if cores <= 8 {
        for i in 0..cores {
            for j in 0..cores {
                if i != j {
                    pairs.push((i, j));
                }
            }
        }
    } else {
        for j in 1..cores {
            pairs.push((0, j));
        }
        for i in 1..cores {
            pairs.push((i, (i + 1) % cores));
        }
    }
    for (i, j) in pairs {
        let m = Measurement {
            kind: kind::RTT,
            a: i,
            b: j,
            warmup: 50,
            samples: c.matrix_samples,
            batch: 1,
        };
        if let Some(s) = measure(links, apic, hz, m) {
            json_summary("matrix_rtt", i, j, &s, "");
        } else {
            log::error!("matrix pair {i}->{j} failed");
        }
    }
    log::info!(
        "BENCH-JSON {{\"kind\":\"done\",\"cycles\":{}}}",
        rdtsc() - t0
    );
}
