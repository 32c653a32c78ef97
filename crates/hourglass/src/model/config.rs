//! The one serde description of a model: which architecture, its sizes, its activations. The CLI
//! builds it from flags or reads it from a TOML/JSON file; the artifact stores it so a saved model
//! rebuilds itself without the training data.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, SampleKind, SampleShape, Scaling};
use crate::error::{Error, Result};

/// The architecture and its sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Architecture {
    /// Fully connected layers: input → hidden… → latent → …hidden reversed → input.
    Dense {
        #[serde(default = "default_dense_hidden")]
        hidden: Vec<usize>,
    },
    /// Stride-2 convolutions that halve the image each time, a dense bottleneck, and transposed
    /// convolutions that mirror them back to the input size.
    Conv2d {
        #[serde(default = "default_conv_channels")]
        channels: Vec<usize>,
        #[serde(default = "default_kernel")]
        kernel: usize,
    },
    /// Stride-2 convolutions along time over windows of one or more series, mirrored back.
    Conv1d {
        #[serde(default = "default_conv1d_channels")]
        channels: Vec<usize>,
        #[serde(default = "default_kernel")]
        kernel: usize,
        /// Time steps per window.
        window: usize,
        /// Steps between the starts of consecutive windows.
        stride: usize,
    },
}

/// The non-linearity between hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Relu,
    LeakyRelu,
    Tanh,
    Gelu,
    Sigmoid,
}

/// What the last layer applies. `Auto` means sigmoid for pixels scaled to [0, 1] and identity for
/// standardised tables; training resolves it, and the artifact stores the resolved choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputActivation {
    #[default]
    Auto,
    Sigmoid,
    Identity,
}

/// A whole model description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub architecture: Architecture,
    #[serde(default = "default_latent")]
    pub latent: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default)]
    pub output: OutputActivation,
    /// Dropout probability after each hidden activation (0 = none).
    #[serde(default)]
    pub dropout: f64,
    /// Variational (a VAE): the encoder gives a mean and a log-variance per latent dimension,
    /// training decodes a sample from them and adds β × the KL divergence from N(0, I). β = 1 is
    /// the plain VAE, other values a β-VAE. `None`: a deterministic autoencoder.
    #[serde(default)]
    pub beta: Option<f64>,
    /// A sparse autoencoder: a penalty on the latent activations (see [`Sparsity`]).
    #[serde(default)]
    pub sparsity: Option<Sparsity>,
    /// A contractive autoencoder: λ × the squared Frobenius norm of the encoder's Jacobian,
    /// which makes the code change little when the input moves off the data.
    #[serde(default)]
    pub contractive: Option<f64>,
    /// A conditional model, with this many classes: the encoder and the decoder both see each
    /// sample's class (one-hot), so the code need not carry it and generation can ask for a class.
    /// Every use of the model then needs the samples' labels. With `beta`, a conditional VAE.
    #[serde(default)]
    pub classes: Option<usize>,
}

/// The most classes a conditional model takes.
pub const MAX_CLASSES: usize = 10_000;

/// The most weights a model may have (4 GiB of f32, 16 GiB with Adam's moments): a config past
/// it is a typo or a hostile file, and is refused before anything is allocated.
pub const MAX_WEIGHTS: usize = 1 << 30;

/// Sparsity penalties on the latent code. Each turns the latent layer into an activation whose
/// values the penalty can push down: ReLU for L1 (exact zeros), sigmoid for the KL target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Sparsity {
    /// λ × the L1 norm of each code.
    L1 { lambda: f64 },
    /// β × Σ KL(ρ ‖ ρ̂ⱼ), ρ̂ⱼ the mean activation of latent unit j over a batch: units on only a
    /// fraction ρ of the time.
    Kl { rho: f64, beta: f64 },
}

impl std::str::FromStr for Sparsity {
    type Err = Error;
    /// `l1:LAMBDA` or `kl:RHO:BETA`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid(format!("sparsity {s:?}: give l1:LAMBDA or kl:RHO:BETA"));
        let parts: Vec<&str> = s.split(':').collect();
        let number =
            |i: usize| -> Result<f64> { parts.get(i).and_then(|p| p.parse().ok()).ok_or_else(bad) };
        let sparsity = match (parts[0], parts.len()) {
            ("l1", 2) => Sparsity::L1 { lambda: number(1)? },
            ("kl", 3) => Sparsity::Kl {
                rho: number(1)?,
                beta: number(2)?,
            },
            _ => return Err(bad()),
        };
        let ok = match sparsity {
            Sparsity::L1 { lambda } => lambda >= 0.0,
            Sparsity::Kl { rho, beta } => rho > 0.0 && rho < 1.0 && beta >= 0.0,
        };
        if ok { Ok(sparsity) } else { Err(bad()) }
    }
}

impl Sparsity {
    /// The activation the latent layer gets.
    pub fn code_activation(self) -> Activation {
        match self {
            Sparsity::L1 { .. } => Activation::Relu,
            Sparsity::Kl { .. } => Activation::Sigmoid,
        }
    }
}

fn default_dense_hidden() -> Vec<usize> {
    vec![256, 64]
}
fn default_conv_channels() -> Vec<usize> {
    vec![32, 64]
}
fn default_conv1d_channels() -> Vec<usize> {
    vec![16, 32]
}
fn default_kernel() -> usize {
    3
}
fn default_latent() -> usize {
    32
}

impl ModelConfig {
    /// The benchmark dense model: 784-256-64-32-64-256-784 on 28×28 images.
    pub fn dense(latent: usize) -> Self {
        ModelConfig {
            architecture: Architecture::Dense {
                hidden: default_dense_hidden(),
            },
            latent,
            activation: Activation::Relu,
            output: OutputActivation::Auto,
            dropout: 0.0,
            beta: None,
            sparsity: None,
            contractive: None,
            classes: None,
        }
    }

    /// The variational version of this config, with KL weight `beta`.
    pub fn variational(mut self, beta: f64) -> Self {
        self.beta = Some(beta);
        self
    }

    /// The conditional version of this config, for labels `0..classes`.
    pub fn conditional(mut self, classes: usize) -> Self {
        self.classes = Some(classes);
        self
    }

    /// The one-hot rows (`n × classes`) a conditional model takes beside `n` samples, from their
    /// labels; `None` for a model that is not conditional.
    pub fn condition(&self, labels: Option<&[u32]>) -> Result<Option<Vec<f32>>> {
        let Some(classes) = self.classes else {
            return Ok(None);
        };
        let labels = labels.ok_or_else(|| {
            Error::invalid(format!(
                "this model is conditional on {classes} classes: it needs the samples' labels (give --labels)"
            ))
        })?;
        let mut rows = vec![0.0; labels.len() * classes];
        for (i, &label) in labels.iter().enumerate() {
            if label as usize >= classes {
                return Err(Error::invalid(format!(
                    "sample {i} has label {label}, but the model knows only classes 0 to {}",
                    classes - 1
                )));
            }
            rows[i * classes + label as usize] = 1.0;
        }
        Ok(Some(rows))
    }

    /// A 1-D convolutional model over windows of `window` steps taken every `stride` steps.
    pub fn conv1d(latent: usize, window: usize, stride: usize) -> Self {
        ModelConfig {
            architecture: Architecture::Conv1d {
                channels: default_conv1d_channels(),
                kernel: default_kernel(),
                window,
                stride,
            },
            ..ModelConfig::dense(latent)
        }
    }

    /// The benchmark convolutional model: Conv(1→32, k3, s2)-Conv(32→64, k3, s2)-Linear to the
    /// latent, mirrored with transposed convolutions.
    pub fn conv2d(latent: usize) -> Self {
        ModelConfig {
            architecture: Architecture::Conv2d {
                channels: default_conv_channels(),
                kernel: default_kernel(),
            },
            ..ModelConfig::dense(latent)
        }
    }

    /// The samples this model takes from `data`: for a 1-D convolutional model given a raw series
    /// (a table whose rows are time steps and whose columns, fewer than the window, are series),
    /// its windows; otherwise the data itself (a table of `window` columns is taken as windows).
    pub fn samples_from(&self, data: Dataset) -> Result<Dataset> {
        match &self.architecture {
            Architecture::Conv1d { window, stride, .. } if self.cuts_windows(&data) => {
                crate::data::window::windows(&data, *window, *stride)
            }
            _ => Ok(data),
        }
    }

    /// Whether [`ModelConfig::samples_from`] cuts `data` into windows: a 1-D convolutional model
    /// given a raw series.
    pub fn cuts_windows(&self, data: &Dataset) -> bool {
        let is_series = data.kind == SampleKind::Tabular && data.shape.channels == 1;
        match &self.architecture {
            Architecture::Conv1d { window, .. } => {
                is_series && data.shape.height == 1 && data.shape.width != *window
            }
            _ => false,
        }
    }

    /// Reads a config from a `.toml` or `.json` file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let is_json = crate::data::extension(path) == "json";
        let parsed = if is_json {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        } else {
            toml::from_str(&text).map_err(|e| e.to_string())
        };
        parsed.map_err(|e| Error::format(path, format!("not a model config: {e}")))
    }

    /// A short name for messages, e.g. "dense" or "conv2d conditional variational".
    pub fn kind(&self) -> String {
        let mut name = match self.architecture {
            Architecture::Dense { .. } => "dense",
            Architecture::Conv2d { .. } => "conv2d",
            Architecture::Conv1d { .. } => "conv1d",
        }
        .to_string();
        if self.classes.is_some() {
            name += " conditional";
        }
        if self.beta.is_some() {
            name += " variational";
        }
        name
    }

    /// Fixes `Auto` choices for this data and checks that the model fits it.
    pub fn resolve(&self, input: SampleShape, scaling: &Scaling) -> Result<Self> {
        let mut config = self.clone();
        if config.output == OutputActivation::Auto {
            config.output = if scaling.is_unit_range() {
                OutputActivation::Sigmoid
            } else {
                OutputActivation::Identity
            };
        }
        config.check(input)?;
        Ok(config)
    }

    /// Checks sizes against the input shape.
    pub fn check(&self, input: SampleShape) -> Result<()> {
        if input.channels == 0 || input.height == 0 || input.width == 0 {
            return Err(Error::invalid(format!(
                "samples of shape {input} hold no values"
            )));
        }
        if self.latent == 0 {
            return Err(Error::invalid("the latent size must be at least 1"));
        }
        if let Some(beta) = self.beta
            && !(beta >= 0.0 && beta.is_finite())
        {
            return Err(Error::invalid(format!(
                "beta must be a non-negative number, not {beta}"
            )));
        }
        if self.beta.is_some() && self.sparsity.is_some() {
            return Err(Error::invalid(
                "a model is either variational (--beta) or sparse (--sparsity), not both",
            ));
        }
        if self.classes.is_some_and(|c| c < 2) {
            return Err(Error::invalid(
                "a conditional model needs labels of at least two classes",
            ));
        }
        // Labels are class indices; one far out of range (a stray id) would make a one-hot
        // row of billions of columns per sample.
        if let Some(classes) = self.classes.filter(|&c| c > MAX_CLASSES) {
            return Err(Error::invalid(format!(
                "a conditional model takes class indices 0 to {}: the largest label, {}, would make {classes} classes",
                MAX_CLASSES - 1,
                classes - 1
            )));
        }
        if let Some(lambda) = self.contractive
            && !(lambda >= 0.0 && lambda.is_finite())
        {
            return Err(Error::invalid(format!(
                "the contractive weight must be a non-negative number, not {lambda}"
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(format!(
                "dropout must be in [0, 1), not {}",
                self.dropout
            )));
        }
        match &self.architecture {
            Architecture::Dense { hidden } => {
                if hidden.contains(&0) {
                    return Err(Error::invalid("hidden layer sizes must be at least 1"));
                }
            }
            Architecture::Conv1d {
                channels,
                kernel,
                window,
                stride,
            } => check_conv1d(channels, *kernel, *window, *stride, input)?,
            Architecture::Conv2d { channels, kernel } => {
                if channels.is_empty() || channels.contains(&0) {
                    return Err(Error::invalid(
                        "conv2d needs at least one layer of channels",
                    ));
                }
                if *kernel == 0 || kernel % 2 == 0 {
                    return Err(Error::invalid(format!(
                        "conv2d kernel must be odd (3, 5, …), not {kernel}"
                    )));
                }
                let (mut h, mut w) = (input.height, input.width);
                for _ in channels {
                    if h < 2 || w < 2 {
                        return Err(Error::invalid(format!(
                            "conv2d needs images; input of shape {input} is too small for {} stride-2 layers",
                            channels.len()
                        )));
                    }
                    h = h.div_ceil(2);
                    w = w.div_ceil(2);
                }
            }
        }
        match self.weight_count(input) {
            Some(n) if n <= MAX_WEIGHTS => Ok(()),
            n => Err(Error::invalid(format!(
                "this model would have {} weights for samples of shape {input}; the most is {MAX_WEIGHTS}",
                n.map_or("more than 2^64".to_string(), |n| n.to_string())
            ))),
        }
    }

    /// How many weights and biases the network for `input` has, counted without building it
    /// (`None` when the count overflows), so a config that asks for more than its file holds
    /// is refused before the weights are allocated. Mirrors the `*Net::new` constructors.
    pub fn weight_count(&self, input: SampleShape) -> Option<usize> {
        let classes = self.classes.unwrap_or(0);
        let latent = self.latent;
        let code = if self.beta.is_some() {
            latent.checked_mul(2)?
        } else {
            latent
        };
        // Linear: in × out weights + out biases; a convolution: in × out × kernel taps + out.
        let layer = |inputs: usize, outputs: usize, taps: usize| -> Option<usize> {
            inputs
                .checked_mul(outputs)?
                .checked_mul(taps)?
                .checked_add(outputs)
        };
        let features = input
            .channels
            .checked_mul(input.height)?
            .checked_mul(input.width)?;
        let mut counts = Vec::new();
        match &self.architecture {
            Architecture::Dense { hidden } => {
                let mut sizes = vec![features];
                sizes.extend_from_slice(hidden);
                sizes.push(latent);
                let mut encoder = sizes.clone();
                encoder[0] = encoder[0].checked_add(classes)?;
                *encoder.last_mut()? = code;
                let mut decoder = sizes;
                decoder.reverse();
                decoder[0] = decoder[0].checked_add(classes)?;
                for w in encoder.windows(2).chain(decoder.windows(2)) {
                    counts.push(layer(w[0], w[1], 1)?);
                }
            }
            Architecture::Conv2d { channels, kernel }
            | Architecture::Conv1d {
                channels, kernel, ..
            } => {
                let is_2d = matches!(self.architecture, Architecture::Conv2d { .. });
                let taps = if is_2d {
                    kernel.checked_mul(*kernel)?
                } else {
                    *kernel
                };
                let (mut h, mut w) = (input.height, input.width);
                let mut c = input.channels;
                for &out in channels {
                    counts.push(layer(c, out, taps)?);
                    c = out;
                    if is_2d {
                        h = h.div_ceil(2);
                    }
                    w = w.div_ceil(2);
                }
                let flat = c.checked_mul(h)?.checked_mul(w)?;
                counts.push(layer(flat.checked_add(classes)?, code, 1)?);
                counts.push(layer(latent.checked_add(classes)?, flat, 1)?);
                let outs = channels.iter().rev().skip(1).chain([&input.channels]);
                for &out in outs {
                    counts.push(layer(c, out, taps)?);
                    c = out;
                }
            }
        }
        counts.into_iter().try_fold(0usize, usize::checked_add)
    }
}

fn check_conv1d(
    channels: &[usize],
    kernel: usize,
    window: usize,
    stride: usize,
    input: SampleShape,
) -> Result<()> {
    if channels.is_empty() || channels.contains(&0) || kernel == 0 || kernel.is_multiple_of(2) {
        return Err(Error::invalid(
            "conv1d needs at least one layer of channels and an odd kernel",
        ));
    }
    if window < 1 << channels.len() || stride == 0 {
        return Err(Error::invalid(format!(
            "conv1d: a window of {window} is too short for {} stride-2 layers (or stride is 0)",
            channels.len()
        )));
    }
    if input.height != 1 || input.width != window {
        return Err(Error::invalid(format!(
            "conv1d takes windows of {window} steps; the data has samples of shape {input}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_toml_config_with_defaults() {
        let text = "latent = 8\n[architecture]\nkind = \"conv2d\"\n";
        let config: ModelConfig = toml::from_str(text).unwrap();
        assert_eq!(config.latent, 8);
        assert_eq!(
            config.architecture,
            Architecture::Conv2d {
                channels: vec![32, 64],
                kernel: 3
            }
        );
    }

    /// The count the loader trusts before allocating must be the built network's.
    #[test]
    fn weight_count_matches_the_built_network() {
        use burn::module::Module;
        let device = crate::device::Device::flex();
        let base = |architecture| ModelConfig {
            architecture,
            ..ModelConfig::dense(3)
        };
        let dense = base(Architecture::Dense { hidden: vec![7, 5] });
        let conv2d = base(Architecture::Conv2d {
            channels: vec![4, 6],
            kernel: 3,
        });
        let conv1d = base(Architecture::Conv1d {
            channels: vec![4, 5],
            kernel: 5,
            window: 16,
            stride: 4,
        });
        let image = SampleShape::image(2, 9, 7);
        let cases = [
            (dense.clone(), SampleShape::tabular(11)),
            (
                ModelConfig {
                    beta: Some(1.0),
                    classes: Some(3),
                    ..dense
                },
                SampleShape::tabular(11),
            ),
            (conv2d.clone(), image),
            (
                ModelConfig {
                    beta: Some(0.5),
                    classes: Some(4),
                    ..conv2d
                },
                image,
            ),
            (conv1d, SampleShape::image(2, 1, 16)),
        ];
        for (config, input) in cases {
            let network = crate::model::Network::new(&config, input, &device);
            assert_eq!(
                config.weight_count(input),
                Some(network.num_params()),
                "{config:?}"
            );
        }
    }

    #[test]
    fn refuses_empty_samples_and_absurd_sizes() {
        let config = ModelConfig::dense(4);
        assert!(config.check(SampleShape::image(0, 28, 28)).is_err());
        let huge = ModelConfig {
            architecture: Architecture::Dense {
                hidden: vec![1 << 20, 1 << 20],
            },
            ..ModelConfig::dense(4)
        };
        let err = huge.check(SampleShape::tabular(10)).unwrap_err();
        assert!(err.to_string().contains("weights"), "{err}");
        let overflow = ModelConfig {
            architecture: Architecture::Dense {
                hidden: vec![usize::MAX / 2, 3],
            },
            ..ModelConfig::dense(4)
        };
        assert!(overflow.check(SampleShape::tabular(10)).is_err());
    }

    #[test]
    fn rejects_unknown_fields() {
        let text = "latnet = 8\n[architecture]\nkind = \"dense\"\n";
        assert!(toml::from_str::<ModelConfig>(text).is_err());
    }
}
