//! The SVG figures of a run's report (the `plots` feature, on by default): loss and error
//! curves, and solution, exact-solution and error maps for 1-D and 2-D problems.

use super::accuracy::{fields, solved, solved_domains, Field, Grid};
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
        if ins.len() == 2 && !self.problem.domains.is_empty() {
            out.push(("points.svg".into(), self.points_figure()?));
        }
        // On domains the error grid is not a tensor grid: the maps and lines use the box's
        // grid with the points outside the domains left blank.
        let masked;
        let (grid, fields) = if self.grid.axes.is_empty() && ins.len() <= 2 {
            masked = self.masked_fields()?;
            (&masked.0, &masked.1)
        } else {
            (&self.grid, &self.fields)
        };
        for f in fields.iter().filter(|_| !grid.axes.is_empty()) {
            match ins.len() {
                1 => {
                    let name = format!("{}.svg", f.output);
                    let svg = plot::line_plot(f, grid, &ins[0].name).map_err(plot_error(&name))?;
                    out.push((name, svg));
                }
                2 => out.extend(self.heat_maps(f, grid)?),
                _ => {}
            }
        }
        Ok(unique_names(out))
    }

    /// Every output on the box's grid, NaN outside the solved domains.
    fn masked_fields(&self) -> Result<(Grid, Vec<Field>), TrainError> {
        let grid = Grid::of_box(self.problem);
        let mut fields = fields(self.problem, self.layout, &self.result.theta, &grid)?;
        let domains = solved_domains(self.problem);
        let outside: Vec<bool> = (grid.rows.iter())
            .map(|r| !solved(self.problem, &domains, r))
            .collect();
        for f in &mut fields {
            let blank = |v: &mut Vec<f64>| {
                (v.iter_mut().zip(&outside))
                    .filter(|(_, o)| **o)
                    .for_each(|(x, _)| *x = f64::NAN)
            };
            blank(&mut f.pred);
            if let Some(e) = &mut f.exact {
                blank(e);
            }
        }
        Ok((grid, fields))
    }

    /// `points.svg`: the first sample of every point set over the domains' outlines.
    fn points_figure(&self) -> Result<String, TrainError> {
        let p = self.problem;
        let sets = p.sample(self.seed);
        let mut rng = nabla_frontend::nn::Rng::new(1);
        let outlines: Vec<Vec<[f64; 2]>> = (p.domains.iter())
            .filter(|d| d.coords.len() == 2)
            .map(|d| {
                // The outline in the inputs' order (x, y), whatever the domain's order.
                let (i, j) = if d.coords == [1, 0] { (1, 0) } else { (0, 1) };
                (0..2000)
                    .filter_map(|_| d.shape.sample_boundary(&mut rng))
                    .map(|b| [b.x[i], b.x[j]])
                    .collect()
            })
            .collect();
        let bounds = (
            [p.inputs[0].lo, p.inputs[0].hi],
            [p.inputs[1].lo, p.inputs[1].hi],
        );
        let names = (p.inputs[0].name.as_str(), p.inputs[1].name.as_str());
        plot::point_sets(&sets, &outlines, bounds, names).map_err(plot_error("points.svg"))
    }

    /// `OUT.svg` and, with an exact solution, `OUT_exact.svg` and `OUT_error.svg`. The
    /// prediction and the exact solution share one colour scale, so equal colours mean
    /// equal values across the two files; the error `|u − u*|` gets viridis from zero.
    fn heat_maps(&self, f: &Field, grid: &Grid) -> Result<Vec<(String, String)>, TrainError> {
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
                let svg =
                    plot::heat_map(&title, &vals, grid, ins, &scale).map_err(plot_error(&file))?;
                Ok((file, svg))
            })
            .collect()
    }
}

/// `plots` with every file name used once: a name an earlier plot took (a net output
/// named `loss`, or a `let u_exact` beside `u`'s exact-solution map `u_exact.svg`) gets
/// `.2` (`.3`, ...) before `.svg` instead of replacing that plot's file.
fn unique_names(plots: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    (plots.into_iter())
        .map(|(name, svg)| {
            let stem = name.strip_suffix(".svg").unwrap_or(&name);
            let (mut free, mut k) = (name.clone(), 1);
            while seen.contains(&free) {
                k += 1;
                free = format!("{stem}.{k}.svg");
            }
            seen.insert(free.clone());
            (free, svg)
        })
        .collect()
}

/// Wraps a drawing error with the plot's file name.
fn plot_error(name: &str) -> impl Fn(plot::PlotError) -> TrainError {
    let name = name.to_string();
    move |reason| TrainError::Plot {
        name: name.clone(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::unique_names;

    #[test]
    fn a_taken_file_name_gets_a_number_instead_of_replacing_the_plot() {
        let plots = [
            "loss.svg",
            "error.svg",
            "loss.svg",
            "u.svg",
            "u_exact.svg",
            "u_exact.svg",
        ];
        let named: Vec<(String, String)> = (plots.iter().enumerate())
            .map(|(i, n)| (n.to_string(), format!("svg {i}")))
            .collect();
        let got: Vec<(String, String)> = unique_names(named);
        let want = [
            "loss.svg",
            "error.svg",
            "loss.2.svg",
            "u.svg",
            "u_exact.svg",
            "u_exact.2.svg",
        ];
        for (i, ((name, svg), want)) in got.iter().zip(want).enumerate() {
            assert_eq!(
                (name.as_str(), svg.as_str()),
                (want, format!("svg {i}").as_str())
            );
        }
    }
}
