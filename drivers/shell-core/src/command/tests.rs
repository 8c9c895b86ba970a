use super::*;
use crate::parse::tokenize;

/// Tokenizes and parses one command.
fn p(s: &str) -> Result<Command, CommandError> {
    parse_command(&tokenize(s).unwrap())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn missing(command: &'static str, what: &'static str) -> Result<Command, CommandError> {
    Err(CommandError::MissingArgument { command, what })
}

fn too_many(command: &'static str) -> Result<Command, CommandError> {
    Err(CommandError::TooManyArguments { command })
}

fn bad_arg(r: Result<Command, CommandError>, command: &str, arg: &str) {
    match r {
        Err(CommandError::BadArgument {
            command: c, arg: a, ..
        }) => {
            assert_eq!(c, command);
            assert_eq!(a, arg);
        }
        other => panic!("expected a bad argument `{arg}` to {command}, got {other:?}"),
    }
}

#[test]
fn no_argument_commands() {
    let cases = [
        ("help", Command::Help),
        ("cores", Command::Cores),
        ("ps", Command::Ps),
        ("mem", Command::Mem),
        ("lspci", Command::Lspci),
        ("shutdown", Command::Shutdown),
        ("reboot", Command::Reboot),
    ];
    for (name, cmd) in cases {
        assert_eq!(p(name), Ok(cmd));
        let name_static = lookup(name).unwrap().name;
        assert_eq!(
            p(&alloc::format!("{name} extra")),
            too_many(name_static),
            "{name}"
        );
    }
}

#[test]
fn unknown_and_empty() {
    assert_eq!(
        p("frobnicate 1 2"),
        Err(CommandError::UnknownCommand("frobnicate".to_string()))
    );
    assert_eq!(
        p("PS"),
        Err(CommandError::UnknownCommand("PS".to_string())),
        "names are case-sensitive"
    );
    assert_eq!(p(""), Err(CommandError::Empty));
    assert_eq!(
        parse_command::<&str>(&[]),
        Err(CommandError::Empty),
        "no tokens"
    );
    assert_eq!(p(r#""""#), Err(CommandError::UnknownCommand(String::new())));
}

#[test]
fn caps() {
    assert_eq!(
        p("caps monitor"),
        Ok(Command::Caps {
            prog: "monitor".to_string()
        })
    );
    assert_eq!(p("caps"), missing("caps", "program name"));
    assert_eq!(p("caps a b"), too_many("caps"));
    bad_arg(p(r#"caps """#), "caps", "");
}

#[test]
fn skb() {
    assert_eq!(
        p("skb core_count(N)."),
        Ok(Command::Skb {
            query: "core_count(N).".to_string()
        })
    );
    assert_eq!(
        p(r#"skb member(X,  [1,2]) ,  "a ; b""#),
        Ok(Command::Skb {
            query: "member(X, [1,2]) , a ; b".to_string()
        })
    );
    assert_eq!(p("skb"), missing("skb", "query"));
    assert_eq!(p(r#"skb "" "  ""#), missing("skb", "query"));
}

fn spawn(prog: &str, args: &[&str], target: SpawnTarget) -> Result<Command, CommandError> {
    Ok(Command::Spawn {
        prog: prog.to_string(),
        args: strings(args),
        target,
    })
}

#[test]
fn spawn_targets() {
    assert_eq!(p("spawn hello"), spawn("hello", &[], SpawnTarget::Here));
    assert_eq!(
        p("spawn hello a b"),
        spawn("hello", &["a", "b"], SpawnTarget::Here)
    );
    assert_eq!(
        p("spawn hello a --core 3"),
        spawn("hello", &["a"], SpawnTarget::Core(3))
    );
    assert_eq!(
        p("spawn hello --core=0 a"),
        spawn("hello", &["a"], SpawnTarget::Core(0))
    );
    assert_eq!(
        p("spawn --core 2 hello a"),
        spawn("hello", &["a"], SpawnTarget::Core(2))
    );
    assert_eq!(
        p("spawn hello a b --all"),
        spawn("hello", &["a", "b"], SpawnTarget::All)
    );
    assert_eq!(
        p("spawn hello --core 4294967295"),
        spawn("hello", &[], SpawnTarget::Core(u32::MAX))
    );
}

#[test]
fn spawn_passes_other_options_and_double_dash() {
    assert_eq!(
        p("spawn hello -v --verbose --all"),
        spawn("hello", &["-v", "--verbose"], SpawnTarget::All)
    );
    assert_eq!(
        p("spawn hello --core 1 -- --all --core 2"),
        spawn("hello", &["--all", "--core", "2"], SpawnTarget::Core(1))
    );
    assert_eq!(
        p(r#"spawn hello "a b" """#),
        spawn("hello", &["a b", ""], SpawnTarget::Here)
    );
}

#[test]
fn spawn_errors() {
    assert_eq!(p("spawn"), missing("spawn", "program name"));
    assert_eq!(p("spawn --all"), missing("spawn", "program name"));
    assert_eq!(p("spawn --core 1 --"), missing("spawn", "program name"));
    assert_eq!(
        p("spawn hello --core"),
        missing("spawn", "core number after --core")
    );
    bad_arg(p("spawn hello --core 99999999999"), "spawn", "99999999999");
    bad_arg(p("spawn hello --core 4294967296"), "spawn", "4294967296");
    bad_arg(p("spawn hello --core -1"), "spawn", "-1");
    bad_arg(p("spawn hello --core +1"), "spawn", "+1");
    bad_arg(p("spawn hello --core 0x1"), "spawn", "0x1");
    bad_arg(p("spawn hello --core two"), "spawn", "two");
    bad_arg(p("spawn hello --core="), "spawn", "");
    bad_arg(p("spawn hello --core --all"), "spawn", "--all");
    bad_arg(p("spawn hello --core 1 --all"), "spawn", "--all");
    bad_arg(p("spawn hello --all --core 1"), "spawn", "--core");
    bad_arg(p("spawn hello --all --all"), "spawn", "--all");
    bad_arg(p(r#"spawn "" x"#), "spawn", "");
}

#[test]
fn kill() {
    assert_eq!(p("kill 42"), Ok(Command::Kill { domain: 42 }));
    assert_eq!(p("kill 0x2a"), Ok(Command::Kill { domain: 42 }));
    assert_eq!(p("kill 0X2A"), Ok(Command::Kill { domain: 42 }));
    assert_eq!(
        p("kill 0x100000003"),
        Ok(Command::Kill {
            domain: (1 << 32) | 3
        })
    );
    assert_eq!(
        p("kill 0xffffffffffffffff"),
        Ok(Command::Kill { domain: u64::MAX })
    );
    assert_eq!(
        p("kill 18446744073709551615"),
        Ok(Command::Kill { domain: u64::MAX })
    );
    assert_eq!(p("kill"), missing("kill", "domain id"));
    assert_eq!(p("kill 1 2"), too_many("kill"));
    for bad in [
        "0x",
        "2a",
        "0x1g",
        "-1",
        "+1",
        "18446744073709551616",
        "0x10000000000000000",
        "",
        "1.0",
    ] {
        bad_arg(p(&alloc::format!("kill \"{bad}\"")), "kill", bad);
    }
}

#[test]
fn bench() {
    assert_eq!(p("bench urpc"), Ok(Command::Bench(BenchKind::Urpc)));
    assert_eq!(p("bench lrpc"), Ok(Command::Bench(BenchKind::Lrpc)));
    assert_eq!(p("bench tlb"), Ok(Command::Bench(BenchKind::Tlb)));
    bad_arg(p("bench foo"), "bench", "foo");
    assert_eq!(
        p("bench"),
        missing("bench", "benchmark name (urpc, lrpc or tlb)")
    );
    assert_eq!(p("bench urpc tlb"), too_many("bench"));
}

#[test]
fn log() {
    let levels = [
        ("error", Level::Error),
        ("warn", Level::Warn),
        ("info", Level::Info),
        ("debug", Level::Debug),
        ("trace", Level::Trace),
        ("DEBUG", Level::Debug),
        ("Warn", Level::Warn),
    ];
    for (s, l) in levels {
        assert_eq!(p(&alloc::format!("log {s}")), Ok(Command::Log(l)));
    }
    bad_arg(p("log loud"), "log", "loud");
    bad_arg(p("log warning"), "log", "warning");
    assert_eq!(
        p("log"),
        missing("log", "log level (error, warn, info, debug or trace)")
    );
    assert_eq!(p("log info debug"), too_many("log"));
    assert!(Level::Error < Level::Trace);
    assert_eq!(Level::Info.to_string(), "info");
}

#[test]
fn echo() {
    assert_eq!(p("echo"), Ok(Command::Echo(String::new())));
    assert_eq!(
        p(r#"echo  hello   "big  world" "#),
        Ok(Command::Echo("hello big  world".to_string()))
    );
}

#[test]
fn parse_accepts_string_and_str_tokens() {
    assert_eq!(parse_command(&["ps"]), Ok(Command::Ps));
    assert_eq!(
        parse_command(&[String::from("kill"), String::from("7")]),
        Ok(Command::Kill { domain: 7 })
    );
}

#[test]
fn dmesg() {
    assert_eq!(p("dmesg"), Ok(Command::Dmesg(None)));
    assert_eq!(p("dmesg 31"), Ok(Command::Dmesg(Some(31))));
    bad_arg(p("dmesg all"), "dmesg", "all");
    bad_arg(p("dmesg -1"), "dmesg", "-1");
    assert_eq!(p("dmesg 1 2"), too_many("dmesg"));
}

#[test]
fn wait() {
    assert_eq!(
        p("wait 0x100000003"),
        Ok(Command::Wait {
            domain: (1 << 32) | 3
        })
    );
    assert_eq!(p("wait 7"), Ok(Command::Wait { domain: 7 }));
    assert!(p("wait").is_err());
    assert!(p("wait 1 2").is_err());
    assert!(p("wait 0xg").is_err());
    assert!(p("wait -1").is_err());
}

#[test]
fn table_is_consistent() {
    let expected = [
        "help", "cores", "ps", "mem", "caps", "skb", "spawn", "kill", "wait", "lspci", "bench",
        "log", "shutdown", "dmesg", "reboot", "echo",
    ];
    let names: Vec<_> = COMMANDS.iter().map(|c| c.name).collect();
    assert_eq!(names, expected);
    for c in COMMANDS {
        assert!(
            c.usage == c.name || c.usage.starts_with(&alloc::format!("{} ", c.name)),
            "{}",
            c.name
        );
        assert!(!c.summary.is_empty() && !c.summary.contains('\n'));
        assert!(c.max_args.is_none_or(|m| m >= c.min_args));
        assert_eq!(c.min_args > 0, !c.needs.is_empty(), "{}", c.name);
        // Every entry has a parser: the command with too few arguments is not unknown.
        assert!(!matches!(
            parse_command(&[c.name]),
            Err(CommandError::UnknownCommand(_))
        ));
    }
}

#[test]
fn errors_display_one_line_with_usage() {
    let cases: [(&str, &str); 9] = [
        ("caps", "caps: missing program name (usage: caps PROG)"),
        ("ps x", "ps: too many arguments (usage: ps)"),
        (
            "bench foo",
            "bench: bad argument `foo`: expected urpc, lrpc or tlb (usage: bench urpc|lrpc|tlb)",
        ),
        (
            "log loud",
            "log: bad argument `loud`: expected error, warn, info, debug or trace \
             (usage: log error|warn|info|debug|trace)",
        ),
        (
            "spawn x --core",
            "spawn: missing core number after --core (usage: spawn PROG [ARGS...] [--core N|--all])",
        ),
        (
            "spawn x --core 99999999999",
            "spawn: bad argument `99999999999`: expected a core number (decimal, up to \
             4294967295) (usage: spawn PROG [ARGS...] [--core N|--all])",
        ),
        (
            "kill x",
            "kill: bad argument `x`: expected a domain id in decimal or 0x-prefixed hex, up to \
             64 bits (usage: kill DOMAIN)",
        ),
        ("hlep", "unknown command `hlep`; `help` lists the commands"),
        ("", "no command given; try `help`"),
    ];
    for (input, msg) in cases {
        let e = p(input).unwrap_err();
        assert_eq!(e.to_string(), msg);
    }
    // Control characters in arguments are escaped, keeping the message on one line.
    let e = p("bench \"a\\nb\"").unwrap_err();
    assert!(!e.to_string().contains('\n'), "{e}");
    let e = p("\"x\\ny\"").unwrap_err();
    assert!(!e.to_string().contains('\n'), "{e}");
    assert_eq!(e.usage(), None);
    assert_eq!(p("mem 1").unwrap_err().usage(), Some("mem"));
}

#[test]
fn help_lists_every_command() {
    let h = help_text();
    assert!(h.ends_with('\n'));
    for c in COMMANDS {
        let line = h
            .lines()
            .find(|l| l.trim_start().starts_with(c.usage))
            .unwrap_or_else(|| panic!("no help line for {}", c.name));
        assert!(line.ends_with(c.summary), "{line}");
    }
    // Descriptions line up.
    let cols: Vec<usize> = COMMANDS
        .iter()
        .map(|c| {
            let line = h.lines().find(|l| l.contains(c.summary)).unwrap();
            line.find(c.summary).unwrap()
        })
        .collect();
    assert!(cols.windows(2).all(|w| w[0] == w[1]), "{h}");
}
