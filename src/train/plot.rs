//! SVG plots of a training run: loss curves, and for 1-D/2-D problems the solution, the
//! exact solution and the pointwise error. Drawn into strings and written atomically.

use super::accuracy::{Field, Grid};
use super::run::StepRecord;
use plotters::prelude::*;

/// Errors of the drawing library, as text (they carry no data worth keeping).
pub type PlotError = String;

const SIZE: (u32, u32) = (720, 480);
const PALETTE: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

fn err(e: impl std::fmt::Display) -> PlotError {
    e.to_string()
}

/// Loss per residual and the total against the step, log scale.
pub fn loss_curves(parts: &[String], history: &[StepRecord]) -> Result<String, PlotError> {
    let steps = history.len().max(2) as f64;
    log_lines("loss", "step", steps, loss_series(parts, history), 1)
}

/// The relative L2 error of every tracked output against training wall time (log scale):
/// how fast a run gets how close, the comparison that matters between derivative methods.
pub fn error_curves(tracked: &[String], history: &[StepRecord]) -> Result<String, PlotError> {
    let series: Vec<(String, Vec<(f64, f64)>)> = tracked
        .iter()
        .enumerate()
        .map(|(k, o)| {
            let pts = history.iter().filter_map(|r| {
                let e = *r.errors.get(k)?;
                (e > 0.0 && e.is_finite()).then_some((r.wall_s, e))
            });
            (format!("rel_l2.{o}"), pts.collect())
        })
        .collect();
    let t_max = history.last().map_or(1.0, |r| r.wall_s).max(1e-3);
    let x = "training wall time (s)";
    log_lines("relative L2 error", x, t_max, series, 2)
}

/// Labelled lines on a log-scale y axis over `0..x_max`, with a legend.
fn log_lines(
    caption: &str,
    x_desc: &str,
    x_max: f64,
    series: Vec<(String, Vec<(f64, f64)>)>,
    stroke: u32,
) -> Result<String, PlotError> {
    let (lo, hi) = positive_range(series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(err)?;
        for (k, (name, pts)) in series.into_iter().enumerate() {
            let c = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(stroke)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// `(label, points)` per residual, then the total; non-positive values are dropped (they
/// have no logarithm).
fn loss_series(parts: &[String], history: &[StepRecord]) -> Vec<(String, Vec<(f64, f64)>)> {
    let keep = |v: f64| v > 0.0 && v.is_finite();
    let mut out: Vec<(String, Vec<(f64, f64)>)> = parts
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let pts = history.iter().filter_map(|r| {
                let v = *r.parts.get(k)?;
                keep(v).then_some((r.step as f64, v))
            });
            (format!("loss.{p}"), pts.collect())
        })
        .collect();
    let total = history.iter().filter(|r| keep(r.loss));
    out.push((
        "loss".into(),
        total.map(|r| (r.step as f64, r.loss)).collect(),
    ));
    out
}

/// A log-scale range covering the positive values (a decade around 1 when there are none).
fn positive_range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals.fold((f64::INFINITY, 0f64), |(l, h), v| (l.min(v), h.max(v)));
    if lo.is_finite() && hi > 0.0 {
        (lo * 0.8, hi * 1.25)
    } else {
        (0.1, 10.0)
    }
}

/// A 1-D field: prediction and exact solution against the input, with the pointwise error
/// `|u − u*|` in a second panel.
pub fn line_plot(field: &Field, grid: &Grid, input: &str) -> Result<String, PlotError> {
    let xs: Vec<f64> = grid.rows.iter().map(|r| r[0]).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 720)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, bottom) = root.split_vertically(400);
        let mut ys = vec![(format!("{} (trained)", field.output), field.pred.clone())];
        if let Some(e) = &field.exact {
            ys.push((format!("{} (exact)", field.output), e.clone()));
        }
        lines(&top, &field.output, input, &xs, &ys, false)?;
        if let Some(e) = &field.exact {
            let err_v: Vec<f64> = field
                .pred
                .iter()
                .zip(e)
                .map(|(p, e)| (p - e).abs())
                .collect();
            let title = format!("|{0} - {0}*|", field.output);
            lines(
                &bottom,
                &title,
                input,
                &xs,
                &[("error".into(), err_v)],
                true,
            )?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn lines(
    area: &Area<'_>,
    title: &str,
    input: &str,
    xs: &[f64],
    ys: &[(String, Vec<f64>)],
    log: bool,
) -> Result<(), PlotError> {
    let x0 = xs.first().copied().unwrap_or(0.0);
    let x1 = xs.last().copied().unwrap_or(1.0).max(x0 + 1e-12);
    let all = ys.iter().flat_map(|y| y.1.iter().copied());
    let mut b = ChartBuilder::on(area);
    b.caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60);
    let draw = |k: usize, name: &str| (PALETTE[k % PALETTE.len()], name.to_string());
    if log {
        let (lo, hi) = positive_range(all.filter(|v| *v > 0.0));
        let mut c = b
            .build_cartesian_2d(x0..x1, (lo..hi).log_scale())
            .map_err(err)?;
        c.configure_mesh()
            .x_desc(input)
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(err)?;
        for (k, (name, y)) in ys.iter().enumerate() {
            let (col, _) = draw(k, name);
            let pts = xs
                .iter()
                .zip(y)
                .filter(|p| *p.1 > 0.0)
                .map(|(a, b)| (*a, *b));
            c.draw_series(LineSeries::new(pts, col)).map_err(err)?;
        }
        return Ok(());
    }
    let (lo, hi) = linear_range(all);
    let mut c = b.build_cartesian_2d(x0..x1, lo..hi).map_err(err)?;
    c.configure_mesh().x_desc(input).draw().map_err(err)?;
    for (k, (name, y)) in ys.iter().enumerate() {
        let (col, label) = draw(k, name);
        let pts = xs.iter().zip(y).map(|(a, b)| (*a, *b));
        c.draw_series(LineSeries::new(pts, col))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], col));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

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

/// A 2-D field as a heat map over the grid (every other grid line, to keep the file small).
/// `values` are at the grid points, the second input varying fastest.
pub fn heat_map(
    title: &str,
    values: &[f64],
    grid: &Grid,
    inputs: (&str, &str),
) -> Result<String, PlotError> {
    let (nx, ny) = (grid.axes[0], grid.axes[1]);
    let at = |i: usize, j: usize| &grid.rows[i * ny + j];
    let (x0, x1) = (at(0, 0)[0], at(nx - 1, 0)[0]);
    let (y0, y1) = (at(0, 0)[1], at(0, ny - 1)[1]);
    let (lo, hi) = linear_range(values.iter().copied());
    // The caption shows the data's own extremes, not the padded colour range.
    let vmin = values.iter().copied().fold(f64::INFINITY, f64::min);
    let vmax = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, bar) = root.split_horizontally(560);
        let mut c = ChartBuilder::on(&plot)
            .caption(
                format!("{title}  [{vmin:.3e}, {vmax:.3e}]"),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        c.configure_mesh()
            .x_desc(inputs.0)
            .y_desc(inputs.1)
            .disable_mesh()
            .draw()
            .map_err(err)?;
        let cells = cells(grid, values, 2)
            .into_iter()
            .map(|(a, b, v)| Rectangle::new([a, b], colour((v - lo) / (hi - lo)).filled()));
        c.draw_series(cells).map_err(err)?;
        colour_bar(&bar)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A heat-map cell: corner, opposite corner, value.
type Cell = ((f64, f64), (f64, f64), f64);

/// The cells over every `stride`-th grid line.
fn cells(grid: &Grid, values: &[f64], stride: usize) -> Vec<Cell> {
    let (nx, ny) = (grid.axes[0], grid.axes[1]);
    let mut out = Vec::new();
    for i in (0..nx - 1).step_by(stride) {
        for j in (0..ny - 1).step_by(stride) {
            let (i1, j1) = ((i + stride).min(nx - 1), (j + stride).min(ny - 1));
            let a = &grid.rows[i * ny + j];
            let b = &grid.rows[i1 * ny + j1];
            out.push(((a[0], a[1]), (b[0], b[1]), values[i * ny + j]));
        }
    }
    out
}

fn colour_bar(area: &Area<'_>) -> Result<(), PlotError> {
    let (w, h) = area.dim_in_pixel();
    let steps = 64;
    for k in 0..steps {
        let t = k as f64 / (steps - 1) as f64;
        let y0 = (h as f64 * (1.0 - (k + 1) as f64 / steps as f64)) as i32;
        let y1 = (h as f64 * (1.0 - k as f64 / steps as f64)) as i32;
        let r = Rectangle::new(
            [(20, y0 + 40), (w as i32 - 30, y1 - 30)],
            colour(t).filled(),
        );
        area.draw(&r).map_err(err)?;
    }
    Ok(())
}

/// A perceptually ordered blue → white → red map of `t ∈ [0, 1]`.
fn colour(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let lerp = |a: f64, b: f64, s: f64| (a + (b - a) * s).round() as u8;
    if t < 0.5 {
        let s = t * 2.0;
        RGBColor(
            lerp(59.0, 247.0, s),
            lerp(76.0, 247.0, s),
            lerp(192.0, 247.0, s),
        )
    } else {
        let s = (t - 0.5) * 2.0;
        RGBColor(
            lerp(247.0, 180.0, s),
            lerp(247.0, 4.0, s),
            lerp(247.0, 38.0, s),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_plot_is_an_svg_with_every_series() {
        let h: Vec<StepRecord> = (0..10)
            .map(|s| StepRecord {
                step: s,
                loss: 1.0 / (s + 1) as f64,
                parts: vec![0.5 / (s + 1) as f64, 0.0],
                wall_s: 0.0,
                errors: vec![],
            })
            .collect();
        let svg = loss_curves(&["pde".into(), "bc".into()], &h).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("loss.pde") && svg.contains("loss.bc"));
    }

    #[test]
    fn error_plot_has_a_series_per_tracked_output() {
        let h: Vec<StepRecord> = (0..10)
            .map(|s| StepRecord {
                step: s,
                loss: 1.0,
                parts: vec![],
                wall_s: s as f64 * 0.1,
                errors: if s % 3 == 0 {
                    vec![0.1 / (s + 1) as f64, 0.2]
                } else {
                    vec![]
                },
            })
            .collect();
        let svg = error_curves(&["u".into(), "v".into()], &h).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("rel_l2.u") && svg.contains("rel_l2.v"));
    }

    #[test]
    fn colour_map_ends() {
        assert_eq!(colour(0.0), RGBColor(59, 76, 192));
        assert_eq!(colour(0.5), RGBColor(247, 247, 247));
        assert_eq!(colour(1.0), RGBColor(180, 4, 38));
    }
}
