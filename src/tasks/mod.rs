//! Task semantics that need a Python parser: static checks of proposed programs
//! and canonical fingerprints for deduplication.

pub mod analysis;
pub mod check;
pub mod dedup;
pub mod nesting;
