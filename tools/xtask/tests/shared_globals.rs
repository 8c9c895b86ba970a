//! The multikernel's first principle, checked: kernel code (`kernel/`, `cpudriver/`) may
//! not add a `static` that is not listed, with a reason, in `shared-globals.allow`. A
//! shared mutable kernel global (a global lock of OS state, a shared run queue, a shared
//! allocator) therefore cannot slip in unnoticed, and `static mut` is refused outright.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const KERNEL_DIRS: [&str; 2] = ["kernel/src", "cpudriver/src"];
const KINDS: [&str; 4] = ["immutable", "zero-sized", "write-once", "device"];

fn root() -> PathBuf {
    xtask::paths::root()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `(path, NAME, is_mut)` of every static item declared in `text`.
fn statics(path: &str, text: &str) -> Vec<(String, String, bool)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = if t.starts_with("pub(") {
            t.split_once(')').map_or(t, |(_, r)| r.trim_start())
        } else {
            t
        };
        let Some(rest) = t.strip_prefix("static ") else {
            continue;
        };
        let (is_mut, rest) = match rest.trim_start().strip_prefix("mut ") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        found.push((path.to_string(), name, is_mut));
    }
    found
}

fn allowlist() -> BTreeSet<String> {
    let path = root().join("tools/xtask/shared-globals.allow");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut set = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, reason) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("shared-globals.allow:{}: no kind and reason", n + 1));
        let (kind, why) = reason.split_once(':').unwrap_or(("", ""));
        assert!(
            KINDS.contains(&kind.trim()) && why.trim().len() >= 10,
            "shared-globals.allow:{}: needs `<kind>: <reason>` with kind one of {KINDS:?}",
            n + 1
        );
        set.insert(key.to_string());
    }
    set
}

#[test]
fn no_unlisted_kernel_globals() {
    let allowed = allowlist();
    let mut files = Vec::new();
    for d in KERNEL_DIRS {
        rust_files(&root().join(d), &mut files);
    }
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for f in &files {
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        for (path, name, is_mut) in statics(&rel, &text) {
            let key = format!("{path}:{name}");
            if is_mut {
                problems.push(format!("{key}: `static mut` is not allowed in kernel code"));
            } else if !allowed.contains(&key) {
                problems.push(format!(
                    "{key}: a new kernel global; kernel state is per core. If it is immutable, \
                     zero-sized, write-once before other cores start, or a device, list it in \
                     tools/xtask/shared-globals.allow with the reason"
                ));
            }
            seen.insert(key);
        }
    }
    for stale in allowed.difference(&seen) {
        problems.push(format!(
            "{stale}: listed in shared-globals.allow but no longer exists"
        ));
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_scanner_finds_statics() {
    let src = "static A: u8 = 0;\n  pub static B: X = X;\npub(crate) static mut C: u8 = 0;\n// static D\nlet x = 1;";
    let got = statics("f.rs", src);
    let names: Vec<(&str, bool)> = got.iter().map(|(_, n, m)| (n.as_str(), *m)).collect();
    assert_eq!(names, [("A", false), ("B", false), ("C", true)]);
}
