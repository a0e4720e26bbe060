//! X12 005010: the 837P/837D writer (`writer`) and the reader of what comes back (`reader`).

pub mod reader;
pub mod writer;
