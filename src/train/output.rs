//! Files written by training: `params.json`, `history.csv`, plots. Every file is written
//! to a temporary name in the same directory and renamed into place, so a reader never
//! sees a partial file and an interrupted run leaves either the old file or the new one.
//!
//! `nabla train FILE --out DIR` (and [`super::report::Report::save`]) writes, for a run
//! that ends normally or is stopped with Ctrl-C:
//!
//! | file | when | what |
//! |---|---|---|
//! | `params.json` | always | the trained parameters, by name |
//! | `history.csv` | always | one row per step: losses, wall time, `rel_l2.OUT` columns for tracked outputs |
//! | `loss.svg` | always | loss of every residual and the total against the step, log scale |
//! | `error.svg` | an output is tracked: it has an `exact` or `--reference` values | relative L2 error of each tracked output against wall time, measured at step 0, every `--error-every` steps and after the last step |
//! | `OUT.svg` | 1 input | OUT against the input; with `exact OUT` also the exact solution and, below, `\|OUT − OUT*\|` |
//! | `OUT.svg` | 2 inputs | heat map of OUT |
//! | `OUT_exact.svg`, `OUT_error.svg` | 2 inputs and `exact OUT` | heat maps of the exact solution (same colour scale as `OUT.svg`) and of `\|OUT − OUT*\|` |
//! | `points.svg` | 2 inputs and a `domain` | the first sample of every point set over the domains' outlines |
//! | `checkpoint.json` | `--checkpoint-every N` | the training loop's whole state, every `N` steps and at the end, for `--resume` ([`super::checkpoint`]); `params.json` and `history.csv` are rewritten with it |
//!
//! `OUT` ranges over the nets' outputs in declaration order, then the `let`s with an
//! `exact` (constrained outputs). A plot whose file name an earlier row took (a net
//! output named `loss`, a `let u_exact` beside `u`'s `u_exact.svg`) is written as
//! `NAME.2.svg` instead of replacing that file. On a problem solved in domains (`interior(D, N)`), the
//! heat maps are blank outside them, and errors are measured on the grid points inside.
//! Problems with three or more inputs get no solution plots: only `params.json`,
//! `history.csv`, `loss.svg` and, when an output is tracked, `error.svg`. Reference
//! values (`--reference`) are scattered points: they add `rel_l2` columns and curves to
//! `history.csv` and `error.svg` but no solution plot, and `OUT.svg` shows an exact
//! solution only from an `exact` line. On `loss.svg` and `error.svg` of an `adam+lbfgs`
//! run that reached L-BFGS a vertical line marks the switch, when the report was given
//! the run's options ([`super::report::Report::with_options`]).
//!
//! `nabla bench FILE --out DIR` writes one file, `fd_error.svg` (the error of the residuals
//! against the finite-difference step, with the exact methods' errors as dashed lines).

use super::layout::{to_json, Layout};
use super::run::StepRecord;
use super::TrainError;
use nabla_frontend::problem::Problem;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Creates `dir` if needed and checks that files can be created in it, before any
/// training starts. Hold the [`Created`] it returns until the outputs are written: if the
/// work fails first, the directories made here are removed again.
pub fn prepare_dir(dir: &Path) -> Result<Created, TrainError> {
    let io = |e: std::io::Error| TrainError::Output {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    // `out/.` and `out/./b` name `out` and `out/b`: made and removed without the `.`
    // parts, which `create_dir_all` (a missing `out/.`: "No such file or directory") and
    // `remove_dir` refuse
    let named: PathBuf = dir.components().collect();
    let missing = named
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists());
    let created = Created(missing.map(Path::to_path_buf).collect());
    std::fs::create_dir_all(&named).map_err(io)?;
    crate::data::check_can_create_in(&named).map_err(io)?;
    Ok(created)
}

/// The directories [`prepare_dir`] created, innermost first. Dropped, it removes those
/// that are still empty: a run that fails before writing anything (a loss that is NaN at
/// step 0, a compile error) leaves no empty output directory behind; one that wrote its
/// files keeps them.
#[must_use = "dropping it at once removes the directory again"]
pub struct Created(Vec<PathBuf>);

impl Drop for Created {
    fn drop(&mut self) {
        for d in &self.0 {
            // fails, and stops, at the first directory that holds anything
            if std::fs::remove_dir(d).is_err() {
                break;
            }
        }
    }
}

/// Writes `contents` to `path` atomically (temporary file in the same directory, then
/// rename; see [`crate::data::write_atomic`]).
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), TrainError> {
    crate::data::write_atomic(path, contents).map_err(|e| TrainError::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Writes `params.json` (θ by name) and `history.csv` (`columns`: residual names, tracked
/// outputs, records) into `dir`, each atomically.
pub fn write_params_and_history(
    dir: &Path,
    problem: &Problem,
    layout: &Layout,
    theta: &[f64],
    columns: (&[String], &[String], &[StepRecord]),
) -> Result<(), TrainError> {
    let params = to_json(problem, layout, theta);
    let text = serde_json::to_string_pretty(&params).unwrap_or_default();
    write_atomic(&dir.join("params.json"), &text)?;
    let (parts, tracked, history) = columns;
    write_atomic(
        &dir.join("history.csv"),
        &history_csv(parts, tracked, history),
    )
}

/// `history.csv`: `step,loss.R...,loss,wall_s,rel_l2.OUT...`, one row per step; the error
/// columns (one per tracked output, in `tracked` order) are empty where not measured. A
/// causal run (`--causal`) adds `causal_min`, the smallest time-chunk weight.
pub fn history_csv(parts: &[String], tracked: &[String], history: &[StepRecord]) -> String {
    let mut s = String::from("step");
    for p in parts {
        let _ = write!(s, ",loss.{p}");
    }
    s.push_str(",loss,wall_s");
    for t in tracked {
        let _ = write!(s, ",rel_l2.{t}");
    }
    let causal = history.iter().any(|r| r.causal.is_some());
    if causal {
        s.push_str(",causal_min");
    }
    s.push('\n');
    for r in history {
        let _ = write!(s, "{}", r.step);
        for v in &r.parts {
            let _ = write!(s, ",{v:e}");
        }
        let _ = write!(s, ",{:e},{:.6}", r.loss, r.wall_s);
        for k in 0..tracked.len() {
            match r.errors.get(k) {
                Some(e) => write!(s, ",{e:e}"),
                None => write!(s, ","),
            }
            .unwrap_or_default();
        }
        if causal {
            let _ = write!(s, ",{:e}", r.causal.unwrap_or(f64::NAN));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_has_a_column_per_residual() {
        let h = vec![StepRecord {
            step: 0,
            loss: 3.0,
            parts: vec![1.0, 0.2],
            wall_s: 0.5,
            errors: vec![],
            damping: None,
            causal: None,
        }];
        let csv = history_csv(&["pde".into(), "bc".into()], &[], &h);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("step,loss.pde,loss.bc,loss,wall_s"));
        assert_eq!(lines.next(), Some("0,1e0,2e-1,3e0,0.500000"));
        // tracked errors: a column per output, empty where not measured
        let mut h2 = h.clone();
        h2[0].errors = vec![0.25];
        h2.push(StepRecord {
            step: 1,
            ..h[0].clone()
        });
        let csv = history_csv(&["pde".into(), "bc".into()], &["u".into()], &h2);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "step,loss.pde,loss.bc,loss,wall_s,rel_l2.u");
        assert_eq!(lines[1], "0,1e0,2e-1,3e0,0.500000,2.5e-1");
        assert_eq!(lines[2], "1,1e0,2e-1,3e0,0.500000,");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, "one").unwrap();
        write_atomic(&p, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_directory_under_a_file_is_not_writable() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("file");
        std::fs::write(&f, b"x").unwrap();
        let e = prepare_dir(&f.join("out")).err().unwrap();
        assert!(e.to_string().contains("out"), "{e}");
    }

    /// The directories made for a run are removed again when it writes nothing into them,
    /// innermost first, and only those it made, also when named with `.` parts (made
    /// too); a directory that holds a file stays.
    #[test]
    fn directories_made_for_nothing_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        drop(prepare_dir(&deep).unwrap());
        assert!(!dir.path().join("a").exists());
        let kept = prepare_dir(&deep).unwrap();
        std::fs::write(dir.path().join("a/b/file"), "x").unwrap();
        drop(kept);
        assert!(!deep.exists() && dir.path().join("a/b/file").exists());
        let written = prepare_dir(&deep).unwrap();
        std::fs::write(deep.join("params.json"), "{}").unwrap();
        drop(written);
        assert!(deep.join("params.json").exists());
        // an existing, empty directory is not removed
        drop(prepare_dir(dir.path()).unwrap());
        assert!(dir.path().exists());
        // one named with `.` parts is made (`x/./y/.` is `x/y`) and removed again
        let dotted = prepare_dir(&dir.path().join("x/./y/.")).unwrap();
        assert!(dir.path().join("x/y").is_dir());
        drop(dotted);
        assert!(!dir.path().join("x").exists());
    }
}
