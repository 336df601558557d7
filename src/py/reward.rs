//! Bindings for `crate::reward`; `azr.rewards` adds the Python-facing names.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::reward::{self, Penalties, Verdict};

#[pyfunction]
pub fn learnability(solve_rate: f64) -> PyResult<f64> {
    Ok(reward::learnability(solve_rate)?)
}

#[pyfunction]
pub fn learnability_from_counts(correct: u32, samples: u32) -> PyResult<f64> {
    Ok(reward::learnability_from_counts(correct, samples)?)
}

/// `verdict` is "format_error", "wrong" or "accepted" (then `reward` is used).
#[pyfunction]
#[pyo3(signature = (verdict, reward=0.0, format_error=-1.0, wrong=-0.5),
       text_signature = "(verdict, reward=0.0, format_error=-1.0, wrong=-0.5)")]
pub fn composite_reward(verdict: &str, reward: f64, format_error: f64, wrong: f64) -> PyResult<f64> {
    let verdict = match verdict {
        "format_error" => Verdict::FormatError,
        "wrong" => Verdict::Wrong,
        "accepted" => Verdict::Accepted(reward),
        other => {
            return Err(crate::error::CoreError::InvalidArgument(format!(
                "verdict must be 'format_error', 'wrong' or 'accepted', got {other:?}"
            ))
            .into())
        }
    };
    Ok(reward::composite(verdict, Penalties { format_error, wrong }))
}

#[pyfunction]
#[pyo3(signature = (rewards, groups, weights=None, eps=1e-6))]
pub fn task_relative_advantages<'py>(
    py: Python<'py>,
    rewards: PyReadonlyArray1<'py, f64>,
    groups: PyReadonlyArray1<'py, u32>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    eps: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let rewards = rewards.as_slice()?;
    let groups = groups.as_slice()?;
    let weights = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    let advantages = reward::task_relative_advantages(rewards, groups, weights, eps)?;
    Ok(advantages.into_pyarray(py))
}
