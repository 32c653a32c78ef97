//! Small pieces the architectures share: the activation functions and how a layer stack applies
//! them.

use burn::nn::Dropout;
use burn::tensor::{Tensor, activation};

use super::config::{Activation, OutputActivation};

impl Activation {
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::LeakyRelu => activation::leaky_relu(x, 0.01),
            Activation::Tanh => activation::tanh(x),
            Activation::Gelu => activation::gelu(x),
            Activation::Sigmoid => activation::sigmoid(x),
        }
    }
}

impl OutputActivation {
    /// Applies the output non-linearity to the last layer's pre-activations.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            OutputActivation::Sigmoid => activation::sigmoid(x),
            // `Auto` never reaches a built network: the config is resolved first.
            OutputActivation::Identity | OutputActivation::Auto => x,
        }
    }
}

/// Activation then dropout, as after every hidden layer.
pub fn hidden<const D: usize>(
    x: Tensor<D>,
    activation: Activation,
    dropout: &Dropout,
) -> Tensor<D> {
    dropout.forward(activation.apply(x))
}

/// Splits an encoder's output into the code (the mean, for a variational model) and, for a
/// variational model, the log-variance. A sparse model's code goes through its activation.
pub fn split_code(
    raw: Tensor<2>,
    latent: usize,
    variational: bool,
    code_activation: Option<Activation>,
) -> (Tensor<2>, Option<Tensor<2>>) {
    if !variational {
        let code = match code_activation {
            Some(activation) => activation.apply(raw),
            None => raw,
        };
        return (code, None);
    }
    let [batch, _] = raw.dims();
    let mean = raw.clone().slice([0..batch, 0..latent]);
    let log_var = raw.slice([0..batch, latent..2 * latent]);
    (mean, Some(log_var))
}
