//! The device drivers the monitor of core 0 starts once the SKB service is up, each with
//! the device capabilities it needs, made from this core's Kernel capability and copied
//! into the driver's CSpace (`KernelOp CAP_GIVE`).
//!
//! * `pcid`, the PCI bus driver: an IO capability for the configuration ports
//!   `0xcf8..=0xcff` in its root slot 10.
//!
//! Not yet: asking the SKB where each driver should run (all run on core 0, the core that
//! programs the I/O APIC); the serial, keyboard and framebuffer drivers.

use caps::abi::CapType;
use libos::cap::{self, root_slot};
use libos::kernel;
use libos::println;

/// Root slot of this monitor's CSpace where the PCI ports' capability is made.
const PCI_IO_SLOT: u32 = 100;
/// Root slot of the driver's CSpace it is given in (see `pcid`).
const DRIVER_IO_SLOT: u32 = 10;

/// Start the drivers (core 0's monitor only).
pub fn start() {
    let kernel_cap = root_slot(abi::ROOT_SLOT_KERNEL);
    if let Err(e) = cap::retype(kernel_cap, CapType::Io, 0xcf8, 8, 1, PCI_IO_SLOT) {
        println!("monitor: no IO capability for the PCI ports: {e:?}");
        return;
    }
    match kernel::spawn("pcid", "") {
        Ok(id) => match kernel::cap_give(id, root_slot(PCI_IO_SLOT), DRIVER_IO_SLOT) {
            Ok(()) => println!("monitor: started the PCI driver (dispatcher {id})"),
            Err(e) => println!("monitor: PCI driver started without its ports: {e:?}"),
        },
        Err(e) => println!("monitor: cannot start the PCI driver: {e:?}"),
    }
}
