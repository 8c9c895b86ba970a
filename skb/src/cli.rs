//! Host command line (feature `std`): `[FILE.pl ...] -q 'GOAL'`.

use crate::{Limits, Skb, SkbError};
use std::fmt;
use std::io::Write;
use std::string::{String, ToString};
use std::vec::Vec;

/// Usage text of [`cli_main`].
pub const USAGE: &str = "usage: skb [OPTIONS] [FILE.pl ...] -q GOAL

Loads the system rule library and the files, then prints every solution of GOAL, one per
line, as GOAL instantiated in standard term syntax (like SWI-Prolog's
forall(GOAL, (writeq(GOAL), nl))), then `N solutions`.

options:
  -q, --query GOAL    the goal to run (required)
  --no-rules          do not load the system rule library
  --max-steps N       inference step limit (default 10000000)
  --max-cells N       term-store cell limit (default 4000000)
  -h, --help          this text";

/// What can go wrong in [`cli_main`].
#[derive(Debug)]
pub enum CliError {
    /// Bad command line (the message, then [`USAGE`]).
    Usage(String),
    /// A file could not be read.
    Io { path: String, message: String },
    /// A file could not be loaded.
    Load { path: String, error: SkbError },
    /// The query failed with an error after printing `solutions` answers.
    Query { solutions: usize, error: SkbError },
    /// Writing the output failed.
    Output(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "{m}\n\n{USAGE}"),
            CliError::Io { path, message } => write!(f, "{path}: {message}"),
            CliError::Load { path, error } => write!(f, "{path}: {error}"),
            CliError::Query { solutions, error } => {
                write!(f, "error after {solutions} solutions: {error}")
            }
            CliError::Output(m) => write!(f, "output: {m}"),
        }
    }
}

impl std::error::Error for CliError {}

fn out_err(e: std::io::Error) -> CliError {
    CliError::Output(e.to_string())
}

/// Run the SKB command line. `args` are the arguments after the program name. Returns the
/// number of solutions printed.
pub fn cli_main(args: &[String], out: &mut dyn Write) -> Result<usize, CliError> {
    let mut files: Vec<&str> = Vec::new();
    let mut goal: Option<&str> = None;
    let mut rules = true;
    let mut limits = Limits::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .map(String::as_str)
                .ok_or_else(|| CliError::Usage(std::format!("{name} needs a value")))
        };
        match a.as_str() {
            "-q" | "--query" => {
                if goal.is_some() {
                    return Err(CliError::Usage("only one -q GOAL is allowed".into()));
                }
                goal = Some(value(a)?);
            }
            "--no-rules" => rules = false,
            "--max-steps" => {
                let v = value(a)?;
                limits.max_steps = v
                    .parse()
                    .map_err(|_| CliError::Usage(std::format!("bad --max-steps {v}")))?;
            }
            "--max-cells" => {
                let v = value(a)?;
                limits.max_cells = v
                    .parse()
                    .map_err(|_| CliError::Usage(std::format!("bad --max-cells {v}")))?;
            }
            "-h" | "--help" => {
                writeln!(out, "{USAGE}").map_err(out_err)?;
                return Ok(0);
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(CliError::Usage(std::format!("unknown option {s}")));
            }
            s => files.push(s),
        }
    }
    let Some(goal) = goal else {
        return Err(CliError::Usage("missing -q GOAL".into()));
    };
    let mut skb = if rules {
        Skb::with_system_rules()
    } else {
        Skb::new()
    };
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::Io {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        skb.consult(&text).map_err(|error| CliError::Load {
            path: path.to_string(),
            error,
        })?;
        let text = skb.take_output();
        out.write_all(text.as_bytes()).map_err(out_err)?;
    }
    let mut n = 0;
    let mut sols = skb
        .solutions(goal, limits)
        .map_err(|error| CliError::Query {
            solutions: 0,
            error,
        })?;
    while let Some(r) = sols.next() {
        let text = sols.take_output();
        out.write_all(text.as_bytes()).map_err(out_err)?;
        match r {
            Ok(s) => {
                writeln!(out, "{}", s.text()).map_err(out_err)?;
                n += 1;
            }
            Err(error) => {
                writeln!(out, "{n} solutions").map_err(out_err)?;
                return Err(CliError::Query {
                    solutions: n,
                    error,
                });
            }
        }
    }
    let text = sols.take_output();
    out.write_all(text.as_bytes()).map_err(out_err)?;
    writeln!(out, "{n} solutions").map_err(out_err)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (Result<usize, CliError>, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let r = cli_main(&args, &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn prints_solutions_then_count() {
        let dir = std::env::temp_dir().join(std::format!("skb-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.pl");
        std::fs::write(
            &f,
            "core(0,0,0,0). core(1,1,0,0). core(2,2,1,1). core(3,3,1,1).\n",
        )
        .unwrap();
        let (r, out) = run(&[f.to_str().unwrap(), "-q", "transport(0, C, T)"]);
        assert_eq!(r.unwrap(), 4);
        assert_eq!(out, "transport(0,0,lrpc)\ntransport(0,1,urpc)\ntransport(0,2,urpc)\ntransport(0,3,urpc)\n4 solutions\n");
        let (r, out) = run(&[
            f.to_str().unwrap(),
            "-q",
            "place_dispatchers(2, Cs), write(hello), nl",
        ]);
        assert_eq!(r.unwrap(), 1);
        assert_eq!(
            out,
            "hello\nplace_dispatchers(2,[0,2]),write(hello),nl\n1 solutions\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn errors() {
        assert!(matches!(run(&["-q"]).0, Err(CliError::Usage(_))));
        assert!(matches!(run(&[]).0, Err(CliError::Usage(_))));
        assert!(matches!(
            run(&["--bogus", "-q", "true"]).0,
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            run(&["/nonexistent.pl", "-q", "true"]).0,
            Err(CliError::Io { .. })
        ));
        let (r, out) = run(&["--no-rules", "-q", "member(X, [1, 0]), Y is 1 // X"]);
        assert!(matches!(r, Err(CliError::Query { solutions: 1, .. })));
        assert_eq!(out, "member(1,[1,0]),1 is 1//1\n1 solutions\n");
        let (r, out) = run(&["-q", "fail"]);
        assert_eq!(r.unwrap(), 0);
        assert_eq!(out, "0 solutions\n");
        let (r, _) = run(&["--max-steps", "1000", "-q", "repeat, fail"]);
        assert!(matches!(
            r,
            Err(CliError::Query {
                error: SkbError::ResourceLimit(_),
                ..
            })
        ));
        assert!(run(&["-h"]).1.starts_with("usage"));
    }
}
