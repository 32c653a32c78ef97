//! Checkpoints: everything needed to continue a run, in one file written atomically after each
//! epoch. The container is safetensors (a format we already read and write): Burn's own records
//! of the network and optimizer as byte tensors, and the run's state as JSON in the metadata.
//! Burn's records keep parameter ids, which is what ties the optimizer's moments to the weights.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::early_stop::EarlyStopping;
use super::{EpochRecord, TrainOptions};
use crate::artifact::{CHECKSUM_KEY, content_digest, verify_checksum};
use crate::data::{SampleShape, Scaling};
use crate::error::{Error, Result};
use crate::model::ModelConfig;

const STATE_KEY: &str = "hourglass.checkpoint";

/// Where a run stands after an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub config: ModelConfig,
    pub input: SampleShape,
    pub scaling: Scaling,
    pub options: TrainOptions,
    pub completed_epochs: usize,
    pub history: Vec<EpochRecord>,
    pub early_stopping: EarlyStopping,
}

/// A run's state with the serialized network, optimizer and best network so far.
pub struct Checkpoint {
    pub state: TrainState,
    pub network: Vec<u8>,
    pub optimizer: Vec<u8>,
    pub best_network: Option<Vec<u8>>,
}

impl Checkpoint {
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut parts: Vec<(&str, &[u8])> = vec![
            ("network", &self.network[..]),
            ("optimizer", &self.optimizer[..]),
        ];
        if let Some(best) = &self.best_network {
            parts.push(("best_network", &best[..]));
        }
        let views: Vec<(String, TensorView<'_>)> = parts
            .into_iter()
            .map(|(name, bytes)| {
                let view = TensorView::new(Dtype::U8, vec![bytes.len()], bytes)
                    .expect("a byte vector is a valid U8 tensor");
                (name.to_string(), view)
            })
            .collect();
        let state = serde_json::to_string(&self.state).expect("train state serialises");
        let mut metadata = HashMap::from([(STATE_KEY.to_string(), state)]);
        let digest = content_digest(
            &metadata,
            views
                .iter()
                .map(|(name, v)| (name.as_str(), v.dtype(), v.shape(), v.data())),
        );
        metadata.insert(CHECKSUM_KEY.to_string(), digest);
        let bytes = safetensors::serialize(views, Some(metadata))
            .map_err(|e| Error::format(path, format!("cannot serialise checkpoint: {e}")))?;
        crate::fsutil::write_atomic(path, &bytes)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read(path)?;
        let bad = |m: String| Error::format(path, format!("not an hourglass checkpoint: {m}"));
        let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let state = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(STATE_KEY))
            .ok_or_else(|| bad("no training state in its metadata".into()))?;
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        // A damaged checkpoint is refused here, before Burn reads the records inside it.
        if let Some(metadata) = metadata.metadata() {
            verify_checksum(metadata, &tensors, path, "checkpoint")?;
        }
        let state: TrainState = serde_json::from_str(state).map_err(|e| bad(e.to_string()))?;
        let part = |name: &str| tensors.tensor(name).ok().map(|t| t.data().to_vec());
        Ok(Checkpoint {
            state,
            network: part("network").ok_or_else(|| bad("no network".into()))?,
            optimizer: part("optimizer").ok_or_else(|| bad("no optimizer state".into()))?,
            best_network: part("best_network"),
        })
    }
}
