//! Causal training for time-dependent problems (Wang, Sankaran & Perdikaris, "Respecting
//! causality is all you need for training physics-informed neural networks", 2022).
//!
//! A PINN trained on all of `[t₀, t₁]` at once can lower the residual at late times before
//! the solution there is determined by the early ones, and settle on a wrong solution that
//! satisfies the PDE everywhere but the initial condition (Allen–Cahn's trivial steady
//! state u = 0, say). Causal training splits the time interval into `M` equal chunks and
//! weights the residual of chunk `i` by
//!
//! ```text
//! wᵢ = exp(−ε · Σ_{k<i} Lₖ),    Lₖ = Σ_R mean_{points of R in chunk k} r²
//! ```
//!
//! so that a chunk counts only once every earlier chunk's residual is small; the weights
//! are constants for the gradient (stop-gradient). The weighted residuals are the
//! residuals whose point sets span time (the PDE on the interior; not the initial
//! condition on `t = t₀`), each `mean(c·r²)` with `c` the weight of the point's chunk.
//! Training is done in time when the smallest weight nears 1.
//!
//! The weights are refreshed once per step: after an Adam step from its own evaluation
//! (the parameters before the step: one step behind, at no extra cost), after an L-BFGS
//! or SSBFGS step from the residuals at the accepted point, and by Levenberg–Marquardt
//! from the residuals at the current parameters before it forms its system. A refresh
//! changes the objective, so the quasi-Newton memories start over as after a resample:
//! Adam and `lm` are the optimizers to use with it. With sampled operators
//! (`lap(E; sample = K)`) the chunk means are of `r·r′`, the unbiased estimate the loss
//! uses (clamped at 0), except under `lm` with its whole-`J` plan (point space), which
//! weighs from its Jacobian program's `r²` (it traces a residual once).
//!
//! With `lm` and a net exactly periodic in x, this is what solves Allen–Cahn
//! (`examples/allen_cahn_periodic.nabla`, 6.1e-5 against the spectral reference in 300 s
//! on two cores); without the weights every optimizer settles on the trivial solution.

use super::dist::Collective;
use super::TrainError;
use nabla_frontend::problem::Problem;

/// What `--causal` asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct CausalSpec {
    /// The causality parameter `ε` (> 0; larger is stricter).
    pub eps: f64,
    /// The number of time chunks `M`.
    pub chunks: usize,
    /// The time input's name.
    pub time: String,
}

impl CausalSpec {
    /// `ε` with 32 chunks (the paper's and jaxpi's choice) over the input named `t`.
    pub fn new(eps: f64) -> CausalSpec {
        CausalSpec {
            eps,
            chunks: 32,
            time: "t".into(),
        }
    }

    /// Refuses values that mean nothing: `ε` not positive and finite, no chunks.
    pub fn check(&self) -> Result<(), String> {
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(format!(
                "--causal {}: ε must be a positive number",
                self.eps
            ));
        }
        if self.chunks == 0 || self.chunks > 100_000 {
            return Err(format!(
                "--causal-chunks {}: the number of time chunks must be 1 to 100000",
                self.chunks
            ));
        }
        Ok(())
    }
}

/// The causal weighting of one run: which residuals it weights and the current weights.
#[derive(Clone, Debug)]
pub struct Causal {
    spec: CausalSpec,
    /// The time input's column in every point row, and its interval.
    time: (usize, f64, f64),
    /// The names of the weighted residuals (those whose points span time).
    residuals: Vec<String>,
    /// `wᵢ` of every chunk.
    weights: Vec<f64>,
}

impl Causal {
    /// The weighting of `problem` as `spec` asks: the weighted residuals are those whose
    /// point sets, as sampled with `seed`, do not all have the same time. All weights start
    /// at 1. Errors name what is missing: the time input, or a residual over time.
    pub fn new(problem: &Problem, spec: &CausalSpec, seed: u64) -> Result<Causal, TrainError> {
        spec.check().map_err(TrainError::Options)?;
        let Some(col) = problem.inputs.iter().position(|i| i.name == spec.time) else {
            let names: Vec<&str> = problem.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(TrainError::Options(format!(
                "--causal weights the residual over time, but the problem has no input `{}` \
                 (its inputs: {}); name the time input with --causal-time",
                spec.time,
                names.join(", ")
            )));
        };
        let points = problem.sample(seed);
        let spans = |set: &str| {
            let rows = points.iter().find(|(s, _)| s == set).map(|(_, r)| r);
            rows.is_some_and(|r| r.iter().any(|row| row[col] != r[0][col]))
        };
        let residuals: Vec<String> = (problem.residuals.iter())
            .filter(|r| spans(&r.points))
            .map(|r| r.name.clone())
            .collect();
        if residuals.is_empty() {
            return Err(TrainError::Options(format!(
                "--causal: no residual's points vary in `{}`, so there is nothing to weight \
                 over time",
                spec.time
            )));
        }
        let input = &problem.inputs[col];
        Ok(Causal {
            spec: spec.clone(),
            time: (col, input.lo, input.hi),
            residuals,
            weights: vec![1.0; spec.chunks],
        })
    }

    /// `problem` with the weighted residuals' per-point weights in its loss.
    pub fn weighted(&self, problem: &Problem) -> Problem {
        let mut p = problem.clone();
        p.point_weights = self.residuals.clone();
        p
    }

    /// The names of the weighted residuals.
    pub fn residuals(&self) -> &[String] {
        &self.residuals
    }

    /// The chunk weights `wᵢ`.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Sets the chunk weights (a resumed run's); `None` when `w` has another length.
    pub fn set_weights(&mut self, w: &[f64]) -> Option<()> {
        (w.len() == self.weights.len()).then(|| self.weights.copy_from_slice(w))
    }

    /// The smallest chunk weight: how far in time training has got (1: all of it).
    pub fn min_weight(&self) -> f64 {
        self.weights.iter().copied().fold(1.0, f64::min)
    }

    /// The chunk of time `t` (times outside the interval count in the first or last).
    pub fn chunk(&self, t: f64) -> usize {
        let (_, lo, hi) = self.time;
        let m = self.spec.chunks;
        let k = ((t - lo) / (hi - lo) * m as f64).floor();
        if k.is_nan() {
            return 0;
        }
        (k.max(0.0) as usize).min(m - 1)
    }

    /// The weight of every row of a point set: its chunk's.
    pub fn point_weights(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        let col = self.time.0;
        (rows.iter())
            .map(|r| self.weights[self.chunk(r[col])])
            .collect()
    }

    /// Recomputes the chunk weights from the weighted residuals' squares `squares[j]`
    /// (`r²` per point, or `r·r′` of two independent traces for sampled operators) at the
    /// rows `rows[j]` (this process's; the squares and chunks of every process are gathered
    /// and added in the order of one process's points, so every rank gets one process's
    /// weights, to the bit). A chunk's mean counts at least 0 (`r·r′` can be negative); a
    /// chunk whose sum is not finite is an error.
    pub fn update(
        &mut self,
        squares: &[(&[f64], &[Vec<f64>])],
        comm: &dyn Collective,
    ) -> Result<(), TrainError> {
        let m = self.spec.chunks;
        // per residual: the sum of squares and the count of every chunk
        let mut v = vec![0.0; 2 * m * squares.len()];
        for (j, (values, rows)) in squares.iter().enumerate() {
            let chunks: Vec<f64> = (rows.iter())
                .map(|row| self.chunk(row[self.time.0]) as f64)
                .collect();
            let n = values.len().min(chunks.len());
            let (values, chunks) = (comm.gather(&values[..n])?, comm.gather(&chunks[..n])?);
            let (sums, counts) = v[2 * m * j..2 * m * (j + 1)].split_at_mut(m);
            for (sq, k) in values.iter().zip(chunks) {
                let k = (k as usize).min(m - 1);
                sums[k] += sq;
                counts[k] += 1.0;
            }
        }
        if let Some(k) = v[..].iter().position(|x| !x.is_finite()) {
            let (j, i) = (k / (2 * m), k % m);
            return Err(TrainError::Options(format!(
                "causal weights: residual `{}` is not finite in time chunk {i} of {m}",
                self.residuals.get(j).map_or("?", |s| s.as_str())
            )));
        }
        let mut before = 0.0;
        for i in 0..m {
            self.weights[i] = (-self.spec.eps * before).exp();
            before += (0..squares.len())
                .map(|j| {
                    let (s, c) = (v[2 * m * j + i], v[2 * m * j + m + i]);
                    if c > 0.0 {
                        (s / c).max(0.0)
                    } else {
                        0.0
                    }
                })
                .sum::<f64>();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::dist::Alone;

    fn causal(eps: f64, chunks: usize) -> Causal {
        Causal {
            spec: CausalSpec {
                eps,
                chunks,
                time: "t".into(),
            },
            time: (0, 0.0, 1.0),
            residuals: vec!["pde".into()],
            weights: vec![1.0; chunks],
        }
    }

    #[test]
    fn times_fall_into_equal_chunks() {
        let c = causal(1.0, 4);
        let chunks: Vec<usize> = [0.0, 0.24, 0.25, 0.5, 0.99, 1.0, -0.1, 1.5, f64::NAN]
            .iter()
            .map(|&t| c.chunk(t))
            .collect();
        assert_eq!(chunks, [0, 0, 1, 2, 3, 3, 0, 3, 0]);
    }

    #[test]
    fn a_chunk_is_weighted_by_the_losses_before_it() {
        // chunk losses (means of r²): 4, 1, 0.25, 0 (empty chunk 3 counts 0)
        let mut c = causal(0.5, 5);
        let rows: Vec<Vec<f64>> = [0.05, 0.15, 0.3, 0.5, 0.7]
            .iter()
            .map(|&t| vec![t])
            .collect();
        // chunks 0, 0, 1, 2, 3 of five chunks of 0.2: 0.05, 0.15 → 0; 0.3 → 1; 0.5 → 2; 0.7 → 3
        let sq = [1.0, 3.0, 1.0, 0.25, 0.0];
        // chunk 0: mean(1, 3) = 2; chunk 1: 1; chunk 2: 0.25; chunk 3: 0
        c.update(&[(&sq, &rows)], &Alone).unwrap();
        let want = [
            1.0,
            (-0.5_f64 * 2.0).exp(),
            (-0.5_f64 * 3.0).exp(),
            (-0.5_f64 * 3.25).exp(),
            (-0.5_f64 * 3.25).exp(),
        ];
        for (w, e) in c.weights().iter().zip(want) {
            assert!((w - e).abs() < 1e-15, "{:?} vs {want:?}", c.weights());
        }
        assert_eq!(c.min_weight(), want[4]);
        let pw = c.point_weights(&rows);
        assert_eq!(pw, vec![want[0], want[0], want[1], want[2], want[3]]);
    }

    #[test]
    fn two_residuals_add_their_chunk_means() {
        let mut c = causal(1.0, 2);
        let a_rows = vec![vec![0.1], vec![0.6]];
        let b_rows = vec![vec![0.2], vec![0.3], vec![0.9]];
        let (a, b) = ([4.0, 25.0], [1.0, 9.0, 49.0]);
        c.update(&[(&a, &a_rows), (&b, &b_rows)], &Alone).unwrap();
        // chunk 0: 2² + mean(1², 3²) = 4 + 5 = 9
        assert!((c.weights()[1] - (-9.0_f64).exp()).abs() < 1e-18);
        assert_eq!(c.weights()[0], 1.0);
    }

    #[test]
    fn negative_chunk_means_count_zero_and_non_finite_ones_are_errors() {
        // r·r′ of a sampled operator can be negative: the chunk counts 0, not a reward
        let mut c = causal(1.0, 2);
        let rows = vec![vec![0.1], vec![0.2], vec![0.7]];
        c.update(&[(&[-3.0, 1.0, 5.0], &rows)], &Alone).unwrap();
        assert_eq!(c.weights(), [1.0, 1.0]);
        let err = c.update(&[(&[f64::NAN, 1.0, 5.0], &rows)], &Alone);
        let msg = err.unwrap_err().to_string();
        assert!(
            msg.contains("`pde` is not finite in time chunk 0 of 2"),
            "{msg}"
        );
    }

    #[test]
    fn meaningless_settings_are_refused() {
        for (eps, chunks) in [(0.0, 32), (-1.0, 32), (f64::NAN, 32), (1.0, 0)] {
            let spec = CausalSpec {
                eps,
                chunks,
                time: "t".into(),
            };
            assert!(spec.check().is_err(), "{spec:?}");
        }
        assert!(CausalSpec::new(1.0).check().is_ok());
    }
}
