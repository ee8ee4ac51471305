//! The end of a training run: the accuracy report, the JSON summary of `nabla train
//! --json`, and the output directory (`params.json`, `history.csv`, SVG plots).

use super::accuracy::{evaluate, fields, output_expr, Field, Grid, Reference};
use super::layout::Layout;
use super::output::write_params_and_history;
use super::run::{TrainOptions, TrainResult};
use super::TrainError;
use nabla_frontend::problem::Problem;
use serde_json::{json, Map, Value};
use std::path::Path;

/// When a tracked error first fell below a threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Milestone {
    /// The threshold.
    pub below: f64,
    /// Training wall time at that step, in seconds.
    pub wall_s: f64,
    /// The step.
    pub step: usize,
}

/// Everything known at the end of a run.
pub struct Report<'a> {
    /// The problem trained.
    pub problem: &'a Problem,
    /// Parameter layout.
    pub layout: &'a Layout,
    /// Residual names, in history order.
    pub parts: Vec<String>,
    /// The run.
    pub result: &'a TrainResult,
    /// Compile time in seconds.
    pub compile_s: f64,
    /// The evaluation grid.
    pub grid: Grid,
    /// Every net output on the grid.
    pub fields: Vec<Field>,
    /// Outputs at the reference points, with the reference values as exact.
    pub reference: Vec<Field>,
    /// The outputs whose errors the history records (`--error-every`), in record order
    /// ([`super::accuracy::Tracker::outputs`]); empty when none were tracked.
    pub tracked: Vec<String>,
    /// The first L-BFGS step of an `adam+lbfgs` run that got that far (history index),
    /// marked on the loss and error plots; `None` when the optimizer never changed.
    /// Set by [`Report::with_options`]: the history does not record the optimizer.
    pub lbfgs_from: Option<usize>,
    /// The run's sampling seed (for the figure of the point sets).
    pub seed: u64,
}

impl<'a> Report<'a> {
    /// Evaluates every output on the problem's grid.
    pub fn new(
        problem: &'a Problem,
        layout: &'a Layout,
        parts: Vec<String>,
        result: &'a TrainResult,
        compile_s: f64,
    ) -> Result<Report<'a>, TrainError> {
        let grid = Grid::of(problem);
        let fields = fields(problem, layout, &result.theta, &grid)?;
        Ok(Report {
            problem,
            layout,
            parts,
            result,
            compile_s,
            grid,
            fields,
            reference: Vec::new(),
            tracked: Vec::new(),
            lbfgs_from: None,
            seed: 0,
        })
    }

    /// Adds the errors against reference values (`--reference`): they replace an `exact`
    /// of the same output in [`Report::rel_l2`].
    pub fn with_reference(mut self, r: Option<&Reference>) -> Result<Self, TrainError> {
        let Some(r) = r else {
            return Ok(self);
        };
        for (o, v) in &r.values {
            let f = output_expr(o);
            let pred = evaluate(self.problem, &f, self.layout, &self.result.theta, &r.grid)?;
            self.reference.push(Field {
                output: o.clone(),
                pred,
                exact: Some(v.clone()),
            });
        }
        Ok(self)
    }

    /// Takes from the run's options what the history does not record: where an
    /// `adam+lbfgs` run switched optimizer ([`Report::lbfgs_from`]). The switch is at
    /// step `adam_steps` if the run took more steps than that and at least one Adam step.
    pub fn with_options(mut self, opts: &TrainOptions) -> Self {
        let n = opts.adam_steps;
        let switched = opts.optimizer.is_two_phase() && n > 0 && n < self.result.history.len();
        self.lbfgs_from = switched.then_some(n);
        self.seed = opts.seed;
        self
    }

    /// `(output, rel_l2)` for every output with reference values or an exact solution.
    pub fn rel_l2(&self) -> Vec<(String, f64)> {
        let it = self.reference.iter().chain(
            self.fields
                .iter()
                .filter(|f| !self.reference.iter().any(|r| r.output == f.output)),
        );
        it.filter_map(|f| Some((f.output.clone(), f.rel_l2()?)))
            .collect()
    }

    /// What the `rel_l2` line of `output` adds: how many points were measured when the
    /// exact solution is not finite at some (they are left out of the error), and that
    /// the error is absolute when the exact values measured are all 0 (as
    /// [`super::accuracy::rel_l2`] makes it); else nothing.
    fn unmeasured_note(&self, output: &str) -> String {
        let reference = self.reference.iter().find(|f| f.output == output);
        let (f, what, points) = match reference {
            Some(f) => (f, "the reference", "reference points"),
            None => match self.fields.iter().find(|f| f.output == output) {
                Some(f) => (f, "exact", "grid points"),
                None => return String::new(),
            },
        };
        let Some(exact) = f.exact.as_deref() else {
            return String::new();
        };
        let (n, k) = (f.pred.len(), f.unmeasured());
        if k == n {
            return format!(" (exact {output} is not finite at any of the {n} {points})");
        }
        let mut note = String::new();
        if k > 0 {
            let m = n - k;
            note +=
                &format!(" on {m} of {n} {points} (exact {output} is not finite at the others)");
        }
        if exact.iter().filter(|e| e.is_finite()).all(|e| *e == 0.0) {
            note += &format!(" (absolute: {what} {output} is 0 at every point)");
        }
        note
    }

    /// For every tracked output, the first time its error fell below each of 1e-1, 1e-2,
    /// ... 1e-6, thresholds never reached left out.
    pub fn milestones(&self) -> Vec<(String, Vec<Milestone>)> {
        self.tracked
            .iter()
            .enumerate()
            .map(|(k, o)| {
                let reached = (1..=6)
                    .map(|d| 10f64.powi(-d))
                    .filter_map(|th| {
                        let mut it = self.result.history.iter();
                        let r = it.find(|r| r.errors.get(k).is_some_and(|&e| e < th))?;
                        Some(Milestone {
                            below: th,
                            wall_s: r.wall_s,
                            step: r.step,
                        })
                    })
                    .collect();
                (o.clone(), reached)
            })
            .collect()
    }

    /// The report for people: final losses, then one `rel_l2 u = 3.1e-4` line per output,
    /// then when each tracked error first fell below each power of ten.
    pub fn text(&self) -> String {
        let last = &self.result.last;
        let mut s = format!("loss = {:.3e}", last.loss);
        for (n, v) in self.parts.iter().zip(&last.parts) {
            s.push_str(&format!("  {n} = {v:.3e}"));
        }
        s.push('\n');
        for p in &self.problem.params {
            if let Some(v) = self.layout.get(&self.result.theta, &p.name) {
                s.push_str(&format!("param {} = {:.6}\n", p.name, v[0]));
            }
        }
        for (o, e) in self.rel_l2() {
            s.push_str(&format!(
                "rel_l2 {o} = {e:.1e}{}\n",
                self.unmeasured_note(&o)
            ));
        }
        for (o, reached) in self.milestones() {
            if reached.is_empty() {
                continue;
            }
            let items: Vec<String> = reached
                .iter()
                .map(|m| format!("{:.0e} at {:.2} s (step {})", m.below, m.wall_s, m.step))
                .collect();
            s.push_str(&format!("rel_l2 {o} below {}\n", items.join(", ")));
        }
        s
    }

    /// The object `nabla train --json` prints.
    pub fn json(&self) -> Value {
        let last = &self.result.last;
        let losses: Map<String, Value> = self
            .parts
            .iter()
            .zip(&last.parts)
            .map(|(n, v)| (n.clone(), json!(v)))
            .collect();
        let rel: Map<String, Value> = self
            .rel_l2()
            .into_iter()
            .map(|(o, e)| (o, json!(e)))
            .collect();
        let params: Map<String, Value> = self
            .problem
            .params
            .iter()
            .filter_map(|p| {
                Some((
                    p.name.clone(),
                    json!(self.layout.get(&self.result.theta, &p.name)?[0]),
                ))
            })
            .collect();
        let reached: Map<String, Value> = self
            .milestones()
            .into_iter()
            .map(|(o, r)| {
                let items: Vec<Value> = r
                    .iter()
                    .map(|m| json!({"below": m.below, "wall_s": m.wall_s, "step": m.step}))
                    .collect();
                (o, Value::Array(items))
            })
            .collect();
        let notes: Map<String, Value> = (self.rel_l2().into_iter())
            .map(|(o, _)| (self.unmeasured_note(&o), o))
            .filter(|(note, _)| !note.is_empty())
            .map(|(note, o)| (o, json!(note.trim())))
            .collect();
        json!({
            "problem": self.problem.name,
            "reached": reached,
            "steps": self.result.history.len(),
            "wall_s": self.result.wall_s,
            "compile_s": self.compile_s,
            "loss": last.loss,
            "losses": losses,
            "rel_l2": rel,
            "rel_l2_notes": notes,
            "params": params,
        })
    }

    /// Writes `params.json`, `history.csv` and the plots into `dir` (which exists).
    pub fn save(&self, dir: &Path) -> Result<(), TrainError> {
        let (theta, history) = (&self.result.theta, &self.result.history[..]);
        let columns = (&self.parts[..], &self.tracked[..], history);
        write_params_and_history(dir, self.problem, self.layout, theta, columns)?;
        #[cfg(feature = "plots")]
        for (name, svg) in self.plots()? {
            super::output::write_atomic(&dir.join(name), &svg)?;
        }
        Ok(())
    }
}
