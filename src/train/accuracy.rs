//! Accuracy against the exact solution: the relative L2 error of every output that has an
//! `exact`, on a fixed grid.
//!
//! The grid: 101 points per axis for 1-D problems, 101 × 101 for 2-D, and for higher
//! dimension a fixed sample of [`RANDOM_POINTS`] uniform points (seed [`GRID_SEED`]), so
//! numbers from different runs are comparable. The networks and the exact solutions are
//! evaluated with the f64 interpreter: the error measured is the trained function's, not
//! the rounding of a backend.
//!
//! `rel_l2 = ‖u − u*‖₂ / ‖u*‖₂` over the grid points (plain sums; the grid is uniform).

use super::layout::Layout;
use super::TrainError;
use crate::data::{bind_params, bind_points, bind_probes};
use crate::{compile, Backend, Options};
use nabla_frontend::nn::Rng;
use nabla_frontend::problem::{ExprFn, PointSpec, Problem};
use nabla_ir::DType;
use std::sync::Arc;

/// Grid points per axis for 1-D and 2-D problems.
pub const AXIS_POINTS: usize = 101;
/// Number of evaluation points for problems of 3 or more inputs.
pub const RANDOM_POINTS: usize = 4096;
/// Seed of that sample.
pub const GRID_SEED: u64 = 0x5EED;

/// Fewer grid points than this inside a problem's domains, and the errors are measured on
/// random points drawn in the domains instead.
const MIN_DOMAIN_POINTS: usize = 500;

/// Evaluation points: rows of coordinates, inputs in declaration order.
#[derive(Clone, Debug)]
pub struct Grid {
    /// The points.
    pub rows: Vec<Vec<f64>>,
    /// Points per axis for a tensor grid (1-D, 2-D; the last axis varies fastest);
    /// empty for a random sample.
    pub axes: Vec<usize>,
}

impl Grid {
    /// The fixed evaluation grid of `problem`: the box's grid, and for a problem whose
    /// residuals are sampled in domains (`interior(D, N)`) only its points inside one of
    /// those domains (no longer a tensor grid; the solution maps use [`Grid::of_box`]
    /// masked by [`solved`]).
    pub fn of(problem: &Problem) -> Grid {
        let grid = Grid::of_box(problem);
        let domains = solved_domains(problem);
        if domains.is_empty() {
            return grid;
        }
        let rows: Vec<Vec<f64>> = (grid.rows.into_iter())
            .filter(|r| solved(problem, &domains, r))
            .collect();
        if rows.len() >= MIN_DOMAIN_POINTS {
            return Grid { rows, axes: vec![] };
        }
        // A domain too small for the box's grid: fixed random points inside it instead.
        let mut rng = Rng::new(GRID_SEED);
        let per = RANDOM_POINTS / domains.len();
        let rows = (domains.iter())
            .flat_map(|&d| {
                let spec = PointSpec::InteriorOf {
                    domain: d,
                    n: per,
                    owner: None,
                };
                spec.sample_in(&problem.inputs, &problem.domains, &mut rng)
            })
            .collect();
        Grid { rows, axes: vec![] }
    }

    /// The grid of the inputs' box (a tensor grid for one or two inputs), whatever the
    /// problem's domains.
    pub fn of_box(problem: &Problem) -> Grid {
        let ins = &problem.inputs;
        let axis = |k: usize| -> Vec<f64> {
            let (lo, hi) = (ins[k].lo, ins[k].hi);
            let n = AXIS_POINTS - 1;
            (0..=n)
                .map(|i| lo + (hi - lo) * i as f64 / n as f64)
                .collect()
        };
        match ins.len() {
            1 => Grid {
                rows: axis(0).into_iter().map(|x| vec![x]).collect(),
                axes: vec![AXIS_POINTS],
            },
            2 => {
                let (a, b) = (axis(0), axis(1));
                let rows = a
                    .iter()
                    .flat_map(|&x| b.iter().map(move |&y| vec![x, y]))
                    .collect();
                Grid {
                    rows,
                    axes: vec![AXIS_POINTS, AXIS_POINTS],
                }
            }
            _ => Grid::random(problem),
        }
    }

    fn random(problem: &Problem) -> Grid {
        let mut rng = Rng::new(GRID_SEED);
        let rows = (0..RANDOM_POINTS)
            .map(|_| {
                let it = problem.inputs.iter();
                it.map(|d| d.lo + (d.hi - d.lo) * rng.uniform()).collect()
            })
            .collect();
        Grid { rows, axes: vec![] }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One output on the grid: prediction, exact values and the relative L2 error.
#[derive(Clone, Debug)]
pub struct Field {
    /// The net output's name.
    pub output: String,
    /// Predicted values at the grid points.
    pub pred: Vec<f64>,
    /// Exact values, when the problem gives them.
    pub exact: Option<Vec<f64>>,
}

impl Field {
    /// `‖pred − exact‖ / ‖exact‖`, when there is an exact solution, over the grid points
    /// where the exact solution is finite: a closed form with a removable singularity on
    /// the grid (`x·log x` or `sin x / x` at 0) would otherwise make the error NaN.
    /// [`Field::unmeasured`] says how many points were left out.
    pub fn rel_l2(&self) -> Option<f64> {
        let exact = self.exact.as_ref()?;
        if self.pred.len() != exact.len() {
            return Some(f64::NAN);
        }
        let (pred, exact): (Vec<f64>, Vec<f64>) = (self.pred.iter())
            .zip(exact)
            .filter(|(_, e)| e.is_finite())
            .unzip();
        match exact.is_empty() {
            true => Some(f64::NAN),
            false => Some(rel_l2(&pred, &exact)),
        }
    }

    /// How many grid points [`Field::rel_l2`] leaves out, the exact solution being NaN or
    /// infinite there; 0 without an exact solution.
    pub fn unmeasured(&self) -> usize {
        let exact = self.exact.as_deref().unwrap_or(&[]);
        exact.iter().filter(|e| !e.is_finite()).count()
    }
}

/// `‖a − b‖₂ / ‖b‖₂`, the relative L2 error of `a` against the reference `b`: the absolute
/// error when `b` is zero (a relative error would be infinite or NaN there and say nothing),
/// NaN when the lengths differ.
///
/// Both norms are taken of the values scaled by their largest magnitude, so that
/// solutions of size 1e200 or 1e-200 do not overflow or underflow the sums of squares.
pub fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() {
        return f64::NAN;
    }
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (num, den) = (norm(&diff), norm(b));
    if den > 0.0 {
        num / den
    } else {
        num
    }
}

/// `‖v‖₂` through `v / max|vᵢ|`: no overflow or underflow of the squares.
fn norm(v: &[f64]) -> f64 {
    let scale = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if scale == 0.0 || !scale.is_finite() {
        // all zero; or an infinite or NaN value, which the sum shows as it is
        return v.iter().map(|x| x * x).sum::<f64>().sqrt();
    }
    scale * v.iter().map(|x| (x / scale).powi(2)).sum::<f64>().sqrt()
}

/// The domains whose interiors the problem's point sets sample (`interior(D, N)`).
pub fn solved_domains(problem: &Problem) -> Vec<usize> {
    let mut d: Vec<usize> = (problem.point_sets.iter())
        .flat_map(|s| s.spec.interior_domains())
        .collect();
    d.sort_unstable();
    d.dedup();
    d
}

/// Whether the point `row` (inputs in declaration order) lies where the problem is solved:
/// inside one of `domains` (its [`solved_domains`]), or anywhere in the box when there are
/// none.
pub fn solved(problem: &Problem, domains: &[usize], row: &[f64]) -> bool {
    domains.is_empty()
        || domains.iter().any(|&i| {
            let d = &problem.domains[i];
            let x: Vec<f64> = d.coords.iter().map(|&k| row[k]).collect();
            d.shape.contains(&x)
        })
}

/// Every output of the problem (net outputs and constrained `let`s) on `grid`, with its
/// exact values where known.
pub fn fields(
    problem: &Problem,
    layout: &Layout,
    theta: &[f64],
    grid: &Grid,
) -> Result<Vec<Field>, TrainError> {
    problem
        .outputs()
        .into_iter()
        .map(|o| {
            let pred = evaluate(problem, &output_expr(&o), layout, theta, grid)?;
            let exact = match problem.exact.iter().find(|e| e.output == o) {
                Some(e) => Some(evaluate(problem, &e.expr, layout, theta, grid)?),
                None => None,
            };
            Ok(Field {
                output: o,
                pred,
                exact,
            })
        })
        .collect()
}

/// Evaluates one expression of the problem at θ on the grid, in f64 with the interpreter.
pub fn evaluate(
    problem: &Problem,
    expr: &ExprFn,
    layout: &Layout,
    theta: &[f64],
    grid: &Grid,
) -> Result<Vec<f64>, TrainError> {
    let mut exe = on_grid(problem, expr, grid, &Options::interp())?;
    bind_params(exe.as_mut(), layout.split(theta))?;
    exe.run()?;
    Ok(exe.output(0))
}

/// The value of net output `name` as an expression (NaN if the problem has no such output).
pub fn output_expr(name: &str) -> ExprFn {
    let out = name.to_string();
    Arc::new(move |ctx| {
        ctx.output(&out, None)
            .unwrap_or_else(|| ctx.b.constant(f64::NAN))
    })
}

/// `expr` compiled with `opts` for the points of `grid`, the points bound (params are
/// bound per evaluation).
fn on_grid(
    problem: &Problem,
    expr: &ExprFn,
    grid: &Grid,
    opts: &Options,
) -> Result<Box<dyn crate::Executable>, TrainError> {
    const SET: &str = "grid";
    let obj = problem.expression("value", expr, SET, grid.len(), DType::F64)?;
    let mut exe = compile(&obj.graph, opts)?;
    bind_points(exe.as_mut(), problem, SET, &grid.rows)?;
    bind_probes(exe.as_mut(), 0, 0)?;
    Ok(exe)
}

/// Values of net outputs at given points, to measure errors against when a problem has no
/// closed form (`nabla train --reference FILE`): `{"points": [[t, x], ...], "u": [...]}`,
/// each point listing the inputs in declaration order, one array of values per output.
#[derive(Clone, Debug)]
pub struct Reference {
    /// The points.
    pub grid: Grid,
    /// `(output, values)`, one value per point.
    pub values: Vec<(String, Vec<f64>)>,
}

impl Reference {
    /// Reads and checks a reference file against the problem's inputs and outputs.
    pub fn load(path: &std::path::Path, problem: &Problem) -> Result<Reference, TrainError> {
        let bad = |reason: String| TrainError::Reference {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let json = crate::data::strict_json(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        Reference::from_json(&json, problem).map_err(bad)
    }

    /// Checks and converts the parsed file; the error says what is wrong with it.
    pub fn from_json(json: &serde_json::Value, problem: &Problem) -> Result<Reference, String> {
        let obj = json
            .as_object()
            .ok_or("expected an object with `points` and one array per output")?;
        let inputs: Vec<&str> = problem.inputs.iter().map(|d| d.name.as_str()).collect();
        let rows = obj
            .get("points")
            .and_then(|p| p.as_array())
            .ok_or("`points` (an array of points) is missing")?;
        let rows: Vec<Vec<f64>> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| numbers(r, &format!("point {i}")))
            .collect::<Result<_, _>>()?;
        if let Some((i, r)) = rows.iter().enumerate().find(|r| r.1.len() != inputs.len()) {
            return Err(format!(
                "point {i} has {} coordinates; the problem has {} inputs ({})",
                r.len(),
                inputs.len(),
                inputs.join(", ")
            ));
        }
        let outputs = problem.outputs();
        let mut values = Vec::new();
        for (key, v) in obj.iter().filter(|(k, _)| *k != "points") {
            if !outputs.contains(key) {
                let names: Vec<&str> = outputs.iter().map(|s| s.as_str()).collect();
                return Err(format!(
                    "`{key}` is not an output of the problem (outputs: {})",
                    names.join(", ")
                ));
            }
            let v = numbers(v, &format!("`{key}`"))?;
            if v.len() != rows.len() {
                return Err(format!(
                    "`{key}` has {} values for {} points",
                    v.len(),
                    rows.len()
                ));
            }
            values.push((key.clone(), v));
        }
        if values.is_empty() || rows.is_empty() {
            return Err("no points, or no output values to compare with".into());
        }
        let grid = Grid { rows, axes: vec![] };
        Ok(Reference { grid, values })
    }
}

/// An array of finite numbers.
fn numbers(v: &serde_json::Value, what: &str) -> Result<Vec<f64>, String> {
    let arr = v
        .as_array()
        .ok_or_else(|| format!("{what} is not an array"))?;
    arr.iter()
        .map(|x| x.as_f64().filter(|x| x.is_finite()))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| format!("{what} holds something that is not a finite number"))
}

/// Relative L2 errors of every output that has an `exact` or reference values, at any θ,
/// for tracking the error during training (`--error-every`). Each output's program is
/// compiled once (CPU JIT, f64) with its points bound; a measurement binds θ and runs it.
pub struct Tracker {
    targets: Vec<Target>,
}

struct Target {
    output: String,
    exe: Box<dyn crate::Executable>,
    truth: Vec<f64>,
}

impl Tracker {
    /// Targets: the reference's outputs on its points, then the other outputs with an
    /// `exact` on the problem's grid.
    pub fn new(
        problem: &Problem,
        layout: &Layout,
        theta: &[f64],
        reference: Option<&Reference>,
    ) -> Result<Tracker, TrainError> {
        let grid = Grid::of(problem);
        let mut targets = Vec::new();
        if let Some(r) = reference {
            for (o, v) in &r.values {
                targets.push(Target::new(problem, o, &r.grid, v.clone())?);
            }
        }
        for e in &problem.exact {
            if !targets.iter().any(|t| t.output == e.output) {
                let truth = evaluate(problem, &e.expr, layout, theta, &grid)?;
                targets.push(Target::new(problem, &e.output, &grid, truth)?);
            }
        }
        Ok(Tracker { targets })
    }

    /// The tracked outputs, in order.
    pub fn outputs(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.output.clone()).collect()
    }

    /// `‖u − u*‖ / ‖u*‖` of every tracked output at θ.
    pub fn errors(&mut self, layout: &Layout, theta: &[f64]) -> Result<Vec<f64>, TrainError> {
        self.targets
            .iter_mut()
            .map(|t| {
                bind_params(t.exe.as_mut(), layout.split(theta))?;
                t.exe.run()?;
                let field = Field {
                    output: t.output.clone(),
                    pred: t.exe.output(0),
                    exact: Some(t.truth.clone()),
                };
                Ok(field.rel_l2().unwrap_or(f64::NAN))
            })
            .collect()
    }
}

impl Target {
    fn new(
        problem: &Problem,
        output: &str,
        grid: &Grid,
        truth: Vec<f64>,
    ) -> Result<Target, TrainError> {
        let opts = Options::new(Backend::Cranelift, DType::F64, None);
        let exe = on_grid(problem, &output_expr(output), grid, &opts)?;
        Ok(Target {
            output: output.to_string(),
            exe,
            truth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::rel_l2;

    #[test]
    fn the_relative_error_neither_overflows_nor_underflows() {
        let r = std::f64::consts::FRAC_1_SQRT_2;
        // ‖(1, 0)‖ / ‖(1, 1)‖ at every scale, where the squares of 1e200 are infinite and
        // those of 1e-200 zero
        for s in [1.0, 1e200, 1e-200, 1e300] {
            let got = rel_l2(&[2.0 * s, s], &[s, s]);
            assert!((got - r).abs() <= 1e-15, "scale {s:e}: {got}");
        }
        // all-zero reference: the absolute error, also tiny
        assert_eq!(rel_l2(&[3e-200, 4e-200], &[0.0, 0.0]), 5e-200);
        assert_eq!(rel_l2(&[0.0, 0.0], &[0.0, 0.0]), 0.0);
        assert!(rel_l2(&[f64::NAN], &[1.0]).is_nan());
        assert_eq!(rel_l2(&[f64::INFINITY], &[1.0]), f64::INFINITY);
        assert!(rel_l2(&[1.0], &[1.0, 2.0]).is_nan());
    }
}
