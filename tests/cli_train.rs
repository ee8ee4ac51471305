//! `nabla train` and `nabla bench` on the command line: flag errors and output-directory
//! errors come before any work and say what is wrong.

use assert_cmd::Command;
use predicates::prelude::*;

fn nabla() -> Command {
    Command::cargo_bin("nabla").unwrap()
}

const POISSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/poisson2d.nabla");

#[test]
fn unknown_optimizer_lists_the_choices() {
    nabla()
        .args(["train", POISSON, "--optimizer", "sgd"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("sgd").and(predicate::str::contains("adam+lbfgs")));
}

#[test]
fn bad_dtype_backend_and_derivs_are_rejected() {
    for (flag, value) in [
        ("--dtype", "f16"),
        ("--backend", "tpu"),
        ("--derivs", "symbolic"),
    ] {
        nabla()
            .args(["train", POISSON, flag, value])
            .assert()
            .failure()
            .stderr(predicate::str::contains(value));
    }
}

#[test]
fn non_numeric_steps_and_zero_resample_are_rejected() {
    nabla()
        .args(["train", POISSON, "--steps", "many"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--steps"));
    nabla()
        .args(["train", POISSON, "--resample", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--resample"));
}

#[test]
fn learning_rate_decay_outside_zero_one_is_rejected() {
    for bad in ["0", "1.5", "-0.1"] {
        nabla()
            .args(["train", POISSON, &format!("--lr-decay={bad}")])
            .assert()
            .code(2)
            .stderr(format!(
                "error: invalid value '{bad}' for '--lr-decay <F>': must be in (0, 1]\n\n\
                 For more information, try '--help'.\n"
            ));
    }
}

#[test]
fn non_positive_learning_rate_is_rejected() {
    nabla()
        .args(["train", POISSON, "--lr=-1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "invalid value '-1' for '--lr <LR>': must be a positive number",
        ));
}

/// A finite-difference step that is not a usable number, an unknown method or dtype: the
/// command line is malformed (status 2), for every command that takes them. `fd=0` once
/// trained to a loss of 0 ("Converged") and `eval` printed a Laplacian of 0.
#[test]
fn bad_derivative_methods_and_dtypes_are_command_line_errors() {
    let step = "the finite-difference step must be a number from 1e-150 to 1e150, found";
    let cases: [(&[&str], &str); 8] = [
        (
            &["train", POISSON, "--derivs", "fd=0"],
            "'--derivs <DERIVS>': ",
        ),
        (&["train", POISSON, "--derivs", "fd=-0.1"], step),
        (&["train", POISSON, "--derivs", "fd=nan"], step),
        (&["eval", POISSON, "--derivs", "fd=inf"], step),
        (&["dump-ir", POISSON, "--derivs", "fd=1e300"], "found 1e300"),
        (
            &["bench", POISSON, "--methods", "auto,fd=0"],
            "'--methods <METHODS>': ",
        ),
        (
            &["bench", POISSON, "--methods", "bogus"],
            "unknown method `bogus`",
        ),
        (
            &["bench", POISSON, "--dtypes", "f16"],
            "unknown dtype `f16`",
        ),
    ];
    for (args, message) in cases {
        let out = nabla().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// `--lr -1` (a separate word that starts with `-`) reaches the flag's own check instead of
/// being taken for an unknown flag `-1`; so does a negative count.
#[test]
fn negative_numbers_reach_each_flags_own_check() {
    let cases = [
        ("--lr", "-1", "'--lr <LR>': must be a positive number"),
        ("--lr-decay", "-0.5", "'--lr-decay <F>': must be in (0, 1]"),
        (
            "--steps",
            "-5",
            "'--steps <N>': must be a whole number, 0 or more",
        ),
        (
            "--adam-steps",
            "-1",
            "'--adam-steps <N>': must be a whole number, 0 or more",
        ),
        (
            "--seed",
            "-3",
            "'--seed <N>': must be a whole number, 0 or more",
        ),
        (
            "--resample",
            "-2",
            "'--resample <EVERY>': must be a whole number, 1 or more",
        ),
        (
            "--error-every",
            "-10",
            "'--error-every <N>': must be a whole number, 1 or more",
        ),
    ];
    for (flag, value, message) in cases {
        let out = nabla()
            .args(["train", POISSON, flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '{value}' for {message}")),
            "{flag} {value}: {stderr}"
        );
        assert!(!stderr.contains("unexpected argument"), "{stderr}");
    }
    // bench's and eval's counts say what they take, as train's do
    for (args, message) in [
        (
            &["bench", POISSON, "--reps", "-1"][..],
            "invalid value '-1' for '--reps <REPS>': must be a whole number, 1 or more",
        ),
        (
            &["bench", POISSON, "--points", "-1"],
            "invalid value '-1' for '--points <N>': must be a whole number, 1 or more",
        ),
        (
            &["eval", POISSON, "--points", "x.json", "--seed", "-1"],
            "invalid value '-1' for '--seed <SEED>': must be a whole number, 0 or more",
        ),
    ] {
        nabla()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
}

#[test]
fn turning_geodesic_acceleration_off_is_for_levenberg_marquardt() {
    let out = nabla()
        .args(["train", POISSON, "--no-geodesic", "--steps", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {stderr}");
    assert!(
        stderr.contains("geodesic acceleration is a step of Levenberg-Marquardt")
            && stderr.contains("not adam+lbfgs"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    nabla()
        .args([
            "train",
            POISSON,
            "--optimizer",
            "lm",
            "--no-geodesic",
            "--steps",
            "3",
        ])
        .args(["--dtype", "f64", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    assert!(dir.path().join("history.csv").exists());
}

#[test]
fn adam_steps_beyond_steps_is_a_usage_error_naming_both() {
    nabla()
        .args(["train", POISSON, "--steps", "100", "--adam-steps", "500"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "error: --adam-steps 500 is more than --steps 100: training would end before L-BFGS",
        ).and(predicate::str::contains("Usage: nabla train [OPTIONS] <FILE>")));
    // the default --steps is named with its value too
    nabla()
        .args(["train", POISSON, "--adam-steps", "4000"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--adam-steps 4000 is more than --steps 3000",
        ));
    nabla()
        .args([
            "train",
            POISSON,
            "--optimizer",
            "adam",
            "--adam-steps",
            "10",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--adam-steps 10 applies to --optimizer adam+lbfgs or adam+lm; the optimizer is adam",
        ));
}

/// A problem whose residual is undefined on part of its domain: `log(x - 1/2)` is NaN for
/// x < 1/2 and -inf at 1/2.
const LOG_OF_NEGATIVE: &str = "input x in [0, 1]
net u(x) = mlp(widths = [8])
points inner = interior(64)
points left = face(x = 0, 1)
residual pde on inner = d(u, x, x) - log(x - 0.5)
residual bc on left = u
";

fn write_problem(dir: &std::path::Path, src: &str) -> std::path::PathBuf {
    let path = dir.join("p.nabla");
    std::fs::write(&path, src).unwrap();
    path
}

/// A NaN at the initial parameters is the problem's fault: the message names the residual,
/// step 0 and a point where the residual is NaN, and does not blame the learning rate.
/// Nothing is written into --out.
#[test]
fn a_nan_at_the_initial_parameters_names_the_residual_the_step_and_a_point() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_problem(dir.path(), LOG_OF_NEGATIVE);
    let out_dir = dir.path().join("run");
    let out = nabla()
        .arg("train")
        .arg(&file)
        .args(["--steps", "50", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with(
        "error: the loss is NaN at step 0, at the initial parameters: the problem is at fault, \
         not the learning rate\n  residual `pde` is NaN at "
    ), "{stderr}");
    assert!(
        stderr.contains(" points of `inner`, first at x = "),
        "{stderr}"
    );
    assert!(
        stderr.contains("log or sqrt of a negative number"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("`bc`") && !stderr.contains("--lr"),
        "{stderr}"
    );
    // The point named is one where the residual is undefined: x < 1/2.
    let x: f64 = stderr
        .split("first at x = ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((0.0..0.5).contains(&x), "x = {x}");
    // About half of the 64 uniform points lie left of 1/2.
    let count: usize = stderr
        .split("residual `pde` is NaN at ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((16..=48).contains(&count), "{count} NaN points");
    assert!(out.stdout.is_empty());
    // nothing written, and the directory made for the run removed again
    assert!(!out_dir.exists(), "the output directory was left behind");
}

/// A loss that is finite at first and NaN later is the optimizer's doing: the message says
/// when it was last finite and suggests a smaller learning rate. Minimising
/// `mean(sqrt(u + 1)²)` drives `u` below -1, where the residual is NaN.
#[test]
fn a_loss_that_turns_nan_later_suggests_a_smaller_learning_rate() {
    let dir = tempfile::tempdir().unwrap();
    let src = "input x in [0, 1]\nnet u(x) = mlp(widths = [8])\n\
               points inner = interior(64)\nresidual fit on inner = sqrt(u + 1)\n";
    let file = write_problem(dir.path(), src);
    let out = nabla()
        .arg("train")
        .arg(&file)
        .args(["--steps", "2000", "--optimizer", "adam", "--lr", "0.05"])
        .args(["--dtype", "f64"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("initial parameters"), "{stderr}");
    assert!(stderr.contains(" (it was "), "{stderr}");
    assert!(stderr.contains("residual `fit` is NaN at "), "{stderr}");
    assert!(
        stderr.contains("try a smaller learning rate (--lr"),
        "{stderr}"
    );
    // "at step K (it was L at step K-1)"
    let step = |after: &str| -> usize {
        let rest = stderr.split(after).nth(1).unwrap();
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap()
    };
    let k = step(" at step ");
    assert!(k > 0, "{stderr}");
    assert!(stderr.contains(&format!("at step {})", k - 1)), "{stderr}");
}

#[test]
fn unwritable_out_is_an_error_before_training_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = file.join("run");
    nabla()
        .args(["train", POISSON, "--out"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot write").and(predicate::str::contains("run")));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_missing_problem_file_is_named() {
    nabla()
        .args(["train", "no/such/problem.nabla"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no/such/problem.nabla"));
}

#[test]
fn bench_rejects_unknown_methods_and_dtypes() {
    nabla()
        .args(["bench", POISSON, "--methods", "auto,magic"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown method `magic`"));
    nabla()
        .args(["bench", POISSON, "--dtypes", "f16"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown dtype `f16`"));
}

#[test]
fn sigint_stops_training_cleanly_and_still_writes_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let heat = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/heat1d.nabla");
    let bin = assert_cmd::cargo::cargo_bin("nabla");
    let child = std::process::Command::new(bin)
        .args([
            "train",
            heat,
            "--steps",
            "1000000",
            "--optimizer",
            "adam",
            "--json",
        ])
        .arg("--out")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = j["steps"].as_u64().unwrap();
    assert!(steps < 1_000_000);
    let params = std::fs::read_to_string(dir.path().join("params.json")).unwrap();
    let p: serde_json::Value = serde_json::from_str(&params).unwrap();
    assert_eq!(p["u"].as_array().unwrap().len(), 3);
    let csv = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, 1 + steps);
}

/// The stop flag is read between steps: a second Ctrl-C quits at once, here in the middle
/// of compiling a twelfth-order derivative (about 12 s on one core).
#[test]
fn a_second_sigint_quits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = "input x in [0, 1]\ninput y in [0, 1]\nnet u(x, y) = mlp(widths = [8])\n\
               points inner = interior(8)\n\
               residual r on inner = d(u, x, y, x, y, x, y, x, y, x, y, x, y)\n";
    let file = write_problem(dir.path(), src);
    let bin = assert_cmd::cargo::cargo_bin("nabla");
    let child = std::process::Command::new(bin)
        .arg("train")
        .arg(&file)
        .args(["--steps", "10", "--out"])
        .arg(dir.path().join("run"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let interrupt = || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        let kill = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    };
    interrupt();
    interrupt();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: stopping after this step (interrupt again to quit now)")
            && stderr.contains("interrupted twice: quitting without writing the outputs"),
        "{stderr}"
    );
    assert!(!dir.path().join("run").join("params.json").exists());
}

/// L-BFGS meets the NaN at its first evaluation too, and is explained the same way: here
/// the residual is undefined everywhere.
#[test]
fn lbfgs_at_a_nan_residual_blames_the_problem_at_step_0() {
    let dir = tempfile::tempdir().unwrap();
    let src = "input x in [0, 1]\nnet u(x) = mlp(widths = [8])\n\
               points inner = interior(32)\nresidual pde on inner = d(u, x) - sqrt(-1 - x)\n";
    let file = write_problem(dir.path(), src);
    nabla()
        .arg("train")
        .arg(&file)
        .args(["--optimizer", "lbfgs", "--steps", "10"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "error: the loss is NaN at step 0, at the initial parameters: the problem is at \
             fault, not the learning rate\n  residual `pde` is NaN at 32 of 32 points of \
             `inner`, first at x = ",
        ));
}

/// `u'' = -π² sin(πx)`, `u(0) = u(1) = 0`: small enough for a dense Gauss–Newton step.
const POISSON_1D: &str = "input x in [0, 1]
net u(x) = mlp(widths = [10], act = tanh, seed = 0)
points inner = interior(32)
points ends = boundary(2)
residual pde on inner = d(u, x, x) + pi^2 * sin(pi * x)
residual bc on ends weight 10 = u
exact u = sin(pi * x)
";

fn train_json(dir: &std::path::Path, args: &[&str]) -> (serde_json::Value, String) {
    let file = write_problem(dir, POISSON_1D);
    let out = nabla()
        .arg("train")
        .arg(&file)
        .args(["--dtype", "f64", "--json", "--error-every", "10"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

#[test]
fn second_order_optimizers_train_a_small_problem_to_high_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    // 60 Gauss–Newton steps reach 7e-5 here; 1e-3 leaves room for other machines' rounding.
    let (j, _) = train_json(dir.path(), &["--optimizer", "lm", "--steps", "60"]);
    let err = j["rel_l2"]["u"].as_f64().unwrap();
    assert!(err < 1e-3, "lm: rel_l2 {err}");
    // Adam first, then Levenberg–Marquardt from where Adam left off.
    let adam_lm = [
        "--optimizer",
        "adam+lm",
        "--steps",
        "60",
        "--adam-steps",
        "20",
    ];
    let (j, _) = train_json(dir.path(), &adam_lm);
    assert_eq!(j["steps"], 60);
    let err = j["rel_l2"]["u"].as_f64().unwrap();
    assert!(err < 2e-2, "adam+lm: rel_l2 {err}");
    // Dense self-scaled BFGS: 5.5e-4 after 60 steps here.
    let (j, _) = train_json(dir.path(), &["--optimizer", "ssbfgs", "--steps", "60"]);
    let err = j["rel_l2"]["u"].as_f64().unwrap();
    assert!(err < 1e-2, "ssbfgs: rel_l2 {err}");
}

#[test]
fn max_time_ends_training_when_the_time_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--optimizer",
        "adam",
        "--steps",
        "100000000",
        "--max-time",
        "0.5",
    ];
    let (j, stderr) = train_json(dir.path(), &args);
    let steps = j["steps"].as_u64().unwrap();
    assert!(steps > 0 && steps < 100_000_000, "{steps} steps");
    assert!(stderr.contains("(TimeLimit)"), "{stderr}");
    assert!(j["wall_s"].as_f64().unwrap() >= 0.5);
}

#[test]
fn adam_steps_with_lm_alone_is_a_usage_error() {
    nabla()
        .args(["train", POISSON, "--optimizer", "lm", "--adam-steps", "10"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--adam-steps 10 applies to --optimizer adam+lbfgs or adam+lm; the optimizer is \
             lm, which takes Levenberg–Marquardt steps only",
        ));
}

#[test]
fn compare_tabulates_and_charts_runs_from_their_history() {
    let dir = tempfile::tempdir().unwrap();
    for (name, opt) in [("adam", "adam"), ("lm", "lm")] {
        let run = dir.path().join(name);
        let out = run.to_str().unwrap();
        train_json(
            dir.path(),
            &["--optimizer", opt, "--steps", "30", "--out", out],
        );
    }
    let svg = dir.path().join("cmp.svg");
    let out = nabla()
        .arg("compare")
        .args([dir.path().join("adam"), dir.path().join("lm")])
        .arg("--out")
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = stdout.lines().collect();
    assert!(rows[0].starts_with("| run | quantity | steps | wall (s) | last | < 1e-1 |"));
    assert!(rows[2].starts_with("| adam | u | 30 |"), "{stdout}");
    assert!(rows[3].starts_with("| lm | u | 30 |"), "{stdout}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    let has_text = |t: &str| chart.lines().any(|l| l.trim() == t);
    assert!(chart.starts_with("<svg") && has_text("adam") && has_text("lm"));
    // A directory without a history is named in the error.
    nabla()
        .arg("compare")
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("history.csv"));
    // The chart is SVG: another extension is a command-line error, and nothing is written.
    let png = dir.path().join("chart.png");
    nabla()
        .arg("compare")
        .arg(dir.path())
        .arg("--out")
        .arg(&png)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the chart is drawn as SVG"));
    assert!(!png.exists());
}

/// A constant beyond f32's range (`1e39`, or `NA²` with Avogadro's number) is infinite in
/// f32: the loss is infinite and training says so at step 0. The simplifier's real-only
/// identities once made it `∞·0 = 0`: a loss of 0, a zero gradient and "Converged".
#[test]
fn a_constant_beyond_f32s_range_is_an_infinite_loss_not_a_converged_run() {
    let dir = tempfile::tempdir().unwrap();
    for (residual, dtype) in [
        ("u * 1e39", "f32"),
        ("u * 6.02e23^2", "f32"),
        ("u / 0", "f64"),
    ] {
        let src = format!(
            "problem big
input x in [0, 1]
input y in [0, 1]
net u(x, y) = mlp(widths = [4])
points inner = interior(8)
residual r on inner = {residual}
"
        );
        let file = write_problem(dir.path(), &src);
        let out = nabla()
            .arg("train")
            .arg(&file)
            .args(["--steps", "2", "--dtype", dtype])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{residual}: {stderr}");
        assert!(
            stderr.starts_with("error: the loss is inf at step 0"),
            "{residual}: {stderr}"
        );
    }
}

/// Point sets that do not fit in memory are refused before sampling, with their sizes
/// named: `interior(2³⁰)` made `train` abort on an allocation of 24 GiB.
#[test]
fn point_sets_beyond_memory_are_refused_before_sampling() {
    use nabla::train::model::check_sample_memory;
    let src = "input x in [0, 1]\ninput y in [0, 1]\nnet u(x, y) = mlp(widths = [4])\n\
               points inner = interior(1073741824)\npoints edge = boundary(1000)\n\
               residual r on inner = u\nresidual b on edge = u\n";
    let p = nabla::frontend::lang::load("big.nabla", src)
        .unwrap()
        .problem;
    // 2³⁰ rows of 2 coordinates: a 24-byte header, 16 bytes of values, 16 in the tiles
    let gib = 1u64 << 30;
    let err = check_sample_memory(&p, Some(64 * gib))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "the point sets (`inner` 1073741824, `edge` 1000) need about 56.0 GiB to sample, \
             and 64.0 GiB of memory is available"
        ),
        "{err}"
    );
    check_sample_memory(&p, Some(71 * gib)).unwrap();
    check_sample_memory(&p, None).unwrap();
    // and through the command line, on this machine
    let dir = tempfile::tempdir().unwrap();
    let file = write_problem(dir.path(), src);
    let out = nabla()
        .arg("train")
        .arg(&file)
        .args(["--steps", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let avail = nabla::train::lm::available_memory().expect("/proc/meminfo");
    if 56 * gib > avail * 4 / 5 {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("need about 56.0 GiB to sample"), "{stderr}");
    }
}

/// `ssbfgs` on a net whose dense `P × P` matrix cannot fit (P = 1,052,673: 8.9 TB) is
/// refused with the sizes before that matrix is allocated (it used to abort the process
/// in the allocator), and writes nothing.
#[test]
fn ssbfgs_beyond_memory_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let src = "input x in [0, 1]\nnet u(x) = mlp(widths = [1024, 1024])\n\
               points p = interior(4)\nresidual r on p = u\n";
    let file = write_problem(dir.path(), src);
    let run = dir.path().join("run");
    let out = nabla()
        .arg("train")
        .arg(&file)
        .args(["--steps", "1", "--optimizer", "ssbfgs", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "ssbfgs needs a dense 1052673 x 1052673 inverse-Hessian approximation: 8256.1 GiB"
        ),
        "{stderr}"
    );
    assert!(!run.exists(), "nothing written");
}

/// A residual weight beyond f32's range is refused in f32, naming the residual and the
/// way out, before training (it was infinite in the program: a NaN gradient blamed on an
/// undefined derivative); f64 holds it.
#[test]
fn a_weight_beyond_the_dtypes_range_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = "input x in [0, 1]\nnet u(x) = mlp(widths = [4])\npoints inner = interior(8)\n\
               residual r on inner weight 1e308 = u\n";
    let file = write_problem(dir.path(), src);
    let run = |dtype: &str| {
        nabla()
            .arg("train")
            .arg(&file)
            .args(["--steps", "1", "--dtype", dtype])
            .output()
            .unwrap()
    };
    let out = run("f32");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("residual `r` has weight 1e308, beyond the range of f32 (3.4e38): train with --dtype f64"),
        "{stderr}"
    );
    let out = run("f64");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Standard output of a `nabla` command that must succeed (its stderr shown otherwise).
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A 1-D problem `u' = 1` whose closed form is `exact`, trained 3 steps into `DIR/run`:
/// the file, and the number on the `rel_l2 u = …` line with what follows it.
fn train_with_exact(dir: &std::path::Path, exact: &str) -> (std::path::PathBuf, f64, String) {
    let src = format!(
        "problem fit\ninput x in [0, 1]\nnet u(x) = mlp(widths = [8], act = tanh, seed = 0)\n\
         points inner = interior(64)\nresidual r on inner = d(u, x) - 1\nexact u = {exact}\n"
    );
    let file = write_problem(dir, &src);
    let run = dir.join("run");
    let stdout = stdout_of(
        nabla()
            .arg("train")
            .arg(&file)
            .args(["--steps", "3", "--out"])
            .arg(&run),
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("rel_l2 u = "))
        .expect(&stdout);
    let rest = &line["rel_l2 u = ".len()..];
    let (number, note) = rest.split_at(rest.find(' ').unwrap_or(rest.len()));
    (file, number.parse().unwrap(), note.to_string())
}

/// `u` of the network trained by [`train_with_exact`] at `xs` (`nabla eval --expr` with
/// the saved parameters).
fn trained_u(dir: &std::path::Path, file: &std::path::Path, xs: &[f64]) -> Vec<f64> {
    let points =
        serde_json::json!({ "inner": [[0.5]], "v": xs.iter().map(|x| [x]).collect::<Vec<_>>() });
    let points_file = dir.join("points.json");
    std::fs::write(&points_file, points.to_string()).unwrap();
    let params = dir.join("run").join("params.json");
    let mut eval = nabla();
    eval.arg("eval")
        .arg(file)
        .arg("--params")
        .arg(params)
        .arg("--points")
        .arg(&points_file);
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(eval.args(["--expr", "v=u"]))).unwrap();
    (json["exprs"]["v"].as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// An exact solution with a removable singularity on the grid (`x·log x` at `x = 0`, the
/// first of the 101 grid points of a 1-D problem): the error is measured on the other 100
/// points and the report says so, instead of printing NaN. The value is checked against
/// the relative error recomputed here from the trained network's values at those points.
#[test]
fn an_exact_solution_not_finite_at_a_grid_point_is_measured_on_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let (file, printed, note) = train_with_exact(dir.path(), "x * log(x)");
    assert_eq!(
        note,
        " on 100 of 101 grid points (exact u is not finite at the others)"
    );
    let xs: Vec<f64> = (1..=100).map(|i| i as f64 / 100.0).collect();
    let u = trained_u(dir.path(), &file, &xs);
    let exact: Vec<f64> = xs.iter().map(|x| x * x.ln()).collect();
    let num: f64 = u.iter().zip(&exact).map(|(a, b)| (a - b).powi(2)).sum();
    let den: f64 = exact.iter().map(|b| b * b).sum();
    let rel = (num / den).sqrt();
    // printed with two significant digits
    assert!(
        (printed - rel).abs() <= 0.051 * rel,
        "printed {printed}, recomputed {rel}"
    );
}

/// A closed form that is 0 everywhere: the error printed is the absolute `‖u‖₂` over the
/// 101 grid points (recomputed here from the trained network), and the line and `--json`
/// say it is absolute.
#[test]
fn an_exact_solution_of_zero_gets_an_absolute_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (file, printed, note) = train_with_exact(dir.path(), "0 * x");
    assert_eq!(note, " (absolute: exact u is 0 at every point)");
    let xs: Vec<f64> = (0..=100).map(|i| i as f64 / 100.0).collect();
    let norm = trained_u(dir.path(), &file, &xs)
        .iter()
        .map(|u| u * u)
        .sum::<f64>()
        .sqrt();
    assert!(
        (printed - norm).abs() <= 0.051 * norm,
        "printed {printed}, recomputed {norm}"
    );
    let json = stdout_of(
        nabla()
            .arg("train")
            .arg(&file)
            .args(["--steps", "3", "--json"]),
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["rel_l2_notes"]["u"],
        "(absolute: exact u is 0 at every point)"
    );
}
