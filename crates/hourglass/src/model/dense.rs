//! The dense autoencoder: input → hidden… → latent → hidden reversed… → input. Every hidden layer
//! has the activation (and dropout, if set); the latent layer is linear unless the model is sparse.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::config::{Activation, ModelConfig, OutputActivation};
use super::layers::{self, Head};
use crate::ops;

#[derive(Module, Debug)]
pub struct DenseNet {
    pub encoder: Vec<Linear>,
    pub decoder: Vec<Linear>,
    dropout: Dropout,
    #[module(skip)]
    head: Head,
}

impl DenseNet {
    /// Builds the layers. Burn's default initialisation for `Linear` is PyTorch's: weights
    /// Kaiming-uniform with a = √5 (bound 1/√fan_in), biases uniform ±1/√fan_in.
    pub fn new(input: usize, hidden: &[usize], config: &ModelConfig, device: &Device) -> Self {
        let head = Head::new(config);
        let latent = head.latent;
        let mut sizes = vec![input];
        sizes.extend_from_slice(hidden);
        sizes.push(latent);
        let stack = |sizes: &[usize]| -> Vec<Linear> {
            sizes
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(device))
                .collect()
        };
        // A variational encoder ends in a mean and a log-variance per latent dimension; a
        // conditional model's encoder and decoder both take the class one-hot beside their input.
        let mut encoder_sizes = sizes.clone();
        *encoder_sizes.last_mut().unwrap() = head.code_width();
        encoder_sizes[0] += head.classes;
        let encoder = stack(&encoder_sizes);
        sizes.reverse();
        sizes[0] += head.classes;
        let decoder = stack(&sizes);
        DenseNet {
            encoder,
            decoder,
            dropout: DropoutConfig::new(config.dropout).init(),
            head,
        }
    }

    /// The code (mean) and, for a variational model, the log-variance.
    pub fn encode_distribution(
        &self,
        x: Tensor<2>,
        class: Option<Tensor<2>>,
    ) -> (Tensor<2>, Option<Tensor<2>>) {
        let x = self.head.with_class(x, class);
        self.head.split_code(self.run(&self.encoder, x))
    }

    /// The decoder's last pre-activations (logits for a sigmoid output).
    pub fn decode_logits(&self, z: Tensor<2>, class: Option<Tensor<2>>) -> Tensor<2> {
        self.run(&self.decoder, self.head.with_class(z, class))
    }

    pub fn output(&self) -> OutputActivation {
        self.head.output
    }

    /// The sizes and activations around the layers (what an ONNX export rebuilds).
    pub(crate) fn head(&self) -> &Head {
        &self.head
    }

    /// Applies a stack of layers with the activation between them, none after the last. A ReLU
    /// is fused into the layer itself (see `crate::ops::linear`).
    fn run(&self, layers: &[Linear], mut x: Tensor<2>) -> Tensor<2> {
        let last = layers.len() - 1;
        let fuse = self.head.activation == Activation::Relu;
        // ReLU layers with no dropout to draw: the whole stack as one operation on the CPU.
        if fuse && (self.dropout.prob == 0.0 || !x.device().is_autodiff()) {
            let relu: Vec<bool> = (0..layers.len()).map(|i| i < last).collect();
            if let Some(y) = ops::dense_stack(layers, &x, &relu) {
                return y;
            }
        }
        for (i, layer) in layers.iter().enumerate() {
            let hidden = i < last;
            x = ops::linear(layer, x, hidden && fuse);
            if hidden {
                x = if fuse {
                    self.dropout.forward(x)
                } else {
                    layers::hidden(x, self.head.activation, &self.dropout)
                };
            }
        }
        x
    }
}
