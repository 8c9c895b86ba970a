//! Probe modes for the monitors: spawning anywhere, the name service, concurrent
//! conflicting updates, a dying program's entries, bad messages, and capability operations
//! across cores.

use alloc::format;
use alloc::string::String;

use caps::abi::{CapError, CapType, Rights};
use libos::cap::{self, root_slot};
use libos::monitor::{self, MonError};
use libos::println;
use libos::time::Deadline;

/// Number of monitors in the mesh (cores `0..n`, when every core came up).
pub(crate) fn members() -> u32 {
    match monitor::request_wait(monitor::op::STATS, 0, &[]) {
        Ok(w) => w.first().copied().unwrap_or(1) as u32,
        Err(_) => 1,
    }
}

/// Poll `name` until `found` is what lookup says, yielding; false after `timeout_ms`.
fn wait_name(name: &str, found: bool, timeout_ms: u64) -> bool {
    let deadline = Deadline::after_ms(timeout_ms);
    while !deadline.passed() {
        if monitor::lookup(name).is_ok() == found {
            return true;
        }
        libos::yield_now();
    }
    false
}

/// Long enough for anything under emulation on a loaded host, in milliseconds.
const PATIENCE: u64 = 60_000;

/// `spawn-all`: start `probe hello` on every core from this one.
pub fn spawn_all(core: u32) -> i32 {
    let n = members();
    let mut started = alloc::vec::Vec::new();
    for c in 0..n {
        match monitor::spawn(c, "probe", "hello") {
            Ok(d) => {
                started.push(d);
                if d >> 32 != u64::from(c) {
                    println!("probe: spawn-all: FAILED: domain {d:#x} is not on core {c}");
                    return 1;
                }
            }
            Err(e) => println!("probe: spawn-all from core {core}: core {c} refused: {e:?}"),
        }
    }
    let ok = started.len() as u32;
    // Each hello ends with status 0, as its core's monitor reports (this probe must not end
    // before them: the run ends when the `boot.cfg` programs have).
    for d in started {
        let deadline = Deadline::after_ms(PATIENCE);
        let status = loop {
            match monitor::exit_status(d) {
                Err(MonError::NotFound) if !deadline.passed() => libos::yield_now(),
                r => break r,
            }
        };
        if status != Ok(0) {
            println!("probe: spawn-all from core {core}: FAILED: domain {d:#x} ended {status:?}");
            return 1;
        }
    }
    println!("probe: spawn-all from core {core}: every hello exited with status 0");
    // Bad requests get errors.
    let bad_core = monitor::spawn(n + 5, "probe", "hello");
    let bad_prog = monitor::spawn((core + 1) % n, "no-such-program", "");
    let bad_name = monitor::spawn(core, "../etc", "");
    println!(
        "probe: spawn-all from core {core}: started {ok}/{n}; bad core {bad_core:?}, bad program {bad_prog:?}, bad name {bad_name:?}"
    );
    i32::from(ok != n)
}

/// `name-race`: every core registers the same name at once; exactly one wins. The losers
/// then look the name up and report the owner they see, and stay until the winner's exit
/// removes the name everywhere; the winner waits until every loser has reported.
pub fn name_race(core: u32) -> i32 {
    let n = members();
    match monitor::register("race", u64::from(core)) {
        Ok(()) => {
            println!("probe: race on core {core}: won");
            for c in (0..n).filter(|&c| c != core) {
                if !wait_name(&format!("race-seen-{c}"), true, PATIENCE) {
                    println!("probe: race on core {core}: FAILED: core {c} never reported");
                    return 1;
                }
            }
            println!(
                "probe: race winner on core {core}: all {} others saw it",
                n - 1
            );
            0
        }
        Err(MonError::Exists) => {
            println!("probe: race on core {core}: lost (Exists)");
            if !wait_name("race", true, PATIENCE) {
                println!("probe: race on core {core}: FAILED: no owner visible");
                return 1;
            }
            match monitor::lookup("race") {
                Ok((owner, port)) => {
                    println!("probe: race on core {core}: owner core {port} domain {owner:#x}")
                }
                Err(e) => println!("probe: race on core {core}: owner gone already ({e:?})"),
            }
            if let Err(e) = monitor::register(&format!("race-seen-{core}"), 0) {
                println!("probe: race on core {core}: FAILED: cannot report: {e:?}");
                return 1;
            }
            // The winner ends once everyone reported: its name must vanish here too.
            if !wait_name("race", false, PATIENCE) {
                println!("probe: race on core {core}: FAILED: stale name after the winner ended");
                return 1;
            }
            println!("probe: race on core {core}: name gone after the winner ended");
            0
        }
        Err(e) => {
            println!("probe: race on core {core}: FAILED: {e:?}");
            1
        }
    }
}

/// `doomed`: register `doomed-CORE`, wait for the watcher's ack, then fault (killed).
pub fn doomed(core: u32) -> i32 {
    let name = format!("doomed-{core}");
    if let Err(e) = monitor::register(&name, 7) {
        println!("probe: doomed on core {core}: FAILED: {e:?}");
        return 1;
    }
    wait_name(&format!("{name}-ack"), true, PATIENCE);
    println!("probe: doomed on core {core}: faulting now");
    // SAFETY: deliberately unsound: the page is unmapped, the program is killed.
    unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u64>(), 1) };
    1
}

/// `stale-check CORE`: start `probe doomed` on CORE, see its name, let it die, and see the
/// name disappear from this core's replica.
pub fn stale_check(core: u32, target: u32) -> i32 {
    if let Err(e) = monitor::spawn(target, "probe", "doomed") {
        println!("probe: stale-check: FAILED: spawn on core {target}: {e:?}");
        return 1;
    }
    let name = format!("doomed-{target}");
    if !wait_name(&name, true, PATIENCE) {
        println!("probe: stale-check: FAILED: {name} never appeared");
        return 1;
    }
    let _ = monitor::register(&format!("{name}-ack"), 0);
    if !wait_name(&name, false, PATIENCE) {
        println!("probe: stale-check: FAILED: {name} stayed after its owner died");
        return 1;
    }
    println!("probe: stale-check on core {core}: {name} removed after its owner died");
    0
}

/// `garbage CORE`: send malformed messages to CORE's monitor, then check an update still
/// goes through everywhere.
pub fn garbage(core: u32, target: u32) -> i32 {
    if let Err(e) = monitor::request_wait(monitor::op::SEND_GARBAGE, u64::from(target), &[]) {
        println!("probe: garbage: FAILED: {e:?}");
        return 1;
    }
    let name = format!("after-garbage-{core}");
    match monitor::register(&name, 1) {
        Ok(()) => {
            println!("probe: garbage sent to core {target}; an update afterwards committed");
            0
        }
        Err(e) => {
            println!("probe: garbage: FAILED: update after garbage: {e:?}");
            1
        }
    }
}

/// `irq-route`: the monitor routes an interrupt line only for the holder of the line's
/// IrqSrc capability and of an IRQ capability for the vector. A request without the two
/// capability words, one with this program's RAM as the line or as the vector, and one
/// with an empty slot are each refused; the monitor then serves a registration as usual.
pub fn irq_route(core: u32) -> i32 {
    let ram = root_slot(abi::ROOT_SLOT_RAM);
    let empty = root_slot(60);
    let cases = [
        (
            "a request without capabilities",
            monitor::request_wait(monitor::op::IRQ_ROUTE, 0, &[]).map(|_| 0),
            MonError::BadRequest,
        ),
        (
            "RAM as the line",
            monitor::irq_route(ram, 0, ram),
            MonError::CapFailed,
        ),
        (
            "an empty slot as the line",
            monitor::irq_route(empty, 0, ram),
            MonError::CapFailed,
        ),
        (
            "an empty slot as the vector",
            monitor::irq_route(ram, 0, empty),
            MonError::CapFailed,
        ),
    ];
    for (what, got, want) in cases {
        if got != Err(want) {
            println!("probe: irq-route: FAILED: {what}: {got:?}, expected {want:?}");
            return 1;
        }
        println!("probe: irq-route: {what} refused ({want:?})");
    }
    match monitor::register(&format!("after-irq-route-{core}"), 1) {
        Ok(()) => {
            println!("probe: irq-route: every route without capabilities refused");
            0
        }
        Err(e) => {
            println!("probe: irq-route: FAILED: registration afterwards: {e:?}");
            1
        }
    }
}

/// `xrevoke`: capabilities across cores. A 64 KiB RAM capability is copied to sinks on two
/// other cores, which race to retype the same frame from it (one wins); the winner maps
/// it; a retype of the same memory here is refused; the revoke here removes the remote
/// copies, their descendants and the winner's mapping.
pub fn xrevoke(core: u32) -> i32 {
    let n = members();
    let ram = root_slot(abi::ROOT_SLOT_RAM);
    if let Err(e) = cap::retype(ram, CapType::Ram, 512 << 10, 64 << 10, 1, 10) {
        println!("probe: xrevoke: FAILED: retype RAM: {e:?}");
        return 1;
    }
    let sinks: alloc::vec::Vec<u32> = (0..n).filter(|&c| c != core).take(2).collect();
    for &c in &sinks {
        let d = match monitor::spawn(c, "probe", "cap-sink") {
            Ok(d) => d,
            Err(e) => {
                println!("probe: xrevoke: FAILED: spawn sink on core {c}: {e:?}");
                return 1;
            }
        };
        if let Err(e) = monitor::send_cap(10, d, 20) {
            println!("probe: xrevoke: FAILED: send capability to core {c}: {e:?}");
            return 1;
        }
    }
    println!("probe: xrevoke: RAM copy sent to cores {sinks:?}");
    // The parent RAM has a descendant here (slot 10): sharing it is refused.
    if let Some(&c) = sinks.first() {
        let d = u64::from(c) << 32;
        match monitor::send_cap(abi::ROOT_SLOT_RAM, d, 30) {
            Err(MonError::CapFailed) => {
                println!("probe: xrevoke: sharing RAM with local descendants refused")
            }
            other => {
                println!("probe: xrevoke: FAILED: RAM with descendants shared: {other:?}");
                return 1;
            }
        }
    }
    if !wait_name("sink-ready", true, PATIENCE) {
        println!("probe: xrevoke: FAILED: no sink mapped the frame");
        return 1;
    }
    if sinks.len() == 2 && !wait_name("sink-lost", true, PATIENCE) {
        println!("probe: xrevoke: FAILED: the second sink never reported");
        return 1;
    }
    let mine = cap::retype(root_slot(10), CapType::Frame, 0, 4096, 1, 11);
    println!("probe: xrevoke: retype of the sink's memory here: {mine:?}");
    if mine != Err(CapError::RetypeConflict) {
        println!("probe: xrevoke: FAILED: overlapping retype allowed");
        return 1;
    }
    match cap::revoke(root_slot(10)) {
        Ok(_) => println!("probe: xrevoke: revoke across cores done"),
        Err(e) => {
            println!("probe: xrevoke: FAILED: revoke: {e:?}");
            return 1;
        }
    }
    if !wait_name("sink-ready", false, PATIENCE) {
        println!("probe: xrevoke: FAILED: the sink still runs after the revoke");
        return 1;
    }
    // After the revoke, the memory is free again here.
    match cap::retype(root_slot(10), CapType::Frame, 0, 4096, 1, 11) {
        Ok(_) => println!("probe: xrevoke: memory reusable after the revoke"),
        Err(e) => {
            println!("probe: xrevoke: FAILED: retype after revoke: {e:?}");
            return 1;
        }
    }
    0
}

/// `cap-sink`: wait for a capability in slot 20, race to retype a frame from it, and if
/// this one wins, map and use the frame until the revoke takes it away.
pub fn cap_sink(core: u32) -> i32 {
    let mut got = false;
    let deadline = Deadline::after_ms(PATIENCE);
    while !deadline.passed() {
        if cap::identify(root_slot(20)).is_ok() {
            got = true;
            break;
        }
        libos::yield_now();
    }
    if !got {
        println!("probe: cap-sink on core {core}: FAILED: no capability arrived");
        return 1;
    }
    match cap::retype(root_slot(20), CapType::Frame, 0, 4096, 1, 21) {
        Ok(_) => println!("probe: cap-sink on core {core}: retype won"),
        Err(CapError::RetypeConflict) => {
            println!("probe: cap-sink on core {core}: retype lost (RetypeConflict)");
            // Its copy of the shared RAM is of no use: delete it (through the monitor,
            // since copies live on other cores); the others' copies stay valid.
            match cap::delete(root_slot(20)) {
                Ok(_) if cap::identify(root_slot(20)) == Err(CapError::EmptySlot) => {
                    println!("probe: cap-sink on core {core}: shared copy deleted");
                }
                other => {
                    println!("probe: cap-sink on core {core}: FAILED: delete: {other:?}");
                    return 1;
                }
            }
            // Tell the source, and stay until the winner is gone (the name goes with us).
            let _ = monitor::register("sink-lost", 0);
            wait_name("sink-ready", true, PATIENCE);
            wait_name("sink-ready", false, PATIENCE);
            return 0;
        }
        Err(e) => {
            println!("probe: cap-sink on core {core}: FAILED: retype: {e:?}");
            return 1;
        }
    }
    let pt = root_slot(abi::ROOT_SLOT_PT);
    if let Err(e) = cap::map(pt, root_slot(21), 0, 1, Rights::READ | Rights::WRITE, 0) {
        println!("probe: cap-sink on core {core}: FAILED: map: {e:?}");
        return 1;
    }
    let page = abi::CAP_WINDOW as *mut u64;
    // SAFETY: entry 0 of our page table maps the frame we just retyped.
    unsafe { page.write_volatile(0xfeed) };
    libos::set_fault_handler(|info| {
        println!(
            "probe: cap-sink: mapping revoked from another core: fault vector {} at {:#x}",
            info.vector, info.address
        );
        libos::FaultAction::Exit(0)
    });
    if let Err(e) = monitor::register("sink-ready", 0) {
        println!("probe: cap-sink on core {core}: FAILED: register: {e:?}");
        return 1;
    }
    println!("probe: cap-sink on core {core}: frame mapped, waiting for the revoke");
    let mut last = String::new();
    let deadline = Deadline::after_ms(PATIENCE * 2);
    while !deadline.passed() {
        // SAFETY: reading our mapped frame; after the revoke this faults (handled above).
        let v = unsafe { page.read_volatile() };
        if v != 0xfeed {
            last = format!("{v:#x}");
            break;
        }
        libos::yield_now();
    }
    println!("probe: cap-sink on core {core}: FAILED: frame still mapped ({last})");
    1
}

/// Message tags of the binding test.
const PING: u16 = 1;
const DONE: u16 = 2;

/// `bind-server NAME CLIENTS`: offer NAME, accept CLIENTS bindings and echo every message
/// on each until its client says it is done.
pub fn bind_server(core: u32, args: &str) -> i32 {
    use libos::binding;
    let (name, n) = args.trim().split_once(' ').unwrap_or((args.trim(), "1"));
    let n: usize = n.trim().parse().unwrap_or(1);
    if let Err(e) = binding::offer(name) {
        println!("probe: bind-server: FAILED: offer {name}: {e:?}");
        return 1;
    }
    let mut bindings = alloc::vec::Vec::new();
    for _ in 0..n {
        match binding::accept(name, PATIENCE) {
            Ok(b) => bindings.push(Some(b)),
            Err(e) => {
                println!("probe: bind-server: FAILED: accept: {e:?}");
                return 1;
            }
        }
    }
    let mut echoed = 0u64;
    let mut open = n;
    let mut deadline = Deadline::after_ms(PATIENCE);
    while open > 0 && !deadline.passed() {
        let mut any = false;
        for slot in bindings.iter_mut() {
            let Some(b) = slot else { continue };
            match b.try_recv() {
                Ok(Some(m)) if m.tag() == PING => {
                    any = true;
                    echoed += 1;
                    if b.send(&m).is_err() {
                        println!("probe: bind-server: FAILED: send");
                        return 1;
                    }
                }
                Ok(Some(_)) => {
                    any = true;
                    *slot = None;
                    open -= 1;
                }
                Ok(None) => {}
                Err(e) => {
                    println!("probe: bind-server: FAILED: receive: {e:?}");
                    return 1;
                }
            }
        }
        if any {
            deadline = Deadline::after_ms(PATIENCE);
        } else {
            libos::yield_now();
        }
    }
    if open > 0 {
        println!("probe: bind-server: FAILED: {open} clients never finished");
        return 1;
    }
    println!("probe: bind-server on core {core}: served {n} clients, echoed {echoed} messages");
    0
}

/// `bind-client NAME COUNT`: connect to NAME and make COUNT round trips over the binding.
pub fn bind_client(core: u32, args: &str) -> i32 {
    use libos::binding;
    let (name, n) = args.trim().split_once(' ').unwrap_or((args.trim(), "100"));
    let n: usize = n.trim().parse().unwrap_or(100).max(1);
    let mut b = match binding::connect(name, PATIENCE) {
        Ok(b) => b,
        Err(e) => {
            println!("probe: bind-client on core {core}: FAILED: connect: {e:?}");
            return 1;
        }
    };
    let mut samples = alloc::vec![0u64; n];
    for (i, s) in samples.iter_mut().enumerate() {
        let t = libos::time::rdtsc();
        let m = urpc::Message::new(PING, [i as u64, u64::from(core), t, 0, 0, 0, 0]);
        if b.send(&m).is_err() {
            println!("probe: bind-client on core {core}: FAILED: send");
            return 1;
        }
        match b.recv(100_000, PATIENCE) {
            Ok(r) if r.words()[0] == i as u64 && r.words()[1] == u64::from(core) => {}
            other => {
                println!("probe: bind-client on core {core}: FAILED: reply {i}: {other:?}");
                return 1;
            }
        }
        *s = libos::time::rdtsc() - t;
    }
    let _ = b.send(&urpc::Message::new(DONE, [0; 7]));
    samples.sort_unstable();
    println!(
        "probe: bind-client on core {core}: {n} round trips over a binding to {name}, median {} cycles",
        samples[n / 2]
    );
    0
}

/// `skb-query N GOAL`: ask the SKB service GOAL N times from this core; print the answer
/// and the median round trip in cycles (BENCH-JSON).
pub fn skb_query(core: u32, args: &str) -> i32 {
    let (n, goal) = args.trim().split_once(' ').unwrap_or(("1", args.trim()));
    let n: usize = n.parse().unwrap_or(1).max(1);
    let mut samples = alloc::vec![0u64; n];
    let mut last = String::new();
    for s in samples.iter_mut() {
        let t = libos::time::rdtsc();
        match libos::skb::query(goal) {
            Ok(a) => last = a,
            Err(e) => {
                println!("probe: skb-query on core {core}: {goal}: error {e:?}");
                return 1;
            }
        }
        *s = libos::time::rdtsc() - t;
    }
    for line in last.lines() {
        println!("probe: skb-query on core {core}: {line}");
    }
    samples.sort_unstable();
    println!(
        "BENCH-JSON {{\"kind\":\"skb_query\",\"core\":{core},\"goal\":\"{}\",\"count\":{n},\"min\":{},\"median\":{},\"max\":{}}}",
        goal.replace('"', "'"),
        samples[0],
        samples[n / 2],
        samples[n - 1]
    );
    0
}

/// The placement and routing queries `skb-bench` times (the same as `cargo xtask bench
/// skb` times on the host).
pub const SKB_BENCH_GOALS: [&str; 4] = [
    "alloc_node(1, N)",
    "place_dispatchers(8, Cs)",
    "multicast_tree(0, T)",
    "transport(0, 1, T)",
];

/// `skb-bench N`: each of [`SKB_BENCH_GOALS`] N times from this core (BENCH-JSON lines).
pub fn skb_bench(core: u32, args: &str) -> i32 {
    let n = args.trim().parse::<usize>().unwrap_or(20);
    for goal in SKB_BENCH_GOALS {
        if skb_query(core, &alloc::format!("{n} {goal}")) != 0 {
            return 1;
        }
    }
    0
}

/// `tree-race`: wait until this core's monitor broadcasts through the SKB's multicast tree,
/// then run `name-race` (so the agreement runs over forwarded messages).
pub fn tree_race(core: u32) -> i32 {
    let deadline = Deadline::after_ms(PATIENCE);
    let mut groups = 0;
    while !deadline.passed() {
        groups = monitor::request_wait(monitor::op::STATS, 0, &[])
            .ok()
            .and_then(|w| w.get(4).copied())
            .unwrap_or(0);
        if groups > 0 {
            break;
        }
        libos::yield_now();
    }
    if groups == 0 {
        println!("probe: tree-race on core {core}: FAILED: no multicast tree");
        return 1;
    }
    println!("probe: tree-race on core {core}: broadcasts through {groups} groups");
    name_race(core)
}

/// `spawn-many N`: start `probe hello` on this core N times, one after the other, each
/// time waiting until the domain is gone from the replica (the program ended and its
/// capabilities, memory and kernel slots were released for the next).
pub fn spawn_many(core: u32, args: &str) -> i32 {
    let n: u32 = args.trim().parse().unwrap_or(20);
    for i in 0..n {
        let d = match monitor::spawn(core, "probe", "hello") {
            Ok(d) => d,
            Err(e) => {
                println!("probe: spawn-many on core {core}: FAILED: spawn {i}: {e:?}");
                return 1;
            }
        };
        let deadline = Deadline::after_ms(PATIENCE);
        while monitor::domains().is_ok_and(|ds| ds.contains(&d)) {
            if deadline.passed() {
                println!("probe: spawn-many on core {core}: FAILED: domain {d:#x} stays");
                return 1;
            }
            libos::yield_now();
        }
    }
    println!(
        "probe: spawn-many on core {core}: {n} programs started and ended one after the other"
    );
    0
}
