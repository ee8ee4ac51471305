//! Line charts: curves in a plot area with the legend in a panel to its right, so the
//! legend never covers a curve whatever the data, and optionally a labelled vertical
//! marker (where the optimizer changed).

use super::axis::Axis;
use super::{err, Area, PlotError};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Colours of successive series: the qualitative "tab10" colours, dark enough to read
/// as thin lines on white, grey left out (it draws the marker).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
];

/// The marker's colour.
const MARKER: RGBColor = RGBColor(110, 110, 110);

/// Width of the legend panel to the right of the plot area, in pixels.
pub const LEGEND_WIDTH: u32 = 180;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    /// A solid line this many pixels wide.
    Solid(u32),
    /// A thin dashed line (a reference: an exact solution, an exact method's error).
    Dashed,
}

/// One labelled curve.
#[derive(Clone, Debug)]
pub struct Series {
    /// The legend's text.
    pub label: String,
    /// `(x, y)` in axis values; the caller leaves out what the axes cannot show
    /// (non-positive values on a log axis).
    pub points: Vec<(f64, f64)>,
    /// Its colour.
    pub colour: RGBColor,
    /// Its line.
    pub stroke: Stroke,
    /// Also a dot at every point (sparse measurements, where a lone point has no line).
    pub dots: bool,
}

impl Series {
    /// A solid line of width 1 in palette colour `k`.
    pub fn new(label: String, points: Vec<(f64, f64)>, k: usize) -> Series {
        Series {
            label,
            points,
            colour: PALETTE[k % PALETTE.len()],
            stroke: Stroke::Solid(1),
            dots: false,
        }
    }
}

/// A vertical line across the plot area at `x`, labelled at its top.
#[derive(Clone, Debug)]
pub struct Marker {
    /// Where, in x-axis values.
    pub x: f64,
    /// Its text.
    pub label: String,
}

/// Everything one line chart shows.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Above the plot area.
    pub title: String,
    /// Under the x axis.
    pub x_desc: String,
    /// The x axis.
    pub x: Axis,
    /// The y axis.
    pub y: Axis,
    /// The curves, drawn in order.
    pub series: Vec<Series>,
    /// An optional vertical marker.
    pub marker: Option<Marker>,
    /// Whether the legend panel lists the series (its space is kept either way, so
    /// charts stacked in one image share their x positions).
    pub legend: bool,
}

impl Chart {
    /// Draws the chart into `area`: title, plot area, legend panel on the right.
    pub fn draw(&self, area: &Area<'_>) -> Result<(), PlotError> {
        let body = area.titled(&self.title, ("sans-serif", 18)).map_err(err)?;
        let (w, _) = body.dim_in_pixel();
        let (plot, side) = body.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
        self.draw_plot(&plot)?;
        if self.legend {
            legend(&side, &self.series)?;
        }
        Ok(())
    }

    fn draw_plot(&self, area: &Area<'_>) -> Result<(), PlotError> {
        let mut c = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(self.x.clone(), self.y.clone())
            .map_err(err)?;
        c.configure_mesh()
            .label_style(("sans-serif", 13))
            .x_desc(&self.x_desc)
            .x_label_formatter(&|v| self.x.label(*v))
            .y_label_formatter(&|v| self.y.label(*v))
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .map_err(err)?;
        for s in &self.series {
            draw_series(&mut c, s)?;
        }
        if let Some(m) = &self.marker {
            self.draw_marker(&mut c, m)?;
        }
        Ok(())
    }

    /// The marker's line over the full height, its label at the top on the side with
    /// more room.
    fn draw_marker(&self, c: &mut Plot<'_, '_>, m: &Marker) -> Result<(), PlotError> {
        let (lo, hi) = (self.y.lo, self.y.hi);
        let line = PathElement::new(vec![(m.x, lo), (m.x, hi)], MARKER.stroke_width(2));
        c.draw_series(std::iter::once(line)).map_err(err)?;
        let (dx, h) = if self.x.fraction(m.x) > 0.6 {
            (-6, HPos::Right)
        } else {
            (6, HPos::Left)
        };
        let font = TextStyle::from(("sans-serif", 14).into_font())
            .color(&MARKER)
            .pos(Pos::new(h, VPos::Top));
        let label = EmptyElement::at((m.x, hi)) + Text::new(m.label.clone(), (dx, 6), font);
        c.draw_series(std::iter::once(label)).map_err(err)?;
        Ok(())
    }
}

/// A chart context over two [`Axis`].
type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// A series' line is broken where a value is not finite (a solution blanked outside its
/// domain): each finite run is drawn on its own.
fn draw_series(c: &mut Plot<'_, '_>, s: &Series) -> Result<(), PlotError> {
    for run in s.points.split(|p| !p.1.is_finite()) {
        let pts = run.iter().copied();
        match s.stroke {
            Stroke::Solid(w) => {
                let line = LineSeries::new(pts, s.colour.stroke_width(w));
                c.draw_series(line).map_err(err)?;
            }
            Stroke::Dashed => {
                let line = DashedLineSeries::new(pts, 6, 4, s.colour.stroke_width(1));
                c.draw_series(line).map_err(err)?;
            }
        }
    }
    if s.dots {
        let dots = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|p| Circle::new(*p, 3, s.colour.filled()));
        c.draw_series(dots).map_err(err)?;
    }
    Ok(())
}

/// One row per series, top down: a sample of its line, then its label.
fn legend(area: &Area<'_>, series: &[Series]) -> Result<(), PlotError> {
    let font =
        TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (k, s) in series.iter().enumerate() {
        let y = 24 + 22 * k as i32;
        let style = match s.stroke {
            Stroke::Solid(w) => s.colour.stroke_width(w),
            Stroke::Dashed => s.colour.stroke_width(1),
        };
        let segments: &[(i32, i32)] = match s.stroke {
            Stroke::Solid(_) => &[(6, 34)],
            Stroke::Dashed => &[(6, 14), (20, 28)],
        };
        for &(a, b) in segments {
            area.draw(&PathElement::new(vec![(a, y), (b, y)], style))
                .map_err(err)?;
        }
        if s.dots {
            area.draw(&Circle::new((20, y), 3, s.colour.filled()))
                .map_err(err)?;
        }
        area.draw(&Text::new(s.label.clone(), (42, y), font.clone()))
            .map_err(err)?;
    }
    Ok(())
}
