//! The boot image the bootloader loads.
//!
//! On the boot core (BSP) it reads the boot configuration from the ramdisk, brings up the
//! debug console, builds the frame allocator from the firmware's memory map, gives the BSP
//! its per-core record and heap, and hands the core to the CPU driver (descriptor tables,
//! trap entry). Multicore bring-up, the per-core memory split and user programs build on
//! this.
#![no_std]
#![no_main]

extern crate alloc;

mod bench;
mod bringup;
mod discover;
mod inject;
mod kchannels;
mod machine;
mod memory;
mod paging;
mod programs;
mod smp;

use bootloader_api::config::Mapping;
use bootloader_api::info::{FrameBufferInfo, PixelFormat};
use bootloader_api::{BootInfo, BootloaderConfig};
use cpudriver::arch::cpu::rdtsc;
use cpudriver::bootcfg::{self, BootConfig};
use cpudriver::console::framebuffer::{FbInfo, PixelLayout};

/// The kernel's global allocator: forwards to the current core's own heap.
#[global_allocator]
static ALLOCATOR: cpudriver::heap::PerCoreHeap = cpudriver::heap::PerCoreHeap;

/// Size of the boot core's kernel stack (set up by the bootloader).
const BOOT_STACK_SIZE: u64 = 256 * 1024;

/// Lowest virtual address of the kernel's half: everything the bootloader maps for the
/// kernel (image, stack, physical-memory mapping, boot info, framebuffer, ramdisk) goes above
/// it, so the lower half is free for user address spaces.
pub const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

/// What the bootloader must provide: all physical memory mapped, a big enough stack, and
/// every mapping in the upper half, below the device window.
pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.mappings.dynamic_range_start = Some(KERNEL_HALF);
    config.mappings.dynamic_range_end = Some(paging::DEVICE_WINDOW - 1);
    config.kernel_stack_size = BOOT_STACK_SIZE;
    config
};

bootloader_api::entry_point!(kmain, config = &BOOTLOADER_CONFIG);

fn fb_info(info: FrameBufferInfo, addr: *mut u8) -> Option<FbInfo> {
    let layout = match info.pixel_format {
        PixelFormat::Rgb => PixelLayout::Rgb,
        PixelFormat::Bgr => PixelLayout::Bgr,
        PixelFormat::U8 => PixelLayout::Grey,
        _ => return None,
    };
    Some(FbInfo {
        addr,
        len: info.byte_len,
        width: info.width,
        height: info.height,
        stride: info.stride,
        bytes_per_pixel: info.bytes_per_pixel,
        layout,
    })
}

/// The framebuffer `info` at physical `phys`, as handed to a user-level driver.
fn fb_device(info: &FbInfo, phys: u64) -> abi::Framebuffer {
    abi::Framebuffer {
        phys,
        len: info.len as u64,
        width: info.width as u64,
        height: info.height as u64,
        stride: info.stride as u64,
        bytes_per_pixel: info.bytes_per_pixel as u64,
        layout: match info.layout {
            PixelLayout::Rgb => abi::Framebuffer::RGB,
            PixelLayout::Bgr => abi::Framebuffer::BGR,
            PixelLayout::Grey => abi::Framebuffer::GREY,
        },
    }
}

/// The text of `boot.cfg` in the ramdisk (empty if there is none), or why the ramdisk
/// cannot be read.
fn boot_cfg_text(ramdisk: &[u8]) -> Result<&str, ramdisk::RamdiskError> {
    if ramdisk.is_empty() {
        return Ok("");
    }
    let rd = ramdisk::Ramdisk::new(ramdisk)?;
    Ok(rd
        .get("boot.cfg")
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or(""))
}

fn kmain(boot_info: &'static mut BootInfo) -> ! {
    let entry_tsc = rdtsc();
    let rd = programs::ramdisk(boot_info);
    let (cfg_text, ramdisk_error) = match boot_cfg_text(rd) {
        Ok(t) => (t, None),
        Err(e) => ("", Some(e)),
    };
    // Errors are reported once the console is up (the second parse below).
    let cfg = BootConfig::parse(cfg_text, |_| {});
    bootcfg::set(cfg);

    let fb = match boot_info.framebuffer.as_mut() {
        Some(fb) => {
            let info = fb.info();
            fb_info(info, fb.buffer_mut().as_mut_ptr())
        }
        None => None,
    };
    let fb_phys = fb.zip(boot_info.physical_memory_offset.into_option());
    if let Some((info, offset)) = fb_phys {
        // SAFETY: the boot core, before any other core runs; nothing else walks the tables.
        match unsafe { paging::translate(offset, info.addr as u64) } {
            Some(phys) => cpudriver::console::framebuffer::publish(fb_device(&info, phys)),
            None => log::warn!("framebuffer at {:p} has no physical address", info.addr),
        }
    }
    let fb = fb.filter(|_| cfg.fbcon);
    // SAFETY: the framebuffer is mapped by the bootloader for the kernel's whole life and
    // nothing else draws on it.
    unsafe { cpudriver::console::init(fb, cfg.log_level) };
    log::info!("multikernel booting on the boot core");
    if let Some(e) = ramdisk_error {
        log::error!("ramdisk unreadable, booting with defaults: {e:?}");
    }
    BootConfig::parse(cfg_text, |e| log::warn!("boot.cfg: ignored: {e:?}"));

    let Some(phys_offset) = boot_info.physical_memory_offset.into_option() else {
        panic!("bootloader did not map physical memory");
    };
    let mut frames = memory::frames_from_memory_map(&boot_info.memory_regions);
    log::info!(
        "physical memory: {} MiB usable in {} ranges (first MiB kept for the AP trampoline)",
        frames.free_bytes() >> 20,
        frames.ranges().len()
    );

    let bsp_apic_id = cpu_apic_id();
    let pc = memory::boot_core_record(&mut frames, phys_offset, bsp_apic_id);
    // SAFETY: the record was just carved from free memory, belongs to the boot core, and
    // lives forever; nothing has used the per-core record yet.
    unsafe { cpudriver::percore::install(pc) };
    memory::boot_core_heap(&mut frames);
    let stack_top = boot_info.kernel_stack_bottom + boot_info.kernel_stack_len;
    cpudriver::init_core(stack_top);
    let (smep, smap) = cpudriver::protections();
    log::info!(
        "boot core: GDT, TSS (IST stacks), IDT, syscall MSRs loaded; SMEP {}, SMAP {}; heap {} KiB free",
        if smep { "on" } else { "off" },
        if smap { "on" } else { "off" },
        cpudriver::heap::free_bytes() >> 10
    );

    // A late panic (`inject=panic@MS`) comes from core 0's timer tick instead.
    if let Some(fault) = cfg
        .inject
        .filter(|f| !matches!(f, bootcfg::Inject::PanicAfter(_)))
    {
        inject::inject(fault);
    }

    let mut status = bringup::bring_up(boot_info, frames, phys_offset);
    if cfg.bench == Some(bootcfg::Bench::Urpc) {
        let pc = cpudriver::percore::current();
        if let Some(apic) = pc.apic.get() {
            bench::urpc(&mut status.links, apic, pc.tsc_hz.get());
        }
    }
    programs::start_core_programs(programs::ramdisk(boot_info));
    bringup::announce_when_ready(status, entry_tsc);
    cpudriver::run_dispatchers()
}

/// The APIC id of the executing core, from CPUID (x2APIC id from leaf 0xB when present).
fn cpu_apic_id() -> u32 {
    let cpuid = raw_cpuid::CpuId::new();
    if let Some(mut topo) = cpuid.get_extended_topology_info() {
        if let Some(level) = topo.next() {
            return level.x2apic_id();
        }
    }
    cpuid
        .get_feature_info()
        .map_or(0, |f| f.initial_local_apic_id() as u32)
}
