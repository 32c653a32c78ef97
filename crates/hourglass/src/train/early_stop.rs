//! Early stopping: remember the best validation loss, count the epochs since.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub patience: Option<usize>,
    pub best_loss: Option<f64>,
    pub best_epoch: Option<usize>,
    pub epochs_without_improvement: usize,
}

impl EarlyStopping {
    pub fn new(patience: Option<usize>) -> Self {
        EarlyStopping {
            patience,
            ..Default::default()
        }
    }

    /// Records an epoch's validation loss; returns true when it is the best so far.
    pub fn observe(&mut self, epoch: usize, loss: f64) -> bool {
        let improved = self.best_loss.is_none_or(|best| loss < best);
        if improved {
            self.best_loss = Some(loss);
            self.best_epoch = Some(epoch);
            self.epochs_without_improvement = 0;
        } else {
            self.epochs_without_improvement += 1;
        }
        improved
    }

    /// Whether patience has run out.
    pub fn should_stop(&self) -> bool {
        self.patience
            .is_some_and(|p| self.epochs_without_improvement >= p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let mut stop = EarlyStopping::new(Some(2));
        assert!(stop.observe(1, 1.0));
        assert!(stop.observe(2, 0.5));
        assert!(!stop.observe(3, 0.6));
        assert!(!stop.should_stop());
        assert!(!stop.observe(4, 0.55));
        assert!(stop.should_stop());
        assert_eq!(stop.best_epoch, Some(2));
    }
}
