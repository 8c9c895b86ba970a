//! The shell's commands: their table ([`COMMANDS`]), the validator turning tokens into a
//! typed [`Command`] ([`parse_command`]), and the `help` text ([`help_text`]).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// One shell command, as data: its name, usage, description and how many arguments it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command's name, as typed.
    pub name: &'static str,
    /// The usage line: the name, then its arguments (`[...]` optional, `...` repeatable).
    pub usage: &'static str,
    /// A one-line description, for `help`.
    pub summary: &'static str,
    /// Fewest arguments (after the name).
    pub min_args: usize,
    /// Most arguments (after the name); `None` for no limit.
    pub max_args: Option<usize>,
    /// What the first missing argument is, for the error when there are too few.
    pub needs: &'static str,
}

const fn spec(
    name: &'static str,
    usage: &'static str,
    summary: &'static str,
    min_args: usize,
    max_args: Option<usize>,
    needs: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        usage,
        summary,
        min_args,
        max_args,
        needs,
    }
}

/// Every command of the shell, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec("help", "help", "list the commands", 0, Some(0), ""),
    spec(
        "cores",
        "cores",
        "list the cores and their state",
        0,
        Some(0),
        "",
    ),
    spec("ps", "ps", "list the running domains", 0, Some(0), ""),
    spec("mem", "mem", "show physical memory use", 0, Some(0), ""),
    spec(
        "caps",
        "caps PROG",
        "list the capabilities held by a program",
        1,
        Some(1),
        "program name",
    ),
    spec(
        "skb",
        "skb QUERY...",
        "ask the system knowledge base (the rest of the line is the query)",
        1,
        None,
        "query",
    ),
    spec(
        "spawn",
        "spawn PROG [ARGS...] [--core N|--all]",
        "start a program here, on core N, or on every core",
        1,
        None,
        "program name",
    ),
    spec(
        "kill",
        "kill DOMAIN",
        "stop a domain (id in decimal or 0x-prefixed hex)",
        1,
        Some(1),
        "domain id",
    ),
    spec(
        "wait",
        "wait DOMAIN",
        "wait until a domain ends; fails unless it exited with status 0",
        1,
        Some(1),
        "domain id",
    ),
    spec("lspci", "lspci", "list the PCI devices", 0, Some(0), ""),
    spec(
        "bench",
        "bench urpc|lrpc|tlb",
        "run a benchmark",
        1,
        Some(1),
        "benchmark name (urpc, lrpc or tlb)",
    ),
    spec(
        "log",
        "log error|warn|info|debug|trace",
        "set the log level",
        1,
        Some(1),
        "log level (error, warn, info, debug or trace)",
    ),
    spec(
        "shutdown",
        "shutdown",
        "power the machine off",
        0,
        Some(0),
        "",
    ),
    spec(
        "dmesg",
        "dmesg [CORE]",
        "show the kernel log kept on every core, or on core CORE",
        0,
        Some(1),
        "",
    ),
    spec("reboot", "reboot", "restart the machine", 0, Some(0), ""),
    spec("echo", "echo ...", "print the arguments", 0, None, ""),
];

/// The spec of the command called `name`, if there is one.
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Where `spawn` starts a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnTarget {
    /// On the shell's own core (no option given).
    Here,
    /// On this core (`--core N`).
    Core(u32),
    /// On every core (`--all`).
    All,
}

/// The benchmarks `bench` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchKind {
    /// Cross-core message passing.
    Urpc,
    /// Same-core message passing.
    Lrpc,
    /// TLB shootdown.
    Tlb,
}

/// Log levels, most severe first (`Error < Trace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational messages and above.
    Info,
    /// Debugging messages and above.
    Debug,
    /// Everything.
    Trace,
}

impl Level {
    /// The level's name, as `log` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated shell command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `help`
    Help,
    /// `cores`
    Cores,
    /// `ps`
    Ps,
    /// `mem`
    Mem,
    /// `caps PROG`
    Caps {
        /// The program whose capabilities to list.
        prog: String,
    },
    /// `skb QUERY...`
    Skb {
        /// The query: the arguments joined by single spaces.
        query: String,
    },
    /// `spawn PROG [ARGS...] [--core N|--all]`
    Spawn {
        /// The program to start.
        prog: String,
        /// Its arguments.
        args: Vec<String>,
        /// Where to start it.
        target: SpawnTarget,
    },
    /// `kill DOMAIN`
    Kill {
        /// The domain to stop.
        domain: u64,
    },
    /// `wait DOMAIN`
    Wait {
        /// The domain to wait for.
        domain: u64,
    },
    /// `lspci`
    Lspci,
    /// `bench urpc|lrpc|tlb`
    Bench(BenchKind),
    /// `log LEVEL`
    Log(Level),
    /// `dmesg [CORE]`: the kernel log of one core, or of every core (`None`).
    Dmesg(Option<u32>),
    /// `shutdown`
    Shutdown,
    /// `reboot`
    Reboot,
    /// `echo ...`: the arguments joined by single spaces.
    Echo(String),
}

/// Why tokens do not make a valid [`Command`]. The `Display` is one line naming the problem
/// and, for a known command, its usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// There were no tokens at all.
    Empty,
    /// No command has this name.
    UnknownCommand(String),
    /// A required argument is missing.
    MissingArgument {
        /// The command.
        command: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// An argument is not valid.
    BadArgument {
        /// The command.
        command: &'static str,
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// There are more arguments than the command takes.
    TooManyArguments {
        /// The command.
        command: &'static str,
    },
}

impl CommandError {
    /// The usage line of the command concerned, if the command is known.
    pub fn usage(&self) -> Option<&'static str> {
        match self {
            CommandError::Empty | CommandError::UnknownCommand(_) => None,
            CommandError::MissingArgument { command, .. }
            | CommandError::BadArgument { command, .. }
            | CommandError::TooManyArguments { command } => lookup(command).map(|s| s.usage),
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Empty => return f.write_str("no command given; try `help`"),
            CommandError::UnknownCommand(name) => {
                return write!(
                    f,
                    "unknown command `{}`; `help` lists the commands",
                    name.escape_debug()
                )
            }
            CommandError::MissingArgument { command, what } => {
                write!(f, "{command}: missing {what}")?
            }
            CommandError::BadArgument { command, arg, why } => {
                write!(f, "{command}: bad argument `{}`: {why}", arg.escape_debug())?
            }
            CommandError::TooManyArguments { command } => {
                write!(f, "{command}: too many arguments")?
            }
        }
        match self.usage() {
            Some(usage) => write!(f, " (usage: {usage})"),
            None => Ok(()),
        }
    }
}

/// Validates tokens (the command name, then its arguments, as from
/// [`tokenize`](crate::tokenize)) against [`COMMANDS`] and builds the [`Command`].
pub fn parse_command<S: AsRef<str>>(tokens: &[S]) -> Result<Command, CommandError> {
    let Some((name, args)) = tokens.split_first() else {
        return Err(CommandError::Empty);
    };
    let name = name.as_ref();
    let Some(spec) = lookup(name) else {
        return Err(CommandError::UnknownCommand(name.to_string()));
    };
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    check_arity(spec, args.len())?;
    let command = spec.name;
    let bad = |arg: &str, why: &'static str| CommandError::BadArgument {
        command,
        arg: arg.to_string(),
        why,
    };
    let parse_domain = |id: &str| {
        parse_u64(id).ok_or_else(|| {
            bad(
                id,
                "expected a domain id in decimal or 0x-prefixed hex, up to 64 bits",
            )
        })
    };
    Ok(match (command, args.as_slice()) {
        ("help", _) => Command::Help,
        ("cores", _) => Command::Cores,
        ("ps", _) => Command::Ps,
        ("mem", _) => Command::Mem,
        ("lspci", _) => Command::Lspci,
        ("shutdown", _) => Command::Shutdown,
        ("reboot", _) => Command::Reboot,
        ("caps", [prog]) => {
            if prog.is_empty() {
                return Err(bad(prog, "empty program name"));
            }
            Command::Caps {
                prog: prog.to_string(),
            }
        }
        ("skb", words) => {
            let query = words.join(" ");
            if query.trim().is_empty() {
                return Err(CommandError::MissingArgument {
                    command,
                    what: spec.needs,
                });
            }
            Command::Skb { query }
        }
        ("spawn", words) => parse_spawn(spec, words)?,
        ("kill", [id]) => Command::Kill {
            domain: parse_domain(id)?,
        },
        ("wait", [id]) => Command::Wait {
            domain: parse_domain(id)?,
        },
        ("bench", [kind]) => Command::Bench(match *kind {
            "urpc" => BenchKind::Urpc,
            "lrpc" => BenchKind::Lrpc,
            "tlb" => BenchKind::Tlb,
            _ => return Err(bad(kind, "expected urpc, lrpc or tlb")),
        }),
        ("log", [level]) => Command::Log(
            parse_level(level)
                .ok_or_else(|| bad(level, "expected error, warn, info, debug or trace"))?,
        ),
        ("dmesg", []) => Command::Dmesg(None),
        ("dmesg", [core]) => {
            Command::Dmesg(Some(parse_core(core).ok_or_else(|| {
                bad(core, "expected a core number (decimal, up to 4294967295)")
            })?))
        }
        ("echo", words) => Command::Echo(words.join(" ")),
        // The arity check makes the cases above complete; this is for a table entry added
        // without its case.
        _ => return Err(CommandError::UnknownCommand(name.to_string())),
    })
}

fn check_arity(spec: &CommandSpec, n: usize) -> Result<(), CommandError> {
    if n < spec.min_args {
        return Err(CommandError::MissingArgument {
            command: spec.name,
            what: spec.needs,
        });
    }
    if spec.max_args.is_some_and(|max| n > max) {
        return Err(CommandError::TooManyArguments { command: spec.name });
    }
    Ok(())
}

/// `spawn`'s arguments: `--core N`, `--core=N` and `--all` anywhere after the name (at most
/// one of them), `--` ending the options; the first other word is the program, the rest its
/// arguments.
fn parse_spawn(spec: &CommandSpec, words: &[&str]) -> Result<Command, CommandError> {
    let command = spec.name;
    let mut prog: Option<&str> = None;
    let mut args = Vec::new();
    let mut target: Option<SpawnTarget> = None;
    let mut options = true;
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        i += 1;
        let new_target = if options && w == "--" {
            options = false;
            continue;
        } else if options && w == "--all" {
            SpawnTarget::All
        } else if options && (w == "--core" || w.starts_with("--core=")) {
            let n = match w.strip_prefix("--core=") {
                Some(n) => n,
                None => {
                    let Some(n) = words.get(i) else {
                        return Err(CommandError::MissingArgument {
                            command,
                            what: "core number after --core",
                        });
                    };
                    i += 1;
                    n
                }
            };
            SpawnTarget::Core(parse_core(n).ok_or_else(|| CommandError::BadArgument {
                command,
                arg: n.to_string(),
                why: "expected a core number (decimal, up to 4294967295)",
            })?)
        } else {
            if prog.is_none() {
                if w.is_empty() {
                    return Err(CommandError::BadArgument {
                        command,
                        arg: String::new(),
                        why: "empty program name",
                    });
                }
                prog = Some(w);
            } else {
                args.push(w.to_string());
            }
            continue;
        };
        if target.is_some() {
            return Err(CommandError::BadArgument {
                command,
                arg: w.to_string(),
                why: "give at most one of --core N and --all",
            });
        }
        target = Some(new_target);
    }
    let Some(prog) = prog else {
        return Err(CommandError::MissingArgument {
            command,
            what: spec.needs,
        });
    };
    Ok(Command::Spawn {
        prog: prog.to_string(),
        args,
        target: target.unwrap_or(SpawnTarget::Here),
    })
}

/// A core number: decimal digits only, fitting in `u32`.
fn parse_core(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A domain id: decimal, or hex after `0x`/`0X`; digits only (no sign), fitting in `u64`.
fn parse_u64(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

fn parse_level(s: &str) -> Option<Level> {
    [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ]
    .into_iter()
    .find(|l| l.name().eq_ignore_ascii_case(s))
}

/// The `help` output: a heading, one line per command (usage, then description), and a note
/// on the syntax; lines end with `\n`.
pub fn help_text() -> String {
    let width = COMMANDS.iter().map(|c| c.usage.len()).max().unwrap_or(0);
    let mut s = String::from("Commands:\n");
    for c in COMMANDS {
        s.push_str("  ");
        s.push_str(c.usage);
        for _ in c.usage.len()..width + 2 {
            s.push(' ');
        }
        s.push_str(c.summary);
        s.push('\n');
    }
    s.push_str(
        "Separate commands with `;`; quote arguments containing spaces or `;` with \"...\".\n",
    );
    s
}

#[cfg(test)]
mod tests;
