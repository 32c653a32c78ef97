//! Pictures, as PNG files.

pub mod chart;
pub mod grid;
pub mod histogram;
