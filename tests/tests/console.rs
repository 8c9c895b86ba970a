//! The interactive shells (what `cargo xtask run` boots to). On the serial console, typed
//! into through QEMU's serial port: the device manager starts the serial driver on the
//! core the SKB chose, the UART's receive interrupt reaches it through the I/O APIC, and
//! the shell on core 0 edits lines (history, cursor keys), runs them and powers off. On the
//! framebuffer console, typed on the PS/2 keyboard through QMP and read back from
//! screenshots.

use integration_tests::screen::{screen_text, Qmp};
use integration_tests::{finish, machine, session, Machine, Session};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Boot, bring-up and the first prompt, under emulation on a loaded 2-core host.
const BOOT_LIMIT: Duration = Duration::from_secs(240);
/// One command's answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(60);

fn machine4() -> Machine {
    let mut m = machine(4);
    m.numa_nodes = 2;
    m
}

/// Type `text` a few bytes at a time (as a person, or a slow terminal, would), then wait
/// for `expect` in the output after `from`; the offset after it.
fn typed(s: &mut Session, from: usize, text: &[u8], expect: &str) -> usize {
    for chunk in text.chunks(4) {
        s.send(chunk).expect("typing");
        std::thread::sleep(Duration::from_millis(30));
    }
    match s.wait_for(expect, from, ANSWER_LIMIT) {
        Ok(at) => at,
        Err(e) => panic!("after typing {text:?}: {e}\n--- log ---\n{}", s.log()),
    }
}

#[test]
fn serial_shell_edits_runs_and_powers_off() {
    let name = "console-serial";
    let mut s = session(name, &machine4(), &[("shell", "serial")]);
    let at = s
        .wait_for("`help` lists the commands", 0, BOOT_LIMIT)
        .unwrap_or_else(|e| panic!("no shell banner: {e}\n--- log ---\n{}", s.log()));
    let at = s
        .wait_for("> ", at, ANSWER_LIMIT)
        .unwrap_or_else(|e| panic!("no prompt: {e}\n--- log ---\n{}", s.log()));
    // A command and its table.
    let at = typed(&mut s, at, b"cores\r", "4 cores");
    // Line editing: type `echo wrld`, move left 3, insert `o`, go to the end, add `!`.
    let at = typed(
        &mut s,
        at,
        b"echo wrld\x1b[D\x1b[D\x1b[Do\x1b[F!\r",
        "world!",
    );
    // History: up twice brings back `cores`.
    let at = typed(&mut s, at, b"\x1b[A\x1b[A\r", "4 cores");
    // Bad input is reported and the shell goes on.
    let at = typed(&mut s, at, b"bogus\r", "error: ");
    // Ctrl-C abandons a line.
    let at = typed(&mut s, at, b"never run\x03", "^C");
    // Where the drivers run, as the SKB chose and the device manager recorded.
    let at = typed(&mut s, at, b"skb driver(P, C)\r", "solutions");
    // The serial driver holds its ports, its vector and its interrupt line: the IrqSrc
    // capability for ISA IRQ 4's GSI (4 on QEMU's machines) it routed the line with.
    let caps_at = at;
    let at = typed(&mut s, at, b"caps seriald\r", "IrqSrc");
    let at = s
        .wait_for("> ", at, ANSWER_LIMIT)
        .unwrap_or_else(|e| panic!("no prompt after `caps`: {e}\n--- log ---\n{}", s.log()));
    let held: Vec<Vec<String>> = s.log()[caps_at..]
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    for (t, base) in [("Io", "0x3f8"), ("Irq", "0x34"), ("IrqSrc", "0x4")] {
        assert!(
            held.iter()
                .any(|w| w.get(1..3) == Some(&[t.into(), base.into()])),
            "`caps seriald` lists its {t} capability at {base}:\n{}",
            &s.log()[caps_at..]
        );
    }
    typed(&mut s, at, b"shutdown\r", "shutdown");
    let r = finish(name, s, ANSWER_LIMIT);
    r.assert_success()
        .assert_lacks("PANIC")
        .assert_lacks("never run\r\nerror")
        .assert_contains("driver(seriald,1)")
        .assert_contains("driver(pcid,1)")
        .assert_contains("seriald: UART at 0x3f8, IRQ 4 (GSI")
        .assert_contains("on core 1, console `console.serial` offered");
}

/// Boot with the shell on the framebuffer console (and `cfg`), a QMP socket to type and
/// take screenshots through, and wait until the shell's greeting is on the screen; the
/// session, QMP and the screenshot's path.
fn framebuffer_shell(name: &str, cfg: &[(&str, &str)]) -> (Session, Qmp, PathBuf) {
    let dir = xtask::paths::xtask_out().join("tests").join(name);
    std::fs::create_dir_all(&dir).expect("test directory");
    let sock = dir.join("qmp.sock");
    let _ = std::fs::remove_file(&sock);
    let m = Machine {
        qmp: Some(sock.clone()),
        ..machine4()
    };
    let mut all = vec![("shell", "fb")];
    all.extend_from_slice(cfg);
    let mut s = session(name, &m, &all);
    s.wait_for("console `console.fb` offered", 0, BOOT_LIMIT)
        .unwrap_or_else(|e| panic!("no framebuffer console: {e}\n--- log ---\n{}", s.log()));
    let mut q = Qmp::connect(&sock, ANSWER_LIMIT).expect("QMP");
    let dump = dir.join("screen.ppm");
    screen_showing(&mut q, &dump, "`help` lists the commands", ANSWER_LIMIT);
    (s, q, dump)
}

/// Take screenshots until one shows `needle` (at most `limit`); the screen's rows.
fn screen_showing(
    q: &mut Qmp,
    dump: &std::path::Path,
    needle: &str,
    limit: Duration,
) -> Vec<String> {
    let end = Instant::now() + limit;
    loop {
        q.screendump(dump).expect("screendump");
        // QEMU writes the file when the command returns.
        let rows = screen_text(dump).unwrap_or_default();
        if rows.iter().any(|r| r.contains(needle)) {
            return rows;
        }
        if Instant::now() >= end {
            panic!("the screen never showed `{needle}`:\n{}", rows.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn framebuffer_shell_reads_the_keyboard_and_draws_on_the_screen() {
    let name = "console-fb";
    let (s, mut q, dump) = framebuffer_shell(name, &[]);
    q.type_text("echo Hello (fb)\r").expect("typing");
    let rows = screen_showing(&mut q, &dump, "Hello (fb)", ANSWER_LIMIT);
    // The echoed command line and the output line.
    assert!(
        rows.iter().any(|r| r == "> echo Hello (fb)") && rows.iter().any(|r| r == "Hello (fb)"),
        "screen:\n{}",
        rows.join("\n")
    );
    q.type_text("cores\r").expect("typing");
    screen_showing(&mut q, &dump, "4 cores", ANSWER_LIMIT);
    // `help` adds some 20 lines: the whole 1280x720 screen is the console (45 rows), so the
    // greeting at the top is still there when the help text ends below row 18 (where a
    // console limited to what one page table maps would have had to scroll).
    q.type_text("help\r").expect("typing");
    let rows = screen_showing(&mut q, &dump, "Separate commands with", ANSWER_LIMIT);
    let greeting = rows
        .iter()
        .position(|r| r.contains("`help` lists the commands"));
    let last = rows
        .iter()
        .position(|r| r.starts_with("Separate commands with"));
    assert!(
        matches!((greeting, last), (Some(g), Some(l)) if g < 3 && l > 18),
        "screen:\n{}",
        rows.join("\n")
    );
    // The kernel log goes to serial only after the hand-over; `dmesg` shows it here.
    q.type_text("dmesg 1\r").expect("typing");
    let rows = screen_showing(&mut q, &dump, "core 1: kernel log bytes 0..", ANSWER_LIMIT);
    let rows = if rows
        .iter()
        .any(|r| r.starts_with("[c01 INFO ] monitor: monitor alive"))
    {
        rows
    } else {
        screen_showing(
            &mut q,
            &dump,
            "[c01 INFO ] monitor: monitor alive",
            ANSWER_LIMIT,
        )
    };
    assert!(
        rows.iter()
            .any(|r| r.starts_with("[c01 INFO ] monitor: monitor alive on core 1")),
        "screen:\n{}",
        rows.join("\n")
    );
    q.type_text("shutdown\r").expect("typing");
    let r = finish(name, s, ANSWER_LIMIT);
    r.assert_success()
        .assert_lacks("PANIC")
        .assert_contains("fbcond: 1280x720 framebuffer (45 text rows of")
        .assert_contains("and PS/2 keyboard (IRQ 1, GSI");
}

#[test]
fn a_kernel_panic_after_the_hand_over_is_shown_on_the_screen() {
    // The framebuffer belongs to `fbcond` once it runs; a later kernel panic (core 0, 15 s
    // after its timer started: well after the console is up) takes the screen back.
    let name = "console-fb-panic";
    let cfg = [("qemu_exit", "0"), ("inject", "panic@15000")];
    let (mut s, mut q, dump) = framebuffer_shell(name, &cfg);
    s.wait_for("kernel panic on core 0", 0, ANSWER_LIMIT)
        .unwrap_or_else(|e| panic!("no panic: {e}\n--- log ---\n{}", s.log()));
    // `fbcond` (on another core) may still be drawing when the panic comes and draw over
    // part of it; the panicked core draws the panic again every second, so wait for it.
    let rows = screen_showing(&mut q, &dump, "injected panic after 15000 ms", ANSWER_LIMIT);
    assert!(
        rows.first().is_some_and(|r| r == "KERNEL PANIC on core 0")
            && rows.iter().any(|r| r.contains("percore.rs:")),
        "screen:\n{}",
        rows.join("\n")
    );
    // The other cores go on (QEMU is not ended: `qemu_exit=0`); the session ends QEMU.
    drop(s);
}
