//! The PCI bus driver. The device manager starts it on the core the SKB chose, with an IO
//! capability for the configuration ports (`0xcf8..=0xcff`, root slot [`IO_SLOT`]); it walks configuration
//! space with configuration mechanism #1 (the `pci` crate does the enumeration), prints
//! what it found, and records every function in the System Knowledge Base as a
//! `pci_device/7` fact, where placement queries (`driver_core/2`) and the shell's `lspci`
//! find them, then `pci_scan_done(N)` once all N are in.
//!
//! Not yet: ECAM through the ACPI MCFG table (needs a DevFrame capability for the window),
//! and the NUMA node of a device (`_PXM`): every device is recorded on node 0.
#![no_std]
#![no_main]

extern crate alloc;

use caps::abi::{CapError, CapRef};
use libos::cap;
use libos::println;
use pci::{Bdf, ConfigSpace, PciError, CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT};

libos::entry!(main);

/// Root slot the monitor puts the IO capability in.
pub const IO_SLOT: u32 = 10;

/// Configuration mechanism #1 through an IO capability.
struct Ports(CapRef);

impl ConfigSpace for Ports {
    fn read32(&mut self, addr: Bdf, offset: u16) -> Result<u32, PciError> {
        let a = pci::legacy_address(addr, offset)
            .ok_or(PciError::InvalidRegister { bdf: addr, offset })?;
        let failed = |_: CapError| PciError::AccessFailed { bdf: addr, offset };
        cap::io_out(self.0, CONFIG_ADDRESS_PORT, 4, a).map_err(failed)?;
        cap::io_in(self.0, CONFIG_DATA_PORT, 4).map_err(failed)
    }

    fn write32(&mut self, addr: Bdf, offset: u16, value: u32) -> Result<(), PciError> {
        let a = pci::legacy_address(addr, offset)
            .ok_or(PciError::InvalidRegister { bdf: addr, offset })?;
        let failed = |_: CapError| PciError::AccessFailed { bdf: addr, offset };
        cap::io_out(self.0, CONFIG_ADDRESS_PORT, 4, a).map_err(failed)?;
        cap::io_out(self.0, CONFIG_DATA_PORT, 4, value).map_err(failed)
    }
}

fn main() -> i32 {
    // The device manager hands the capability over right after starting us.
    let Some(io) = cap::wait_for(IO_SLOT, 10_000) else {
        println!("pcid: no IO capability for the configuration ports");
        return 1;
    };
    let scan = match pci::scan(&mut Ports(io), 0, 0, 255) {
        Ok(s) => s,
        Err(e) => {
            println!("pcid: enumeration failed: {e:?}");
            return 1;
        }
    };
    for w in &scan.warnings {
        println!("pcid: warning: {w:?}");
    }
    let mut recorded = 0;
    for f in &scan.functions {
        println!("pcid: {}", pci::lspci_line(f));
        let fact = pci::skb_fact(f, 0);
        let goal = alloc::format!("assertz({})", fact.trim_end().trim_end_matches('.'));
        match libos::skb::query(&goal) {
            Ok(_) => recorded += 1,
            Err(e) => println!("pcid: not recorded in the SKB: {e:?}"),
        }
    }
    // The end of the scan, for readers of the facts (the shell's `lspci` waits for it).
    if let Err(e) = libos::skb::query(&alloc::format!("assertz(pci_scan_done({recorded}))")) {
        println!("pcid: end of scan not recorded: {e:?}");
    }
    println!(
        "pcid: {} PCI functions, {recorded} recorded in the SKB",
        scan.functions.len()
    );
    0
}
