//! Chart axes with ticks chosen here rather than by the drawing library: integer ticks
//! on step axes (never `1500.5`), decades on log axes, and the colour bar's labelled
//! values; each axis also formats its own tick labels.

use super::colour::{nice_step, tick_label};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, KeyPointWeight, Ranged};
use std::ops::Range;

/// How values map to positions and how ticks read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    /// Linear, ticks printed in three significant digits.
    Linear,
    /// Linear, ticks at integers printed as integers (optimizer steps).
    Steps,
    /// Logarithmic, ticks printed as `1e-3`.
    Log,
}

/// One axis: its range, scaling and tick values.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Value at the start of the axis.
    pub lo: f64,
    /// Value at the end.
    pub hi: f64,
    /// The scaling.
    pub scaling: Scaling,
    /// The values that get a tick and a label.
    pub ticks: Vec<f64>,
}

impl Axis {
    /// A linear axis over `[lo, hi]` with round ticks (1, 2 or 5 times a power of ten).
    pub fn linear(lo: f64, hi: f64) -> Axis {
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let step = nice_step((hi - lo) / 6.0);
        let ticks = multiples(step, lo, hi);
        Axis::with_ticks(lo, hi, Scaling::Linear, ticks)
    }

    /// Steps `0..=last` with integer ticks.
    pub fn steps(last: usize) -> Axis {
        let hi = last.max(1) as f64;
        let step = nice_step(hi / 6.0).max(1.0);
        let ticks = multiples(step, 0.0, hi);
        Axis::with_ticks(0.0, hi, Scaling::Steps, ticks)
    }

    /// A logarithmic axis over `[lo, hi]` (both positive) with ticks at powers of ten,
    /// at most eight of them; ranges within a decade get 1-2-5 ticks.
    pub fn log(lo: f64, hi: f64) -> Axis {
        let (a, b) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
        let decades: Vec<i32> = (a..=b).collect();
        let ticks: Vec<f64> = if decades.len() < 2 {
            let near = (a - 1..=b).flat_map(|d| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(d)));
            near.filter(|t| (lo..=hi).contains(t)).collect()
        } else {
            let every = decades.len().div_ceil(8);
            let kept = decades.iter().filter(|d| (*d - a) % every as i32 == 0);
            kept.map(|&d| 10f64.powi(d)).collect()
        };
        Axis::with_ticks(lo, hi, Scaling::Log, ticks)
    }

    /// An axis with the given ticks.
    pub fn with_ticks(lo: f64, hi: f64, scaling: Scaling, ticks: Vec<f64>) -> Axis {
        Axis {
            lo,
            hi,
            scaling,
            ticks,
        }
    }

    /// The label of tick `v`.
    pub fn label(&self, v: f64) -> String {
        match self.scaling {
            Scaling::Linear => tick_label(v),
            Scaling::Steps => format!("{v:.0}"),
            Scaling::Log => format!("{v:.0e}"),
        }
    }

    /// Where `v` lies along the axis, 0 at `lo` and 1 at `hi` (outside for values outside).
    pub fn fraction(&self, v: f64) -> f64 {
        let f = |x: f64| match self.scaling {
            Scaling::Log => x.ln(),
            Scaling::Linear | Scaling::Steps => x,
        };
        (f(v) - f(self.lo)) / (f(self.hi) - f(self.lo))
    }
}

/// The multiples of `step` in `[lo, hi]` (with a little slack for rounding).
fn multiples(step: f64, lo: f64, hi: f64) -> Vec<f64> {
    let eps = 1e-9 * step;
    let first = ((lo - eps) / step).ceil() as i64;
    let last = ((hi + eps) / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// The drawing library's view of an [`Axis`]: its ticks are the bold key points and
/// there are no light ones (no minor grid lines).
impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = self.fraction(*v);
        let t = if t.is_finite() {
            t.clamp(-1.0, 2.0)
        } else {
            0.0
        };
        limit.0 + (t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        match hint.weight() {
            KeyPointWeight::Bold => self.ticks.clone(),
            KeyPointWeight::Any => Vec::new(),
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_axes_have_integer_ticks() {
        assert_eq!(Axis::steps(3).ticks, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            Axis::steps(2999).ticks,
            vec![0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0]
        );
        let a = Axis::steps(7);
        assert!(a.ticks.iter().all(|t| t.fract() == 0.0), "{:?}", a.ticks);
        assert_eq!(a.label(1500.0), "1500");
    }

    #[test]
    fn log_axes_tick_decades_or_one_two_five() {
        assert_eq!(Axis::log(8e-4, 0.5).ticks, vec![1e-3, 1e-2, 1e-1]);
        assert_eq!(Axis::log(0.15, 0.6).ticks, vec![0.2, 0.5]);
        // seventeen decades: every third one
        let t = Axis::log(1e-17, 1.0).ticks;
        assert_eq!(t.len(), 6);
        assert_eq!(Axis::log(1e-3, 1.0).label(1e-3), "1e-3");
    }

    #[test]
    fn values_map_onto_the_pixel_range() {
        let a = Axis::log(1e-3, 1.0);
        assert_eq!(a.map(&1e-3, (0, 300)), 0);
        assert_eq!(a.map(&1e-2, (0, 300)), 100);
        assert_eq!(a.map(&1.0, (400, 100)), 100);
        assert_eq!(Axis::steps(10).map(&5.0, (50, 150)), 100);
    }
}
