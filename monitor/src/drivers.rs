//! The device manager's start: the monitor of core 0, once the SKB service is started,
//! makes the capabilities of the machine's fixed devices from this core's Kernel
//! capability, starts `devmgr` and copies them into its CSpace (`KernelOp CAP_GIVE`, slots
//! in [`abi::devmgr`]). `devmgr` asks the SKB where each driver runs and starts it there.
//!
//! * the PCI configuration ports `0xcf8..=0xcff` (IO), for `pcid`;
//! * COM1's ports `0x3f8..=0x3ff` (IO) and its interrupt vector (IRQ), for `seriald`.

use caps::abi::{CapRef, CapType};
use libos::cap::{self, root_slot};
use libos::kernel;
use libos::println;

/// A capability to make: (type, first port or vector, ports, devmgr's slot).
const DEVICE_CAPS: [(CapType, u64, u64, u32); 3] = [
    (CapType::Io, 0xcf8, 8, abi::devmgr::PCI_PORTS),
    (CapType::Io, 0x3f8, 8, abi::devmgr::COM1_PORTS),
    (
        CapType::Irq,
        abi::devmgr::COM1_VECTOR,
        1,
        abi::devmgr::COM1_IRQ,
    ),
];

/// Root slots of this monitor's CSpace where the capabilities are made (then kept, as the
/// parents of devmgr's copies).
const FIRST_SLOT: u32 = 100;

/// Start the device manager (core 0's monitor only).
pub fn start() {
    let kernel_cap = root_slot(abi::ROOT_SLOT_KERNEL);
    let mut made: [Option<(CapRef, u32)>; DEVICE_CAPS.len()] = [None; DEVICE_CAPS.len()];
    for (i, &(t, first, size, to)) in DEVICE_CAPS.iter().enumerate() {
        let slot = FIRST_SLOT + i as u32;
        match cap::retype(kernel_cap, t, first, size, 1, slot) {
            Ok(_) => made[i] = Some((root_slot(slot), to)),
            Err(e) => println!("monitor: no {t:?} capability at {first:#x}: {e:?}"),
        }
    }
    let id = match kernel::spawn("devmgr", "") {
        Ok(id) => id,
        Err(e) => return println!("monitor: cannot start the device manager: {e:?}"),
    };
    for (c, to) in made.iter().flatten() {
        if let Err(e) = kernel::cap_give(id, *c, *to) {
            println!("monitor: device manager without its capability for slot {to}: {e:?}");
        }
    }
    println!("monitor: started the device manager (dispatcher {id})");
}
