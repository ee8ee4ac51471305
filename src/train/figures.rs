//! The SVG figures of a run's report (the `plots` feature, on by default): loss and error
//! curves, and solution, exact-solution and error maps for 1-D and 2-D problems.

use super::accuracy::Field;
use super::plot::{self, Scale};
use super::report::Report;
use super::TrainError;

impl Report<'_> {
    /// `(file name, SVG)` of every plot, in the order and under the conditions listed in
    /// [`super::output`].
    pub fn plots(&self) -> Result<Vec<(String, String)>, TrainError> {
        let history = &self.result.history;
        let loss = plot::loss_curves(&self.parts, history, self.lbfgs_from);
        let mut out = vec![(
            "loss.svg".to_string(),
            loss.map_err(plot_error("loss.svg"))?,
        )];
        if history.iter().any(|r| !r.errors.is_empty()) {
            let svg = plot::error_curves(&self.tracked, history, self.lbfgs_from)
                .map_err(plot_error("error.svg"))?;
            out.push(("error.svg".to_string(), svg));
        }
        let ins = &self.problem.inputs;
        // Solution maps need a tensor grid (not the masked grid of a domain).
        let maps = !self.grid.axes.is_empty();
        for f in self.fields.iter().filter(|_| maps) {
            match ins.len() {
                1 => {
                    let name = format!("{}.svg", f.output);
                    let svg =
                        plot::line_plot(f, &self.grid, &ins[0].name).map_err(plot_error(&name))?;
                    out.push((name, svg));
                }
                2 => out.extend(self.heat_maps(f)?),
                _ => {}
            }
        }
        Ok(out)
    }

    /// `OUT.svg` and, with an exact solution, `OUT_exact.svg` and `OUT_error.svg`. The
    /// prediction and the exact solution share one colour scale, so equal colours mean
    /// equal values across the two files; the error `|u − u*|` gets viridis from zero.
    fn heat_maps(&self, f: &Field) -> Result<Vec<(String, String)>, TrainError> {
        let ins = (
            self.problem.inputs[0].name.as_str(),
            self.problem.inputs[1].name.as_str(),
        );
        let o = &f.output;
        let exact = f.exact.as_deref().unwrap_or(&[]);
        let shared = Scale::of(f.pred.iter().chain(exact).copied());
        let mut maps = vec![(format!("{o}.svg"), o.clone(), f.pred.clone(), shared)];
        if !exact.is_empty() {
            let err: Vec<f64> = f
                .pred
                .iter()
                .zip(exact)
                .map(|(p, e)| (p - e).abs())
                .collect();
            let exact_map = (
                format!("{o}_exact.svg"),
                format!("{o} exact"),
                exact.to_vec(),
                shared,
            );
            maps.push(exact_map);
            let scale = Scale::magnitude(err.iter().copied());
            maps.push((
                format!("{o}_error.svg"),
                format!("|{o} - {o}*|"),
                err,
                scale,
            ));
        }
        maps.into_iter()
            .map(|(file, title, vals, scale)| {
                let svg = plot::heat_map(&title, &vals, &self.grid, ins, &scale)
                    .map_err(plot_error(&file))?;
                Ok((file, svg))
            })
            .collect()
    }
}

/// Wraps a drawing error with the plot's file name.
fn plot_error(name: &str) -> impl Fn(plot::PlotError) -> TrainError {
    let name = name.to_string();
    move |reason| TrainError::Plot {
        name: name.clone(),
        reason,
    }
}
