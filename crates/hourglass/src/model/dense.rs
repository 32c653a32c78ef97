//! The dense autoencoder: input → hidden… → latent → hidden reversed… → input. The latent layer
//! is linear; every hidden layer has the activation (and dropout, if set).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::config::{Activation, ModelConfig, OutputActivation};
use super::layers;

#[derive(Module, Debug)]
pub struct DenseNet {
    pub encoder: Vec<Linear>,
    pub decoder: Vec<Linear>,
    dropout: Dropout,
    #[module(skip)]
    latent: usize,
    #[module(skip)]
    variational: bool,
    #[module(skip)]
    code_activation: Option<Activation>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    output: OutputActivation,
}

impl DenseNet {
    /// Builds the layers. Burn's default initialisation for `Linear` is PyTorch's: weights
    /// Kaiming-uniform with a = √5 (bound 1/√fan_in), biases uniform ±1/√fan_in.
    pub fn new(input: usize, hidden: &[usize], config: &ModelConfig, device: &Device) -> Self {
        let (latent, variational) = (config.latent, config.beta.is_some());
        let mut sizes = vec![input];
        sizes.extend_from_slice(hidden);
        sizes.push(latent);
        let stack = |sizes: &[usize]| -> Vec<Linear> {
            sizes
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(device))
                .collect()
        };
        // A variational encoder ends in a mean and a log-variance per latent dimension.
        let mut encoder_sizes = sizes.clone();
        *encoder_sizes.last_mut().unwrap() = if variational { 2 * latent } else { latent };
        let encoder = stack(&encoder_sizes);
        sizes.reverse();
        let decoder = stack(&sizes);
        DenseNet {
            encoder,
            decoder,
            dropout: DropoutConfig::new(config.dropout).init(),
            latent,
            variational,
            code_activation: config.sparsity.map(|s| s.code_activation()),
            activation: config.activation,
            output: config.output,
        }
    }

    /// The code (mean) and, for a variational model, the log-variance.
    pub fn encode_distribution(&self, x: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        layers::split_code(
            self.run(&self.encoder, x),
            self.latent,
            self.variational,
            self.code_activation,
        )
    }

    /// The decoder's last pre-activations (logits for a sigmoid output).
    pub fn decode_logits(&self, z: Tensor<2>) -> Tensor<2> {
        self.run(&self.decoder, z)
    }

    pub fn output(&self) -> OutputActivation {
        self.output
    }

    /// Applies a stack of layers with the activation between them, none after the last.
    fn run(&self, layers: &[Linear], mut x: Tensor<2>) -> Tensor<2> {
        let last = layers.len() - 1;
        for (i, layer) in layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = layers::hidden(x, self.activation, &self.dropout);
            }
        }
        x
    }
}
