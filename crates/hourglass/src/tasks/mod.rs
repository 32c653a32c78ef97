//! What a trained model is used for. Each task receives a loaded model and data; none reaches back
//! into training.

pub mod anomaly;
pub mod codec;
pub mod compress;
pub mod denoise;
pub mod detector;
pub mod eval;
pub mod export;
pub mod features;
pub mod generate;
pub mod impute;
pub mod inpaint;
pub mod label;
pub mod pca;
