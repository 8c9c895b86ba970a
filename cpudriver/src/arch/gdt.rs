//! Per-core GDT and TSS.
//!
//! Every core builds its own GDT and TSS on its own heap. The segment order is fixed by
//! `syscall`/`sysret` (kernel data right after kernel code; user data and 64-bit user code
//! 8 and 16 bytes after a 32-bit user code selector) and placed where Linux puts them:
//! kernel code 0x08, kernel data 0x10, an unused slot, user code (32-bit) 0x23, user data
//! 0x2b, user code 0x33, then the TSS. Hardware does not care where they are; a PVM
//! hypervisor (Linux `kvm_pvm`, which provides `/dev/kvm` in some cloud VMs) runs guest user
//! code with the *host's* user selectors and requires `IA32_STAR` to name them, so with
//! any other user selectors 64-bit user code would run in the host's 32-bit segment.
//! The TSS carries IST stacks for the faults that must not run on a possibly broken stack:
//! double fault, NMI and machine check.

use alloc::boxed::Box;
use alloc::vec;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{
    Descriptor, DescriptorFlags, GlobalDescriptorTable, SegmentSelector,
};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot (0-based, as in the TSS array) of the double-fault stack.
pub const IST_DOUBLE_FAULT: u16 = 0;
/// IST slot of the NMI stack.
pub const IST_NMI: u16 = 1;
/// IST slot of the machine-check stack.
pub const IST_MACHINE_CHECK: u16 = 2;

/// GDT entries: null, kernel code and data, unused, user code32, data and code, TSS (two).
const GDT_ENTRIES: usize = 9;

/// Size of each IST stack.
pub const IST_STACK_SIZE: usize = 16 * 1024;

/// The selectors of a core's GDT.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    /// Ring-0 code.
    pub kernel_code: SegmentSelector,
    /// Ring-0 data.
    pub kernel_data: SegmentSelector,
    /// Ring-3 32-bit code (never used to run code: `IA32_STAR` names it as the base of the
    /// `sysret` selectors).
    pub user_code32: SegmentSelector,
    /// Ring-3 data.
    pub user_data: SegmentSelector,
    /// Ring-3 64-bit code.
    pub user_code: SegmentSelector,
    /// This core's TSS.
    pub tss: SegmentSelector,
}

fn leak_stack(size: usize) -> VirtAddr {
    let stack = vec![0u64; size / 8].leak();
    let top = stack.as_ptr_range().end as u64;
    VirtAddr::new(top & !0xf)
}

/// Build and load this core's GDT and TSS. `kernel_stack_top` is where the CPU switches
/// to when an interrupt arrives in user mode (RSP0). Returns the selectors.
pub fn init(kernel_stack_top: VirtAddr) -> Selectors {
    let mut tss = Box::new(TaskStateSegment::new());
    tss.interrupt_stack_table[IST_DOUBLE_FAULT as usize] = leak_stack(IST_STACK_SIZE);
    tss.interrupt_stack_table[IST_NMI as usize] = leak_stack(IST_STACK_SIZE);
    tss.interrupt_stack_table[IST_MACHINE_CHECK as usize] = leak_stack(IST_STACK_SIZE);
    tss.privilege_stack_table[0] = kernel_stack_top;
    let tss: &'static TaskStateSegment = Box::leak(tss);

    let mut gdt = Box::new(GlobalDescriptorTable::<GDT_ENTRIES>::empty());
    let kernel_code = gdt.append(Descriptor::kernel_code_segment());
    let kernel_data = gdt.append(Descriptor::kernel_data_segment());
    // Unused (a null descriptor): keeps the user selectors at Linux's values.
    gdt.append(Descriptor::UserSegment(0));
    let user_code32 = gdt.append(Descriptor::UserSegment(DescriptorFlags::USER_CODE32.bits()));
    let user_data = gdt.append(Descriptor::user_data_segment());
    let user_code = gdt.append(Descriptor::user_code_segment());
    let tss_sel = gdt.append(Descriptor::tss_segment(tss));
    let gdt: &'static GlobalDescriptorTable<GDT_ENTRIES> = Box::leak(gdt);
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, of the right kinds;
    // the TSS descriptor points at a TSS that lives forever.
    unsafe {
        CS::set_reg(kernel_code);
        SS::set_reg(kernel_data);
        DS::set_reg(kernel_data);
        ES::set_reg(kernel_data);
        load_tss(tss_sel);
    }
    Selectors {
        kernel_code,
        kernel_data,
        user_code32,
        user_data,
        user_code,
        tss: tss_sel,
    }
}
