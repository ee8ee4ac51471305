//! Output values as text (`run: NAME = [v, ...]`) and their comparison within a tolerance.

/// Values of named outputs, in the graph's output order.
pub type Outputs = Vec<(String, Vec<f64>)>;

/// One line per output: `run: NAME = [v, ...]`, each value in Rust's shortest form that
/// parses back to the same f64 (`{:?}`), so a blessed expectation is exact.
pub fn run_lines(outs: &[(String, Vec<f64>)]) -> Vec<String> {
    outs.iter()
        .map(|(name, v)| format!("run: {name} = {}", list(v)))
        .collect()
}

/// `[v, ...]` with every value in `{:?}` form.
pub fn list(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", parts.join(", "))
}

/// Parses `[v, ...]` (`NaN`, `inf` and `-inf` included).
pub fn parse_list(s: &str) -> Result<Vec<f64>, String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or(format!("expected `[v, ...]`, found `{s}`"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(|_| format!("bad number `{t}`")))
        .collect()
}

/// Whether `got` agrees with `want`: equal (infinities included), both NaN, or
/// both finite with `|got − want| ≤ tol · max(1, |want|)` (relative for large values,
/// absolute near zero).
pub fn close(want: f64, got: f64, tol: f64) -> bool {
    want == got
        || (want.is_nan() && got.is_nan())
        || (want.is_finite() && got.is_finite() && (want - got).abs() <= tol * want.abs().max(1.0))
}

/// Whether two output lines agree: equal text, or two `run:` lines naming the same
/// output whose values are [`close`] element by element.
pub fn lines_close(want: &str, got: &str, tol: f64) -> bool {
    want == got || run_line_mismatch(want, got, tol) == Some(None)
}

/// For two `run:` lines of the same output: `Some(None)` when every value is close,
/// `Some(Some(why))` naming the first value that is not; `None` when they are not two
/// comparable `run:` lines.
pub fn run_line_mismatch(want: &str, got: &str, tol: f64) -> Option<Option<String>> {
    let (wn, wv) = split_run_line(want)?;
    let (gn, gv) = split_run_line(got)?;
    if wn != gn {
        return None;
    }
    if wv.len() != gv.len() {
        let why = format!("{wn}: {} values expected, {} found", wv.len(), gv.len());
        return Some(Some(why));
    }
    let bad = wv.iter().zip(&gv).position(|(w, g)| !close(*w, *g, tol));
    Some(bad.map(|i| {
        format!(
            "{wn}[{i}]: expected {:?}, found {:?} (difference {:.3e}, tolerance {tol:e})",
            wv[i],
            gv[i],
            (wv[i] - gv[i]).abs()
        )
    }))
}

fn split_run_line(line: &str) -> Option<(&str, Vec<f64>)> {
    let (name, values) = line.strip_prefix("run: ")?.split_once(" = ")?;
    Some((name, parse_list(values).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_exactly_and_parse_back() {
        let v = [0.1, -0.0, f64::NAN, f64::INFINITY, 1e-300, 5e-324];
        let text = list(&v);
        assert_eq!(text, "[0.1, -0.0, NaN, inf, 1e-300, 5e-324]");
        let back = parse_list(&text).unwrap();
        assert!(v.iter().zip(&back).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn closeness_is_relative_above_one_and_absolute_below() {
        assert!(close(1000.0, 1000.0 + 1e-10, 1e-12));
        assert!(!close(1000.0, 1000.0 + 1e-8, 1e-12));
        assert!(close(1e-20, 5e-13, 1e-12));
        assert!(close(f64::NAN, f64::NAN, 0.0));
        assert!(close(f64::INFINITY, f64::INFINITY, 0.0));
        assert!(!close(f64::INFINITY, f64::NEG_INFINITY, 1.0));
        assert!(!close(1.0, f64::NAN, 1.0));
        assert!(!close(f64::MAX, f64::INFINITY, 1.0));
    }

    #[test]
    fn run_lines_name_their_first_difference() {
        let want = "run: y = [1.0, 2.0, 3.0]";
        assert!(lines_close(
            want,
            "run: y = [1.0, 2.0000000000001, 3.0]",
            1e-12
        ));
        assert_eq!(
            run_line_mismatch(want, "run: y = [1.0, 2.5, 3.0]", 1e-12),
            Some(Some(
                "y[1]: expected 2.0, found 2.5 (difference 5.000e-1, tolerance 1e-12)".into()
            ))
        );
        assert_eq!(
            run_line_mismatch(want, "run: z = [1.0, 2.0, 3.0]", 1.0),
            None
        );
        assert!(!lines_close(want, "error: no", 1.0));
    }
}
