//! Parsers of numeric flag values, each with a message that says what its flag accepts.
//!
//! The command line lets every option take a value that looks like a negative number
//! (`--lr -1`, `--steps -5`), so such a value reaches these parsers and is answered by the
//! flag's own rule rather than by "unexpected argument '-1'". clap prints the message as
//! `invalid value '-5' for '--steps <N>': must be a whole number, 0 or more`.

/// A finite number above zero (learning rates).
pub fn positive(s: &str) -> Result<f64, String> {
    match number(s)? {
        v if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err("must be a positive number".into()),
    }
}

/// A number in `(0, 1]` (decay factors: 1 keeps the value constant).
pub fn fraction(s: &str) -> Result<f64, String> {
    match number(s)? {
        v if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err("must be in (0, 1]".into()),
    }
}

/// A whole number, 0 or more (step counts, seeds).
pub fn count(s: &str) -> Result<u64, String> {
    whole(s, 0)
}

/// A whole number, 1 or more (intervals in steps).
pub fn positive_count(s: &str) -> Result<u64, String> {
    whole(s, 1)
}

/// [`positive_count`] as a `u32` (repetitions).
pub fn positive_u32(s: &str) -> Result<u32, String> {
    u32::try_from(positive_count(s)?).map_err(|_| "is too large".to_string())
}

/// [`count`] as a `usize`.
pub fn count_usize(s: &str) -> Result<usize, String> {
    usize::try_from(count(s)?).map_err(|_| "is too large".to_string())
}

/// A whole number `≥ min`, written as an integer or as a float with no fraction (`1e4`).
fn whole(s: &str, min: u64) -> Result<u64, String> {
    let rule = || format!("must be a whole number, {min} or more");
    if let Ok(v) = s.trim().parse::<u64>() {
        return if v >= min { Ok(v) } else { Err(rule()) };
    }
    let v = number(s)?;
    // 2^53: beyond it a float no longer holds every whole number.
    let exact = v.fract() == 0.0 && (min as f64..=9_007_199_254_740_992.0).contains(&v);
    if exact {
        Ok(v as u64)
    } else {
        Err(rule())
    }
}

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| "is not a number".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_and_fractional_counts_are_refused_with_the_rule() {
        assert_eq!(count("3000"), Ok(3000));
        assert_eq!(count("1e4"), Ok(10_000));
        assert_eq!(count("0"), Ok(0));
        assert_eq!(count("-5"), Err("must be a whole number, 0 or more".into()));
        assert_eq!(
            count("2.5"),
            Err("must be a whole number, 0 or more".into())
        );
        assert_eq!(count("many"), Err("is not a number".into()));
        assert_eq!(count("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            positive_count("0"),
            Err("must be a whole number, 1 or more".into())
        );
    }

    #[test]
    fn learning_rates_and_fractions() {
        assert_eq!(positive("1e-3"), Ok(1e-3));
        for bad in ["-1", "0", "inf", "NaN"] {
            assert_eq!(
                positive(bad),
                Err("must be a positive number".into()),
                "{bad}"
            );
        }
        assert_eq!(fraction("1"), Ok(1.0));
        for bad in ["0", "1.5", "-0.1", "NaN"] {
            assert_eq!(fraction(bad), Err("must be in (0, 1]".into()), "{bad}");
        }
    }
}
