//! Heat maps of 2-D fields with a labelled colour bar.

use super::axis::{Axis, Scaling};
use super::colour::{tick_label, Scale};
use super::{err, Area, PlotError};
use crate::train::accuracy::Grid;
use plotters::prelude::*;

/// Size of a heat-map image: the map's plot area is square-ish, the bar is to its right.
const SIZE: (u32, u32) = (700, 560);
/// Width of the colour-bar panel (bar and tick labels).
const BAR_PANEL: u32 = 120;
/// Space below the plot area for the x axis; the bar leaves the same so their ends align.
const X_LABELS: u32 = 40;

/// A 2-D field as a heat map over the grid (every other grid line, to keep the file
/// small), coloured by `scale`, with a colour bar labelled at [`Scale::ticks`]. `values`
/// are at the grid points, the second input varying fastest. The title carries the
/// field's own minimum and maximum (which may lie inside the bar's range when the scale
/// is shared with another map).
pub fn heat_map(
    title: &str,
    values: &[f64],
    grid: &Grid,
    inputs: (&str, &str),
    scale: &Scale,
) -> Result<String, PlotError> {
    let (vmin, vmax) = extremes(values);
    let caption = format!(
        "{title}   (min {}, max {})",
        tick_label(vmin),
        tick_label(vmax)
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let body = root.titled(&caption, ("sans-serif", 18)).map_err(err)?;
        let (map, bar) = body.split_horizontally(SIZE.0 - BAR_PANEL);
        draw_map(&map, values, grid, inputs, scale)?;
        colour_bar(&bar, scale)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The smallest and largest finite value, NaN when there is none.
fn extremes(values: &[f64]) -> (f64, f64) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    finite.fold((f64::NAN, f64::NAN), |(l, h), v| (l.min(v), h.max(v)))
}

/// The cells of the map on labelled axes.
fn draw_map(
    area: &Area<'_>,
    values: &[f64],
    grid: &Grid,
    inputs: (&str, &str),
    scale: &Scale,
) -> Result<(), PlotError> {
    let (nx, ny) = (grid.axes[0], grid.axes[1]);
    let at = |i: usize, j: usize| &grid.rows[i * ny + j];
    let (x0, x1) = (at(0, 0)[0], at(nx - 1, 0)[0]);
    let (y0, y1) = (at(0, 0)[1], at(0, ny - 1)[1]);
    let mut c = plane(area, ([x0, x1], [y0, y1]), inputs)?;
    // Cells without a value (outside a domain) stay blank.
    let cells = cells(grid, values, 2)
        .into_iter()
        .filter(|c| c.2.is_finite())
        .map(|(a, b, v)| Rectangle::new([a, b], scale.colour(v).filled()));
    c.draw_series(cells).map_err(err)?;
    Ok(())
}

/// A chart on the plane of two inputs.
type Plane<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The plane of two inputs over `([x0, x1], [y0, y1])`, axes labelled with the inputs.
fn plane<'a, 'b>(
    area: &'a Area<'b>,
    ([x0, x1], [y0, y1]): ([f64; 2], [f64; 2]),
    inputs: (&str, &str),
) -> Result<Plane<'a, 'b>, PlotError> {
    let mut c = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    c.configure_mesh()
        .label_style(("sans-serif", 13))
        .x_desc(inputs.0)
        .y_desc(inputs.1)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .disable_mesh()
        .draw()
        .map_err(err)?;
    Ok(c)
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

/// The colour bar: the scale's range bottom (low) to top (high) as a column of bands,
/// the tick values labelled on its right. Its plot area has the map's top and bottom
/// margins, so the bar spans exactly the map's height.
fn colour_bar(area: &Area<'_>, scale: &Scale) -> Result<(), PlotError> {
    let (lo, hi) = (scale.lo, scale.hi);
    let y = Axis::with_ticks(lo, hi, Scaling::Linear, scale.ticks());
    let mut c = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(X_LABELS)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0f64..1f64, y)
        .map_err(err)?;
    c.configure_mesh()
        .label_style(("sans-serif", 13))
        .disable_mesh()
        .disable_x_axis()
        .y_label_formatter(&|v| tick_label(*v))
        .draw()
        .map_err(err)?;
    let bands = 128;
    let band = |k: usize| lo + (hi - lo) * k as f64 / bands as f64;
    // band k has the colour of its fraction k / (bands − 1), so the ends are exact
    let colour = |k: usize| scale.colour(lo + (hi - lo) * k as f64 / (bands - 1) as f64);
    let rects = (0..bands)
        .map(|k| Rectangle::new([(0.0, band(k)), (1.0, band(k + 1))], colour(k).filled()));
    c.draw_series(rects).map_err(err)?;
    Ok(())
}

/// The point sets of a 2-D problem as dots, one colour per set, over the outlines of its
/// domains (dense boundary samples in grey), with a legend naming the sets.
pub fn point_sets(
    sets: &[(String, Vec<Vec<f64>>)],
    outlines: &[Vec<[f64; 2]>],
    bounds: ([f64; 2], [f64; 2]),
    inputs: (&str, &str),
) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let body = root
            .titled("collocation points", ("sans-serif", 18))
            .map_err(err)?;
        let mut c = plane(&body, bounds, inputs)?;
        let grey = RGBColor(150, 150, 150);
        for line in outlines {
            let dots = line
                .iter()
                .map(|p| Circle::new((p[0], p[1]), 1, grey.filled()));
            c.draw_series(dots).map_err(err)?;
        }
        for (k, (name, rows)) in sets.iter().enumerate() {
            let colour = Palette99::pick(k).to_rgba();
            let dots = rows
                .iter()
                .map(move |r| Circle::new((r[0], r[1]), 2, colour.filled()));
            c.draw_series(dots)
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
