//! Colour maps of the heat maps and the tick values of their colour bars.
//!
//! A field that keeps one sign (a solution that is positive everywhere, an error
//! `|u − u*|`) gets the sequential map viridis: lightness grows monotonically with the
//! value and equal steps in value look like equal steps in colour, so the eye reads
//! magnitudes correctly and the map survives grey-scale printing. A field that takes both
//! signs gets a diverging blue–white–red map centred on zero, so the sign is the hue.

use plotters::style::RGBColor;

/// Viridis (matplotlib's default map) sampled at nine equally spaced points; values in
/// between are interpolated linearly in RGB, which is indistinguishable at this density.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 45, 123),
    (59, 82, 139),
    (44, 114, 142),
    (33, 144, 140),
    (39, 173, 129),
    (93, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];

/// A diverging map: blue (negative end), near white (zero), red (positive end), the end
/// colours of Moreland's cool–warm map.
const COOL_WARM: [(u8, u8, u8); 3] = [(59, 76, 192), (247, 247, 247), (180, 4, 38)];

/// Which map a [`Scale`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColourMap {
    /// Sequential, dark purple (low) to yellow (high).
    Viridis,
    /// Diverging, blue (low) through white (middle) to red (high).
    CoolWarm,
}

/// Values to colours: `lo` is the first colour of `map`, `hi` the last, values outside
/// are clamped. For [`ColourMap::CoolWarm`] the range is symmetric, so white is zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// The value of the map's first colour.
    pub lo: f64,
    /// The value of the map's last colour.
    pub hi: f64,
    /// The map.
    pub map: ColourMap,
}

impl Scale {
    /// The scale for `values`: diverging and symmetric about zero when both signs are
    /// substantial (the smaller side at least a fifth of the larger, so a positive solution
    /// whose prediction undershoots zero a little keeps the sequential map), otherwise viridis over
    /// the values' range. Non-finite values are ignored.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Scale {
        let (lo, hi) = finite_range(values);
        let (neg, pos) = (-lo.min(0.0), hi.max(0.0));
        if neg.min(pos) >= 0.2 * neg.max(pos) && neg > 0.0 {
            let m = neg.max(pos);
            return Scale {
                lo: -m,
                hi: m,
                map: ColourMap::CoolWarm,
            };
        }
        Scale::sequential(lo, hi)
    }

    /// Viridis over `[lo, hi]` (an empty or inverted range is widened so every value
    /// still gets a colour).
    pub fn sequential(lo: f64, hi: f64) -> Scale {
        let hi = if hi > lo {
            hi
        } else {
            lo + lo.abs().max(1.0) * 1e-12
        };
        Scale {
            lo,
            hi,
            map: ColourMap::Viridis,
        }
    }

    /// The scale of a non-negative field such as `|u − u*|`: viridis from zero (so the
    /// darkest colour means "no error") to the largest value.
    pub fn magnitude(values: impl IntoIterator<Item = f64>) -> Scale {
        let (_, hi) = finite_range(values);
        Scale::sequential(0.0, hi.max(0.0))
    }

    /// The colour of `v` (NaN gets the middle colour).
    pub fn colour(&self, v: f64) -> RGBColor {
        let t = (v - self.lo) / (self.hi - self.lo);
        let t = if t.is_nan() { 0.5 } else { t.clamp(0.0, 1.0) };
        match self.map {
            ColourMap::Viridis => interpolate(&VIRIDIS, t),
            ColourMap::CoolWarm => interpolate(&COOL_WARM, t),
        }
    }

    /// The values labelled on the colour bar: both ends (the extremes of the colours'
    /// range, printed as they are) and the round values in between that are not so close
    /// to an end that their labels would overlap.
    pub fn ticks(&self) -> Vec<f64> {
        let (lo, hi) = (self.lo, self.hi);
        let step = nice_step((hi - lo) / 6.0);
        let room = 0.08 * (hi - lo);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let inner = (first..=last)
            .map(|k| k as f64 * step)
            .filter(|t| t - lo > room && hi - t > room);
        std::iter::once(lo).chain(inner).chain([hi]).collect()
    }
}

/// The smallest and largest finite value (`(0, 1)` when there is none).
fn finite_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let finite = values.into_iter().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if lo.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

/// Piecewise linear interpolation between equally spaced anchor colours, `t ∈ [0, 1]`.
fn interpolate(anchors: &[(u8, u8, u8)], t: f64) -> RGBColor {
    let span = (anchors.len() - 1) as f64;
    let k = ((t * span).floor() as usize).min(anchors.len() - 2);
    let s = t * span - k as f64;
    let (a, b) = (anchors[k], anchors[k + 1]);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * s).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A round step (1, 2 or 5 times a power of ten) at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let m = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|m| m * mag >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0);
    m * mag
}

/// A tick value in at most three significant digits, without trailing zeros: `0`,
/// `0.25`, `-1.5`, `120`, and `2.5e-4` / `1.2e5` outside `[0.01, 10⁴)`.
pub fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-2..1e4).contains(&a) {
        let s = format!("{v:.2e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{exp}", trim_zeros(mantissa));
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

/// `1.500` → `1.5`, `2.00` → `2`, `120` unchanged.
fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_runs_from_purple_to_yellow_and_lightens_monotonically() {
        let s = Scale::sequential(0.0, 1.0);
        assert_eq!(s.colour(0.0), RGBColor(68, 1, 84));
        assert_eq!(s.colour(0.5), RGBColor(33, 144, 140));
        assert_eq!(s.colour(1.0), RGBColor(253, 231, 37));
        assert_eq!(s.colour(7.0), RGBColor(253, 231, 37));
        // luma (Rec. 601) strictly increases along the map
        let luma = |c: RGBColor| 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
        let l: Vec<f64> = (0..=20).map(|k| luma(s.colour(k as f64 / 20.0))).collect();
        assert!(l.windows(2).all(|w| w[1] > w[0]), "{l:?}");
    }

    #[test]
    fn signed_fields_get_a_diverging_map_centred_on_zero() {
        let s = Scale::of([-0.5, 0.2, 2.0]);
        assert_eq!(
            s,
            Scale {
                lo: -2.0,
                hi: 2.0,
                map: ColourMap::CoolWarm
            }
        );
        assert_eq!(s.colour(0.0), RGBColor(247, 247, 247));
        assert_eq!(s.colour(-2.0), RGBColor(59, 76, 192));
        // a positive field with a small dip below zero stays sequential over its range
        let s = Scale::of([-0.15, 0.3, 1.0]);
        assert_eq!((s.lo, s.hi, s.map), (-0.15, 1.0, ColourMap::Viridis));
        assert_eq!(Scale::magnitude([0.25, 3e-3]).lo, 0.0);
        assert_eq!(Scale::magnitude([0.25, 3e-3]).hi, 0.25);
    }

    #[test]
    fn colour_bar_ticks_are_the_ends_and_round_values_between() {
        let t = Scale::sequential(-0.001, 1.0).ticks();
        assert_eq!(t, vec![-0.001, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        let t = Scale::of([-3.0, 3.0]).ticks();
        assert_eq!(t, vec![-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]);
        // ends too close to a round value drop the round value, not the end
        let t = Scale::sequential(0.0, 0.00213).ticks();
        assert_eq!(t.first(), Some(&0.0));
        assert_eq!(t.last(), Some(&0.00213));
        assert!(!t.iter().any(|&v| (v - 0.002).abs() < 1e-12), "{t:?}");
    }

    #[test]
    fn tick_labels_are_short() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (0.25, "0.25"),
            (-1.5, "-1.5"),
            (0.6000000000000001, "0.6"),
            (123.4, "123"),
            (2.5e-4, "2.5e-4"),
            (0.00213, "2.13e-3"),
            (-1.0e-5, "-1e-5"),
            (1.2e5, "1.2e5"),
        ];
        for (v, s) in cases {
            assert_eq!(tick_label(v), s, "{v}");
        }
    }

    #[test]
    fn nice_steps_are_one_two_five() {
        assert_eq!(nice_step(0.2), 0.2);
        assert_eq!(nice_step(0.21), 0.5);
        assert_eq!(nice_step(370.0), 500.0);
        assert_eq!(nice_step(0.0), 1.0);
    }
}
