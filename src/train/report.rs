//! The end of a training run: the accuracy report, the JSON summary of `nabla train
//! --json`, and the output directory (`params.json`, `history.csv`, SVG plots).

use super::accuracy::{fields, Field, Grid};
use super::layout::{to_json, Layout};
use super::output::write_atomic;
use super::plot;
use super::run::TrainResult;
use super::TrainError;
use nabla_frontend::problem::Problem;
use serde_json::{json, Map, Value};
use std::path::Path;

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
        })
    }

    /// `(output, rel_l2)` for every output with an exact solution.
    pub fn rel_l2(&self) -> Vec<(String, f64)> {
        let it = self.fields.iter();
        it.filter_map(|f| Some((f.output.clone(), f.rel_l2()?)))
            .collect()
    }

    /// The report for people: final losses, then one `rel_l2 u = 3.1e-4` line per output.
    pub fn text(&self) -> String {
        let last = &self.result.last;
        let mut s = format!("loss = {:.3e}", last.loss);
        for (n, v) in self.parts.iter().zip(&last.parts) {
            s.push_str(&format!("  {n} = {v:.3e}"));
        }
        s.push('\n');
        for (o, e) in self.rel_l2() {
            s.push_str(&format!("rel_l2 {o} = {e:.1e}\n"));
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
        json!({
            "problem": self.problem.name,
            "steps": self.result.history.len(),
            "wall_s": self.result.wall_s,
            "compile_s": self.compile_s,
            "loss": last.loss,
            "losses": losses,
            "rel_l2": rel,
            "params": params,
        })
    }

    /// Writes `params.json`, `history.csv` and the plots into `dir` (which exists).
    pub fn save(&self, dir: &Path) -> Result<(), TrainError> {
        let params = to_json(self.problem, self.layout, &self.result.theta);
        let text = serde_json::to_string_pretty(&params).unwrap_or_default();
        write_atomic(&dir.join("params.json"), text.as_bytes())?;
        let csv = super::output::history_csv(&self.parts, &self.result.history);
        write_atomic(&dir.join("history.csv"), csv.as_bytes())?;
        for (name, svg) in self.plots()? {
            write_atomic(&dir.join(name), svg.as_bytes())?;
        }
        Ok(())
    }

    /// `(file name, SVG)` of every plot: `loss.svg`; for 1-D problems `OUT.svg` (solution,
    /// exact, error); for 2-D `OUT.svg`, `OUT_exact.svg`, `OUT_error.svg` heat maps.
    pub fn plots(&self) -> Result<Vec<(String, String)>, TrainError> {
        let wrap = |name: &str| {
            let name = name.to_string();
            move |reason: String| TrainError::Plot { name, reason }
        };
        let mut out = vec![(
            "loss.svg".to_string(),
            plot::loss_curves(&self.parts, &self.result.history).map_err(wrap("loss.svg"))?,
        )];
        let ins = &self.problem.inputs;
        for f in &self.fields {
            match ins.len() {
                1 => {
                    let name = format!("{}.svg", f.output);
                    let svg = plot::line_plot(f, &self.grid, &ins[0].name).map_err(wrap(&name))?;
                    out.push((name, svg));
                }
                2 => out.extend(self.heat_maps(f)?),
                _ => {}
            }
        }
        Ok(out)
    }

    fn heat_maps(&self, f: &Field) -> Result<Vec<(String, String)>, TrainError> {
        let ins = (
            self.problem.inputs[0].name.as_str(),
            self.problem.inputs[1].name.as_str(),
        );
        let mut maps = vec![(
            format!("{}.svg", f.output),
            f.output.clone(),
            f.pred.clone(),
        )];
        if let Some(e) = &f.exact {
            let err: Vec<f64> = f.pred.iter().zip(e).map(|(p, e)| (p - e).abs()).collect();
            maps.push((
                format!("{}_exact.svg", f.output),
                format!("{} exact", f.output),
                e.clone(),
            ));
            maps.push((
                format!("{}_error.svg", f.output),
                format!("|{0} - {0}*|", f.output),
                err,
            ));
        }
        maps.into_iter()
            .map(|(file, title, vals)| {
                let svg = plot::heat_map(&title, &vals, &self.grid, ins).map_err(|reason| {
                    TrainError::Plot {
                        name: file.clone(),
                        reason,
                    }
                })?;
                Ok((file, svg))
            })
            .collect()
    }
}
