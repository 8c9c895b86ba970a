//! User-level URPC round trips (`bench urpc` in the shell): `urpc-bench N` offers a binding,
//! starts `urpc-echo NAME` on a peer core through the monitors, and times N round trips of
//! one cache-line message over the binding's channel (after 100 unmeasured ones), both ends
//! polling without yielding: first to a core of its own package, then to one on another
//! NUMA node (each when there is one). Each pair is reported as a `BENCH-JSON` line of kind
//! `urpc_rtt` with `peer` and `relation` members, in TSC cycles.

use alloc::format;
use libos::binding::{self, BindError, Binding};
use libos::time::{rdtsc, Deadline};
use libos::{monitor, println};
use urpc::Message;

/// Tag of the timed messages.
const PING: u16 = 1;
/// Tag that ends the echo.
const STOP: u16 = 2;
/// Round trips before the timed ones.
const WARMUP: usize = 100;
/// How long either end waits for the other before giving up, in milliseconds.
const PATIENCE_MS: u64 = 10_000;

/// The two peers to measure against (cores whose monitors are up): a core of this core's
/// package and node, and one on another node.
fn peers(me: u32) -> Result<[(Option<u32>, &'static str); 2], monitor::MonError> {
    let cores = monitor::cores_info()?;
    let Some(mine) = cores.iter().find(|c| c.core == me).copied() else {
        return Ok([(None, "same package"), (None, "other node")]);
    };
    let others = || cores.iter().filter(|c| c.monitor_up && c.core != me);
    let same = others()
        .find(|c| c.package == mine.package && c.node == mine.node)
        .map(|c| c.core);
    let other = others().find(|c| c.node != mine.node).map(|c| c.core);
    Ok([(same, "same package"), (other, "other node")])
}

/// Wait for a message, polling without yielding, at most `PATIENCE_MS`.
fn spin_recv(b: &mut Binding) -> Result<Message, BindError> {
    let deadline = Deadline::after_ms(PATIENCE_MS);
    loop {
        for _ in 0..4096 {
            if let Some(m) = b.try_recv()? {
                return Ok(m);
            }
            core::hint::spin_loop();
        }
        if deadline.passed() {
            return Err(BindError::Timeout);
        }
    }
}

/// Send, polling without yielding while the ring is full.
fn spin_send(b: &mut Binding, m: &Message) -> Result<(), BindError> {
    let deadline = Deadline::after_ms(PATIENCE_MS);
    while !b.try_send(m)? {
        if deadline.passed() {
            return Err(BindError::Timeout);
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// `n` timed round trips with `peer` (after the warm-up); the samples in cycles.
fn measure(b: &mut Binding, n: usize) -> Result<alloc::vec::Vec<u64>, BindError> {
    let mut samples = alloc::vec![0u64; n];
    for i in 0..WARMUP + n {
        let t = rdtsc();
        spin_send(b, &Message::new(PING, [i as u64; Message::WORDS]))?;
        let m = spin_recv(b)?;
        let dt = rdtsc() - t;
        if m.tag() != PING || m.word(0) != Some(i as u64) {
            return Err(BindError::Channel);
        }
        if i >= WARMUP {
            samples[i - WARMUP] = dt;
        }
    }
    Ok(samples)
}

/// `urpc-bench N`.
pub fn bench(core: u32, n: usize) -> i32 {
    let n = n.clamp(1, 100_000);
    let mut failed = 0;
    let mut measured = 0;
    let peers = match peers(core) {
        Ok(p) => p,
        Err(e) => {
            println!("probe: urpc-bench: error the cores are unknown: {e:?}");
            return 1;
        }
    };
    for (peer, relation) in peers {
        let Some(peer) = peer else {
            println!("probe: urpc-bench: no core ({relation}) to measure from core {core}");
            continue;
        };
        let name = format!("urpc-bench.{core}.{peer}.{}", rdtsc() & 0xffff_ffff);
        let run = || -> Result<alloc::vec::Vec<u64>, alloc::string::String> {
            binding::offer(&name).map_err(|e| format!("offer: {e:?}"))?;
            monitor::spawn(peer, "probe", &format!("urpc-echo {name}"))
                .map_err(|e| format!("start of the echo on core {peer}: {e:?}"))?;
            let mut b =
                binding::accept(&name, PATIENCE_MS).map_err(|e| format!("accept: {e:?}"))?;
            let samples = measure(&mut b, n).map_err(|e| format!("round trip: {e:?}"));
            // End the echo whether or not the measurement worked.
            let _ = spin_send(&mut b, &Message::new(STOP, [0; Message::WORDS]));
            samples
        };
        let result = run();
        let _ = monitor::unregister(&name);
        match result {
            Ok(mut samples) => {
                let extra = format!(",\"peer\":{peer},\"relation\":\"{relation}\"");
                crate::report_with("urpc_rtt", core, &extra, &mut samples);
                measured += 1;
            }
            Err(e) => {
                println!("probe: urpc-bench: core {core} to core {peer}: error {e}");
                failed += 1;
            }
        }
    }
    if measured == 0 && failed == 0 {
        println!("probe: urpc-bench: error no other core to measure against");
        return 1;
    }
    i32::from(failed > 0)
}

/// `urpc-echo NAME`: connect to NAME and send every message back until `STOP`.
pub fn echo(core: u32, name: &str) -> i32 {
    let mut b = match binding::connect(name, PATIENCE_MS) {
        Ok(b) => b,
        Err(e) => {
            println!("probe: urpc-echo on core {core}: cannot connect to {name}: {e:?}");
            return 1;
        }
    };
    loop {
        let m = match spin_recv(&mut b) {
            Ok(m) => m,
            Err(e) => {
                println!("probe: urpc-echo on core {core}: {e:?}");
                return 1;
            }
        };
        if m.tag() == STOP {
            return 0;
        }
        if let Err(e) = spin_send(&mut b, &m) {
            println!("probe: urpc-echo on core {core}: {e:?}");
            return 1;
        }
    }
}
