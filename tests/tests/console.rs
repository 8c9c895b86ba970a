//! The interactive shell on the serial console (what `cargo xtask run` boots to), typed
//! into through QEMU's serial port: the device manager starts the serial driver on the
//! core the SKB chose, the UART's receive interrupt reaches it through the I/O APIC, and
//! the shell on core 0 edits lines (history, cursor keys), runs them and powers off.

use integration_tests::{finish, machine, session, Machine, Session};
use std::time::Duration;

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
