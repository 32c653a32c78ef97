//! hourglass: autoencoders on real data.
//!
//! The trip data takes, one way: [`data`] reads files into a [`data::Dataset`]; [`model`] builds
//! a [`model::Network`]; [`train`] fits it; [`artifact`] saves and loads the trained
//! [`artifact::TrainedModel`] as one safetensors file; [`tasks`] use a loaded model; [`plot`] draws
//! what they find; [`onnx`] exports a model for runtimes outside hourglass.

pub mod artifact;
pub mod data;
pub mod device;
pub mod error;
pub mod fsutil;
pub mod model;
pub mod onnx;
pub mod ops;
pub mod plot;
pub mod tasks;
pub mod train;

pub use error::{Error, Result};
