//! Autoencoder models. Every architecture answers the same questions (`encode`, `decode`,
//! `reconstruct`), so every task works with every model.

pub mod config;
pub mod conv1d;
pub mod conv2d;
pub mod dense;
mod layers;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

pub use config::{Activation, Architecture, ModelConfig, OutputActivation, Sparsity};
pub use conv1d::Conv1dNet;
pub use conv2d::Conv2dNet;
pub use dense::DenseNet;

use crate::data::SampleShape;

/// A built network of any architecture.
// One network lives per model, so the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network {
    Dense(DenseNet),
    Conv2d(Conv2dNet),
    Conv1d(Conv1dNet),
}

impl Network {
    /// Builds a freshly initialised network for inputs of `input` shape. The config must be
    /// resolved (see [`ModelConfig::resolve`]).
    pub fn new(config: &ModelConfig, input: SampleShape, device: &Device) -> Self {
        match &config.architecture {
            Architecture::Dense { hidden } => {
                Network::Dense(DenseNet::new(input.features(), hidden, config, device))
            }
            Architecture::Conv2d { channels, kernel } => {
                Network::Conv2d(Conv2dNet::new(input, channels, *kernel, config, device))
            }
            Architecture::Conv1d {
                channels, kernel, ..
            } => Network::Conv1d(Conv1dNet::new(input, channels, *kernel, config, device)),
        }
    }

    /// Rows of scaled inputs → rows of latent codes (a variational model's means). `class`: a
    /// conditional model's one-hot rows of the samples' classes (see [`ModelConfig::condition`]).
    pub fn encode(&self, x: Tensor<2>, class: Option<Tensor<2>>) -> Tensor<2> {
        self.encode_distribution(x, class).0
    }

    /// The codes and, for a variational model, their log-variances.
    pub fn encode_distribution(
        &self,
        x: Tensor<2>,
        class: Option<Tensor<2>>,
    ) -> (Tensor<2>, Option<Tensor<2>>) {
        match self {
            Network::Dense(net) => net.encode_distribution(x, class),
            Network::Conv2d(net) => net.encode_distribution(x, class),
            Network::Conv1d(net) => net.encode_distribution(x, class),
        }
    }

    /// The encoder's last feature map per row, for architectures whose encoder has one worth
    /// comparing (conv2d: the convolutions' output before the dense code layer); `None` for the
    /// others.
    pub fn feature_map(&self, x: Tensor<2>) -> Option<Tensor<2>> {
        match self {
            Network::Conv2d(net) => Some(net.feature_map(x)),
            Network::Dense(_) | Network::Conv1d(_) => None,
        }
    }

    /// Values per row of [`Network::feature_map`], if it gives one.
    pub fn feature_width(&self) -> Option<usize> {
        match self {
            Network::Conv2d(net) => Some(net.bottleneck().iter().product()),
            Network::Dense(_) | Network::Conv1d(_) => None,
        }
    }

    /// Latent codes → the decoder's pre-activations (what BCE-with-logits needs).
    pub fn decode_logits(&self, z: Tensor<2>, class: Option<Tensor<2>>) -> Tensor<2> {
        match self {
            Network::Dense(net) => net.decode_logits(z, class),
            Network::Conv2d(net) => net.decode_logits(z, class),
            Network::Conv1d(net) => net.decode_logits(z, class),
        }
    }

    /// Latent codes → reconstructed rows, in the scaled space.
    pub fn decode(&self, z: Tensor<2>, class: Option<Tensor<2>>) -> Tensor<2> {
        self.output().apply(self.decode_logits(z, class))
    }

    /// encode then decode.
    pub fn reconstruct(&self, x: Tensor<2>, class: Option<Tensor<2>>) -> Tensor<2> {
        self.decode(self.encode(x, class.clone()), class)
    }

    pub fn output(&self) -> OutputActivation {
        match self {
            Network::Dense(net) => net.output(),
            Network::Conv2d(net) => net.output(),
            Network::Conv1d(net) => net.output(),
        }
    }
}
