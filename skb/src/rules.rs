//! The system placement rules (placeholder; filled in below).

/// Rule files shipped with the SKB: (file name, text).
pub const SYSTEM_RULES: &[(&str, &str)] = &[];
