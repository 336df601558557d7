//! Pure reward functions of Absolute-Zero self-play and Task-Relative REINFORCE++
//! advantages. No I/O, no Python: the bindings in `py::reward` wrap these.

use crate::error::{CoreError, Result};

/// Proposer learnability reward from the solver's empirical solve rate:
/// `1 - acc` when `0 < acc < 1`, else `0` (tasks that are always or never
/// solved teach nothing).
pub fn learnability(solve_rate: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&solve_rate) {
        return Err(CoreError::InvalidArgument(format!(
            "solve rate must be in [0, 1], got {solve_rate}"
        )));
    }
    Ok(if solve_rate > 0.0 && solve_rate < 1.0 {
        1.0 - solve_rate
    } else {
        0.0
    })
}

/// [`learnability`] from `correct` successes out of `samples` solver attempts.
pub fn learnability_from_counts(correct: u32, samples: u32) -> Result<f64> {
    if samples == 0 || correct > samples {
        return Err(CoreError::InvalidArgument(format!(
            "need 0 <= correct <= samples and samples > 0, got {correct}/{samples}"
        )));
    }
    learnability(f64::from(correct) / f64::from(samples))
}

/// How a generation fared, for the format-aware composite reward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The output could not be parsed into the required parts.
    FormatError,
    /// Parsed, but wrong (solver) or an invalid task (proposer).
    Wrong,
    /// Parsed and accepted, with its role reward (solver 1.0, proposer learnability).
    Accepted(f64),
}

/// Penalties of the composite reward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalties {
    pub format_error: f64,
    pub wrong: f64,
}

impl Default for Penalties {
    /// Formatting error -1, well-formed but wrong or invalid -0.5.
    fn default() -> Self {
        Penalties {
            format_error: -1.0,
            wrong: -0.5,
        }
    }
}

/// The format-aware composite reward.
pub fn composite(verdict: Verdict, penalties: Penalties) -> f64 {
    match verdict {
        Verdict::FormatError => penalties.format_error,
        Verdict::Wrong => penalties.wrong,
        Verdict::Accepted(reward) => reward,
    }
}

/// Task-Relative REINFORCE++ advantages: each reward is normalised within its
/// group (one group per task type and role): `(r - mean_g) / (std_g + eps)`,
/// with the population standard deviation. With `weights` (e.g. token counts)
/// the group mean and std are weighted, so each token counts once. Groups of one
/// element or constant reward get advantage 0.
pub fn task_relative_advantages(
    rewards: &[f64],
    groups: &[u32],
    weights: Option<&[f64]>,
    eps: f64,
) -> Result<Vec<f64>> {
    if groups.len() != rewards.len() {
        return Err(CoreError::InvalidArgument(format!(
            "{} rewards but {} group ids",
            rewards.len(),
            groups.len()
        )));
    }
    if let Some(w) = weights {
        if w.len() != rewards.len() {
            return Err(CoreError::InvalidArgument(format!(
                "{} rewards but {} weights",
                rewards.len(),
                w.len()
            )));
        }
        if w.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(CoreError::InvalidArgument(
                "weights must be finite and non-negative".into(),
            ));
        }
    }
    if rewards.iter().any(|r| !r.is_finite()) {
        return Err(CoreError::InvalidArgument(
            "rewards must be finite (no NaN or inf)".into(),
        ));
    }
    if !(eps.is_finite() && eps > 0.0) {
        return Err(CoreError::InvalidArgument(format!(
            "eps must be positive and finite, got {eps}"
        )));
    }
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let mut stats: std::collections::HashMap<u32, (f64, f64, f64)> = std::collections::HashMap::new();
    for (i, (&r, &g)) in rewards.iter().zip(groups).enumerate() {
        let entry = stats.entry(g).or_insert((0.0, 0.0, 0.0));
        entry.0 += weight(i);
        entry.1 += weight(i) * r;
    }
    for (i, (&r, &g)) in rewards.iter().zip(groups).enumerate() {
        if let Some(entry) = stats.get_mut(&g) {
            let mean = if entry.0 > 0.0 { entry.1 / entry.0 } else { 0.0 };
            entry.2 += weight(i) * (r - mean) * (r - mean);
        }
    }
    Ok(rewards
        .iter()
        .zip(groups)
        .map(|(&r, g)| {
            let (total, sum, sq) = stats.get(g).copied().unwrap_or((0.0, 0.0, 0.0));
            if total <= 0.0 {
                return 0.0;
            }
            let mean = sum / total;
            let std = (sq / total).sqrt();
            if std <= f64::EPSILON * mean.abs().max(1.0) {
                0.0
            } else {
                (r - mean) / (std + eps)
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learnability_by_hand() {
        assert_eq!(learnability(0.0).ok(), Some(0.0));
        assert_eq!(learnability(1.0).ok(), Some(0.0));
        assert_eq!(learnability_from_counts(2, 8).ok(), Some(0.75));
        // A caller's argument out of range, not a configuration problem.
        assert!(matches!(learnability(1.5), Err(CoreError::InvalidArgument(_))));
        assert!(matches!(
            learnability_from_counts(9, 8),
            Err(CoreError::InvalidArgument(_))
        ));
        assert!(matches!(
            learnability_from_counts(0, 0),
            Err(CoreError::InvalidArgument(_))
        ));
    }

    #[test]
    fn composite_defaults() {
        let p = Penalties::default();
        assert_eq!(composite(Verdict::FormatError, p), -1.0);
        assert_eq!(composite(Verdict::Wrong, p), -0.5);
        assert_eq!(composite(Verdict::Accepted(0.25), p), 0.25);
    }

    #[test]
    fn advantages_by_hand() {
        // group 0: [1, 0] mean 0.5 std 0.5 -> [1, -1] (eps tiny); group 1 constant -> 0.
        let adv = task_relative_advantages(&[1.0, 0.0, 3.0, 3.0], &[0, 0, 1, 1], None, 1e-12).unwrap_or_default();
        assert!((adv[0] - 1.0).abs() < 1e-9 && (adv[1] + 1.0).abs() < 1e-9);
        assert_eq!(&adv[2..], &[0.0, 0.0]);
        // token weights: [1 (w=3), 0 (w=1)]: mean 0.75, var 0.1875.
        let adv = task_relative_advantages(&[1.0, 0.0], &[0, 0], Some(&[3.0, 1.0]), 1e-12).unwrap_or_default();
        let std = 0.1875f64.sqrt();
        assert!((adv[0] - 0.25 / std).abs() < 1e-9 && (adv[1] + 0.75 / std).abs() < 1e-9);
    }

    #[test]
    fn advantages_reject_bad_input() {
        let invalid = |r: Result<Vec<f64>>| matches!(r, Err(CoreError::InvalidArgument(_)));
        assert!(invalid(task_relative_advantages(&[1.0], &[0, 1], None, 1e-6)));
        assert!(invalid(task_relative_advantages(&[f64::NAN], &[0], None, 1e-6)));
        assert!(invalid(task_relative_advantages(&[1.0], &[0], Some(&[-1.0]), 1e-6)));
        assert!(invalid(task_relative_advantages(&[1.0], &[0], None, 0.0)));
        assert_eq!(
            task_relative_advantages(&[], &[], None, 1e-6).map(|v| v.len()).ok(),
            Some(0)
        );
    }
}
