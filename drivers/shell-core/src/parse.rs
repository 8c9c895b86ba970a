//! Splitting a line into commands and a command into arguments.
//!
//! The syntax is deliberately small:
//!
//! * `;` separates commands, except inside double quotes;
//! * spaces and tabs separate arguments;
//! * `"..."` quotes: spaces and `;` inside are part of the argument, and the quotes may be
//!   glued to other text (`a"b c"d` is the one argument `ab cd`); `""` is an empty argument;
//! * inside quotes, a backslash escapes: `\"` is `"`, `\\` is `\`, `\n` is a newline and `\t`
//!   a tab; a backslash before anything else is kept as it is. Outside quotes a backslash is
//!   an ordinary character.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Maximum length of one command given to [`tokenize`], in bytes.
pub const MAX_COMMAND: usize = crate::editor::MAX_LINE;

/// Maximum number of tokens (command name included) [`tokenize`] returns.
pub const MAX_TOKENS: usize = 32;

/// Why a command could not be split into arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A `"` was never closed; `at` is the byte offset of the opening quote.
    UnterminatedQuote {
        /// Byte offset of the opening quote in the command.
        at: usize,
    },
    /// The command is longer than [`MAX_COMMAND`] bytes.
    LineTooLong {
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The command has more than [`MAX_TOKENS`] tokens.
    TooManyArguments {
        /// The maximum number of tokens, command name included.
        max: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnterminatedQuote { at } => {
                write!(f, "unterminated quote (the \" at column {})", at + 1)
            }
            ParseError::LineTooLong { len, max } => {
                write!(f, "command too long ({len} bytes, at most {max})")
            }
            ParseError::TooManyArguments { max } => {
                write!(f, "too many arguments (at most {max} words per command)")
            }
        }
    }
}

/// Splits a line into commands on `;` outside double quotes (a `\"` inside quotes does not
/// close them). Each command is trimmed of surrounding whitespace; empty commands are dropped,
/// so `"ps;; mem ;"` gives `["ps", "mem"]`. An unterminated quote runs to the end of the line
/// (and [`tokenize`] then reports it).
pub fn split_commands(s: &str) -> Vec<&str> {
    let mut cmds = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if in_quote {
            match c {
                '"' => in_quote = false,
                '\\' => escaped = true,
                _ => {}
            }
        } else if c == '"' {
            in_quote = true;
        } else if c == ';' {
            push_trimmed(&mut cmds, s.get(start..i).unwrap_or(""));
            start = i + 1;
        }
    }
    push_trimmed(&mut cmds, s.get(start..).unwrap_or(""));
    cmds
}

fn push_trimmed<'a>(cmds: &mut Vec<&'a str>, cmd: &'a str) {
    let cmd = cmd.trim();
    if !cmd.is_empty() {
        cmds.push(cmd);
    }
}

/// Splits one command into its tokens (the command name, then the arguments), following the
/// quoting rules of the [module documentation](self). A blank command gives no tokens.
pub fn tokenize(cmd: &str) -> Result<Vec<String>, ParseError> {
    if cmd.len() > MAX_COMMAND {
        return Err(ParseError::LineTooLong {
            len: cmd.len(),
            max: MAX_COMMAND,
        });
    }
    let mut tokens = Vec::new();
    let mut cur = String::new();
    // A token has started (possibly empty, as `""`).
    let mut in_token = false;
    let mut chars = cmd.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_token {
                    push_token(&mut tokens, &mut cur)?;
                    in_token = false;
                }
            }
            '"' => {
                in_token = true;
                loop {
                    match chars.next() {
                        None => return Err(ParseError::UnterminatedQuote { at: i }),
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            None => return Err(ParseError::UnterminatedQuote { at: i }),
                            Some((_, '"')) => cur.push('"'),
                            Some((_, '\\')) => cur.push('\\'),
                            Some((_, 'n')) => cur.push('\n'),
                            Some((_, 't')) => cur.push('\t'),
                            Some((_, other)) => {
                                cur.push('\\');
                                cur.push(other);
                            }
                        },
                        Some((_, other)) => cur.push(other),
                    }
                }
            }
            other => {
                in_token = true;
                cur.push(other);
            }
        }
    }
    if in_token {
        push_token(&mut tokens, &mut cur)?;
    }
    Ok(tokens)
}

fn push_token(tokens: &mut Vec<String>, cur: &mut String) -> Result<(), ParseError> {
    if tokens.len() >= MAX_TOKENS {
        return Err(ParseError::TooManyArguments { max: MAX_TOKENS });
    }
    tokens.push(core::mem::take(cur));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    fn toks(s: &str) -> Vec<String> {
        tokenize(s).unwrap()
    }

    #[test]
    fn split_plain() {
        assert_eq!(split_commands("ps"), vec!["ps"]);
        assert_eq!(split_commands("ps;mem"), vec!["ps", "mem"]);
        assert_eq!(
            split_commands(" ps ; mem ;; cores; "),
            vec!["ps", "mem", "cores"]
        );
        assert!(split_commands("").is_empty());
        assert!(split_commands(" ; ;").is_empty());
    }

    #[test]
    fn split_respects_quotes() {
        assert_eq!(
            split_commands(r#"echo "a;b"; ps"#),
            vec![r#"echo "a;b""#, "ps"]
        );
        assert_eq!(
            split_commands(r#"echo "a\";b"; ps"#),
            vec![r#"echo "a\";b""#, "ps"]
        );
        assert_eq!(
            split_commands(r#"echo "a\\"; ps"#),
            vec![r#"echo "a\\""#, "ps"]
        );
        // Backslash outside quotes is ordinary.
        assert_eq!(split_commands(r"echo a\; ps"), vec![r"echo a\", "ps"]);
        // Unterminated: the rest of the line is one command.
        assert_eq!(split_commands(r#"echo "a; ps"#), vec![r#"echo "a; ps"#]);
    }

    #[test]
    fn split_non_ascii() {
        assert_eq!(split_commands("échо;ü"), vec!["échо", "ü"]);
    }

    #[test]
    fn tokenize_words() {
        assert_eq!(
            toks("spawn  hello\tworld "),
            vec!["spawn", "hello", "world"]
        );
        assert!(toks("").is_empty());
        assert!(toks("  \t ").is_empty());
    }

    #[test]
    fn tokenize_quotes() {
        assert_eq!(toks(r#"echo "a b"  c"#), vec!["echo", "a b", "c"]);
        assert_eq!(toks(r#"echo a"b c"d"#), vec!["echo", "ab cd"]);
        assert_eq!(toks(r#"echo "" x"#), vec!["echo", "", "x"]);
        assert_eq!(toks(r#""""#), vec![""]);
        assert_eq!(toks(r#"echo "a;b""#), vec!["echo", "a;b"]);
    }

    #[test]
    fn tokenize_escapes() {
        assert_eq!(toks(r#"echo "a\"b""#), vec!["echo", "a\"b"]);
        assert_eq!(toks(r#"echo "a\\b""#), vec!["echo", "a\\b"]);
        assert_eq!(toks(r#"echo "a\nb\tc""#), vec!["echo", "a\nb\tc"]);
        assert_eq!(toks(r#"echo "a\qb""#), vec!["echo", "a\\qb"]);
        // Outside quotes a backslash is literal.
        assert_eq!(toks(r"echo a\nb"), vec!["echo", "a\\nb"]);
    }

    #[test]
    fn tokenize_unterminated() {
        assert_eq!(
            tokenize(r#"echo "abc"#),
            Err(ParseError::UnterminatedQuote { at: 5 })
        );
        assert_eq!(
            tokenize(r#"echo "abc\"#),
            Err(ParseError::UnterminatedQuote { at: 5 })
        );
        assert_eq!(
            tokenize(r#"echo "ok" "x\""#),
            Err(ParseError::UnterminatedQuote { at: 10 })
        );
    }

    #[test]
    fn tokenize_too_long() {
        let long = "x".repeat(MAX_COMMAND + 1);
        assert_eq!(
            tokenize(&long),
            Err(ParseError::LineTooLong {
                len: MAX_COMMAND + 1,
                max: MAX_COMMAND
            })
        );
        assert_eq!(toks(&"x".repeat(MAX_COMMAND)).len(), 1);
    }

    #[test]
    fn tokenize_too_many() {
        let ok = vec!["a"; MAX_TOKENS].join(" ");
        assert_eq!(toks(&ok).len(), MAX_TOKENS);
        let bad = vec!["a"; MAX_TOKENS + 1].join(" ");
        assert_eq!(
            tokenize(&bad),
            Err(ParseError::TooManyArguments { max: MAX_TOKENS })
        );
    }

    #[test]
    fn tokenize_non_ascii() {
        assert_eq!(toks("echo \"é ü\" ß"), vec!["echo", "é ü", "ß"]);
    }

    #[test]
    fn display() {
        assert_eq!(
            ParseError::UnterminatedQuote { at: 5 }.to_string(),
            "unterminated quote (the \" at column 6)"
        );
        assert!(ParseError::LineTooLong { len: 300, max: 256 }
            .to_string()
            .contains("300"));
        assert!(ParseError::TooManyArguments { max: 32 }
            .to_string()
            .contains("32"));
    }
}
