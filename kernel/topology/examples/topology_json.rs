//! Prints the topology of an `acpidump` text file as JSON:
//! `cargo run -p topology --example topology_json -- FILE [PACKAGE_SHIFT]`.

use std::process::ExitCode;
use topology::{from_acpidump_text, CpuHint};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: topology_json FILE [PACKAGE_SHIFT]");
        return ExitCode::from(2);
    };
    let hint = match args.next().map(|s| s.parse::<u32>()) {
        None => CpuHint::NONE,
        Some(Ok(shift)) => CpuHint::with_package_shift(shift),
        Some(Err(e)) => {
            eprintln!("bad package shift: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match from_acpidump_text(&text, hint) {
        Ok(t) => {
            let name = path.rsplit('/').next().unwrap_or(&path);
            println!("{}", t.to_json_with_source(name));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
