//! Asking the System Knowledge Base (the `skbd` service on core 0) over a URPC binding
//! made by name on first use.

use alloc::string::String;

use spin::Mutex;

use crate::binding::{self, BindError, Binding};

/// Message tags of the SKB protocol (as `skbd` defines them).
pub mod tag {
    /// A query (bytes: the goal).
    pub const QUERY: u16 = 0x5101;
    /// An answer (bytes: solution lines, then `N solutions`).
    pub const ANSWER: u16 = 0x5102;
    /// A failed query (bytes: the error).
    pub const ERROR: u16 = 0x5103;
}

/// Why a query failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkbError {
    /// No binding to the service (not running, not reachable).
    Bind(BindError),
    /// The service refused the query (syntax, unknown predicate, limits...).
    Query(String),
    /// The answer was not text or had an unknown tag.
    BadAnswer,
}

/// The binding to the service, made on first use.
static BINDING: Mutex<Option<Binding>> = Mutex::new(None);

/// How long to wait for the service to appear or answer.
const TIMEOUT_MS: u64 = 60_000;

/// Run `goal`; the answer is every solution (as `writeq` writes the instantiated goal) one
/// per line, then `N solutions`.
pub fn query(goal: &str) -> Result<String, SkbError> {
    let mut guard = BINDING.lock();
    if guard.is_none() {
        *guard = Some(binding::connect("skb", TIMEOUT_MS).map_err(SkbError::Bind)?);
    }
    let Some(b) = guard.as_mut() else {
        return Err(SkbError::Bind(BindError::Channel));
    };
    b.send_bytes(tag::QUERY, goal.as_bytes())
        .map_err(SkbError::Bind)?;
    let mut buf = alloc::vec![0u8; 16 * 1024];
    let (t, n) = b.recv_bytes(&mut buf, TIMEOUT_MS).map_err(SkbError::Bind)?;
    let text = core::str::from_utf8(&buf[..n]).map_err(|_| SkbError::BadAnswer)?;
    match t {
        tag::ANSWER => Ok(String::from(text)),
        tag::ERROR => Err(SkbError::Query(String::from(text))),
        _ => Err(SkbError::BadAnswer),
    }
}
