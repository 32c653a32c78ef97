//! Small pieces the architectures share: the activation functions and how a layer stack applies
//! them.

use burn::nn::Dropout;
use burn::tensor::{Tensor, activation};

use super::config::{Activation, ModelConfig, OutputActivation};

impl Activation {
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::LeakyRelu => activation::leaky_relu(x, 0.01),
            Activation::Tanh => activation::tanh(x),
            Activation::Gelu => activation::gelu(x),
            Activation::Sigmoid => crate::ops::sigmoid(x),
        }
    }
}

impl OutputActivation {
    /// Applies the output non-linearity to the last layer's pre-activations.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            OutputActivation::Sigmoid => crate::ops::sigmoid(x),
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

/// A stack of convolutions, each followed by the hidden activation and dropout, except the last
/// when `plain_last` (the decoder's output layer). A ReLU is fused into the convolution itself
/// (`conv`'s flag; see `crate::ops`), which the CPU kernels do in their bias pass.
pub fn conv_stack<L, const D: usize>(
    layers: &[L],
    mut x: Tensor<D>,
    head: &Head,
    dropout: &Dropout,
    plain_last: bool,
    conv: impl Fn(&L, Tensor<D>, bool) -> Tensor<D>,
) -> Tensor<D> {
    let fuse = head.activation == Activation::Relu;
    for (i, layer) in layers.iter().enumerate() {
        let hidden = !(plain_last && i + 1 == layers.len());
        x = conv(layer, x, hidden && fuse);
        if hidden {
            x = if fuse {
                dropout.forward(x)
            } else {
                self::hidden(x, head.activation, dropout)
            };
        }
    }
    x
}

/// What both architectures do the same way around their layers, fixed by the model config: the
/// latent size, whether the code is variational or passes through an activation, the hidden and
/// output activations.
#[derive(Debug, Clone, Copy)]
pub struct Head {
    pub latent: usize,
    pub variational: bool,
    /// A sparse model's code activation.
    pub code_activation: Option<Activation>,
    pub activation: Activation,
    pub output: OutputActivation,
    /// A conditional model's number of classes; 0 for one that is not.
    pub classes: usize,
}

impl Head {
    pub fn new(config: &ModelConfig) -> Self {
        Head {
            latent: config.latent,
            variational: config.beta.is_some(),
            code_activation: config.sparsity.map(|s| s.code_activation()),
            activation: config.activation,
            output: config.output,
            classes: config.classes.unwrap_or(0),
        }
    }

    /// Rows with the class one-hot appended, for a conditional model's layers that see the class
    /// (the encoder's input or code layer, the decoder's first); the rows themselves otherwise.
    pub fn with_class(&self, x: Tensor<2>, class: Option<Tensor<2>>) -> Tensor<2> {
        match (self.classes, class) {
            (0, _) => x,
            (_, Some(class)) => Tensor::cat(vec![x, class], 1),
            // The tasks turn labels into one-hot rows (`ModelConfig::condition`), which fails
            // cleanly when they are missing; reaching here is a bug in the caller.
            (_, None) => panic!("a conditional model was run without the samples' classes"),
        }
    }

    /// Values the encoder's last layer gives per sample: the code, or mean and log-variance.
    pub fn code_width(&self) -> usize {
        if self.variational {
            2 * self.latent
        } else {
            self.latent
        }
    }

    /// Splits an encoder's output into the code (the mean, for a variational model) and, for a
    /// variational model, the log-variance. A sparse model's code goes through its activation.
    pub fn split_code(&self, raw: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        if !self.variational {
            let code = match self.code_activation {
                Some(activation) => activation.apply(raw),
                None => raw,
            };
            return (code, None);
        }
        let [batch, _] = raw.dims();
        let mean = raw.clone().slice([0..batch, 0..self.latent]);
        let log_var = raw.slice([0..batch, self.latent..2 * self.latent]);
        (mean, Some(log_var))
    }
}
