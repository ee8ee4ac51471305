//! Why the loss or its gradient is not a finite number: at which step, in which residuals,
//! at which points — and so whether the problem or the optimizer is at fault.
//!
//! A NaN at the initial parameters (step 0) comes from the problem: a residual undefined
//! where it is evaluated (`log` or `sqrt` of a negative number, a division by zero) or too
//! large for the dtype. No learning rate fixes that, so the message says so and points at
//! the residual and a point. A loss that was finite and then became NaN is the optimizer
//! diverging (or, after a resample, new points reaching where a residual is undefined).

use nabla_frontend::problem::InputDecl;
use std::fmt;

/// A non-finite loss or gradient, explained as far as the training loop could.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NonFinite {
    /// The loss at the evaluation that was not finite (it may be finite when only the
    /// gradient is not).
    pub loss: f64,
    /// The step (from 0, as in history.csv) whose evaluation it was; `None` when an
    /// optimizer saw it outside the training loop.
    pub step: Option<usize>,
    /// The step and loss of the last step before, all finite.
    pub before: Option<(usize, f64)>,
    /// Whether the collocation points were resampled just before this step.
    pub resampled: bool,
    /// Every residual whose values, or their mean square, are not finite.
    pub residuals: Vec<BadResidual>,
    /// The params whose gradient has an entry that is not finite.
    pub grads: Vec<String>,
}

/// A residual whose values, or their mean square, are not finite.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BadResidual {
    /// The residual.
    pub name: String,
    /// Its point set.
    pub set: String,
    /// The number of its points where it is NaN.
    pub nan: usize,
    /// The number of its points where it is ±inf.
    pub inf: usize,
    /// The number of points of the set.
    pub points: usize,
    /// The first point where the value is not finite, or, when every value is finite but
    /// their mean square overflows, the point of largest magnitude: its coordinates
    /// (input name, value) and the residual's value there.
    pub at: Option<(Vec<(String, f64)>, f64)>,
    /// `mean(r²)` over the set.
    pub mean_square: f64,
}

impl BadResidual {
    /// The residual `name` on `set` when its `values` (one per row of `rows`) or their
    /// `mean_square` are not finite; `None` when they all are.
    pub fn find(
        (name, set): (&str, &str),
        values: &[f64],
        mean_square: f64,
        rows: &[Vec<f64>],
        inputs: &[InputDecl],
    ) -> Option<BadResidual> {
        let nan = values.iter().filter(|v| v.is_nan()).count();
        let inf = values.iter().filter(|v| v.is_infinite()).count();
        if nan + inf == 0 && mean_square.is_finite() {
            return None;
        }
        let row = values
            .iter()
            .position(|v| !v.is_finite())
            .or_else(|| largest(values));
        let at = row.and_then(|i| Some((coordinates(rows.get(i)?, inputs), values[i])));
        Some(BadResidual {
            name: name.into(),
            set: set.into(),
            nan,
            inf,
            points: values.len(),
            at,
            mean_square,
        })
    }

    /// What the values are: NaN, infinite, or both.
    fn kind(&self) -> &'static str {
        match (self.nan, self.inf) {
            (_, 0) => "NaN",
            (0, _) => "infinite",
            _ => "NaN or infinite",
        }
    }
}

/// The index of the value of largest magnitude.
fn largest(values: &[f64]) -> Option<usize> {
    (0..values.len()).max_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()))
}

fn coordinates(row: &[f64], inputs: &[InputDecl]) -> Vec<(String, f64)> {
    inputs
        .iter()
        .zip(row)
        .map(|(d, &v)| (d.name.clone(), v))
        .collect()
}

/// A number for people: plain for ordinary magnitudes, in exponent form otherwise, and
/// `NaN`, `inf`, `-inf` as such.
pub fn short(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 || (1e-3..1e6).contains(&v.abs()) {
        let s = format!("{v:.6}");
        return s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{v:.3e}")
}

impl fmt::Display for BadResidual {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, set) = (&self.name, &self.set);
        let bad = self.nan + self.inf;
        if bad == 0 {
            write!(
                f,
                "the mean square of residual `{name}` on `{set}` overflows"
            )?;
            write!(f, " ({})", short(self.mean_square))?;
        } else {
            let (kind, n) = (self.kind(), self.points);
            write!(
                f,
                "residual `{name}` is {kind} at {bad} of {n} points of `{set}`"
            )?;
        }
        let Some((coords, value)) = &self.at else {
            return Ok(());
        };
        let at: Vec<String> = coords
            .iter()
            .map(|(n, v)| format!("{n} = {}", short(*v)))
            .collect();
        let first = if bad == 0 { "largest" } else { "first" };
        write!(f, ", {first} at {}", at.join(", "))?;
        // A NaN says nothing more; the sign of an infinity or a large value does.
        if !value.is_nan() {
            write!(f, " (value {})", short(*value))?;
        }
        Ok(())
    }
}

impl NonFinite {
    /// Whether the problem, not the optimizer, is at fault: nothing was finite yet.
    fn at_start(&self) -> bool {
        self.before.is_none()
    }

    /// The first line: what was not finite, and when.
    fn headline(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.loss.is_finite() {
            "the gradient of the loss is not finite".to_string()
        } else {
            format!("the loss is {}", short(self.loss))
        };
        match (self.step, self.before) {
            (Some(k), Some((j, loss))) => {
                let was = format!("it was {} at step {j}", short(loss));
                write!(f, "{what} at step {k} ({was})")
            }
            (Some(k), None) => write!(
                f,
                "{what} at step {k}, at the initial parameters: the problem is at fault, \
                 not the learning rate"
            ),
            (None, _) => write!(f, "{what}"),
        }
    }

    /// The last line: what to do about it.
    fn advice(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if !self.residuals.is_empty() && (self.at_start() || self.resampled) {
            v.push(
                "a residual must be finite wherever it is evaluated: look for log or sqrt of \
                 a negative number, a division by zero, or values too large for the dtype \
                 (--dtype f64 has more range)",
            );
        }
        if self.residuals.is_empty() && !self.grads.is_empty() {
            v.push(
                "a residual's derivative is undefined where its value is finite: e.g. sqrt \
                 or abs at 0, or x^p with p < 1 at 0",
            );
        }
        if self.resampled && !self.at_start() {
            v.push("the collocation points were resampled just before this step");
        }
        if !self.at_start() {
            v.push("if the parameters diverged, try a smaller learning rate (--lr, --lr-decay)");
        }
        v
    }
}

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.headline(f)?;
        for r in &self.residuals {
            write!(f, "\n  {r}")?;
        }
        if self.residuals.is_empty() && !self.grads.is_empty() {
            let names: Vec<String> = self.grads.iter().map(|g| format!("`{g}`")).collect();
            write!(
                f,
                "\n  every residual is finite; the gradient is not in {}",
                names.join(", ")
            )?;
        }
        for a in self.advice() {
            write!(f, "\n  {a}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Vec<InputDecl> {
        let x = |n: &str| InputDecl {
            name: n.into(),
            lo: 0.0,
            hi: 1.0,
        };
        vec![x("x"), x("y")]
    }

    #[test]
    fn the_first_non_finite_point_is_named_with_its_coordinates() {
        let rows = vec![vec![0.75, 0.5], vec![0.25, 0.125], vec![0.1, 0.2]];
        let values = [1.0, f64::NAN, f64::NEG_INFINITY];
        let r = BadResidual::find(("pde", "inner"), &values, f64::NAN, &rows, &inputs());
        let r = r.unwrap();
        assert_eq!((r.nan, r.inf, r.points), (1, 1, 3));
        assert_eq!(
            r.to_string(),
            "residual `pde` is NaN or infinite at 2 of 3 points of `inner`, \
             first at x = 0.25, y = 0.125"
        );
        assert!(BadResidual::find(("bc", "s"), &[1.0], 1.0, &rows, &inputs()).is_none());
    }

    #[test]
    fn an_overflowing_mean_square_names_the_largest_value() {
        let rows = vec![vec![0.5, 0.5], vec![0.0, 1.0]];
        let r = BadResidual::find(("pde", "s"), &[1.0, -3e30], f64::INFINITY, &rows, &inputs());
        assert_eq!(
            r.unwrap().to_string(),
            "the mean square of residual `pde` on `s` overflows (inf), \
             largest at x = 0, y = 1 (value -3.000e30)"
        );
    }

    #[test]
    fn step_zero_blames_the_problem_and_later_steps_the_learning_rate() {
        let mut e = NonFinite {
            loss: f64::NAN,
            step: Some(0),
            residuals: vec![BadResidual {
                name: "pde".into(),
                set: "inner".into(),
                nan: 4,
                points: 4,
                ..Default::default()
            }],
            ..Default::default()
        };
        let s = e.to_string();
        assert!(s.starts_with("the loss is NaN at step 0, at the initial parameters: the problem is at fault, not the learning rate\n  residual `pde` is NaN at 4 of 4 points of `inner`\n"), "{s}");
        assert!(
            s.contains("log or sqrt") && !s.contains("learning rate (--lr"),
            "{s}"
        );
        e.step = Some(7);
        e.before = Some((6, 0.015));
        let s = e.to_string();
        assert!(
            s.starts_with("the loss is NaN at step 7 (it was 0.015 at step 6)"),
            "{s}"
        );
        assert!(
            s.contains("try a smaller learning rate") && !s.contains("log or sqrt"),
            "{s}"
        );
    }

    #[test]
    fn numbers_read_plainly() {
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(2.0), "2");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(1.5e-7), "1.500e-7");
        assert_eq!(short(f64::NEG_INFINITY), "-inf");
    }
}
