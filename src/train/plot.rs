//! SVG plots of a training run and of `nabla bench`, drawn into strings (the caller
//! writes them atomically). Which files a run writes is listed in [`super::output`].
//!
//! - Line charts ([`loss_curves`], [`error_curves`], [`runs_chart`], [`line_plot`],
//!   [`fd_error`]): the
//!   legend sits in a panel right of the plot area, never over a curve; step axes have
//!   integer ticks; log axes tick powers of ten. On loss and error charts of an
//!   `adam+lbfgs` run a grey vertical line labelled [`SWITCH_LABEL`] marks the first
//!   L-BFGS step (on error charts, the wall time it began).
//! - Heat maps ([`heat_map`]): a colour bar labelled with values, including both ends of
//!   the colour range; the colours come from a [`Scale`] (viridis for one-signed fields
//!   and errors, a diverging map centred on zero for signed ones).

pub mod axis;
mod chart;
pub mod colour;
mod heat;

use super::accuracy::{Field, Grid};
use super::run::StepRecord;
use axis::Axis;
use chart::{Chart, Marker, Series, Stroke};
pub use colour::Scale;
pub use heat::{heat_map, point_sets};
use plotters::prelude::*;

/// Errors of the drawing library, as text (they carry no data worth keeping).
pub type PlotError = String;

/// The label of the line where training switched from Adam to L-BFGS.
pub const SWITCH_LABEL: &str = "Adam → L-BFGS";

/// Size of a single line chart (plot area plus legend panel).
const SIZE: (u32, u32) = (800, 480);

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn err(e: impl std::fmt::Display) -> PlotError {
    e.to_string()
}

/// Draws `charts` stacked top to bottom, `heights` pixels each, into one SVG.
fn render(width: u32, charts: &[(Chart, u32)]) -> Result<String, PlotError> {
    let height = charts.iter().map(|c| c.1).sum();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut rest = root.clone();
        for (chart, h) in charts {
            let (this, below) = rest.split_vertically(*h);
            chart.draw(&this)?;
            rest = below;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Loss per residual and the total (black, thicker) against the step, log scale.
/// `lbfgs_from`: the first L-BFGS step of an `adam+lbfgs` run, marked with a labelled line.
pub fn loss_curves(
    parts: &[String],
    history: &[StepRecord],
    lbfgs_from: Option<usize>,
) -> Result<String, PlotError> {
    let series = loss_series(parts, history);
    let last = history.last().map_or(0, |r| r.step);
    let chart = Chart {
        title: "loss".into(),
        x_desc: "step".into(),
        x: Axis::steps(last),
        y: log_axis(&series),
        marker: lbfgs_from.filter(|&s| s <= last).map(|s| Marker {
            x: s as f64,
            label: SWITCH_LABEL.into(),
        }),
        series,
        legend: true,
    };
    render(SIZE.0, &[(chart, SIZE.1)])
}

/// The relative L2 error of every tracked output against training wall time (log scale):
/// how fast a run gets how close, the comparison that matters between derivative
/// methods. A dot marks every measurement. `lbfgs_from` as in [`loss_curves`], drawn at
/// the wall time the first L-BFGS step began.
pub fn error_curves(
    tracked: &[String],
    history: &[StepRecord],
    lbfgs_from: Option<usize>,
) -> Result<String, PlotError> {
    let series: Vec<Series> = tracked
        .iter()
        .enumerate()
        .map(|(k, o)| {
            let pts = history.iter().filter_map(|r| {
                let e = *r.errors.get(k)?;
                (e > 0.0 && e.is_finite()).then_some((r.wall_s, e))
            });
            let mut s = Series::new(format!("rel_l2.{o}"), pts.collect(), k);
            (s.stroke, s.dots) = (Stroke::Solid(2), true);
            s
        })
        .collect();
    let t_max = history.last().map_or(1.0, |r| r.wall_s).max(1e-3);
    let switch_s = lbfgs_from
        .filter(|&s| s < history.len())
        .and_then(|s| history.get(s.checked_sub(1)?))
        .map(|r| r.wall_s);
    let chart = Chart {
        title: "relative L2 error".into(),
        x_desc: "training wall time (s)".into(),
        x: Axis::linear(0.0, t_max),
        y: log_axis(&series),
        marker: switch_s.map(|x| Marker {
            x,
            label: SWITCH_LABEL.into(),
        }),
        series,
        legend: true,
    };
    render(SIZE.0, &[(chart, SIZE.1)])
}

/// Several runs' `quantity` (an error or the loss) against training wall time, log scale,
/// one colour per `(label, [(wall_s, value)])`: `nabla compare`'s chart of optimizers or
/// methods on one problem. Non-positive values are left out.
pub fn runs_chart(
    quantity: &str,
    runs: Vec<(String, Vec<(f64, f64)>)>,
) -> Result<String, PlotError> {
    let series: Vec<Series> = (runs.into_iter().enumerate())
        .map(|(k, (label, pts))| {
            let pts = pts.into_iter().filter(|p| p.1 > 0.0 && p.1.is_finite());
            let mut s = Series::new(label, pts.collect(), k);
            (s.stroke, s.dots) = (Stroke::Solid(2), true);
            s
        })
        .collect();
    let t_max = (series.iter())
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1e-3, f64::max);
    let chart = Chart {
        title: quantity.into(),
        x_desc: "training wall time (s)".into(),
        x: Axis::linear(0.0, t_max),
        y: log_axis(&series),
        marker: None,
        series,
        legend: true,
    };
    render(SIZE.0, &[(chart, SIZE.1)])
}

/// A series per residual (`loss.NAME`), then the total `loss`; non-positive values are
/// dropped (they have no logarithm).
fn loss_series(parts: &[String], history: &[StepRecord]) -> Vec<Series> {
    let keep = |v: f64| v > 0.0 && v.is_finite();
    let mut out: Vec<Series> = parts
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let pts = history.iter().filter_map(|r| {
                let v = *r.parts.get(k)?;
                keep(v).then_some((r.step as f64, v))
            });
            Series::new(format!("loss.{p}"), pts.collect(), k)
        })
        .collect();
    let total = history.iter().filter(|r| keep(r.loss));
    let mut s = Series::new(
        "loss".into(),
        total.map(|r| (r.step as f64, r.loss)).collect(),
        0,
    );
    (s.colour, s.stroke) = (BLACK, Stroke::Solid(2));
    out.push(s);
    out
}

/// A log axis covering every series' positive values.
fn log_axis(series: &[Series]) -> Axis {
    let (lo, hi) = positive_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    Axis::log(lo, hi)
}

/// A log-scale range covering the positive values (a decade around 1 when there are none).
fn positive_range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let pos = vals.filter(|v| *v > 0.0 && v.is_finite());
    let (lo, hi) = pos.fold((f64::INFINITY, 0f64), |(l, h), v| (l.min(v), h.max(v)));
    if lo.is_finite() && hi > 0.0 {
        (lo * 0.8, hi * 1.25)
    } else {
        (0.1, 10.0)
    }
}

/// A linear range covering the finite values with 5% to spare on each side.
fn linear_range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let finite = vals.filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-12);
    (lo - pad, hi + pad)
}

/// A 1-D field: the prediction (solid) and the exact solution (dashed) against the
/// input, and under them, when there is an exact solution, the pointwise error
/// `|u − u*|` on a log scale.
pub fn line_plot(field: &Field, grid: &Grid, input: &str) -> Result<String, PlotError> {
    let xs: Vec<f64> = grid.rows.iter().map(|r| r[0]).collect();
    let x0 = xs.first().copied().unwrap_or(0.0);
    let x = Axis::linear(x0, xs.last().copied().unwrap_or(1.0).max(x0 + 1e-12));
    let along = |ys: &[f64]| {
        xs.iter()
            .copied()
            .zip(ys.iter().copied())
            .collect::<Vec<_>>()
    };
    let mut trained = Series::new(format!("{} (trained)", field.output), along(&field.pred), 0);
    trained.stroke = Stroke::Solid(2);
    let mut series = vec![trained];
    if let Some(e) = &field.exact {
        let mut exact = Series::new(format!("{} (exact)", field.output), along(e), 3);
        exact.stroke = Stroke::Dashed;
        series.push(exact);
    }
    let (lo, hi) = linear_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let top = Chart {
        title: field.output.clone(),
        x_desc: input.into(),
        x: x.clone(),
        y: Axis::linear(lo, hi),
        series,
        marker: None,
        legend: true,
    };
    let mut charts = vec![(top, 400)];
    if let Some(e) = &field.exact {
        charts.push((error_panel(field, e, &xs, x, input), 320));
    }
    render(SIZE.0, &charts)
}

/// `|u − u*|` along the input, log scale; the line breaks at zeros and outside the domain.
fn error_panel(field: &Field, exact: &[f64], xs: &[f64], x: Axis, input: &str) -> Chart {
    let pts: Vec<(f64, f64)> = xs
        .iter()
        .zip(field.pred.iter().zip(exact))
        .map(|(x, (p, e))| (*x, (p - e).abs()))
        .map(|(x, e)| (x, if e > 0.0 { e } else { f64::NAN }))
        .collect();
    let (lo, hi) = positive_range(pts.iter().map(|p| p.1));
    Chart {
        title: format!("|{0} - {0}*|", field.output),
        x_desc: input.into(),
        x,
        y: Axis::log(lo, hi),
        series: vec![Series::new("error".into(), pts, 3)],
        marker: None,
        legend: false,
    }
}

/// `nabla bench`'s `fd_error.svg`: finite-difference curves `(label, [(h, err)])`
/// (solid, a dot per step) and the exact methods' errors `(label, err)` as dashed
/// horizontal lines, log-log. Errors below 1e-17 are drawn at 1e-17 (a zero error has no
/// logarithm).
pub fn fd_error(
    curves: &[(String, Vec<(f64, f64)>)],
    exact: &[(String, f64)],
) -> Result<String, PlotError> {
    let floor = 1e-17;
    let clamp = |v: f64| if v.is_finite() { v.max(floor) } else { 1.0 };
    let (h0, h1) = (1e-8, 1.0);
    let mut series: Vec<Series> = curves
        .iter()
        .enumerate()
        .map(|(k, (label, pts))| {
            let pts = pts.iter().map(|&(h, v)| (h, clamp(v))).collect();
            let mut s = Series::new(label.clone(), pts, k);
            (s.stroke, s.dots) = (Stroke::Solid(2), true);
            s
        })
        .collect();
    for (k, (label, v)) in exact.iter().enumerate() {
        let mut s = Series::new(
            label.clone(),
            vec![(h0, clamp(*v)), (h1, clamp(*v))],
            curves.len() + k,
        );
        s.stroke = Stroke::Dashed;
        series.push(s);
    }
    let (lo, hi) = positive_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let chart = Chart {
        title: "relative error of the residuals vs finite-difference step".into(),
        x_desc: "step h".into(),
        x: Axis::log(h0, h1),
        y: Axis::log(lo * 0.5, hi * 2.0),
        series,
        marker: None,
        legend: true,
    };
    render(SIZE.0, &[(chart, SIZE.1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: usize) -> StepRecord {
        StepRecord {
            step,
            loss: 1.0 / (step + 1) as f64,
            parts: vec![0.5 / (step + 1) as f64, 0.0],
            wall_s: step as f64 * 0.1,
            errors: vec![],
            damping: None,
            causal: None,
        }
    }

    #[test]
    fn loss_plot_is_an_svg_with_every_series() {
        let h: Vec<StepRecord> = (0..10).map(record).collect();
        let svg = loss_curves(&["pde".into(), "bc".into()], &h, None).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("loss.pde") && svg.contains("loss.bc"));
        assert!(!svg.contains(SWITCH_LABEL));
    }

    #[test]
    fn error_plot_has_a_series_per_tracked_output() {
        let h: Vec<StepRecord> = (0..10)
            .map(|s| StepRecord {
                errors: if s % 3 == 0 {
                    vec![0.1 / (s + 1) as f64, 0.2]
                } else {
                    vec![]
                },
                ..record(s)
            })
            .collect();
        let svg = error_curves(&["u".into(), "v".into()], &h, Some(4)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("rel_l2.u") && svg.contains("rel_l2.v"));
        assert!(svg.contains(SWITCH_LABEL));
    }

    #[test]
    fn a_switch_after_the_last_step_is_not_drawn() {
        let h: Vec<StepRecord> = (0..10).map(record).collect();
        let svg = loss_curves(&["pde".into()], &h, Some(10)).unwrap();
        assert!(!svg.contains(SWITCH_LABEL));
        let svg = error_curves(&["u".into()], &h, Some(10)).unwrap();
        assert!(!svg.contains(SWITCH_LABEL));
    }
}
