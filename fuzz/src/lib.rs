//! The X12 reader of Officina, compiled from its own source for fuzzing (see Cargo.toml).

#[path = "../../src/billing/x12/reader/mod.rs"]
pub mod reader;
