//! Multi-threaded host stress tests: two real threads per channel, checking order, loss and
//! duplication of single-slot and fragmented messages, with the sender driven into a full ring,
//! and the block/notify path.
//!
//! Sizes: millions of messages in release builds, a few hundred thousand in debug builds;
//! `URPC_STRESS_SCALE` (a float, default 1) scales them.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use urpc::{
    Armed, ChannelMemory, Config, Endpoint, FlowControl, Message, Notify, Receiver, RecvError,
    SendError, Sender, Side,
};

fn scaled(release: u64, debug: u64) -> u64 {
    let base = if cfg!(debug_assertions) {
        debug
    } else {
        release
    };
    let scale: f64 = std::env::var("URPC_STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((base as f64 * scale) as u64).max(1)
}

/// Be polite on a shared 2-core machine: spin a little, then yield.
struct Backoff(u32);
impl Backoff {
    fn new() -> Self {
        Backoff(0)
    }
    fn snooze(&mut self) {
        self.0 += 1;
        if self.0 < 64 {
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

fn msg(i: u64) -> Message {
    Message::new(
        (i % 65_521) as u16,
        [
            i,
            !i,
            i.rotate_left(17),
            i ^ 0xdead_beef,
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            i + 1,
            i.wrapping_sub(1),
        ],
    )
}

/// Single-slot messages one way. At checkpoints the receiver stops reading until the sender
/// has reported a full ring, so `Full` is exercised regardless of scheduling.
fn one_way<const N: usize>(config: Config, count: u64) {
    let mem = Box::new(ChannelMemory::<N>::new());
    let full_events = AtomicU64::new(0);
    let checkpoint_every = (count / 50).max(4 * N as u64);
    let start = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            let mut tx = Sender::new(mem.ring(Side::A), config);
            for i in 0..count {
                let m = msg(i);
                let mut b = Backoff::new();
                loop {
                    match tx.try_send(&m) {
                        Ok(_) => break,
                        Err(SendError::Full) => {
                            full_events.fetch_add(1, Ordering::Relaxed);
                            b.snooze();
                        }
                        Err(e) => panic!("send {i}: {e}"),
                    }
                }
            }
        });
        let mut rx = Receiver::new(mem.ring(Side::A), config);
        let mut checkpoints = 0;
        for i in 0..count {
            if i % checkpoint_every == 0 && count - i > 2 * N as u64 {
                let seen = full_events.load(Ordering::Relaxed);
                while full_events.load(Ordering::Relaxed) == seen {
                    thread::yield_now();
                }
                checkpoints += 1;
            }
            let mut b = Backoff::new();
            let m = loop {
                match rx.try_recv() {
                    Ok(m) => break m,
                    Err(RecvError::WouldBlock) => b.snooze(),
                    Err(e) => panic!("recv {i}: {e}"),
                }
            };
            assert_eq!(m, msg(i), "message {i} lost, duplicated or reordered");
        }
        assert_eq!(rx.try_recv(), Err(RecvError::WouldBlock));
        assert!(checkpoints > 0);
    });
    let fulls = full_events.load(Ordering::Relaxed);
    assert!(fulls > 0, "the sender never saw a full ring");
    eprintln!(
        "one_way N={N} {:?}: {count} messages in {:?}, {fulls} full polls",
        config.flow,
        start.elapsed()
    );
}

#[test]
fn single_messages_epoch_ack() {
    one_way::<32>(Config::DEFAULT, scaled(10_000_000, 500_000));
}

#[test]
fn single_messages_used_bit() {
    one_way::<32>(
        Config::with_flow(FlowControl::UsedBit),
        scaled(10_000_000, 500_000),
    );
}

#[test]
fn single_messages_small_ring() {
    one_way::<2>(
        Config::DEFAULT.notify_check(false),
        scaled(1_000_000, 100_000),
    );
}

/// Deterministic generator of message lengths (and contents) per sequence number.
fn len_of(seq: u64) -> usize {
    let mut x = seq.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x1234_5678;
    x ^= x >> 29;
    match x % 100 {
        0 => 2000 + (x >> 8) as usize % 4000, // longer than the whole ring
        1..=14 => 57 + (x >> 8) as usize % 600,
        _ => (x >> 8) as usize % 57,
    }
}

fn fill(seq: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (seq as usize)
            .wrapping_mul(131)
            .wrapping_add(i * 7 + (i >> 8)) as u8;
    }
}

/// One thread's share of the mixed bidirectional test: sends `count` messages of varying
/// lengths while receiving and checking the peer's `count`, never blocking on either.
fn mixed_side<const N: usize>(ep: &mut Endpoint<'_, N>, count: u64, fulls: &AtomicU64) {
    let mut out = vec![0u8; 8192];
    let mut inb = vec![0u8; 8192];
    let mut expect = vec![0u8; 8192];
    let (mut sent, mut received) = (0u64, 0u64);
    let mut out_len = None;
    let mut idle = Backoff::new();
    while sent < count || received < count {
        let mut progress = false;
        if sent < count {
            let len = *out_len.get_or_insert_with(|| {
                let len = len_of(sent);
                fill(sent, &mut out[..len]);
                len
            });
            let tag = (sent % 1000) as u16;
            match ep.try_send_bytes(tag, &out[..len]) {
                Ok(s) => {
                    progress = true;
                    if s.complete {
                        sent += 1;
                        out_len = None;
                    }
                }
                Err(SendError::Full) => {
                    fulls.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => panic!("send {sent}: {e}"),
            }
        }
        if received < count {
            match ep.recv_bytes(&mut inb) {
                Ok(r) => {
                    let len = len_of(received);
                    assert_eq!(
                        (r.tag, r.len),
                        ((received % 1000) as u16, len),
                        "message {received}"
                    );
                    fill(received, &mut expect[..len]);
                    assert!(inb[..len] == expect[..len], "message {received} corrupt");
                    received += 1;
                    progress = true;
                }
                Err(RecvError::WouldBlock) => {}
                Err(e) => panic!("recv {received}: {e}"),
            }
        }
        if progress {
            idle = Backoff::new();
        } else {
            idle.snooze();
        }
    }
    assert_eq!(ep.recv_bytes(&mut inb), Err(RecvError::WouldBlock));
}

fn mixed<const N: usize>(config: Config, count: u64) {
    let mem = Box::new(ChannelMemory::<N>::new());
    let fulls = AtomicU64::new(0);
    let start = Instant::now();
    let (mut a, mut b) = mem.split_with(config);
    thread::scope(|s| {
        s.spawn(|| mixed_side(&mut b, count, &fulls));
        mixed_side(&mut a, count, &fulls);
    });
    eprintln!(
        "mixed N={N} {:?}: 2 x {count} messages in {:?}, {} full polls",
        config.flow,
        start.elapsed(),
        fulls.load(Ordering::Relaxed)
    );
    // Messages of 2000+ bytes do not fit a 32-slot ring, so the sender must have hit Full.
    assert!(fulls.load(Ordering::Relaxed) > 0);
}

#[test]
fn mixed_fragmented_bidirectional_epoch_ack() {
    mixed::<32>(Config::DEFAULT, scaled(1_000_000, 100_000));
}

#[test]
fn mixed_fragmented_bidirectional_used_bit() {
    mixed::<32>(
        Config::with_flow(FlowControl::UsedBit),
        scaled(1_000_000, 100_000),
    );
}

#[test]
fn mixed_fragmented_bidirectional_tiny_ring() {
    mixed::<3>(Config::DEFAULT, scaled(200_000, 30_000));
}

/// An "interrupt line": what the OS's notification IPI stands for here.
struct Ipi {
    count: Mutex<u64>,
    cv: Condvar,
}

/// The receiver polls a little, then arms a notification request and sleeps until the sender's
/// "IPI". A lost wakeup shows up as a wait that times out with a message in the ring.
#[test]
fn block_and_notify() {
    let count = scaled(200_000, 50_000);
    let mem = Box::new(ChannelMemory::<32>::new());
    let ipi = Ipi {
        count: Mutex::new(0),
        cv: Condvar::new(),
    };
    let (mut a, mut b) = mem.split();
    let notifies = AtomicU64::new(0);
    let start = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            let mut x = 88172645463325252u64;
            for i in 0..count {
                let mut bo = Backoff::new();
                loop {
                    match a.try_send(&msg(i)) {
                        Ok(Notify::Needed) => {
                            notifies.fetch_add(1, Ordering::Relaxed);
                            *ipi.count.lock().unwrap() += 1;
                            ipi.cv.notify_one();
                            break;
                        }
                        Ok(Notify::NotNeeded) => break,
                        Err(SendError::Full) => bo.snooze(),
                        Err(e) => panic!("{e}"),
                    }
                }
                // Bursty traffic so that the receiver does go to sleep now and then.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x.is_multiple_of(64) {
                    thread::sleep(Duration::from_micros(50));
                }
            }
        });
        let mut blocked = 0u64;
        for i in 0..count {
            let m = loop {
                match b.receiver().recv_spin(200) {
                    Ok(m) => break m,
                    Err(RecvError::WouldBlock) => {}
                    Err(e) => panic!("{e}"),
                }
                let seen = *ipi.count.lock().unwrap();
                if b.arm_notify() == Armed::MessagePending {
                    continue;
                }
                blocked += 1;
                let guard = ipi.count.lock().unwrap();
                let (_guard, timeout) = ipi
                    .cv
                    .wait_timeout_while(guard, Duration::from_secs(10), |c| *c == seen)
                    .unwrap();
                if timeout.timed_out() {
                    assert!(
                        !b.receiver().has_message(),
                        "lost wakeup: message {i} waiting, no notification"
                    );
                    panic!("sender stalled at message {i}");
                }
            };
            assert_eq!(m, msg(i));
            assert!(!b.receiver().is_armed());
        }
        eprintln!(
            "block_and_notify: {count} messages in {:?}, receiver blocked {blocked} times, {} notifications",
            start.elapsed(),
            notifies.load(Ordering::Relaxed)
        );
        assert!(blocked > 0);
    });
}
