//! One `.safetensors` file per trained model: the network's weights under readable names
//! (`encoder.0.weight`, …), the mean/PCA baselines, and in the metadata the model config, the
//! input shape, the scaling and a training summary, so the file alone rebuilds the model.

use std::collections::HashMap;
use std::path::Path;

use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, SampleKind, SampleShape, Scaling};
use crate::error::{Error, Result};
use crate::model::{ModelConfig, Network};
use crate::tasks::detector::{Detector, ScoreKind};
use crate::tasks::features::FeatureIndex;
use crate::tasks::pca::Baseline;
use crate::train::TrainOptions;

/// Metadata key that marks a file as ours, and its format version.
const FORMAT_KEY: &str = "hourglass.format";
const FORMAT_VERSION: &str = "1";
const MEAN_TENSOR: &str = "baseline.mean";
const PCA_TENSOR: &str = "baseline.pca_components";
const SCORES_TENSOR: &str = "anomaly.train_score_quantiles";
const MEMBER_PREFIX: &str = "member.";
/// Metadata key of the SHA-256 of everything else in the file (see [`content_digest`]). Files
/// written before it existed have none and are still read.
pub(crate) const CHECKSUM_KEY: &str = "hourglass.sha256";

/// What training did, stored with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    pub options: TrainOptions,
    pub train_samples: usize,
    pub val_samples: usize,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
    pub final_train_loss: Option<f64>,
    pub final_val_loss: Option<f64>,
    pub seconds: f64,
}

/// A trained model and everything needed to use it on new data.
#[derive(Debug)]
pub struct TrainedModel {
    /// The resolved config (no `Auto` left).
    pub config: ModelConfig,
    pub input: SampleShape,
    pub kind: SampleKind,
    pub scaling: Scaling,
    pub network: Network,
    /// An ensemble's other networks (empty for a single model). Only anomaly scores use them;
    /// every other use of the model takes `network`.
    pub members: Vec<Network>,
    pub baseline: Baseline,
    /// A table's column names, when the training data had a header (scoring services match
    /// request fields by them, and explanations name them).
    pub columns: Option<Vec<String>>,
    /// The training split's score statistics (see `tasks::detector`), from which scores are
    /// normalised and thresholds read.
    pub detector: Detector,
    pub summary: TrainingSummary,
}

impl TrainedModel {
    /// Checks that a data set has the shape this model was trained on and no infinite values.
    pub fn check_data(&self, data: &Dataset, source: &Path) -> Result<()> {
        if data.shape != self.input {
            return Err(Error::format(
                source,
                format!(
                    "samples of shape {} ({} values) do not fit this model, which was trained on {} ({} values)",
                    data.shape,
                    data.shape.features(),
                    self.input,
                    self.input.features()
                ),
            ));
        }
        if let Some(i) = data.values.iter().position(|v| v.is_infinite()) {
            let d = data.shape.features();
            return Err(Error::format(
                source,
                format!("sample {}, value {} is infinite", i / d, i % d),
            ));
        }
        // A conditional model needs every sample's class, within the classes it learned.
        if self.config.classes.is_some() {
            self.config
                .condition(data.labels.as_deref())
                .map_err(|e| Error::format(source, e.to_string()))?;
        }
        Ok(())
    }

    /// Refuses a conditional model for a use that has no class to give it.
    pub fn require_unconditional(&self, task: &str) -> Result<()> {
        match self.config.classes {
            Some(classes) => Err(Error::invalid(format!(
                "this model is conditional on {classes} classes; {task} works with models that need no class (train without --conditional)"
            ))),
            None => Ok(()),
        }
    }

    /// Checks that a data set has no missing values (NaN), for the commands that need all.
    pub fn check_complete(&self, data: &Dataset, source: &Path) -> Result<()> {
        match data.first_non_finite() {
            Some((row, column)) => Err(Error::format(
                source,
                format!(
                    "sample {row}, value {column} is missing; fill the gaps first with `hourglass impute`"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The network's weights by name, with their shapes and little-endian f32 bytes.
    pub fn weights(&self) -> Vec<(String, Vec<usize>, Vec<u8>)> {
        weights_of(&self.network)
    }

    /// The training MSE quantiles (kept as a tensor for files read by older versions).
    fn mse_quantiles(&self) -> &[f32] {
        self.detector
            .quantiles
            .get(&ScoreKind::Mse)
            .map_or(&[], Vec::as_slice)
    }

    /// Writes the model to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = self
            .weights()
            .into_iter()
            .map(|(name, shape, bytes)| (name, Dtype::F32, shape, bytes))
            .collect();
        for (i, member) in self.members.iter().enumerate() {
            let prefix = member_prefix(i + 1);
            tensors.extend(
                weights_of(member)
                    .into_iter()
                    .map(|(name, shape, bytes)| (prefix.clone() + &name, Dtype::F32, shape, bytes)),
            );
        }
        let floats = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let d = self.baseline.features;
        tensors.push((
            MEAN_TENSOR.into(),
            Dtype::F32,
            vec![d],
            floats(&self.baseline.mean),
        ));
        tensors.push((
            PCA_TENSOR.into(),
            Dtype::F32,
            vec![self.baseline.k(), d],
            floats(&self.baseline.components),
        ));
        tensors.push((
            SCORES_TENSOR.into(),
            Dtype::F32,
            vec![self.mse_quantiles().len()],
            floats(self.mse_quantiles()),
        ));
        let detectors = std::iter::once(&self.detector).chain(&self.detector.members);
        for (i, detector) in detectors.enumerate() {
            if let Some(index) = &detector.features {
                let (w, k) = (index.projection.features, index.k());
                let [mean, components, reference] = feature_tensor_names(i);
                tensors.push((mean, Dtype::F32, vec![w], floats(&index.projection.mean)));
                let components_bytes = floats(&index.projection.components);
                tensors.push((components, Dtype::F32, vec![k, w], components_bytes));
                let m = index.reference.len() / k.max(1);
                tensors.push((reference, Dtype::F32, vec![m, k], floats(&index.reference)));
            }
        }
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                let view = TensorView::new(*dtype, shape.clone(), bytes)
                    .expect("weight bytes match their shape");
                (name.clone(), view)
            })
            .collect();
        let mut metadata = HashMap::from([
            (FORMAT_KEY.to_string(), FORMAT_VERSION.to_string()),
            ("config".to_string(), json(&self.config)),
            ("input_shape".to_string(), json(&self.input)),
            ("sample_kind".to_string(), json(&self.kind)),
            ("scaling".to_string(), json(&self.scaling)),
            ("training".to_string(), json(&self.summary)),
            ("anomaly".to_string(), json(&self.detector)),
        ]);
        if let Some(columns) = &self.columns {
            metadata.insert("columns".to_string(), json(columns));
        }
        let digest = content_digest(
            &metadata,
            tensors.iter().map(|(name, dtype, shape, bytes)| {
                (name.as_str(), *dtype, shape.as_slice(), bytes.as_slice())
            }),
        );
        metadata.insert(CHECKSUM_KEY.to_string(), digest);
        let bytes = safetensors::serialize(views, Some(metadata))
            .map_err(|e| Error::format(path, format!("cannot serialise the model: {e}")))?;
        crate::fsutil::write_atomic(path, &bytes)
    }

    /// Reads a model written by [`TrainedModel::save`], onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let bytes = crate::fsutil::read(path)?;
        let not_ours =
            |why: &str| Error::format(path, format!("not an hourglass model file ({why})"));
        let (_, header) =
            SafeTensors::read_metadata(&bytes).map_err(|_| not_ours("not a safetensors file"))?;
        let metadata = header
            .metadata()
            .clone()
            .ok_or_else(|| not_ours("no metadata"))?;
        match metadata.get(FORMAT_KEY).map(String::as_str) {
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(not_ours(&format!(
                    "format version {other}, expected {FORMAT_VERSION}"
                )));
            }
            None => {
                return Err(not_ours(
                    "no hourglass metadata; safetensors from elsewhere?",
                ));
            }
        }
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| not_ours(&e.to_string()))?;
        verify_checksum(&metadata, &tensors, path, "file")?;
        let field = |key: &str| {
            metadata
                .get(key)
                .ok_or_else(|| not_ours(&format!("missing {key}")))
        };
        fn parse<T: serde::de::DeserializeOwned>(path: &Path, key: &str, text: &str) -> Result<T> {
            serde_json::from_str(text)
                .map_err(|e| Error::format(path, format!("bad {key} in the model metadata: {e}")))
        }
        let config: ModelConfig = parse(path, "config", field("config")?)?;
        let input: SampleShape = parse(path, "input_shape", field("input_shape")?)?;
        let kind: SampleKind = parse(path, "sample_kind", field("sample_kind")?)?;
        let scaling: Scaling = parse(path, "scaling", field("scaling")?)?;
        let summary: TrainingSummary = parse(path, "training", field("training")?)?;
        // Files from before column names were kept have none.
        let columns: Option<Vec<String>> = metadata
            .get("columns")
            .map(|text| parse(path, "columns", text))
            .transpose()?;
        if let Some(names) = columns.as_ref().filter(|c| c.len() != input.features()) {
            return Err(not_ours(&format!(
                "{} column names for samples of {input}",
                names.len()
            )));
        }
        let detector: Option<Detector> = metadata
            .get("anomaly")
            .map(|text| parse(path, "anomaly", text))
            .transpose()?;
        config
            .check(input)
            .map_err(|e| Error::format(path, format!("the model's config is invalid: {e}")))?;
        // Building the network allocates its weights before they are compared with the file's:
        // a config that asks for more weights than the file has bytes is refused first.
        let weights = config.weight_count(input).unwrap_or(usize::MAX);
        if weights.saturating_mul(4) > bytes.len() {
            return Err(not_ours(&format!(
                "its config describes {weights} weights, more than the file's {} bytes hold",
                bytes.len()
            )));
        }

        let mut network = Network::new(&config, input, device);
        check_tensors(&tensors, &network, "", path)?;
        let mut store = SafetensorsStore::from_bytes(Some(bytes.clone())).skip_enum_variants(true);
        network.load_from(&mut store).map_err(|e| {
            Error::format(path, format!("weights do not match the model config: {e}"))
        })?;
        check_finite(&network, path, "")?;

        // An ensemble's other networks, stored under `member.I.`: each is read from a file of its
        // own tensors with the prefix taken off.
        let ensemble = detector.as_ref().map_or(1, Detector::networks);
        let mut members = Vec::with_capacity(ensemble - 1);
        for i in 1..ensemble {
            let prefix = member_prefix(i);
            let own: Vec<(String, TensorView<'_>)> = tensors
                .tensors()
                .into_iter()
                .filter_map(|(name, view)| {
                    name.strip_prefix(&prefix).map(|n| (n.to_string(), view))
                })
                .collect();
            if own.is_empty() {
                return Err(not_ours(&format!("ensemble member {i} has no weights")));
            }
            let member_bytes = safetensors::serialize(own, None)
                .map_err(|e| Error::format(path, format!("ensemble member {i}: {e}")))?;
            let mut member = Network::new(&config, input, device);
            check_tensors(&tensors, &member, &prefix, path)?;
            let mut store =
                SafetensorsStore::from_bytes(Some(member_bytes)).skip_enum_variants(true);
            member.load_from(&mut store).map_err(|e| {
                Error::format(
                    path,
                    format!("ensemble member {i}'s weights do not match the model config: {e}"),
                )
            })?;
            check_finite(&member, path, &prefix)?;
            members.push(member);
        }
        // The baselines: f32, finite, and shaped for this input (`mean` d, PCA k × d, k ≤ d).
        let floats = |name: &str, rows: Option<usize>| -> Result<Vec<f32>> {
            let t = tensors
                .tensor(name)
                .map_err(|_| not_ours(&format!("missing tensor {name}")))?;
            let d = input.features();
            let shape_ok = match (t.shape(), rows) {
                ([len], None) => *len == d || name == SCORES_TENSOR,
                ([k, width], Some(max)) => *k <= max && *width == d,
                _ => false,
            };
            if t.dtype() != Dtype::F32 || !shape_ok {
                return Err(Error::format(
                    path,
                    format!(
                        "tensor {name} is {:?} {:?}; this model needs f32 of {}",
                        t.dtype(),
                        t.shape(),
                        if rows.is_some() {
                            format!("[k ≤ {d}, {d}]")
                        } else {
                            format!("[{d}]")
                        }
                    ),
                ));
            }
            finite_values(&t, name, path)
        };
        let baseline = Baseline {
            mean: floats(MEAN_TENSOR, None)?,
            components: floats(PCA_TENSOR, Some(input.features()))?,
            features: input.features(),
        };
        let mut detector = match detector {
            Some(d) => d,
            // Files from before score kinds know only the MSE and (usually) its quantiles.
            None => Detector::legacy(floats(SCORES_TENSOR, None).unwrap_or_default()),
        };
        let networks = std::iter::once(&network).chain(&members);
        let indexes: Vec<Option<FeatureIndex>> = networks
            .enumerate()
            .map(|(i, net)| feature_index(&tensors, i, net, path))
            .collect::<Result<_>>()?;
        let mut indexes = indexes.into_iter();
        detector.features = indexes.next().flatten();
        for (member, index) in detector.members.iter_mut().zip(indexes) {
            member.features = index;
        }
        let networks_without = std::iter::once(&detector)
            .chain(&detector.members)
            .any(|d| d.features.is_none());
        if detector.default == ScoreKind::Features && networks_without {
            return Err(not_ours(
                "its default score is features, but its feature maps (anomaly.features.*) are missing",
            ));
        }
        Ok(TrainedModel {
            config,
            input,
            kind,
            scaling,
            network,
            members,
            baseline,
            columns,
            detector,
            summary,
        })
    }
}

/// A network's weights by name, with their shapes and little-endian f32 bytes.
fn weights_of(network: &Network) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    network
        .collect(None, None, true)
        .into_iter()
        .map(|snapshot| {
            let (name, _, shape, _, bytes) = snapshot
                .into_parts()
                .expect("weights of a built network are readable");
            (name, shape.to_vec(), bytes.to_vec())
        })
        .collect()
}

/// Refuses a network with a NaN or infinite weight: it would score every sample NaN, and NaN
/// compares false against every threshold, so nothing would ever be flagged.
fn check_finite(network: &Network, path: &Path, prefix: &str) -> Result<()> {
    for (name, _, bytes) in weights_of(network) {
        let bad = bytes
            .chunks_exact(4)
            .position(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite());
        if let Some(i) = bad {
            return Err(Error::format(
                path,
                format!("tensor {prefix}{name}: value {i} is not finite; the file is damaged"),
            ));
        }
    }
    Ok(())
}

/// Checks, before Burn reads them, that the file holds every weight `network` has, as f32 of
/// the same shape (a missing, short or float64 tensor would otherwise panic inside the
/// framework or be reported as a page of its internals).
fn check_tensors(
    tensors: &SafeTensors<'_>,
    network: &Network,
    prefix: &str,
    path: &Path,
) -> Result<()> {
    for snapshot in network.collect(None, None, true) {
        let name = format!("{prefix}{}", snapshot.name);
        let expected = snapshot.shape.to_vec();
        let view = tensors.tensor(&name).map_err(|_| {
            Error::format(
                path,
                format!("tensor {name} is missing: the file does not match its own model config"),
            )
        })?;
        if view.dtype() != Dtype::F32 || view.shape() != expected {
            return Err(Error::format(
                path,
                format!(
                    "tensor {name} is {:?} {:?}; the model config needs F32 {:?}",
                    view.dtype(),
                    view.shape(),
                    expected
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a file whose stored checksum (if it has one) does not match its content; `what` names
/// it in the message ("file", "checkpoint").
pub(crate) fn verify_checksum(
    metadata: &HashMap<String, String>,
    tensors: &SafeTensors<'_>,
    path: &Path,
    what: &str,
) -> Result<()> {
    let Some(stored) = metadata.get(CHECKSUM_KEY) else {
        return Ok(());
    };
    let views = tensors.tensors();
    let actual = content_digest(
        metadata,
        views
            .iter()
            .map(|(name, v)| (name.as_str(), v.dtype(), v.shape(), v.data())),
    );
    if &actual != stored {
        return Err(Error::format(
            path,
            format!(
                "content checksum mismatch: the {what} was damaged (or edited) after it was written"
            ),
        ));
    }
    Ok(())
}

/// SHA-256 over the metadata (but the checksum itself) and every tensor's name, dtype, shape
/// and bytes, each length-prefixed and in sorted order, so it does not depend on how the
/// safetensors header happens to be laid out. Hex.
pub(crate) fn content_digest<'a>(
    metadata: &HashMap<String, String>,
    tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    let mut keys: Vec<&String> = metadata.keys().filter(|k| *k != CHECKSUM_KEY).collect();
    keys.sort();
    for key in keys {
        field(key.as_bytes());
        field(metadata[key].as_bytes());
    }
    let mut tensors: Vec<_> = tensors.collect();
    tensors.sort_by_key(|t| t.0);
    for (name, dtype, shape, bytes) in tensors {
        field(name.as_bytes());
        field(format!("{dtype:?} {shape:?}").as_bytes());
        field(bytes);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An f32 tensor's values, refused if one is NaN or infinite.
fn finite_values(t: &TensorView<'_>, name: &str, path: &Path) -> Result<Vec<f32>> {
    let values: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::format(
            path,
            format!("tensor {name}: value {i} is not finite; the file is damaged"),
        )),
        None => Ok(values),
    }
}

/// The tensors of network `i`'s feature index: mean map, PCA directions, reference maps.
fn feature_tensor_names(i: usize) -> [String; 3] {
    ["mean", "components", "reference"].map(|part| format!("anomaly.features.{i}.{part}"))
}

/// Network `i`'s feature index from the file, if it has one: f32, finite, and shaped for the
/// network (`mean` its map width, `components` k × width with 1 ≤ k ≤ width, `reference` m × k).
fn feature_index(
    tensors: &SafeTensors<'_>,
    i: usize,
    network: &Network,
    path: &Path,
) -> Result<Option<FeatureIndex>> {
    let [mean_name, components_name, reference_name] = feature_tensor_names(i);
    let names = [&mean_name, &components_name, &reference_name];
    if names.iter().all(|name| tensors.tensor(name).is_err()) {
        return Ok(None);
    }
    let bad = |why: String| Error::format(path, format!("not a usable model file: {why}"));
    let Some(width) = network.feature_width() else {
        return Err(bad(format!(
            "{mean_name} is there, but this architecture has no feature maps"
        )));
    };
    let read =
        |name: &str, shape_ok: &dyn Fn(&[usize]) -> bool| -> Result<(Vec<usize>, Vec<f32>)> {
            let t = tensors
                .tensor(name)
                .map_err(|_| bad(format!("tensor {name} is missing")))?;
            if t.dtype() != Dtype::F32 || !shape_ok(t.shape()) {
                return Err(bad(format!(
                    "tensor {name} is {:?} {:?}, not shaped for feature maps {width} wide",
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok((t.shape().to_vec(), finite_values(&t, name, path)?))
        };
    let (_, mean) = read(&mean_name, &|s| s == [width])?;
    let (shape, components) = read(
        &components_name,
        &|s| matches!(s, [k, w] if (1..=width).contains(k) && *w == width),
    )?;
    let k = shape[0];
    let (_, reference) = read(
        &reference_name,
        &|s| matches!(s, [m, kk] if *m >= 1 && *kk == k),
    )?;
    Ok(Some(FeatureIndex {
        projection: Baseline {
            mean,
            components,
            features: width,
        },
        reference,
    }))
}

/// The prefix of ensemble member `i`'s weights (1-based; the first network has none).
fn member_prefix(i: usize) -> String {
    format!("{MEMBER_PREFIX}{i}.")
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("metadata serialises")
}
