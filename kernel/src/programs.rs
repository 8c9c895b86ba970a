//! Starting user programs from the ramdisk: on every core the CPU driver's first program
//! is the monitor.

use bootloader_api::BootInfo;
use cpudriver::percore;

/// The ramdisk's bytes (empty when the bootloader passed none).
pub fn ramdisk(boot_info: &BootInfo) -> &'static [u8] {
    match boot_info.ramdisk_addr.into_option() {
        // SAFETY: the bootloader maps the ramdisk at `ramdisk_addr` for `ramdisk_len` bytes
        // in the kernel half of every core's tables and never reuses that memory; the
        // kernel only reads it.
        Some(addr) => unsafe {
            core::slice::from_raw_parts(addr as *const u8, boot_info.ramdisk_len as usize)
        },
        None => &[],
    }
}

/// Load `bin/<name>` from the ramdisk as a new dispatcher on this core, with argument
/// string `args`.
pub fn spawn(ramdisk: &[u8], name: &str, args: &str) -> Result<u32, alloc::string::String> {
    let rd = ramdisk::Ramdisk::new(ramdisk).map_err(|e| alloc::format!("ramdisk: {e:?}"))?;
    let path = alloc::format!("bin/{name}");
    let image = rd
        .get(&path)
        .ok_or_else(|| alloc::format!("no {path} in the ramdisk"))?;
    let pc = percore::current();
    let mut frames = pc.frames.borrow_mut();
    pc.sched
        .borrow_mut()
        .spawn(&mut frames, pc.phys_offset, name, args.as_bytes(), image)
        .map_err(|e| alloc::format!("{path}: {e:?}"))
}

/// Give program `id` an EndPoint to the core's monitor (root slot
/// `abi::ROOT_SLOT_MONITOR_EP`), for LRPC calls to it.
fn give_monitor_endpoint(monitor: Option<cpudriver::capspace::ProgramCaps>, id: u32) {
    let pc = percore::current();
    let client = pc
        .sched
        .borrow()
        .dispatchers()
        .iter()
        .find(|d| d.id == id)
        .and_then(|d| d.caps);
    let (Some(server), Some(client)) = (monitor, client) else {
        return;
    };
    if let Some(c) = pc.caps.borrow_mut().as_mut() {
        if let Err(e) = c.give_endpoint(&client, &server, abi::ROOT_SLOT_MONITOR_EP) {
            log::error!("no monitor endpoint for dispatcher {id}: {e:?}");
        }
    }
}

/// Start this core's programs: the monitor, then every `run=PROGRAM ARGS` line of
/// `boot.cfg` (test programs started on every core).
pub fn start_core_programs(ramdisk: &[u8]) {
    let pc = percore::current();
    match cpudriver::capspace::CoreCaps::new(pc) {
        Ok(c) => *pc.caps.borrow_mut() = Some(c),
        Err(e) => log::error!("no capabilities on this core: {e:?}"),
    }
    if let Err(e) = spawn(ramdisk, "monitor", "") {
        log::error!("cannot start the monitor: {e}");
    }
    let monitor_caps = pc.sched.borrow().dispatchers().first().and_then(|d| d.caps);
    let cfg = crate::boot_cfg_text(ramdisk).unwrap_or("");
    for line in cfg.lines() {
        let Some(cmd) = line.trim().strip_prefix("run=") else {
            continue;
        };
        let (name, args) = cmd.split_once(' ').unwrap_or((cmd, ""));
        match spawn(ramdisk, name.trim(), args.trim()) {
            Ok(id) => give_monitor_endpoint(monitor_caps, id),
            Err(e) => log::error!("cannot start `{cmd}`: {e}"),
        }
    }
}
