//! The AP trampoline: real mode to protected mode to long mode, then into the kernel.
//!
//! The code below is copied to a page under 1 MiB (the STARTUP IPI names the page); it
//! runs at `base = page << 12` with `CS = page << 8`. Everything position-dependent lives
//! in the parameter block at its end: offsets assembled relative to the start, which the
//! boot core turns into absolute addresses by adding `base`, plus CR3, the stack, the entry
//! point and its argument.
//!
//! Steps: real mode loads the trampoline's GDT and sets PE; 32-bit code enables PAE, loads
//! CR3 (a table below 4 GiB that identity-maps the trampoline page), sets EFER.LME and NXE,
//! enables paging; 64-bit code loads the stack and jumps to the entry with its argument.

core::arch::global_asm!(
    r#"
    .section .rodata.trampoline, "a"
    .global ap_trampoline_start
    .global ap_trampoline_params
    .global ap_trampoline_end
    .code16
ap_trampoline_start:
    .set AP_TP, ap_trampoline_params - ap_trampoline_start
    cli
    cld
    mov ax, cs
    mov ds, ax
    # esi = physical base of the trampoline (CS << 4); kept through protected mode
    movzx esi, ax
    shl esi, 4
    lgdt [AP_TP + 32]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    # jmp far dword [ds:pm_ptr]
    .byte 0x66, 0xff, 0x2e
    .word ap_trampoline_params - ap_trampoline_start + 40

    .code32
1:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov eax, [esi + AP_TP + 56]
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x900
    wrmsr
    mov eax, cr0
    or eax, 0x80010001
    mov cr0, eax
    # jmp far dword [esi + lm_ptr]
    .byte 0xff, 0xae
    .long ap_trampoline_params - ap_trampoline_start + 48

    .code64
3:
    mov rsp, [rsi + AP_TP + 64]
    mov rdi, [rsi + AP_TP + 72]
    mov rax, [rsi + AP_TP + 80]
    and rsp, -16
    push 0
    jmp rax

    .balign 8
ap_trampoline_params:
    # +0: GDT: null, 32-bit code (0x08), 32-bit data (0x10), 64-bit code (0x18)
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
    # +32: GDTR limit and base (base relative until patched)
    .word 31
    .long ap_trampoline_params - ap_trampoline_start
    .word 0
    # +40: far pointer to the 32-bit code (offset relative until patched)
    .long 1b - ap_trampoline_start
    .word 0x08
    .word 0
    # +48: far pointer to the 64-bit code (offset relative until patched)
    .long 3b - ap_trampoline_start
    .word 0x18
    .word 0
    # +56: CR3 (below 4 GiB)
    .long 0
    .long 0
    # +64: stack top, +72: argument, +80: entry point
    .quad 0
    .quad 0
    .quad 0
ap_trampoline_end:
    .code64
    .text
    "#
);

unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_params: u8;
    static ap_trampoline_end: u8;
}

/// Offsets inside the parameter block.
mod param {
    pub const GDTR_BASE: usize = 34;
    pub const PM_PTR: usize = 40;
    pub const LM_PTR: usize = 48;
    pub const CR3: usize = 56;
    pub const STACK: usize = 64;
    pub const ARG: usize = 72;
    pub const ENTRY: usize = 80;
}

/// The trampoline code and its parameter offset.
fn image() -> (&'static [u8], usize) {
    let start = core::ptr::addr_of!(ap_trampoline_start);
    let params = core::ptr::addr_of!(ap_trampoline_params) as usize - start as usize;
    let len = core::ptr::addr_of!(ap_trampoline_end) as usize - start as usize;
    // SAFETY: the bytes between the two labels are the assembled trampoline in .rodata.
    (unsafe { core::slice::from_raw_parts(start, len) }, params)
}

/// The trampoline copied to low memory, ready to be pointed at an AP.
pub struct Trampoline {
    /// Physical base (page-aligned, below 1 MiB).
    pub base: u64,
    /// Virtual address of the copy through the physical-memory mapping.
    virt: *mut u8,
    params: usize,
}

/// Why the trampoline could not be placed.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the fields are reported through Debug in boot logs"
)]
pub enum TrampolineError {
    /// The base is not a page below 1 MiB.
    BadBase(u64),
}

fn rd32(p: *mut u8) -> u32 {
    // SAFETY: callers pass addresses inside the copied trampoline's parameter block.
    unsafe { core::ptr::read_unaligned(p as *const u32) }
}

fn wr32(p: *mut u8, v: u32) {
    // SAFETY: as in `rd32`.
    unsafe { core::ptr::write_unaligned(p as *mut u32, v) }
}

fn wr64(p: *mut u8, v: u64) {
    // SAFETY: as in `rd32`.
    unsafe { core::ptr::write_unaligned(p as *mut u64, v) }
}

impl Trampoline {
    /// Copy the trampoline to physical `base` and make its addresses absolute.
    ///
    /// # Safety
    /// `base .. base + 4096` must be free low memory that nothing else uses while APs start,
    /// mapped at `phys_offset + base`.
    pub unsafe fn install(base: u64, phys_offset: u64) -> Result<Trampoline, TrampolineError> {
        if !base.is_multiple_of(4096) || base >= 1 << 20 || base == 0 {
            return Err(TrampolineError::BadBase(base));
        }
        let (code, params) = image();
        assert!(code.len() <= 4096, "AP trampoline larger than a page");
        let virt = (phys_offset + base) as *mut u8;
        // SAFETY: the caller guarantees the page is free and mapped; the source is .rodata.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), virt, code.len()) };
        let t = Trampoline { base, virt, params };
        for off in [param::GDTR_BASE, param::PM_PTR, param::LM_PTR] {
            let p = t.param(off);
            wr32(p, rd32(p) + base as u32);
        }
        Ok(t)
    }

    fn param(&self, off: usize) -> *mut u8 {
        // SAFETY: the parameter block lies inside the copied page.
        unsafe { self.virt.add(self.params + off) }
    }

    /// The STARTUP IPI vector: the trampoline's page number.
    pub fn sipi_page(&self) -> u8 {
        (self.base >> 12) as u8
    }

    /// Set what the next AP started through this trampoline gets: its top-level page table
    /// (physical, below 4 GiB), stack top, entry point and argument.
    pub fn prepare(&self, cr3: u64, stack_top: u64, entry: u64, arg: u64) {
        assert!(cr3 < 1 << 32, "AP page table must be below 4 GiB");
        wr32(self.param(param::CR3), cr3 as u32);
        wr64(self.param(param::STACK), stack_top);
        wr64(self.param(param::ENTRY), entry);
        wr64(self.param(param::ARG), arg);
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }
}
