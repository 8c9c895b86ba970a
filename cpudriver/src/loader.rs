//! Starting programs from the ramdisk on this core: the monitor first (with the core's
//! Kernel capability and its channels to every other monitor), then whatever the monitor
//! asks for.

use alloc::string::String;

use crate::capspace::{CapSetupError, ProgramCaps};
use crate::dispatcher::SpawnError;
use crate::percore::{self, PerCore};

/// Why a program could not be started.
#[derive(Debug)]
pub enum LoadError {
    /// The ramdisk is missing or unreadable.
    Ramdisk(ramdisk::RamdiskError),
    /// No `bin/NAME` in the ramdisk (or the name is not a plain file name).
    NotFound(String),
    /// The program could not be made into a dispatcher.
    Spawn(SpawnError),
    /// Its capabilities could not be set up.
    Caps(CapSetupError),
    /// Mapping the monitor's channels failed.
    Channels(crate::vspace::VSpaceError),
}

/// A plain program name: 1 to 32 characters from `[A-Za-z0-9_-]`.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Load `bin/<name>` from the ramdisk as a new dispatcher on this core, with argument
/// string `args`; returns its id.
pub fn spawn(name: &str, args: &str) -> Result<u32, LoadError> {
    if !valid_name(name) {
        return Err(LoadError::NotFound(String::from(name)));
    }
    let pc = percore::current();
    let rd = ramdisk::Ramdisk::new(pc.ramdisk.get()).map_err(LoadError::Ramdisk)?;
    let path = alloc::format!("bin/{name}");
    let image = rd.get(&path).ok_or(LoadError::NotFound(path))?;
    pc.sched
        .borrow_mut()
        .spawn(name, args.as_bytes(), image)
        .map_err(LoadError::Spawn)
}

fn caps_of(pc: &PerCore, id: u32) -> Option<ProgramCaps> {
    pc.sched.borrow().by_id(id).and_then(|d| d.caps)
}

/// Give program `id` an EndPoint to the core's monitor (root slot
/// `abi::ROOT_SLOT_MONITOR_EP`), for LRPC calls to it, badged with `id + 1` so the monitor
/// knows which dispatcher calls.
pub fn give_monitor_endpoint(id: u32) -> Result<(), LoadError> {
    let pc = percore::current();
    let monitor = pc.monitor.get().and_then(|m| caps_of(pc, m));
    let (Some(server), Some(client)) = (monitor, caps_of(pc, id)) else {
        return Ok(());
    };
    match pc.caps.borrow_mut().as_mut() {
        Some(c) => c
            .give_endpoint(
                &client,
                &server,
                abi::ROOT_SLOT_MONITOR_EP,
                u64::from(id) + 1,
            )
            .map_err(LoadError::Caps),
        None => Ok(()),
    }
}

/// Start this core's monitor: the first dispatcher, holding the core's Kernel capability
/// (root slot `abi::ROOT_SLOT_KERNEL`) and, mapped at `abi::MONITOR_CHANNELS`, its URPC
/// channel to the monitor of every other core, and at `abi::MONITOR_BROADCAST` every core's
/// broadcast page.
pub fn start_monitor() -> Result<u32, LoadError> {
    let pc = percore::current();
    let args = if crate::bootcfg::get().devices {
        ""
    } else {
        "no-devices"
    };
    let id = spawn("monitor", args)?;
    pc.monitor.set(Some(id));
    if let (Some(p), Some(c)) = (caps_of(pc, id), pc.caps.borrow_mut().as_mut()) {
        c.give_kernel(&p, abi::ROOT_SLOT_KERNEL)
            .map_err(LoadError::Caps)?;
    }
    if let Some(mesh) = pc.mesh.get() {
        let me = pc.core_id;
        for peer in (0..mesh.cores).filter(|&p| p != me) {
            let Some(pa) = mesh.channel_pa(pc, me, peer) else {
                continue;
            };
            let va = abi::MONITOR_CHANNELS + u64::from(peer) * 4096;
            pc.sched
                .borrow_mut()
                .map_shared(id, va, pa)
                .map_err(LoadError::Channels)?;
        }
        // Every core's broadcast page (this core's own included).
        for c in 0..mesh.cores {
            let Some((_, pa)) = mesh.tlb_pages(pc, c) else {
                continue;
            };
            let va = abi::MONITOR_BROADCAST + u64::from(c) * 4096;
            pc.sched
                .borrow_mut()
                .map_shared(id, va, pa)
                .map_err(LoadError::Channels)?;
        }
    }
    Ok(id)
}
