//! Choosing the model and the recipe for a data set: what the user asked for, with everything
//! left out sized from the data (a table gets [`recipe::for_table`], a series a window of its own
//! period). The CLI and the Python package both fill a [`Request`] and call [`plan`], so the same
//! data gets the same defaults from every front.

use crate::data::{Dataset, SampleKind, SampleShape};
use crate::error::{Error, Result};
use crate::model::{Activation, Architecture, ModelConfig, Sparsity};
use crate::train::TrainOptions;
use crate::train::recipe;

/// The architectures a user names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelKind {
    #[default]
    Dense,
    Conv2d,
    Conv1d,
    /// A dense variational autoencoder (β = 1 unless `beta` says otherwise).
    Vae,
    /// A conditional VAE: `Vae` with `conditional`.
    Cvae,
}

impl std::str::FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "dense" => ModelKind::Dense,
            "conv2d" => ModelKind::Conv2d,
            "conv1d" => ModelKind::Conv1d,
            "vae" => ModelKind::Vae,
            "cvae" => ModelKind::Cvae,
            other => {
                return Err(Error::invalid(format!(
                    "unknown model {other:?}: dense, conv2d, conv1d, vae or cvae"
                )));
            }
        })
    }
}

/// What the user asked for. `None` means "choose from the data".
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub model: ModelKind,
    /// A whole model config (from a file): the architecture options below are then ignored.
    pub config: Option<ModelConfig>,
    pub latent: Option<usize>,
    pub hidden: Option<Vec<usize>>,
    pub channels: Option<Vec<usize>>,
    pub window: Option<usize>,
    pub stride: Option<usize>,
    pub activation: Option<Activation>,
    pub dropout: Option<f64>,
    pub sparsity: Option<Sparsity>,
    pub contractive: Option<f64>,
    pub beta: Option<f64>,
    pub conditional: bool,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub ensemble: Option<usize>,
    /// Everything else about training, as given (its `epochs`, `batch_size` and `ensemble` are
    /// replaced by the choices above).
    pub options: TrainOptions,
}

/// A resolved request: the model to build, the recipe to train it with, and the data as the
/// model takes it (a series cut into windows).
#[derive(Debug)]
pub struct Plan {
    pub config: ModelConfig,
    pub options: TrainOptions,
    pub data: Dataset,
}

/// Fills in a request from the data: see the module's description.
pub fn plan(request: &Request, data: Dataset) -> Result<Plan> {
    let (config, options) = choose(request, data.shape, data.kind, data.len(), Some(&data))?;
    let data = config.samples_from(data)?;
    Ok(Plan {
        config,
        options,
        data,
    })
}

/// Fills in a request for data read a block at a time (`--stream`), from its shape and row count:
/// a conv1d window over a series and a conditional model's classes need the data itself, and
/// are refused.
pub fn plan_streamed(
    request: &Request,
    shape: SampleShape,
    kind: SampleKind,
    rows: usize,
) -> Result<(ModelConfig, TrainOptions)> {
    if request.model == ModelKind::Conv1d {
        return Err(Error::invalid(
            "--stream trains dense and conv2d models; a conv1d model cuts windows from a series \
             held in memory (drop --stream)",
        ));
    }
    if request.conditional || request.model == ModelKind::Cvae {
        return Err(Error::invalid(
            "--stream does not train conditional models yet (drop --stream)",
        ));
    }
    let (config, options) = choose(request, shape, kind, rows, None)?;
    if config.classes.is_some() || matches!(config.architecture, Architecture::Conv1d { .. }) {
        return Err(Error::invalid(
            "--stream trains dense and conv2d models without conditioning (drop --stream)",
        ));
    }
    Ok((config, options))
}

/// The model and the recipe for data of this shape and size (`data`, when in memory, sizes a
/// series' window and a conditional model's classes).
fn choose(
    request: &Request,
    shape: SampleShape,
    kind: SampleKind,
    rows: usize,
    data: Option<&Dataset>,
) -> Result<(ModelConfig, TrainOptions)> {
    let dense = !matches!(request.model, ModelKind::Conv2d | ModelKind::Conv1d);
    // A table with no config given gets the recipe sized from its rows and columns.
    let recipe = (kind == SampleKind::Tabular && dense && request.config.is_none())
        .then(|| recipe::for_table(shape.features(), rows));
    let mut config = match &request.config {
        Some(config) => config.clone(),
        None => {
            let latent = request
                .latent
                .or(recipe.as_ref().map(|r| r.latent))
                .unwrap_or(32);
            let mut config = match request.model {
                ModelKind::Conv2d => ModelConfig::conv2d(latent),
                ModelKind::Conv1d => {
                    // A series with no window given gets one period of itself.
                    let data = data.expect("plan_streamed refuses conv1d");
                    let window = request
                        .window
                        .unwrap_or_else(|| crate::data::window::default_window(data));
                    let stride = request
                        .stride
                        .unwrap_or_else(|| crate::data::window::default_stride(data, window));
                    ModelConfig::conv1d(latent, window, stride.max(1))
                }
                _ => ModelConfig::dense(latent),
            };
            match &mut config.architecture {
                Architecture::Dense { hidden } => {
                    if let Some(h) = request
                        .hidden
                        .as_ref()
                        .or(recipe.as_ref().map(|r| &r.hidden))
                    {
                        *hidden = h.clone();
                    }
                }
                Architecture::Conv2d { channels, .. } => {
                    *channels = request
                        .channels
                        .clone()
                        .unwrap_or_else(|| conv2d_channels(shape));
                }
                Architecture::Conv1d { channels, .. } => {
                    if let Some(c) = &request.channels {
                        *channels = c.clone();
                    }
                }
            }
            if let Some(activation) = request.activation {
                config.activation = activation;
            }
            if let Some(p) = request.dropout {
                config.dropout = p;
            }
            config.sparsity = request.sparsity;
            config.contractive = request.contractive;
            if matches!(request.model, ModelKind::Vae | ModelKind::Cvae) || request.beta.is_some() {
                config = config.variational(request.beta.unwrap_or(1.0));
            }
            config
        }
    };
    if request.conditional || request.model == ModelKind::Cvae {
        // The classes are the labels' range: a model for digits knows 0 to 9.
        let labels = data.and_then(|d| d.labels.as_deref()).ok_or_else(|| {
            Error::invalid("a conditional model needs the samples' labels, and these have none")
        })?;
        config = config.conditional(labels.iter().max().map_or(0, |&m| m as usize + 1));
    }
    let options = TrainOptions {
        epochs: request
            .epochs
            .or(recipe.as_ref().map(|r| r.epochs))
            .unwrap_or(10),
        batch_size: request
            .batch_size
            .or(recipe.as_ref().map(|r| r.batch_size))
            .unwrap_or(256),
        ensemble: request
            .ensemble
            .or(recipe.as_ref().map(|r| r.ensemble))
            .unwrap_or(1),
        ..request.options.clone()
    };
    Ok((config, options))
}

/// The conv2d layers when none are given: one stride-2 layer per halving until the smaller side
/// is at most 8 pixels (at least 2 layers: 28×28 → 7×7, 64×64 → 8×8 with 3), with 32 channels
/// doubling at each layer up to 256, so the dense bottleneck's input stays a few thousand values.
pub fn conv2d_channels(shape: crate::data::SampleShape) -> Vec<usize> {
    let mut side = shape.height.min(shape.width);
    let mut channels = vec![32, 64];
    side = side.div_ceil(4);
    while side > 8 && channels.len() < 6 {
        channels.push((channels[channels.len() - 1] * 2).min(256));
        side = side.div_ceil(2);
    }
    channels
}

#[cfg(test)]
mod tests {
    use super::conv2d_channels;
    use crate::data::SampleShape;

    #[test]
    fn conv2d_depth_follows_the_image_size() {
        let layers = |c, h, w| conv2d_channels(SampleShape::image(c, h, w));
        // Fashion-MNIST keeps the benchmark's two layers; photos get one more per halving.
        assert_eq!(layers(1, 28, 28), [32, 64]);
        assert_eq!(layers(3, 64, 64), [32, 64, 128]);
        assert_eq!(layers(3, 224, 224), [32, 64, 128, 256, 256]);
        assert_eq!(layers(1, 8, 8), [32, 64]);
    }
}
