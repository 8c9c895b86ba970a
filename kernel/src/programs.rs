//! Starting user programs from the ramdisk: on every core the CPU driver's first program
//! is the monitor.

use bootloader_api::BootInfo;
use cpudriver::loader;
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

/// Start this core's programs: the monitor, then every `run=PROGRAM ARGS` line of
/// `boot.cfg` (test programs started on every core) and every `run@N=PROGRAM ARGS` line
/// for this core N, and on core 0 the interactive shell if `boot.cfg` asks for one (not a
/// boot program: `system ready` does not wait for it to end).
pub fn start_core_programs(ramdisk: &'static [u8]) {
    let pc = percore::current();
    pc.ramdisk.set(ramdisk);
    match cpudriver::capspace::CoreCaps::new(pc) {
        Ok(c) => *pc.caps.borrow_mut() = Some(c),
        Err(e) => log::error!("no capabilities on this core: {e:?}"),
    }
    if let Err(e) = loader::start_monitor() {
        log::error!("cannot start the monitor: {e:?}");
    }
    let cfg = crate::boot_cfg_text(ramdisk).unwrap_or("");
    for line in cfg.lines() {
        let Some((key, cmd)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let here = key == "run" || cpudriver::bootcfg::run_core(key) == Some(pc.core_id);
        if !here {
            continue;
        }
        let cmd = cmd.trim();
        let (name, args) = cmd.split_once(' ').unwrap_or((cmd, ""));
        match loader::spawn(name.trim(), args.trim()) {
            Ok(id) => {
                pc.boot_programs.borrow_mut().push(id);
                if let Err(e) = loader::give_monitor_endpoint(id) {
                    log::error!("no monitor endpoint for dispatcher {id}: {e:?}");
                }
            }
            Err(e) => log::error!("cannot start `{cmd}`: {e:?}"),
        }
    }
    if pc.core_id == 0 {
        for console in cpudriver::bootcfg::get().shell.args() {
            let args = alloc::format!("--console {console}");
            let started = loader::spawn("shell", &args).and_then(loader::give_monitor_endpoint);
            if let Err(e) = started {
                log::error!("cannot start the shell on the {console} console: {e:?}");
            }
        }
    }
}
