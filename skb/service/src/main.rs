//! The System Knowledge Base service. The monitor of core 0 starts it once the monitors'
//! mesh is up. It loads the rule library and the facts the boot core gathered (cores,
//! nodes, distances, memory, URPC round trips measured at boot), offers the name `skb`,
//! and answers queries from programs on any core over URPC bindings: a query is the goal's
//! text ([`QUERY`]); the answer is every solution written like SWI-Prolog's `writeq`, one
//! per line, then `N solutions` ([`ANSWER`]), or the error ([`ERROR`]). Every query runs
//! under the engine's step and memory limits, so a bad one cannot stall the service.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use libos::binding::{self, Binding};
use libos::println;

libos::entry!(main);

/// A query (bytes: the goal).
pub const QUERY: u16 = 0x5101;
/// An answer (bytes: solution lines, then `N solutions`).
pub const ANSWER: u16 = 0x5102;
/// A failed query (bytes: the error).
pub const ERROR: u16 = 0x5103;

/// Longest query or answer.
const MAX_TEXT: usize = 16 * 1024;

fn answer(skb: &mut skb::Skb, goal: &str) -> (u16, String) {
    let limits = skb::Limits::default();
    match skb.query(goal, limits) {
        Ok(sols) => {
            let mut out = String::new();
            for s in &sols {
                let _ = writeln!(out, "{}", s.text());
            }
            let _ = write!(out, "{} solutions", sols.len());
            if out.len() > MAX_TEXT {
                return (ERROR, String::from("answer too long"));
            }
            (ANSWER, out)
        }
        Err(e) => (ERROR, alloc::format!("{e}")),
    }
}

/// Compute every core's NUMA-aware multicast tree (`multicast_tree/2`) and give it to that
/// core's monitor for its broadcasts; returns how many monitors took theirs.
fn send_routes(skb: &mut skb::Skb) -> usize {
    let limits = skb::Limits::default();
    let cores: Vec<i64> = skb
        .query_once("findall(C, core(C,_,_,_), Cs)", limits)
        .ok()
        .flatten()
        .and_then(|s| s.int_list("Cs"))
        .unwrap_or_default();
    let mut ok = 0;
    for root in cores {
        let goal = alloc::format!(
            "findall([F|L], (multicast_tree({root}, tree(_, Es)), member(edge(F, L), Es)), Gs)"
        );
        let groups: Option<Vec<(u32, Vec<u32>)>> =
            skb.query_once(&goal, limits).ok().flatten().and_then(|s| {
                s.list("Gs")?
                    .iter()
                    .map(|g| {
                        let cores: Vec<u32> = g
                            .as_int_list()?
                            .into_iter()
                            .map(|c| u32::try_from(c).ok())
                            .collect::<Option<_>>()?;
                        Some((*cores.first()?, cores))
                    })
                    .collect()
            });
        let Some(groups) = groups else {
            println!("skbd: no multicast tree for core {root}");
            continue;
        };
        match libos::monitor::set_route(root as u32, &groups) {
            Ok(()) => ok += 1,
            Err(e) => println!("skbd: core {root}'s monitor refused its tree: {e:?}"),
        }
    }
    ok
}

fn main() -> i32 {
    let facts = match libos::monitor::facts() {
        Ok(f) => f,
        Err(e) => {
            println!("skbd: no facts from the monitor: {e:?}");
            String::new()
        }
    };
    let mut skb = skb::Skb::with_system_rules();
    if let Err(e) = skb.consult(&facts) {
        println!("skbd: facts rejected: {e}");
    }
    let cores = skb
        .query_once(
            "findall(C, core(C,_,_,_), L), length(L, N)",
            skb::Limits::default(),
        )
        .ok()
        .flatten()
        .and_then(|s| s.int("N"))
        .unwrap_or(0);
    let lat = skb
        .query_once(
            "findall(L, urpc_latency(_,_,L), Ls), length(Ls, N)",
            skb::Limits::default(),
        )
        .ok()
        .flatten()
        .and_then(|s| s.int("N"))
        .unwrap_or(0);
    let routed = send_routes(&mut skb);
    if let Err(e) = binding::offer("skb") {
        println!("skbd: cannot offer `skb`: {e:?}");
        return 1;
    }
    println!(
        "skbd: serving `skb` with facts of {cores} cores and {lat} URPC latencies; multicast trees given to {routed} monitors"
    );
    let mut clients: Vec<Binding> = Vec::new();
    let mut buf = alloc::vec![0u8; MAX_TEXT];
    let mut served = 0u64;
    loop {
        let mut busy = false;
        // New clients (a poll: accept with no wait).
        if let Ok(b) = binding::accept("skb", 0) {
            clients.push(b);
            busy = true;
        }
        let mut i = 0;
        while i < clients.len() {
            match clients[i].try_recv_bytes(&mut buf) {
                Ok(Some((QUERY, n))) => {
                    busy = true;
                    let goal = core::str::from_utf8(&buf[..n]).unwrap_or("");
                    let (tag, text) = if goal.is_empty() {
                        (ERROR, String::from("the query is not UTF-8 text"))
                    } else {
                        answer(&mut skb, goal)
                    };
                    served += 1;
                    if clients[i].send_bytes(tag, text.as_bytes()).is_err() {
                        clients.swap_remove(i);
                        continue;
                    }
                }
                Ok(Some((tag, _))) => {
                    println!("skbd: unexpected message {tag:#x} dropped");
                }
                Ok(None) => {}
                Err(e) => {
                    println!("skbd: client dropped after a channel error: {e:?} ({served} queries served)");
                    clients.swap_remove(i);
                    continue;
                }
            }
            i += 1;
        }
        if !busy {
            libos::yield_now();
        }
    }
}
