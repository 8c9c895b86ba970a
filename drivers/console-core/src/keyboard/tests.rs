use super::*;
use crate::terminal::tests::Rng;
use alloc::vec::Vec;

const LSHIFT: u8 = 0x2a;
const RSHIFT: u8 = 0x36;
const CTRL: u8 = 0x1d;
const CAPS: u8 = 0x3a;
const NUM: u8 = 0x45;
const RELEASE: u8 = 0x80;

/// Feed all `codes` and collect every byte produced.
fn typed(kb: &mut Keyboard, codes: &[u8]) -> Vec<u8> {
    codes.iter().flat_map(|&c| kb.feed(c).to_vec()).collect()
}

/// Press and release each key of `keys`.
fn tap(keys: &[u8]) -> Vec<u8> {
    let codes: Vec<u8> = keys.iter().flat_map(|&k| [k, k | RELEASE]).collect();
    typed(&mut Keyboard::new(), &codes)
}

#[test]
fn unshifted_keys() {
    // h e l l o space 1 0 - = [ ] ; ' ` \ , . / keypad-*
    let keys = [
        0x23, 0x12, 0x26, 0x26, 0x18, 0x39, 0x02, 0x0b, 0x0c, 0x0d, 0x1a, 0x1b, 0x27, 0x28, 0x29,
        0x2b, 0x33, 0x34, 0x35, 0x37,
    ];
    assert_eq!(tap(&keys), b"hello 10-=[];'`\\,./*");
    assert_eq!(tap(&[0x1c, 0x0e, 0x0f, 0x01]), b"\r\x7f\t\x1b");
}

#[test]
fn shifted_keys_with_either_shift() {
    let mut kb = Keyboard::new();
    assert_eq!(typed(&mut kb, &[LSHIFT, 0x1e, 0x02, 0x0c]), b"A!_");
    assert_eq!(typed(&mut kb, &[LSHIFT | RELEASE, 0x1e]), b"a");
    assert_eq!(typed(&mut kb, &[RSHIFT, 0x03, 0x29, 0x2b, 0x35]), b"@~|?");
    // Releasing one shift while the other is held keeps shifting.
    assert_eq!(typed(&mut kb, &[LSHIFT, RSHIFT | RELEASE, 0x10]), b"Q");
    assert_eq!(typed(&mut kb, &[LSHIFT | RELEASE, 0x10]), b"q");
}

#[test]
fn caps_lock_affects_letters_only_and_ignores_repeat() {
    let mut kb = Keyboard::new();
    assert_eq!(typed(&mut kb, &[CAPS, CAPS, CAPS, CAPS | RELEASE]), b"");
    assert!(kb.caps_lock(), "auto-repeat does not toggle again");
    assert_eq!(typed(&mut kb, &[0x1e, 0x02, 0x0c]), b"A1-");
    assert_eq!(
        typed(&mut kb, &[LSHIFT, 0x1e, 0x02, LSHIFT | RELEASE]),
        b"a!"
    );
    assert_eq!(typed(&mut kb, &[CAPS, CAPS | RELEASE, 0x1e]), b"a");
    assert!(!kb.caps_lock());
}

#[test]
fn ctrl_gives_control_bytes() {
    let mut kb = Keyboard::new();
    // Ctrl-A, Ctrl-C, Ctrl-Z, Ctrl-[, Ctrl-space, Ctrl-1 (unchanged).
    assert_eq!(
        typed(&mut kb, &[CTRL, 0x1e, 0x2e, 0x2c, 0x1a, 0x39, 0x02]),
        b"\x01\x03\x1a\x1b\x00\x31"
    );
    // Ctrl-Shift-C and Ctrl with Caps Lock are still Ctrl-C.
    assert_eq!(typed(&mut kb, &[LSHIFT, 0x2e, LSHIFT | RELEASE]), b"\x03");
    assert_eq!(typed(&mut kb, &[CAPS, CAPS | RELEASE, 0x2e]), b"\x03");
    assert_eq!(typed(&mut kb, &[CTRL | RELEASE, 0x2e]), b"C");
    // Right Ctrl is E0 1D.
    assert_eq!(typed(&mut kb, &[0xe0, CTRL, 0x20]), b"\x04");
    assert_eq!(typed(&mut kb, &[0xe0, CTRL | RELEASE, 0x20]), b"D");
}

#[test]
fn extended_keys() {
    let mut kb = Keyboard::new();
    for (code, seq) in [
        (0x48, &b"\x1b[A"[..]),
        (0x50, b"\x1b[B"),
        (0x4d, b"\x1b[C"),
        (0x4b, b"\x1b[D"),
        (0x47, b"\x1b[H"),
        (0x4f, b"\x1b[F"),
        (0x53, b"\x1b[3~"),
        (0x52, b"\x1b[2~"),
        (0x49, b"\x1b[5~"),
        (0x51, b"\x1b[6~"),
        (0x1c, b"\r"),
        (0x35, b"/"),
    ] {
        // The prefix and the code arrive in separate calls.
        assert_eq!(kb.feed(0xe0), KeyBytes::EMPTY);
        assert_eq!(kb.feed(code).as_bytes(), seq, "E0 {code:02x}");
        assert_eq!(typed(&mut kb, &[0xe0, code | RELEASE]), b"");
    }
    // The prefix applies to one code only.
    assert_eq!(typed(&mut kb, &[0xe0, 0x48, 0x48]), b"\x1b[A8");
}

#[test]
fn keypad_follows_num_lock() {
    let mut kb = Keyboard::new();
    assert!(kb.num_lock());
    assert_eq!(
        typed(&mut kb, &[0x47, 0x4b, 0x52, 0x53, 0x4a, 0x4e]),
        b"740.-+"
    );
    typed(&mut kb, &[NUM, NUM | RELEASE]);
    assert!(!kb.num_lock());
    assert_eq!(typed(&mut kb, &[0x48, 0x4c, 0x4a]), b"\x1b[A-");
}

#[test]
fn releases_produce_nothing() {
    let codes: Vec<u8> = (0x01..0x59).map(|c| c | RELEASE).collect();
    assert_eq!(typed(&mut Keyboard::new(), &codes), b"");
}

#[test]
fn fake_shifts_pause_and_replies_are_ignored() {
    let mut kb = Keyboard::new();
    // Print Screen with fake shifts around it, and an extended key under Num Lock.
    assert_eq!(typed(&mut kb, &[0xe0, 0x2a, 0xe0, 0x37]), b"");
    assert_eq!(typed(&mut kb, &[0xe0, 0xb7, 0xe0, 0xaa]), b"");
    assert_eq!(typed(&mut kb, &[0xe0, 0x2a, 0x1e, 0xe0, 0xaa]), b"a");
    // Pause: E1 1D 45 E1 9D C5 neither presses Ctrl nor toggles Num Lock.
    assert_eq!(typed(&mut kb, &[0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5]), b"");
    assert!(kb.num_lock());
    assert_eq!(typed(&mut kb, &[0x1e]), b"a");
    // Controller replies, function keys, Alt, Windows keys, unknown codes.
    assert_eq!(
        typed(
            &mut kb,
            &[0xfa, 0xfe, 0xee, 0x00, 0xff, 0x3b, 0x58, 0x38, 0x7f, 0xe0, 0x5b]
        ),
        b""
    );
    assert_eq!(typed(&mut kb, &[0x1e]), b"a");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(42);
    let mut kb = Keyboard::new();
    for _ in 0..100_000 {
        let out = kb.feed(rng.byte());
        assert!(out.len() <= 4);
    }
    // Release everything: typing works again.
    let mut kb2 = kb.clone();
    typed(&mut kb2, &[0xe1, 0, 0]); // end any Pause sequence
    typed(&mut kb2, &[0x00, 0xaa, 0xb6, 0x9d, 0xe0, 0x9d]);
    let a = typed(&mut kb2, &[0x1e]);
    assert!(a == b"a" || a == b"A", "{a:?}");
}
