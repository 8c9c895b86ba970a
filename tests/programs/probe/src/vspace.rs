//! The `vspace` mode: the program's address space is made of capabilities it holds.
//!
//! The loader put the page tables and Frames it built the program from into the page CNode
//! (root slot `abi::ROOT_SLOT_PAGECN`), a copy of the top-level table first. The probe lists
//! them, checks that the kernel half of the top-level table and the kernel's copy of it are
//! out of its reach, then extends its own address space: a PDPT of its own under the PML4,
//! and a page directory, a page table and a Frame retyped from its RAM and linked under the
//! PDPT the loader gave it, at 100 GiB.
//! Deleting the page directory unmaps everything below it, which the last access (a fault,
//! caught) shows.

use caps::abi::{CapError, CapType, Rights};
use libos::cap::{self, page_slot, root_slot};
use libos::println;

/// Where the probe maps its own page: PDPT entry 100 (100 GiB), PD entry 0, PT entry 0.
const PDPT_ENTRY: u16 = 100;
const OWN_PAGE: u64 = (PDPT_ENTRY as u64) << 30;
/// Root slots for the objects it makes (free in a fresh probe).
const PD_SLOT: u32 = 20;
const PT_SLOT: u32 = 21;
const FRAME_SLOT: u32 = 22;
const PD2_SLOT: u32 = 23;
const PDPT_SLOT: u32 = 24;

pub fn probe(core: u32) -> i32 {
    let bad = core::cell::Cell::new(0);
    let check = |what: &str, ok: bool| {
        if !ok {
            println!("probe: vspace on core {core}: FAILED: {what}");
            bad.set(bad.get() + 1);
        }
    };
    let pagecn = cap::identify(root_slot(abi::ROOT_SLOT_PAGECN));
    check(
        "page CNode in its root slot",
        matches!(pagecn, Ok(i) if i.cap_type == CapType::CNode as u8 && i.extra == 256),
    );
    // What the loader made, in order.
    let (mut tables, mut frames, mut frame_bytes, mut top) = (0, 0, 0u64, 0);
    let (mut first, mut pdpt_slot) = (None, None);
    for i in 0..256 {
        match cap::identify(page_slot(i)) {
            Ok(id) => {
                first.get_or_insert(id.cap_type);
                if id.cap_type == CapType::VNodePdpt as u8 {
                    pdpt_slot.get_or_insert(i);
                }
                match CapType::try_from(id.cap_type) {
                    Ok(CapType::VNodePdpt | CapType::VNodePd | CapType::VNodePt) => tables += 1,
                    Ok(CapType::VNodePml4) => top += 1,
                    Ok(CapType::Frame) => {
                        frames += 1;
                        frame_bytes += id.bytes;
                    }
                    _ => check("only tables and Frames in the page CNode", false),
                }
            }
            Err(CapError::EmptySlot) => {}
            Err(e) => check(&alloc::format!("identify page slot {i}: {e:?}"), false),
        }
    }
    println!(
        "probe: vspace on core {core}: page CNode holds {tables} tables and {frames} Frames ({} KiB)",
        frame_bytes >> 10
    );
    // The top-level table first, then the image's tables (low in the address space).
    check(
        "the PML4 in slot 0, the image's PDPT in slot 1",
        first == Some(CapType::VNodePml4 as u8) && pdpt_slot == Some(1),
    );
    check("one top-level table", top == 1);
    check("tables for the image and the stacks", tables >= 5);
    check(
        "Frames for the image and both stacks",
        frames >= 3 && frame_bytes >= abi::USER_STACK_SIZE + abi::UPCALL_STACK_SIZE,
    );

    let ram = root_slot(abi::ROOT_SLOT_RAM);
    let rw = Rights::READ | Rights::WRITE;
    check(
        "retype PDPT, PD, PT, Frame, PD",
        cap::retype(ram, CapType::VNodePd, 0, 4096, 1, PD_SLOT).is_ok()
            && cap::retype(ram, CapType::VNodePt, 4096, 4096, 1, PT_SLOT).is_ok()
            && cap::retype(ram, CapType::Frame, 8192, 4096, 1, FRAME_SLOT).is_ok()
            && cap::retype(ram, CapType::VNodePd, 12288, 4096, 1, PD2_SLOT).is_ok()
            && cap::retype(ram, CapType::VNodePdpt, 16384, 4096, 1, PDPT_SLOT).is_ok(),
    );
    // The top-level table: the kernel half is not the program's, and revoking its copy
    // does not take the kernel's (the program keeps running on it).
    let pml4 = page_slot(abi::PAGECN_SLOT_PML4);
    let own_pdpt = root_slot(PDPT_SLOT);
    check(
        "no mapping into the kernel half",
        cap::map(pml4, own_pdpt, 256, 1, Rights::READ, 0) == Err(CapError::OutOfRange)
            && cap::map(pml4, own_pdpt, 511, 1, Rights::READ, 0) == Err(CapError::OutOfRange),
    );
    check(
        "PML4 entry 0 (the image's) is in use",
        cap::map(pml4, own_pdpt, 0, 1, Rights::READ, 0) == Err(CapError::SlotInUse),
    );
    check(
        "a PDPT of its own at PML4 entry 1, unlinked again",
        cap::map(pml4, own_pdpt, 1, 1, Rights::READ, 0).is_ok() && cap::unmap(pml4, 1, 1).is_ok(),
    );
    check(
        "revoking the PML4 copy cannot take the kernel's",
        cap::revoke(pml4) == Err(CapError::InsufficientRights),
    );
    // Extend the address space through the PDPT the loader made for the image (page slot
    // 1, covering the first 512 GiB).
    let pdpt = page_slot(1);
    let (pd, pt, frame) = (
        root_slot(PD_SLOT),
        root_slot(PT_SLOT),
        root_slot(FRAME_SLOT),
    );
    check(
        "a Frame cannot go into a PDPT",
        cap::map(pdpt, frame, PDPT_ENTRY, 1, rw, 0) == Err(CapError::WrongType),
    );
    check(
        "a PT cannot go into a PDPT",
        cap::map(pdpt, pt, PDPT_ENTRY, 1, Rights::READ, 0) == Err(CapError::WrongType),
    );
    check(
        "PDPT entry 0 (the image's) is in use",
        cap::map(pdpt, pd, 0, 1, Rights::READ, 0) == Err(CapError::SlotInUse),
    );
    check(
        "link PD, PT, map Frame",
        cap::map(pdpt, pd, PDPT_ENTRY, 1, Rights::READ, 0).is_ok()
            && cap::map(pd, pt, 0, 1, Rights::READ, 0).is_ok()
            && cap::map(pt, frame, 0, 1, rw, 0).is_ok(),
    );
    let page = OWN_PAGE as *mut u64;
    if bad.get() == 0 {
        // SAFETY: the page is mapped, read-write, through the tables just linked.
        unsafe { page.write_volatile(0x5eed) };
        // SAFETY: as above.
        check(
            "own page readable",
            unsafe { page.read_volatile() } == 0x5eed,
        );
        // Another PD in the same entry: refused while the first is linked.
        check(
            "PDPT entry taken",
            cap::map(pdpt, root_slot(PD2_SLOT), PDPT_ENTRY, 1, Rights::READ, 0)
                == Err(CapError::SlotInUse),
        );
        // Unlink the PD and link the PT under a second one: the page comes back as it was.
        check("unlink PD", cap::unmap(pdpt, PDPT_ENTRY, 1).is_ok());
        let pd2 = root_slot(PD2_SLOT);
        check(
            "relink through a second PD",
            cap::map(pdpt, pd2, PDPT_ENTRY, 1, Rights::READ, 0).is_ok()
                && cap::unmap(pd, 0, 1).is_ok()
                && cap::map(pd2, pt, 0, 1, Rights::READ, 0).is_ok(),
        );
        // SAFETY: mapped again through the second PD.
        check(
            "page kept its contents",
            unsafe { page.read_volatile() } == 0x5eed,
        );
        check("delete the second PD", cap::delete(pd2).is_ok());
    }
    if bad.get() != 0 {
        return 1;
    }
    println!(
        "probe: vspace on core {core}: all checks passed; touching the page under the deleted PD"
    );
    libos::set_fault_handler(|info| {
        println!(
            "probe: page under the deleted PD gone: fault vector {} at address {:#x}",
            info.vector, info.address
        );
        libos::FaultAction::Exit(0)
    });
    // SAFETY: deliberately touching the page whose PD was deleted: it faults.
    let v = unsafe { page.read_volatile() };
    println!("probe: vspace on core {core}: FAILED: page under a deleted PD readable ({v:#x})");
    1
}
