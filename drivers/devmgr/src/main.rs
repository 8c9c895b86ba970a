//! The device manager (Barrelfish's Kaluga, reduced to what this system has). The monitor
//! of core 0 starts it with the device capabilities of the machine's fixed devices (see
//! [`DRIVERS`] for the slots); for each driver it asks the System Knowledge Base on which
//! core the driver should run (`driver_core/2`), starts it there through the monitors, and
//! sends it copies of its capabilities. It records `driver(Program, Core)` facts in the
//! SKB and ends. Its arguments (from the monitor) are passed on:
//! `fb=WIDTHxHEIGHTxSTRIDExBYTESxLAYOUT` when the machine has a framebuffer, to the
//! framebuffer console driver (not started without it); `ecam=SEGMENT:START:END,...` when
//! the machine has an MCFG, to the PCI driver with the ECAM windows' DevFrames (slots from
//! `abi::devmgr::PCI_ECAM`), else that driver uses the configuration ports only; and
//! `roots=SEGMENT:BUS:NODE,...` (the PCI host bridges from ACPI), to the PCI driver.
//!
//! A driver whose core the SKB cannot name runs on this core; a driver whose capabilities
//! are missing is not started (reported). Hot-plug is not handled: the device set is fixed
//! at boot.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use libos::cap::{self, root_slot};
use libos::monitor;
use libos::println;

libos::entry!(main);

/// A driver to start: program, the SKB device term, its capabilities as (slot here, slot
/// in the driver), and which of devmgr's arguments it gets.
struct Driver {
    program: &'static str,
    device: &'static str,
    caps: &'static [(u32, u32)],
    arg: Arg,
}

/// The argument of devmgr a driver is given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// None.
    None,
    /// `fb=...`, which the driver cannot do without.
    Framebuffer,
    /// `ecam=...` when there is one (with the ECAM DevFrames, from the driver's slot
    /// [`PCID_FIRST_ECAM_SLOT`] on) and `roots=...` when there is one.
    Pci,
}

/// Where `pcid` finds its ECAM DevFrames (one per window of its `ecam=` argument).
const PCID_FIRST_ECAM_SLOT: u32 = 11;

/// The drivers and where the monitor put their capabilities (must match
/// `monitor/src/drivers.rs`).
const DRIVERS: &[Driver] = &[
    Driver {
        program: "pcid",
        device: "legacy(pci_config_ports)",
        caps: &[(abi::devmgr::PCI_PORTS, 10)],
        arg: Arg::Pci,
    },
    Driver {
        program: "seriald",
        device: "legacy(com1)",
        caps: &[
            (abi::devmgr::COM1_PORTS, 10),
            (abi::devmgr::COM1_IRQ, 11),
            (abi::devmgr::COM1_IRQ_SRC, 12),
        ],
        arg: Arg::None,
    },
    Driver {
        program: "fbcond",
        device: "legacy(ps2_keyboard)",
        caps: &[
            (abi::devmgr::FRAMEBUFFER, 10),
            (abi::devmgr::PS2_DATA, 11),
            (abi::devmgr::PS2_STATUS, 12),
            (abi::devmgr::KEYBOARD_IRQ, 13),
            (abi::devmgr::KEYBOARD_IRQ_SRC, 14),
        ],
        arg: Arg::Framebuffer,
    },
];

/// The core the SKB names in the first solution of `driver_core(DEVICE, C)`.
fn skb_core(device: &str) -> Result<u32, alloc::string::String> {
    let answer =
        libos::skb::query(&format!("driver_core({device}, C)")).map_err(|e| format!("{e:?}"))?;
    let first = answer.lines().next().unwrap_or("");
    first
        .strip_prefix("driver_core(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.rsplit(',').next())
        .and_then(|c| c.trim().parse().ok())
        .ok_or_else(|| format!("no core in the answer `{first}`"))
}

fn main() -> i32 {
    // The monitor hands the capabilities over right after starting us.
    let last = DRIVERS.iter().flat_map(|d| d.caps).map(|c| c.0).max();
    if let Some(last) = last {
        // A missing one is reported per driver below.
        let _ = cap::wait_for(last, 10_000);
    }
    let me = libos::core_id();
    let arg = |key: &str| {
        libos::args()
            .split_whitespace()
            .find_map(|a| a.strip_prefix(key))
    };
    let fb = arg("fb=");
    let ecam = arg("ecam=");
    let roots = arg("roots=");
    // The ECAM windows come last; those that do not arrive are not passed on.
    let windows = ecam.map_or(0, |e| e.split(',').count() as u32);
    let windows = windows.min(abi::devmgr::MAX_PCI_SEGMENTS);
    if windows > 0 && cap::wait_for(abi::devmgr::PCI_ECAM + windows - 1, 10_000).is_none() {
        println!("devmgr: ECAM capabilities missing: PCI through the configuration ports");
    }
    let ecam_caps: alloc::vec::Vec<(u32, u32)> = (0..windows)
        .map(|i| (abi::devmgr::PCI_ECAM + i, PCID_FIRST_ECAM_SLOT + i))
        .take_while(|(s, _)| cap::identify(root_slot(*s)).is_ok())
        .collect();
    let ecam = ecam.filter(|_| !ecam_caps.is_empty());
    let mut failed = 0;
    for d in DRIVERS {
        let mut extra: &[(u32, u32)] = &[];
        let mut args = match (d.arg, fb, ecam) {
            (Arg::None, _, _) | (Arg::Pci, _, None) => alloc::string::String::new(),
            (Arg::Framebuffer, Some(g), _) => alloc::string::String::from(g),
            (Arg::Framebuffer, None, _) => {
                println!("devmgr: no framebuffer: {} not started", d.program);
                continue;
            }
            (Arg::Pci, _, Some(e)) => {
                extra = &ecam_caps;
                let given: alloc::vec::Vec<&str> = e.split(',').take(extra.len()).collect();
                format!("ecam={}", given.join(","))
            }
        };
        if let (Arg::Pci, Some(r)) = (d.arg, roots) {
            args = format!("{args} roots={r}");
        }
        if let Some((slot, _)) = d
            .caps
            .iter()
            .find(|(s, _)| cap::identify(root_slot(*s)).is_err())
        {
            println!(
                "devmgr: {} not started: no capability in slot {slot}",
                d.program
            );
            failed += 1;
            continue;
        }
        let core = skb_core(d.device).unwrap_or_else(|e| {
            println!(
                "devmgr: the SKB named no core for {} ({e}); using core {me}",
                d.program
            );
            me
        });
        let dom = match monitor::spawn(core, d.program, &args) {
            Ok(dom) => dom,
            Err(e) => {
                println!("devmgr: cannot start {} on core {core}: {e:?}", d.program);
                failed += 1;
                continue;
            }
        };
        let sent = d
            .caps
            .iter()
            .chain(extra)
            .try_for_each(|&(from, to)| monitor::send_cap(from, dom, to));
        match sent {
            Ok(()) => println!("devmgr: started {} on core {core}", d.program),
            Err(e) => {
                println!(
                    "devmgr: {} on core {core} is missing capabilities: {e:?}",
                    d.program
                );
                failed += 1;
            }
        }
        if let Err(e) = libos::skb::query(&format!("assertz(driver({}, {core}))", d.program)) {
            println!("devmgr: driver({}, {core}) not recorded: {e:?}", d.program);
        }
    }
    i32::from(failed > 0)
}
