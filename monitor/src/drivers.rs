//! The device manager's start: the monitor of core 0, once the SKB service is started,
//! makes the capabilities of the machine's fixed devices from this core's Kernel
//! capability, starts `devmgr` and copies them into its CSpace (`KernelOp CAP_GIVE`, slots
//! in [`abi::devmgr`]). `devmgr` asks the SKB where each driver runs and starts it there.
//!
//! * the PCI configuration ports `0xcf8..=0xcff` (IO), for `pcid`;
//! * COM1's ports `0x3f8..=0x3ff` (IO), its interrupt line (IrqSrc: the GSI of ISA IRQ 4)
//!   and the vector it is delivered on (IRQ), for `seriald`;
//! * the boot framebuffer (DevFrame), the PS/2 controller's ports `0x60` and `0x64` (IO),
//!   the keyboard's line (IrqSrc: ISA IRQ 1's GSI) and vector (IRQ), for `fbcond`. The
//!   framebuffer's geometry goes to `devmgr` as its argument; the CPU drivers stop drawing
//!   their log on the screen;
//! * each PCI Express ECAM window of the MCFG (DevFrame), for `pcid`; what each covers
//!   goes to `devmgr` as its argument `ecam=SEGMENT:START:END,...`, and the PCI host
//!   bridges' root buses as `roots=SEGMENT:BUS:NODE,...` (`-` for an unknown node).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use caps::abi::{CapRef, CapType};
use libos::cap::{self, root_slot};
use libos::kernel;
use libos::println;

use abi::devmgr as slot;

/// A capability to make: (type, first port / vector / physical address, size, devmgr's slot).
type DeviceCap = (CapType, u64, u64, u32);

/// The fixed devices' capabilities (the framebuffer's is added when there is one).
const DEVICE_CAPS: [DeviceCap; 6] = [
    (CapType::Io, 0xcf8, 8, slot::PCI_PORTS),
    (CapType::Io, 0x3f8, 8, slot::COM1_PORTS),
    (CapType::Irq, slot::COM1_VECTOR, 1, slot::COM1_IRQ),
    (CapType::Io, 0x60, 1, slot::PS2_DATA),
    (CapType::Io, 0x64, 1, slot::PS2_STATUS),
    (CapType::Irq, slot::KEYBOARD_VECTOR, 1, slot::KEYBOARD_IRQ),
];

/// The ISA interrupt lines of the fixed devices and devmgr's slot for each one's IrqSrc
/// capability (the GSI each arrives on comes from the CPU driver, which has the MADT's
/// interrupt source overrides).
const ISA_LINES: [(u8, u32); 2] = [(4, slot::COM1_IRQ_SRC), (1, slot::KEYBOARD_IRQ_SRC)];

/// How many PCI root buses are passed on at most (they go into devmgr's argument string).
const MAX_PCI_ROOTS: u32 = 64;

/// Root slots of this monitor's CSpace where the capabilities are made (then kept, as the
/// parents of devmgr's copies).
const FIRST_SLOT: u32 = 100;

/// Entries `0, 1, ...` of a numbered list the CPU driver keeps (at most `max`), up to the
/// first `NotFound`; an entry that cannot be read is reported and ends the list.
fn kernel_list<T>(
    what: &str,
    max: u32,
    get: impl Fn(u32) -> Result<T, kernel::KernelError>,
) -> Vec<T> {
    let mut out = Vec::new();
    for i in 0..max {
        match get(i) {
            Ok(x) => out.push(x),
            Err(kernel::KernelError::Sys(abi::SysError::NotFound)) => break,
            Err(e) => {
                println!("monitor: {what} {i} unreadable: {e:?}");
                break;
            }
        }
    }
    out
}

/// Start the device manager (core 0's monitor only).
pub fn start() {
    let kernel_cap = root_slot(abi::ROOT_SLOT_KERNEL);
    let mut wanted: Vec<DeviceCap> = DEVICE_CAPS.to_vec();
    for (irq, to) in ISA_LINES {
        match kernel::isa_gsi(irq) {
            Ok(gsi) => wanted.push((CapType::IrqSrc, u64::from(gsi), 1, to)),
            Err(e) => println!("monitor: no GSI for ISA IRQ {irq} ({e:?})"),
        }
    }
    let mut args = String::new();
    match kernel::framebuffer(true) {
        Ok(fb) => {
            let (base, bytes) = fb.pages();
            wanted.push((CapType::DevFrame, base, bytes, slot::FRAMEBUFFER));
            args = format!(
                "fb={}x{}x{}x{}x{}",
                fb.width, fb.height, fb.stride, fb.bytes_per_pixel, fb.layout
            );
        }
        Err(e) => println!("monitor: no framebuffer ({e:?})"),
    }
    // The PCI Express configuration space, one DevFrame per MCFG window.
    let segments = kernel_list("ECAM window", slot::MAX_PCI_SEGMENTS, kernel::pci_segment);
    let mut ecam = Vec::new();
    for (i, s) in (0..).zip(&segments) {
        wanted.push((CapType::DevFrame, s.base, s.bytes(), slot::PCI_ECAM + i));
        ecam.push(format!("{}:{}:{}", s.segment, s.start_bus, s.end_bus));
    }
    // The PCI host bridges' root buses and their nodes (`-` when unknown).
    let roots: Vec<String> = kernel_list("PCI root", MAX_PCI_ROOTS, kernel::pci_root)
        .iter()
        .map(|r| match r.node {
            Some(n) => format!("{}:{}:{n}", r.segment, r.bus),
            None => format!("{}:{}:-", r.segment, r.bus),
        })
        .collect();
    for (key, list) in [("ecam", ecam), ("roots", roots)] {
        if !list.is_empty() {
            if !args.is_empty() {
                args.push(' ');
            }
            args.push_str(&format!("{key}={}", list.join(",")));
        }
    }
    let mut made: Vec<(CapRef, u32)> = Vec::new();
    for (i, &(t, first, size, to)) in wanted.iter().enumerate() {
        let s = FIRST_SLOT + i as u32;
        match cap::retype(kernel_cap, t, first, size, 1, s) {
            Ok(_) => made.push((root_slot(s), to)),
            Err(e) => println!("monitor: no {t:?} capability at {first:#x}: {e:?}"),
        }
    }
    let id = match kernel::spawn("devmgr", &args) {
        Ok(id) => id,
        Err(e) => return println!("monitor: cannot start the device manager: {e:?}"),
    };
    for (c, to) in &made {
        if let Err(e) = kernel::cap_give(id, *c, *to) {
            println!("monitor: device manager without its capability for slot {to}: {e:?}");
        }
    }
    println!("monitor: started the device manager (dispatcher {id})");
}
