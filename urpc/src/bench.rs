//! Measurement routines that run the same on the host (two pinned threads) and in the kernel
//! (two cores): each measurement is an *initiator* function, which takes the timestamps, and a
//! *responder* function for the other side. Timestamps come from a caller-supplied cycle
//! counter (`rdtsc`). Nothing here allocates; samples go into caller-provided slices.
//!
//! 1. [`pingpong_initiator`] / [`pingpong_responder`]: the physical limit, one cache line
//!    written by each side and nothing else. A sample is one round trip (one way = half).
//! 2. [`urpc_rtt_initiator`] / [`urpc_rtt_responder`]: a one-slot URPC message and its echo. A
//!    sample is one round trip.
//! 3. [`throughput_initiator`] / [`throughput_responder`]: a stream of one-slot messages, as many
//!    in flight as the ring allows (`N`, with acks every `N / 2` in epoch mode), then one reply.
//!    A sample is the cycles for one batch; see [`Throughput`].
//!
//! Polling loops here spin without a `pause` hint, the same way in all three, so that the
//! comparison with the ping-pong baseline is fair.

use crate::endpoint::Endpoint;
use crate::error::{RecvError, SendError};
use crate::message::Message;
use crate::sync::{AtomicU64, Ordering};
use core::fmt;

/// Tag of benchmark requests.
pub const TAG_PING: u16 = 0xb001;
/// Tag of benchmark replies.
pub const TAG_PONG: u16 = 0xb002;

/// A benchmark run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchError {
    /// Sending failed (other than a full ring, which is waited out).
    Send(SendError),
    /// Receiving failed (other than an empty ring, which is waited out).
    Recv(RecvError),
    /// A message arrived out of order or with the wrong content.
    Mismatch {
        /// The value expected.
        expected: u64,
        /// The value received.
        got: u64,
    },
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Send(e) => write!(f, "send failed: {e}"),
            BenchError::Recv(e) => write!(f, "receive failed: {e}"),
            BenchError::Mismatch { expected, got } => {
                write!(f, "expected message {expected}, got {got}")
            }
        }
    }
}

impl core::error::Error for BenchError {}

/// One cache line holding one counter.
#[repr(C, align(64))]
struct Line {
    value: AtomicU64,
}

/// Memory of the bare ping-pong: one line written by the initiator, one by the responder.
/// Valid when zeroed; use fresh (zeroed) lines for every run.
#[repr(C)]
pub struct PingPongLines {
    initiator: Line,
    responder: Line,
}

impl PingPongLines {
    /// Bytes of ping-pong memory (two cache lines).
    pub const SIZE: usize = core::mem::size_of::<Self>();

    /// Zeroed lines.
    #[cfg(not(loom))]
    pub const fn new() -> PingPongLines {
        PingPongLines {
            initiator: Line {
                value: AtomicU64::new(0),
            },
            responder: Line {
                value: AtomicU64::new(0),
            },
        }
    }

    /// Zeroed lines.
    #[cfg(loom)]
    pub fn new() -> PingPongLines {
        PingPongLines {
            initiator: Line {
                value: AtomicU64::new(0),
            },
            responder: Line {
                value: AtomicU64::new(0),
            },
        }
    }

    /// View memory at `ptr` as ping-pong lines (kernel use; checks null and alignment).
    ///
    /// # Safety
    ///
    /// `ptr` must point to [`PingPongLines::SIZE`] zeroed bytes that stay mapped, readable and
    /// writable for `'a` and are accessed only through this type (atomically) meanwhile.
    #[cfg(not(loom))]
    pub unsafe fn from_raw<'a>(
        ptr: *const PingPongLines,
    ) -> Result<&'a PingPongLines, crate::RawMemoryError> {
        if ptr.is_null() {
            return Err(crate::RawMemoryError::Null);
        }
        if !(ptr as usize).is_multiple_of(crate::CACHE_LINE) {
            return Err(crate::RawMemoryError::Misaligned { addr: ptr as usize });
        }
        // SAFETY: non-null and aligned (checked above); the caller guarantees validity for
        // `'a` and atomic-only access; any bit pattern is a valid pair of `AtomicU64` lines.
        Ok(unsafe { &*ptr })
    }
}

impl Default for PingPongLines {
    fn default() -> Self {
        Self::new()
    }
}

/// Ping-pong initiator: runs `warmup + samples.len()` round trips and stores the cycles of the
/// last `samples.len()` of them. The responder must run [`pingpong_responder`] with the same
/// total on the same (zeroed) lines.
pub fn pingpong_initiator<C: FnMut() -> u64>(
    lines: &PingPongLines,
    warmup: usize,
    samples: &mut [u64],
    mut now: C,
) {
    let total = warmup + samples.len();
    for i in 0..total {
        let v = i as u64 + 1;
        let t0 = now();
        lines.initiator.value.store(v, Ordering::Release);
        #[allow(clippy::missing_spin_loop)] // no `pause`, on purpose: see the module doc
        while lines.responder.value.load(Ordering::Acquire) != v {}
        let t1 = now();
        if let Some(s) = i.checked_sub(warmup).and_then(|j| samples.get_mut(j)) {
            *s = t1.wrapping_sub(t0);
        }
    }
}

/// Ping-pong responder: echoes `iterations` values.
pub fn pingpong_responder(lines: &PingPongLines, iterations: usize) {
    for i in 0..iterations {
        let v = i as u64 + 1;
        #[allow(clippy::missing_spin_loop)] // no `pause`, on purpose: see the module doc
        while lines.initiator.value.load(Ordering::Acquire) != v {}
        lines.responder.value.store(v, Ordering::Release);
    }
}

fn send_spin<const N: usize>(ep: &mut Endpoint<'_, N>, msg: &Message) -> Result<(), BenchError> {
    loop {
        match ep.try_send(msg) {
            // The bench's receivers never block, so a notification request cannot appear.
            Ok(_) => return Ok(()),
            Err(SendError::Full) => {}
            Err(e) => return Err(BenchError::Send(e)),
        }
    }
}

fn recv_spin<const N: usize>(ep: &mut Endpoint<'_, N>) -> Result<Message, BenchError> {
    loop {
        match ep.try_recv() {
            Ok(m) => return Ok(m),
            Err(RecvError::WouldBlock) => {}
            Err(e) => return Err(BenchError::Recv(e)),
        }
    }
}

fn expect(m: &Message, expected: u64) -> Result<(), BenchError> {
    let got = m.words()[0];
    if got != expected {
        return Err(BenchError::Mismatch { expected, got });
    }
    Ok(())
}

/// URPC round-trip initiator: sends a one-slot message, waits for the echo;
/// `warmup + samples.len()` times, storing the cycles of the last `samples.len()` round trips.
/// The peer runs [`urpc_rtt_responder`] with the same total.
pub fn urpc_rtt_initiator<const N: usize, C: FnMut() -> u64>(
    ep: &mut Endpoint<'_, N>,
    warmup: usize,
    samples: &mut [u64],
    mut now: C,
) -> Result<(), BenchError> {
    let total = warmup + samples.len();
    for i in 0..total {
        let msg = Message::new(TAG_PING, [i as u64, 1, 2, 3, 4, 5, 6]);
        let t0 = now();
        send_spin(ep, &msg)?;
        let reply = recv_spin(ep)?;
        let t1 = now();
        expect(&reply, i as u64)?;
        if let Some(s) = i.checked_sub(warmup).and_then(|j| samples.get_mut(j)) {
            *s = t1.wrapping_sub(t0);
        }
    }
    Ok(())
}

/// URPC round-trip responder: echoes `iterations` messages.
pub fn urpc_rtt_responder<const N: usize>(
    ep: &mut Endpoint<'_, N>,
    iterations: usize,
) -> Result<(), BenchError> {
    for i in 0..iterations {
        let m = recv_spin(ep)?;
        expect(&m, i as u64)?;
        send_spin(ep, &Message::new(TAG_PONG, *m.words()))?;
    }
    Ok(())
}

/// Pipelined-throughput initiator: `warmup_batches + samples.len()` batches; each sends `batch`
/// one-slot messages back to back (waiting out a full ring) and then waits for the responder's
/// single reply. Stores the cycles of each measured batch (including one one-way latency for
/// the reply, negligible for large batches). The peer runs [`throughput_responder`] with the
/// same `batch` and total.
pub fn throughput_initiator<const N: usize, C: FnMut() -> u64>(
    ep: &mut Endpoint<'_, N>,
    batch: usize,
    warmup_batches: usize,
    samples: &mut [u64],
    mut now: C,
) -> Result<(), BenchError> {
    let total = warmup_batches + samples.len();
    let mut seq = 0u64;
    for b in 0..total {
        let t0 = now();
        for _ in 0..batch {
            send_spin(ep, &Message::new(TAG_PING, [seq, 0, 0, 0, 0, 0, 0]))?;
            seq += 1;
        }
        let reply = recv_spin(ep)?;
        let t1 = now();
        expect(&reply, seq)?;
        if let Some(s) = b
            .checked_sub(warmup_batches)
            .and_then(|j| samples.get_mut(j))
        {
            *s = t1.wrapping_sub(t0);
        }
    }
    Ok(())
}

/// Pipelined-throughput responder: receives `batches` batches of `batch` messages, checking
/// order, and replies once per batch.
pub fn throughput_responder<const N: usize>(
    ep: &mut Endpoint<'_, N>,
    batch: usize,
    batches: usize,
) -> Result<(), BenchError> {
    let mut seq = 0u64;
    for _ in 0..batches {
        for _ in 0..batch {
            let m = recv_spin(ep)?;
            expect(&m, seq)?;
            seq += 1;
        }
        send_spin(ep, &Message::new(TAG_PONG, [seq, 0, 0, 0, 0, 0, 0]))?;
    }
    Ok(())
}

/// Order statistics of a set of samples (cycles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Smallest sample.
    pub min: u64,
    /// Median (nearest-rank 50th percentile).
    pub median: u64,
    /// Nearest-rank 99th percentile.
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
    /// Arithmetic mean (rounded down).
    pub mean: u64,
}

/// Sort `samples` in place and summarise them; `None` if empty.
pub fn summarize(samples: &mut [u64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let sum: u128 = samples.iter().map(|&s| s as u128).sum();
    Some(Summary {
        count: samples.len(),
        min: samples[0],
        median: percentile(samples, 50),
        p99: percentile(samples, 99),
        max: samples[samples.len() - 1],
        mean: (sum / samples.len() as u128) as u64,
    })
}

/// Nearest-rank `p`-th percentile (0..=100) of sorted samples; 0 if empty.
pub fn percentile(sorted: &[u64], p: u32) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    let rank = (n * p.min(100) as usize).div_ceil(100).max(1);
    sorted[rank.min(n) - 1]
}

/// Throughput derived from per-batch cycle samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throughput {
    /// Messages per batch.
    pub batch: usize,
    /// Median cycles per message.
    pub cycles_per_msg: f64,
    /// Messages per 1000 cycles at the median.
    pub msgs_per_kcycle: f64,
    /// Cycles per message of the fastest batch.
    pub best_cycles_per_msg: f64,
}

impl Throughput {
    /// From the summary of per-batch samples of `batch` messages.
    pub fn from_batches(s: &Summary, batch: usize) -> Throughput {
        let b = batch.max(1) as f64;
        let per = s.median as f64 / b;
        Throughput {
            batch,
            cycles_per_msg: per,
            msgs_per_kcycle: if per > 0.0 { 1000.0 / per } else { 0.0 },
            best_cycles_per_msg: s.min as f64 / b,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ChannelMemory;

    #[test]
    fn stats() {
        let mut v = [5, 1, 4, 2, 3];
        let s = summarize(&mut v).unwrap();
        assert_eq!((s.min, s.median, s.p99, s.max, s.mean), (1, 3, 5, 5, 3));
        let mut w: std::vec::Vec<u64> = (1..=1000).rev().collect();
        let s = summarize(&mut w).unwrap();
        assert_eq!((s.median, s.p99, s.count), (500, 990, 1000));
        assert_eq!(summarize(&mut []), None);
        assert_eq!(percentile(&[7], 0), 7);
        let t = Throughput::from_batches(&s, 100);
        assert_eq!(t.cycles_per_msg, 5.0);
        assert_eq!(t.msgs_per_kcycle, 200.0);
    }

    #[test]
    fn routines_run_on_two_threads() {
        let mem = ChannelMemory::<8>::new();
        let lines = PingPongLines::new();
        let (mut a, mut b) = mem.split();
        let mut counter = 0u64;
        let mut clock = move || {
            counter += 10;
            counter
        };
        let mut samples = [0u64; 50];
        std::thread::scope(|s| {
            s.spawn(|| pingpong_responder(&lines, 60));
            pingpong_initiator(&lines, 10, &mut samples, &mut clock);
        });
        assert!(samples.iter().all(|&x| x == 10));
        std::thread::scope(|s| {
            s.spawn(|| urpc_rtt_responder(&mut b, 60).unwrap());
            urpc_rtt_initiator(&mut a, 10, &mut samples, &mut clock).unwrap();
        });
        let mut batches = [0u64; 5];
        std::thread::scope(|s| {
            s.spawn(|| throughput_responder(&mut b, 100, 7).unwrap());
            throughput_initiator(&mut a, 100, 2, &mut batches, &mut clock).unwrap();
        });
        assert!(batches.iter().all(|&x| x > 0));
    }
}
