//! # shell-core: the OS-independent half of the interactive shell
//!
//! The shell is a user program that talks to a person over the serial console or over the
//! framebuffer + keyboard console. Everything it does that does not touch the OS lives here,
//! as pure logic (`no_std` + `alloc`, no `unsafe`, no I/O) so that it can be unit-tested on
//! the host:
//!
//! * [`editor`]: the [`LineEditor`], fed one input byte at a time (or one decoded [`Key`]
//!   at a time, for a keyboard driver), which edits a bounded line with a bounded history
//!   and says which bytes (VT100 sequences) to send back to keep the terminal in sync;
//! * [`parse`]: splitting a line into commands on `;` ([`split_commands`]) and a command
//!   into arguments with double quotes and backslash escapes ([`tokenize`]);
//! * [`command`]: the table of the shell's commands ([`COMMANDS`]) with their usage, the
//!   validator that turns arguments into a typed [`Command`] ([`parse_command`]), and the
//!   `help` text ([`help_text`]);
//! * [`mod@table`]: a small column formatter ([`table()`]) for the output of `cores`, `ps`
//!   and `mem`.
//!
//! The shell program's loop is then: feed each received byte to the editor and write its
//! output to the terminal; on [`Event::Line`], run every [`Command`] of [`parse_line`].
//!
//! All text produced here ends lines with `\n` (the editor's own output uses `\r\n`); a
//! serial console that needs `\r\n` translates when writing.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod command;
pub mod editor;
pub mod parse;
pub mod table;

pub use command::{
    help_text, parse_command, BenchKind, Command, CommandError, CommandSpec, Level, SpawnTarget,
    COMMANDS,
};
pub use editor::{Event, Key, LineEditor, MAX_HISTORY, MAX_LINE};
pub use parse::{split_commands, tokenize, ParseError, MAX_TOKENS};
pub use table::table;

use alloc::vec::Vec;
use core::fmt;

/// Why one command of a line could not be turned into a [`Command`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineError {
    /// The command's text could not be split into arguments.
    Parse(ParseError),
    /// The arguments do not make a valid command.
    Command(CommandError),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Parse(e) => e.fmt(f),
            LineError::Command(e) => e.fmt(f),
        }
    }
}

impl From<ParseError> for LineError {
    fn from(e: ParseError) -> Self {
        LineError::Parse(e)
    }
}

impl From<CommandError> for LineError {
    fn from(e: CommandError) -> Self {
        LineError::Command(e)
    }
}

/// Parses a whole input line: splits it into commands on `;` (outside quotes), tokenizes
/// each and validates it. One result per non-empty command, in order; an empty line gives
/// an empty vector. The shell runs the commands in order and reports each error on its own
/// line (whether it stops at the first error is its choice).
pub fn parse_line(line: &str) -> Vec<Result<Command, LineError>> {
    split_commands(line)
        .into_iter()
        .map(|cmd| {
            let tokens = tokenize(cmd)?;
            Ok(parse_command(&tokens)?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parse_line_runs_every_command() {
        let r = parse_line("ps; mem ;; log \"de;bug\"; bogus; echo \"a");
        assert_eq!(r.len(), 5);
        assert_eq!(r[0], Ok(Command::Ps));
        assert_eq!(r[1], Ok(Command::Mem));
        assert!(matches!(
            &r[2],
            Err(LineError::Command(CommandError::BadArgument {
                command: "log",
                ..
            }))
        ));
        assert_eq!(
            r[3],
            Err(LineError::Command(CommandError::UnknownCommand(
                "bogus".to_string()
            )))
        );
        assert!(matches!(
            r[4],
            Err(LineError::Parse(ParseError::UnterminatedQuote { .. }))
        ));
    }

    #[test]
    fn parse_line_empty() {
        assert!(parse_line("").is_empty());
        assert!(parse_line("  ;  ; ").is_empty());
    }

    #[test]
    fn line_error_display_is_one_line() {
        for r in parse_line("x; caps; echo \"; kill zz") {
            let msg = r.unwrap_err().to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{msg}");
        }
    }
}
