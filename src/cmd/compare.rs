//! `nabla compare RUN...`: training runs side by side, from the `history.csv` that
//! `nabla train --out RUN` wrote: a table of each run's final error and the training time
//! at which it first fell below 1e-1 … 1e-8, and with `--out FILE.svg` one chart of every
//! run's error (or, for runs without a tracked error, loss) against training wall time.
//! The question it answers is the one that decides between optimizers or derivative
//! methods: how close does each get, and how soon.

use anyhow::{bail, Context, Result};
use nabla::data::write_atomic;
use nabla::train::plot::runs_chart;
use std::path::{Path, PathBuf};

const EXAMPLE: &str = "Example:
  nabla train examples/poisson2d.nabla --optimizer adam+lbfgs --dtype f64 --out runs/adam
  nabla train examples/poisson2d.nabla --optimizer lm --dtype f64 --out runs/lm
  nabla compare runs/adam runs/lm --out poisson2d.svg";

/// Arguments of `nabla compare`.
#[derive(clap::Args)]
#[command(after_help = EXAMPLE)]
pub struct Args {
    /// Run directories written by `nabla train --out` (each holds a history.csv).
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Also draw the error (or loss) of every run against training wall time into this
    /// SVG file.
    #[arg(long, value_name = "FILE.svg", value_parser = svg_path)]
    pub out: Option<PathBuf>,
}

/// `--out`: a path ending in `.svg`, the only format the chart is drawn in (`x.png` got
/// SVG text under a PNG name).
fn svg_path(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match p.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => Ok(p),
        _ => Err("the chart is drawn as SVG: name the file FILE.svg".into()),
    }
}

/// One run's history: its label, and per measured quantity `(name, [(wall_s, value)])`.
struct Run {
    label: String,
    steps: usize,
    curves: Vec<(String, Vec<(f64, f64)>)>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let mut runs = args
        .runs
        .iter()
        .map(|d| read_run(d))
        .collect::<Result<Vec<_>>>()?;
    distinct_labels(&mut runs, &args.runs);
    super::common::emit(&table(&runs))?;
    if let Some(path) = &args.out {
        let series: Vec<(String, Vec<(f64, f64)>)> = (runs.iter())
            .flat_map(|r| {
                let many = r.curves.len() > 1;
                r.curves.iter().map(move |(name, pts)| {
                    let label = if many {
                        format!("{} {name}", r.label)
                    } else {
                        r.label.clone()
                    };
                    (label, pts.clone())
                })
            })
            .collect();
        let quantity = if runs.iter().all(|r| r.curves.iter().all(|c| c.0 == "loss")) {
            "loss"
        } else {
            "relative L2 error"
        };
        let svg = runs_chart(quantity, series).map_err(anyhow::Error::msg)?;
        write_atomic(path, &svg).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The run in `dir`: its `rel_l2.*` columns where it has any, else its loss.
fn read_run(dir: &Path) -> Result<Run> {
    let path = dir.join("history.csv");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let Some(wall) = col("wall_s") else {
        bail!(
            "{}: no `wall_s` column; is it a history.csv of `nabla train`?",
            path.display()
        );
    };
    let mut wanted: Vec<(String, usize)> = (header.iter().enumerate())
        .filter_map(|(i, h)| Some((h.strip_prefix("rel_l2.")?.to_string(), i)))
        .collect();
    if wanted.is_empty() {
        wanted = col("loss")
            .map(|i| ("loss".to_string(), i))
            .into_iter()
            .collect();
    }
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = wanted
        .iter()
        .map(|(n, _)| (n.clone(), Vec::new()))
        .collect();
    let mut steps = 0;
    for (k, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            bail!(
                "{}:{}: {} cells, the header has {} columns",
                path.display(),
                k + 2,
                cells.len(),
                header.len()
            );
        }
        // every cell is a number or empty, used here or not
        let values = (0..cells.len())
            .map(|i| cell(&cells, i, &header, &path, k + 2))
            .collect::<Result<Vec<Option<f64>>>>()?;
        let t = match values[wall] {
            Some(t) if t.is_finite() && t >= 0.0 => t,
            Some(t) => bail!("{}:{}: wall time {t}, not a time", path.display(), k + 2),
            None => bail!("{}:{}: no wall time", path.display(), k + 2),
        };
        for ((_, i), (_, pts)) in wanted.iter().zip(&mut curves) {
            if let Some(v) = values[*i].filter(|v| v.is_finite() && *v > 0.0) {
                pts.push((t, v));
            }
        }
        steps += 1;
    }
    let label = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(Run {
        label,
        steps,
        curves,
    })
}

/// Cell `i` of a row of `history.csv` (line `line`): `None` where it is empty (a value
/// not measured at that step), an error where it is not a number.
fn cell(
    cells: &[&str],
    i: usize,
    header: &[&str],
    path: &Path,
    line: usize,
) -> Result<Option<f64>> {
    match cells.get(i).map(|c| c.trim()) {
        None | Some("") => Ok(None),
        Some(c) => match c.parse::<f64>() {
            Ok(v) => Ok(Some(v)),
            Err(_) => bail!(
                "{}:{line}: `{c}` in column `{}` is not a number",
                path.display(),
                header[i]
            ),
        },
    }
}

/// Runs whose directories have the same name are labelled by the paths given.
fn distinct_labels(runs: &mut [Run], dirs: &[PathBuf]) {
    let labels: Vec<String> = runs.iter().map(|r| r.label.clone()).collect();
    for (r, dir) in runs.iter_mut().zip(dirs) {
        if labels.iter().filter(|l| **l == r.label).count() > 1 {
            r.label = dir.display().to_string();
        }
    }
}

/// The Markdown table: per run and quantity, the steps, the training time, the last value
/// and the time it first fell below each power of ten from 1e-1 to 1e-8.
fn table(runs: &[Run]) -> String {
    let thresholds: Vec<f64> = (1..=8).map(|k| 10f64.powi(-k)).collect();
    let mut out = String::from("| run | quantity | steps | wall (s) | last |");
    for t in &thresholds {
        out += &format!(" < {t:.0e} |");
    }
    out += "\n|---|---|---|---|---|";
    out += &"---|".repeat(thresholds.len());
    out += "\n";
    for r in runs {
        for (name, pts) in &r.curves {
            let wall = pts.last().map_or(0.0, |p| p.0);
            let last = pts.last().map_or("–".into(), |p| format!("{:.1e}", p.1));
            out += &format!(
                "| {} | {name} | {} | {wall:.1} | {last} |",
                r.label, r.steps
            );
            for t in &thresholds {
                match pts.iter().find(|p| p.1 < *t) {
                    Some(p) => out += &format!(" {:.1} s |", p.0),
                    None => out += " – |",
                }
            }
            out += "\n";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(history: &str) -> (tempfile::TempDir, Result<Run>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("history.csv"), history).unwrap();
        let run = read_run(dir.path());
        (dir, run)
    }

    /// A cell that is not a number is an error naming the line and the column; an empty
    /// cell (a value not measured at that step) is skipped.
    #[test]
    fn a_cell_that_is_not_a_number_is_an_error() {
        let error = |history: &str| run_with(history).1.err().unwrap().to_string();
        for (history, want) in [
            (
                "step,loss,wall_s\n0,0.5,0.1\n1,abc,0.2\n",
                "history.csv:3: `abc` in column `loss` is not a number",
            ),
            // every cell is checked, not only those charted (here the rel_l2 column)
            (
                "step,loss,wall_s,rel_l2.u\n0,abc,0.1,0.3\n",
                "history.csv:2: `abc` in column `loss` is not a number",
            ),
            (
                "step,loss,wall_s\n0,0.5,0.1,7\n",
                "history.csv:2: 4 cells, the header has 3 columns",
            ),
            (
                "step,loss,wall_s\n0,0.5,-5\n",
                "history.csv:2: wall time -5, not a time",
            ),
        ] {
            let e = error(history);
            assert!(e.ends_with(want), "{e}");
        }
        let (_d, run) = run_with("step,loss,wall_s,rel_l2.u\n0,0.5,0.1,0.3\n1,0.4,0.2,\n");
        let run = run.unwrap();
        assert_eq!(run.steps, 2);
        assert_eq!(run.curves, vec![("u".to_string(), vec![(0.1, 0.3)])]);
    }

    /// Runs in directories of one name (`a/run`, `b/run`) are told apart by their paths.
    #[test]
    fn runs_of_one_directory_name_are_labelled_by_path() {
        let run = |label: &str| Run {
            label: label.into(),
            steps: 1,
            curves: Vec::new(),
        };
        let mut runs = vec![run("run"), run("run"), run("lm")];
        let dirs: Vec<PathBuf> = ["a/run", "b/run", "c/lm"].map(PathBuf::from).into();
        distinct_labels(&mut runs, &dirs);
        let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["a/run", "b/run", "lm"]);
    }
}
