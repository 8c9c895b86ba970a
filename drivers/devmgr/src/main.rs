//! The device manager (Barrelfish's Kaluga, reduced to what this system has). The monitor
//! of core 0 starts it with the device capabilities of the machine's fixed devices (see
//! [`DRIVERS`] for the slots); for each driver it asks the System Knowledge Base on which
//! core the driver should run (`driver_core/2`), starts it there through the monitors, and
//! sends it copies of its capabilities. It records `driver(Program, Core)` facts in the
//! SKB and ends. Its argument `fb=WIDTHxHEIGHTxSTRIDExBYTESxLAYOUT` (from the monitor,
//! when the machine has a framebuffer) is passed on to the framebuffer console driver;
//! without it that driver is not started.
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

/// A driver to start: program, the SKB device term, and its capabilities as
/// (slot here, slot in the driver); `framebuffer` drivers get the framebuffer's geometry
/// as their argument.
struct Driver {
    program: &'static str,
    device: &'static str,
    caps: &'static [(u32, u32)],
    framebuffer: bool,
}

/// The drivers and where the monitor put their capabilities (must match
/// `monitor/src/drivers.rs`).
const DRIVERS: &[Driver] = &[
    Driver {
        program: "pcid",
        device: "legacy(pci_config_ports)",
        caps: &[(abi::devmgr::PCI_PORTS, 10)],
        framebuffer: false,
    },
    Driver {
        program: "seriald",
        device: "legacy(com1)",
        caps: &[(abi::devmgr::COM1_PORTS, 10), (abi::devmgr::COM1_IRQ, 11)],
        framebuffer: false,
    },
    Driver {
        program: "fbcond",
        device: "legacy(ps2_keyboard)",
        caps: &[
            (abi::devmgr::FRAMEBUFFER, 10),
            (abi::devmgr::PS2_DATA, 11),
            (abi::devmgr::PS2_STATUS, 12),
            (abi::devmgr::KEYBOARD_IRQ, 13),
        ],
        framebuffer: true,
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
    let fb = libos::args()
        .split_whitespace()
        .find_map(|a| a.strip_prefix("fb="));
    let mut failed = 0;
    for d in DRIVERS {
        let args = match (d.framebuffer, fb) {
            (false, _) => "",
            (true, Some(g)) => g,
            (true, None) => {
                println!("devmgr: no framebuffer: {} not started", d.program);
                continue;
            }
        };
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
        let dom = match monitor::spawn(core, d.program, args) {
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
