//! The SVG plots, checked by their structure rather than their pixels: tick labels, the
//! colour bar's labels and colours, the legend's place, the optimizer-switch marker, and
//! the set of files `nabla train --out` writes for each kind of problem.

mod train_common;

use assert_cmd::Command;
use nabla::train::accuracy::{Field, Grid};
use nabla::train::plot::{self, Scale, SWITCH_LABEL};
use nabla::train::report::Report;
use nabla::train::run::{train, OptimizerKind, StepRecord, TrainOptions};
use std::sync::atomic::AtomicBool;
use train_common::{fd_model, regression};

/// A `<text>` element: anchor position and content.
#[derive(Clone, Debug, PartialEq)]
struct Text {
    x: i32,
    y: i32,
    text: String,
}

/// The value of attribute `name` in the tag that starts `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let start = tag.find(&key).map(|i| i + key.len()).unwrap();
    &tag[start..start + tag[start..].find('"').unwrap()]
}

fn int(s: &str) -> i32 {
    s.parse().unwrap()
}

/// Every `<text>` element.
fn texts(svg: &str) -> Vec<Text> {
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let body = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
            Text {
                x: int(attr(t, "x")),
                y: int(attr(t, "y")),
                text: body.trim().replace("&amp;", "&"),
            }
        })
        .collect()
}

/// The text whose content is `s`.
fn text(svg: &str, s: &str) -> Text {
    let all = texts(svg);
    let found: Vec<&Text> = all.iter().filter(|t| t.text == s).collect();
    assert_eq!(found.len(), 1, "`{s}` among {all:?}");
    found[0].clone()
}

/// The labels on the row of `first` (an axis' tick labels), left to right.
fn row_of(svg: &str, first: &str) -> Vec<Text> {
    let y = text(svg, first).y;
    let mut row: Vec<Text> = texts(svg).into_iter().filter(|t| t.y == y).collect();
    row.sort_by_key(|t| t.x);
    row
}

/// `(stroke colour, points)` of every `<polyline>`.
fn polylines(svg: &str) -> Vec<(String, Vec<(i32, i32)>)> {
    svg.split("<polyline")
        .skip(1)
        .map(|t| {
            let pts = attr(t, "points").split_whitespace().map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (int(x), int(y))
            });
            (attr(t, "stroke").to_string(), pts.collect())
        })
        .collect()
}

/// The right edge of the plot area: where the grid lines (`<line>`) end.
fn plot_right_edge(svg: &str) -> i32 {
    let lines = svg.split("<line").skip(1);
    lines
        .map(|t| int(attr(t, "x1")).max(int(attr(t, "x2"))))
        .max()
        .unwrap()
}

/// The marker's colour (grey, no series has it).
const MARKER: &str = "#6E6E6E";

/// The x of the vertical marker line.
fn marker_x(svg: &str) -> i32 {
    let found: Vec<_> = polylines(svg)
        .into_iter()
        .filter(|(c, _)| c == MARKER)
        .collect();
    assert_eq!(found.len(), 1, "one marker line");
    let pts = &found[0].1;
    assert_eq!(pts.len(), 2);
    assert_eq!(pts[0].0, pts[1].0, "vertical");
    assert!((pts[0].1 - pts[1].1).abs() > 300, "spans the plot: {pts:?}");
    pts[0].0
}

fn history(n: usize, wall_per_step: f64) -> Vec<StepRecord> {
    (0..n)
        .map(|s| StepRecord {
            step: s,
            loss: 1.0 / (s + 1) as f64,
            parts: vec![0.6 / (s + 1) as f64, 0.4 / (s + 1) as f64],
            wall_s: (s + 1) as f64 * wall_per_step,
            errors: if s % 10 == 0 || s == n - 1 {
                vec![0.5 / (s + 1) as f64]
            } else {
                vec![]
            },
            damping: None,
            causal: None,
        })
        .collect()
}

fn parts() -> Vec<String> {
    vec!["pde".into(), "bc".into()]
}

#[test]
fn step_axes_are_labelled_with_integers_only() {
    for n in [2, 4, 7, 301, 1501, 3000] {
        let svg = plot::loss_curves(&parts(), &history(n, 0.01), None).unwrap();
        let row = row_of(&svg, "0");
        let steps: Vec<u64> = row.iter().map(|t| t.text.parse().unwrap()).collect();
        assert!(steps.len() >= 2, "{n} steps: {steps:?}");
        assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
        assert!(*steps.last().unwrap() < n as u64, "{steps:?}");
    }
    let svg = plot::loss_curves(&parts(), &history(301, 0.01), None).unwrap();
    let row: Vec<String> = row_of(&svg, "0").into_iter().map(|t| t.text).collect();
    assert_eq!(row, ["0", "50", "100", "150", "200", "250", "300"]);
}

#[test]
fn the_loss_chart_marks_the_switch_to_lbfgs_at_its_step() {
    let svg = plot::loss_curves(&parts(), &history(301, 0.01), Some(100)).unwrap();
    let x = marker_x(&svg);
    assert_eq!(
        x,
        text(&svg, "100").x,
        "the line stands on the tick of step 100"
    );
    let label = text(&svg, SWITCH_LABEL);
    assert_eq!(label.x, x + 6, "label just right of the line");
    // without a switch, no marker
    let svg = plot::loss_curves(&parts(), &history(301, 0.01), None).unwrap();
    assert!(!svg.contains(SWITCH_LABEL) && !svg.contains(MARKER));
}

#[test]
fn the_error_chart_marks_the_switch_at_the_wall_time_it_happened() {
    // step s ends at (s + 1) · 10 ms: L-BFGS from step 100 starts at 1 s
    let svg = plot::error_curves(&["u".into()], &history(301, 0.01), Some(100)).unwrap();
    let x = marker_x(&svg);
    assert_eq!(x, text(&svg, "1").x);
    // near the right end the label goes left of the line, inside the plot
    let svg = plot::error_curves(&["u".into()], &history(301, 0.01), Some(280)).unwrap();
    let x = marker_x(&svg);
    let label = text(&svg, SWITCH_LABEL);
    assert_eq!(label.x, x - 6);
    assert!(svg.contains("text-anchor=\"end\""));
}

/// The legend's labels lie right of the plot area and of every curve.
fn assert_legend_outside(svg: &str, labels: &[&str]) {
    let edge = plot_right_edge(svg);
    let curves = polylines(svg).into_iter().filter(|p| p.1.len() > 2);
    let curve_max = curves.flat_map(|p| p.1).map(|p| p.0).max().unwrap();
    assert!(
        curve_max <= edge,
        "curves end at {curve_max}, plot at {edge}"
    );
    for l in labels {
        // the rightmost text of that content (a chart may also be titled `loss`)
        let all = texts(svg).into_iter().filter(|t| t.text == *l);
        let t = all.max_by_key(|t| t.x).unwrap();
        assert!(
            t.x > edge + 20,
            "`{l}` at x = {} inside the plot (edge {edge})",
            t.x
        );
    }
}

#[test]
fn legends_are_beside_the_plot_area_not_on_the_data() {
    let h = history(301, 0.01);
    let svg = plot::loss_curves(&parts(), &h, Some(100)).unwrap();
    assert_legend_outside(&svg, &["loss.pde", "loss.bc", "loss"]);
    let svg = plot::error_curves(&["u".into()], &h, None).unwrap();
    assert_legend_outside(&svg, &["rel_l2.u"]);
    let curves = vec![(
        "fd f64".to_string(),
        (1..=16)
            .map(|k| {
                let step = 10f64.powf(-0.5 * k as f64);
                (step, step * step + 1e-16 / step)
            })
            .collect(),
    )];
    let svg = plot::fd_error(&curves, &[("taylor f64".into(), 3e-15)]).unwrap();
    assert_legend_outside(&svg, &["fd f64", "taylor f64"]);
    // the step axis of fd_error is logarithmic: powers of ten
    let row: Vec<String> = row_of(&svg, "1e0").into_iter().map(|t| t.text).collect();
    assert_eq!(row, ["1e-8", "1e-6", "1e-4", "1e-2", "1e0"]);
}

/// `n` points on [0, 1] (1-D) or `n × n` (2-D, the second input fastest).
fn grid(n: usize, dims: usize) -> Grid {
    let axis: Vec<f64> = (0..n).map(|i| i as f64 / (n - 1) as f64).collect();
    let rows = match dims {
        1 => axis.iter().map(|&x| vec![x]).collect(),
        _ => axis
            .iter()
            .flat_map(|&x| axis.iter().map(move |&y| vec![x, y]))
            .collect(),
    };
    Grid {
        rows,
        axes: vec![n; dims],
    }
}

#[test]
fn one_dimensional_solutions_have_the_legend_beside_them() {
    let g = grid(101, 1);
    let exact: Vec<f64> = g.rows.iter().map(|r| (3.0 * r[0]).sin()).collect();
    let field = Field {
        output: "u".into(),
        pred: exact.iter().map(|v| v + 1e-3 * v * v).collect(),
        exact: Some(exact),
    };
    let svg = plot::line_plot(&field, &g, "x").unwrap();
    assert_legend_outside(&svg, &["u (trained)", "u (exact)"]);
    assert_eq!(text(&svg, "|u - u*|").text, "|u - u*|");
}

/// The colour bar's tick labels: the rightmost column of texts, top to bottom.
fn bar_labels(svg: &str) -> Vec<Text> {
    let right = texts(svg).iter().map(|t| t.x).max().unwrap();
    let mut labels: Vec<Text> = texts(svg).into_iter().filter(|t| t.x == right).collect();
    labels.sort_by_key(|t| t.y);
    labels
}

fn heat(values: &[f64], scale: &Scale) -> String {
    plot::heat_map("u", values, &grid(101, 2), ("x", "y"), scale).unwrap()
}

#[test]
fn a_one_signed_heat_map_is_viridis_with_its_extremes_on_the_colour_bar() {
    let g = grid(101, 2);
    let values: Vec<f64> = g.rows.iter().map(|r| r[0] + 2.0 * r[1] - 0.25).collect();
    let scale = Scale::of(values.iter().copied());
    let svg = heat(&values, &scale);
    let labels: Vec<String> = bar_labels(&svg).into_iter().map(|t| t.text).collect();
    assert_eq!(
        labels,
        ["2.75", "2.5", "2", "1.5", "1", "0.5", "0", "-0.25"]
    );
    // darkest at the minimum, yellow at the maximum, both in the map and the bar
    assert!(svg.contains("#440154") && svg.contains("#FDE725"));
    assert!(text(&svg, "u   (min -0.25, max 2.75)").y < 30);
}

#[test]
fn a_signed_heat_map_is_diverging_and_symmetric_about_zero() {
    let g = grid(101, 2);
    let values: Vec<f64> = g.rows.iter().map(|r| (r[0] - 0.5) * (1.0 + r[1])).collect();
    let scale = Scale::of(values.iter().copied());
    let svg = heat(&values, &scale);
    let labels: Vec<String> = bar_labels(&svg).into_iter().map(|t| t.text).collect();
    assert_eq!(labels, ["1", "0.5", "0", "-0.5", "-1"]);
    // blue end, white zero, red end
    for c in ["#3B4CC0", "#F7F7F7", "#B40426"] {
        assert!(svg.contains(c), "{c}");
    }
}

#[test]
fn an_error_heat_map_starts_at_zero_and_labels_its_largest_error() {
    let g = grid(101, 2);
    let err: Vec<f64> = g.rows.iter().map(|r| 3.2e-4 * r[0] * r[1]).collect();
    let svg = heat(&err, &Scale::magnitude(err.iter().copied()));
    let labels: Vec<String> = bar_labels(&svg).into_iter().map(|t| t.text).collect();
    assert_eq!(labels.first().map(String::as_str), Some("3.2e-4"));
    assert_eq!(labels.last().map(String::as_str), Some("0"));
}

#[test]
fn a_report_of_an_adam_lbfgs_run_marks_the_switch() {
    let p = regression();
    let (mut model, theta) = fd_model(&p);
    let mut opts = TrainOptions::new(12, OptimizerKind::AdamLbfgs);
    opts.adam_steps = 5;
    let stop = AtomicBool::new(false);
    let r = train(&mut model, theta, &opts, &stop, &mut |_| {}).unwrap();
    let names = model.part_names();
    let report = Report::new(&p, model.layout(), names.clone(), &r, 0.0).unwrap();
    let loss_svg = |rep: &Report| rep.plots().unwrap().remove(0).1;
    assert!(!loss_svg(&report).contains(SWITCH_LABEL));
    let report = report.with_options(&opts);
    assert_eq!(report.lbfgs_from, Some(5));
    assert!(loss_svg(&report).contains(SWITCH_LABEL));
    // an Adam-only run has no switch
    opts.optimizer = OptimizerKind::Adam;
    let report = Report::new(&p, model.layout(), names, &r, 0.0).unwrap();
    assert_eq!(report.with_options(&opts).lbfgs_from, None);
}

/// Trains `problem` for 3 Adam steps with `args` and lists the files written.
/// Runs `nabla train FILE --out DIR ARGS` on `problem`; returns the temporary directory
/// (kept alive by the caller) and `DIR`.
fn train_out(problem: &str, args: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.nabla");
    std::fs::write(&file, problem).unwrap();
    let out = dir.path().join("out");
    Command::cargo_bin("nabla")
        .unwrap()
        .args([
            "train",
            "--out",
            out.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .args(args)
        .assert()
        .success();
    (dir, out)
}

fn files_written(problem: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--steps", "3", "--optimizer", "adam"];
    all.extend_from_slice(args);
    let (_dir, out) = train_out(problem, &all);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

const ONE_D: &str = "problem a
input x in [0, 1]
net u(x) = mlp(widths = [4], act = tanh)
points inner = interior(16)
residual fit on inner = u - sin(3 * x)
";

const TWO_D: &str = "problem b
input x in [0, 1]
input y in [0, 1]
net u(x, y) = mlp(widths = [4], act = tanh)
points inner = interior(16)
residual fit on inner = u - x * y
";

const THREE_D: &str = "problem c
input x in [0, 1]
input y in [0, 1]
input z in [0, 1]
net u(x, y, z) = mlp(widths = [4], act = tanh)
points inner = interior(16)
residual fit on inner = u - x * y * z
exact u = x * y * z
";

#[test]
fn each_kind_of_run_writes_the_documented_files() {
    let base = ["history.csv", "loss.svg", "params.json"];
    let with = |extra: &[&str]| {
        let mut v: Vec<String> = base.iter().chain(extra).map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let exact_1d = format!("{ONE_D}exact u = sin(3 * x)\n");
    let exact_2d = format!("{TWO_D}exact u = x * y\n");
    assert_eq!(files_written(ONE_D, &[]), with(&["u.svg"]));
    assert_eq!(files_written(&exact_1d, &[]), with(&["error.svg", "u.svg"]));
    assert_eq!(
        files_written(&exact_1d, &["--error-every", "1000"]),
        with(&["error.svg", "u.svg"])
    );
    assert_eq!(files_written(TWO_D, &[]), with(&["u.svg"]));
    assert_eq!(
        files_written(&exact_2d, &[]),
        with(&["error.svg", "u.svg", "u_error.svg", "u_exact.svg"])
    );
    assert_eq!(files_written(THREE_D, &[]), with(&["error.svg"]));
}

#[test]
fn reference_values_add_the_error_chart_but_no_solution_plot() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.json");
    let r = serde_json::json!({"points": [[0.1, 0.2], [0.5, 0.5], [0.9, 0.3]], "u": [0.02, 0.25, 0.27]});
    std::fs::write(&reference, r.to_string()).unwrap();
    let files = files_written(TWO_D, &["--reference", reference.to_str().unwrap()]);
    assert_eq!(
        files,
        [
            "error.svg",
            "history.csv",
            "loss.svg",
            "params.json",
            "u.svg"
        ]
    );
}

/// `nabla train` with the default `adam+lbfgs` marks the switch on loss.svg at the last
/// Adam step (the CLI passes its options to the report).
#[test]
fn the_cli_marks_the_switch_on_its_loss_chart() {
    let (_dir, out) = train_out(ONE_D, &["--steps", "30", "--adam-steps", "10"]);
    let svg = std::fs::read_to_string(out.join("loss.svg")).unwrap();
    assert!(
        svg.contains(nabla::train::plot::SWITCH_LABEL),
        "no switch label"
    );
    marker_x(&svg);
}
