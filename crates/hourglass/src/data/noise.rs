//! Corruptions for denoising: what a denoising autoencoder learns to undo, and what `denoise`
//! applies to clean data to show it working. Applied to scaled values on the host, from a seeded
//! generator, so runs (and resumed runs) corrupt the same way.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A kind of noise and its strength.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Noise {
    /// Add normal noise of this standard deviation (in scaled units), clipped to [0, 1] for pixels.
    Gaussian { sigma: f32 },
    /// Set each value to 0 with this probability.
    Masking { p: f32 },
    /// Set each value to 0 or 1 (half each) with this probability.
    SaltPepper { p: f32 },
}

impl std::str::FromStr for Noise {
    type Err = Error;
    /// `gaussian:SIGMA`, `masking:P` or `salt-pepper:P`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "noise {s:?}: {why} (gaussian:SIGMA, masking:P or salt-pepper:P)"
            ))
        };
        let (kind, value) = s.split_once(':').ok_or_else(|| bad("missing ':'"))?;
        let value: f32 = value.parse().map_err(|_| bad("not a number"))?;
        let noise = match kind {
            "gaussian" => Noise::Gaussian { sigma: value },
            "masking" => Noise::Masking { p: value },
            "salt-pepper" | "salt_pepper" => Noise::SaltPepper { p: value },
            _ => return Err(bad("unknown kind")),
        };
        let ok = match noise {
            Noise::Gaussian { sigma } => sigma >= 0.0 && sigma.is_finite(),
            Noise::Masking { p } | Noise::SaltPepper { p } => (0.0..=1.0).contains(&p),
        };
        if !ok {
            return Err(bad("out of range"));
        }
        Ok(noise)
    }
}

impl std::fmt::Display for Noise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Noise::Gaussian { sigma } => write!(f, "gaussian:{sigma}"),
            Noise::Masking { p } => write!(f, "masking:{p}"),
            Noise::SaltPepper { p } => write!(f, "salt-pepper:{p}"),
        }
    }
}

impl Noise {
    /// A corrupted copy of `values`. `unit_range` clips Gaussian noise to [0, 1] (pixels).
    pub fn corrupt(&self, values: &[f32], unit_range: bool, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        match *self {
            Noise::Gaussian { sigma } => values
                .iter()
                .map(|&v| {
                    let noisy = v + sigma * standard_normal(&mut rng);
                    if unit_range {
                        noisy.clamp(0.0, 1.0)
                    } else {
                        noisy
                    }
                })
                .collect(),
            Noise::Masking { p } => values
                .iter()
                .map(|&v| if rng.random::<f32>() < p { 0.0 } else { v })
                .collect(),
            Noise::SaltPepper { p } => values
                .iter()
                .map(|&v| {
                    if rng.random::<f32>() < p {
                        if rng.random::<bool>() { 1.0 } else { 0.0 }
                    } else {
                        v
                    }
                })
                .collect(),
        }
    }
}

/// One draw from N(0, 1) by the Box–Muller transform.
fn standard_normal(rng: &mut impl RngExt) -> f32 {
    let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_specs() {
        for spec in ["gaussian:0.3", "masking:0.25", "salt-pepper:0.1"] {
            assert_eq!(spec.parse::<Noise>().unwrap().to_string(), spec);
        }
        assert!("masking:1.5".parse::<Noise>().is_err());
        assert!("blur:2".parse::<Noise>().is_err());
    }

    #[test]
    fn corruption_has_the_promised_strength_and_repeats_with_the_seed() {
        let clean = vec![0.5f32; 20_000];
        let g = Noise::Gaussian { sigma: 0.2 }.corrupt(&clean, true, 1);
        let var = g.iter().map(|v| (v - 0.5) * (v - 0.5)).sum::<f32>() / g.len() as f32;
        assert!((var.sqrt() - 0.2).abs() < 0.01, "std {}", var.sqrt());
        let m = Noise::Masking { p: 0.3 }.corrupt(&clean, true, 1);
        let zeros = m.iter().filter(|&&v| v == 0.0).count() as f32 / m.len() as f32;
        assert!((zeros - 0.3).abs() < 0.02, "{zeros}");
        assert_eq!(m, Noise::Masking { p: 0.3 }.corrupt(&clean, true, 1));
        assert_ne!(m, Noise::Masking { p: 0.3 }.corrupt(&clean, true, 2));
    }
}
