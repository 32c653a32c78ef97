//! Pictures, as PNG files.

pub mod grid;
