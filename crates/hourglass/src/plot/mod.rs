//! Pictures, as PNG files.

pub mod chart;
pub mod curves;
pub mod grid;
pub mod histogram;
pub mod scatter;
