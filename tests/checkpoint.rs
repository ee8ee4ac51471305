//! Checkpoints and `--resume`: an interrupted run, resumed, takes the same steps bit for
//! bit (f64) as one never interrupted — stopped by the library's flag, by SIGKILL between
//! checkpoints, by SIGTERM — and a checkpoint of another run is refused by name.

use assert_cmd::Command;
use nabla::train::run::StepRecord;
use nabla::{OptimizerKind, Training};
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod runs_common;
use runs_common::{csv_losses, wait_for, TINY};

fn problem() -> nabla::frontend::problem::Problem {
    let l = nabla::frontend::lang::load("tiny.nabla", TINY);
    l.unwrap_or_else(|d| panic!("{}", d.render())).problem
}

fn training(opt: OptimizerKind, steps: usize) -> Training {
    Training::new(opt)
        .steps(steps)
        .dtype(nabla::ir::DType::F64)
        .resample(7)
}

/// Every number of every record but the wall time, as bits (NaN equal to NaN).
fn records(h: &[StepRecord]) -> Vec<(usize, Vec<u64>)> {
    let bit = |x: f64| {
        if x.is_nan() {
            f64::NAN.to_bits()
        } else {
            x.to_bits()
        }
    };
    let bits = |v: &[f64]| v.iter().map(|x| bit(*x)).collect::<Vec<_>>();
    (h.iter())
        .map(|r| {
            let mut v = vec![r.loss.to_bits()];
            v.extend(bits(&r.parts));
            v.extend(bits(&r.errors));
            v.extend(r.damping.map(f64::to_bits));
            (r.step, v)
        })
        .collect()
}

/// Stops the run after step `at` with the stop flag (what Ctrl-C sets), then resumes it.
fn interrupted_and_resumed(opt: OptimizerKind, steps: usize, at: usize) -> Vec<StepRecord> {
    resumed(&problem(), training(opt, steps), at)
}

/// Runs `t` with checkpoints every 5 steps, stops it after step `at`, resumes it.
fn resumed(problem: &nabla::frontend::problem::Problem, t: Training, at: usize) -> Vec<StepRecord> {
    let dir = tempfile::tempdir().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let again = t.clone();
    let t = t.out(dir.path()).checkpoint_every(5).stop(flag.clone());
    let f = flag.clone();
    let first = nabla::train::fit::train_with(problem, &t, &mut |r| {
        if r.step == at {
            f.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    assert_eq!(
        first.result.history.len(),
        at + 1,
        "stopped after step {at}"
    );
    let second = nabla::train(problem, &again.resume(dir.path())).unwrap();
    assert!(dir.path().join("checkpoint.json").exists());
    second.result.history
}

#[test]
fn a_resumed_run_takes_the_same_steps_bit_for_bit() {
    for (opt, steps, at) in [
        (OptimizerKind::AdamLbfgs, 60, 23),
        (OptimizerKind::Lm, 12, 4),
        (OptimizerKind::Ssbfgs, 30, 11),
        (OptimizerKind::AdamLm, 24, 9),
    ] {
        let whole = nabla::train(&problem(), &training(opt, steps)).unwrap();
        let resumed = interrupted_and_resumed(opt, steps, at);
        assert_eq!(resumed.len(), steps, "{opt:?}");
        assert_eq!(records(&resumed), records(&whole.result.history), "{opt:?}");
    }
    // without geodesic acceleration (on above): the choice is part of the resumed state
    let t = training(OptimizerKind::Lm, 12).geodesic(false);
    let whole = nabla::train(&problem(), &t).unwrap();
    let geodesic = nabla::train(&problem(), &training(OptimizerKind::Lm, 12)).unwrap();
    assert_ne!(
        records(&whole.result.history),
        records(&geodesic.result.history)
    );
    let resumed = resumed(&problem(), t, 4);
    assert_eq!(
        records(&resumed),
        records(&whole.result.history),
        "--no-geodesic"
    );
}

#[test]
fn errors_that_are_not_finite_are_saved_and_read_back() {
    // the exact solution is NaN everywhere: the measured error is NaN (a closed form that
    // is not finite at some grid points only is measured on the others)
    let p = TINY.replace(
        "exact u = sin(pi * x) * sin(pi * y)",
        "exact u = log(-1 - x)",
    );
    let l = nabla::frontend::lang::load("nan.nabla", &p).unwrap();
    let t = Training {
        error_every: Some(3),
        ..training(OptimizerKind::Adam, 12)
    };
    let whole = nabla::train(&l.problem, &t).unwrap();
    assert!(whole.result.history[2].errors[0].is_nan());
    let resumed = resumed(&l.problem, t, 4);
    assert_eq!(records(&resumed), records(&whole.result.history));
}

#[test]
fn a_run_that_converged_is_not_continued() {
    // L-BFGS solves this in a few steps and stops (Converged or Stalled)
    let p = "problem fit\ninput x in [0, 1]\nnet u(x) = mlp(widths = [2])\nparam k = 0\n\
             points p = interior(8)\nresidual r on p = k - 0.5 + 0 * u\n";
    let l = nabla::frontend::lang::load("fit.nabla", p).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = training(OptimizerKind::Lbfgs, 50)
        .out(dir.path())
        .checkpoint_every(1);
    let first = nabla::train(&l.problem, &t).unwrap();
    let taken = first.result.history.len();
    assert!(taken < 50, "L-BFGS stopped early");
    let again = nabla::train(
        &l.problem,
        &training(OptimizerKind::Lbfgs, 50).resume(dir.path()),
    );
    let again = again.unwrap();
    assert_eq!(again.result.history.len(), taken);
    assert_eq!(again.result.reason, first.result.reason);
    let csv = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
    let widths: Vec<usize> = csv.lines().map(|l| l.split(',').count()).collect();
    assert!(widths.iter().all(|w| *w == widths[0]), "{csv}");
}

#[test]
fn a_damaged_checkpoint_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let t = training(OptimizerKind::Adam, 6)
        .out(dir.path())
        .checkpoint_every(3);
    nabla::train(&problem(), &t).unwrap();
    let path = dir.path().join("checkpoint.json");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut c = saved.clone();
    c["state"]["adam"]["m"].as_array_mut().unwrap().pop();
    std::fs::write(&path, c.to_string()).unwrap();
    let t = training(OptimizerKind::Adam, 6).resume(dir.path());
    let e = nabla::train(&problem(), &t).err().unwrap().to_string();
    assert!(e.contains("damaged") && e.contains("Adam"), "{e}");
    // a step count edited beyond the run, or apart from the history's rows: the run
    // ended at once and reported a state it never reached
    for (step, rows) in [(1_000_000, None), (100, Some(2)), (6, Some(4))] {
        let mut edited = saved.clone();
        edited["state"]["step"] = step.into();
        if let Some(rows) = rows {
            edited["state"]["history"]
                .as_array_mut()
                .unwrap()
                .truncate(rows);
        }
        std::fs::write(&path, edited.to_string()).unwrap();
        let t = training(OptimizerKind::Adam, 6).resume(dir.path());
        let e = nabla::train(&problem(), &t)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.contains("damaged") && e.contains(&format!("step {step}")),
            "{e}"
        );
    }
    // values no run reaches: a negative training time (which kept `--max-time` from
    // ever ending the run), Adam's step count and decays, causal weights in a run
    // without --causal, a history row with another number of residual losses
    type Edit = fn(&mut serde_json::Value);
    let edits: [(Edit, &str); 5] = [
        (|c| c["state"]["wall_s"] = (-1.0).into(), "-1 s of training"),
        (|c| c["state"]["adam"]["t"] = (-5).into(), "Adam at step -5"),
        (|c| c["state"]["adam"]["beta1"] = 5.0.into(), "beta1 5"),
        (
            |c| c["state"]["causal"] = serde_json::json!([1, 2, 3]),
            "3 causal weights",
        ),
        (
            |c| c["state"]["history"][1]["parts"] = serde_json::json!([1]),
            "history row 1",
        ),
    ];
    for (edit, what) in edits {
        let mut edited = saved.clone();
        edit(&mut edited);
        std::fs::write(&path, edited.to_string()).unwrap();
        let t = training(OptimizerKind::Adam, 6).resume(dir.path());
        let e = nabla::train(&problem(), &t).err().expect(what).to_string();
        assert!(e.contains("damaged") && e.contains(what), "{what}: {e}");
    }
    std::fs::write(&path, "{\"format\": 1, \"run\": ").unwrap();
    let t = training(OptimizerKind::Adam, 6).resume(dir.path());
    let e = nabla::train(&problem(), &t).err().unwrap().to_string();
    assert!(e.contains("cannot read it"), "{e}");
}

#[test]
fn an_edited_problem_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = training(OptimizerKind::Adam, 6)
        .out(dir.path())
        .checkpoint_every(3);
    nabla::train(&problem(), &t).unwrap();
    let edited = TINY.replace("weight 10", "weight 20");
    let l = nabla::frontend::lang::load("tiny.nabla", &edited).unwrap();
    let t = training(OptimizerKind::Adam, 6).resume(dir.path());
    let e = nabla::train(&l.problem, &t).err().unwrap().to_string();
    assert!(e.contains("definition"), "{e}");
}

#[test]
fn a_checkpoint_of_another_run_is_refused_naming_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let t = training(OptimizerKind::Adam, 10)
        .out(dir.path())
        .checkpoint_every(5);
    nabla::train(&problem(), &t).unwrap();
    let other = training(OptimizerKind::Adam, 10).resume(dir.path());
    let other = Training { lr: 2e-3, ..other };
    let e = nabla::train(&problem(), &other).err().unwrap().to_string();
    assert!(
        e.contains("--lr") && e.contains("0.001") && e.contains("0.002"),
        "{e}"
    );
    // another optimizer is named, not lm's setting an adam run records as off
    let other = training(OptimizerKind::Lm, 10).resume(dir.path());
    let e = nabla::train(&problem(), &other).err().unwrap().to_string();
    let named = e.contains("--optimizer: the checkpoint has adam, this run lm");
    assert!(named && !e.contains("lm steps"), "{e}");
    let t = training(OptimizerKind::Lm, 6)
        .out(dir.path())
        .checkpoint_every(5);
    nabla::train(&problem(), &t).unwrap();
    let other = training(OptimizerKind::Lm, 6)
        .geodesic(false)
        .resume(dir.path());
    let e = nabla::train(&problem(), &other).err().unwrap().to_string();
    assert!(e.contains("--no-geodesic") && e.contains("lm steps"), "{e}");
    // optimizers and backends by their command-line names
    let other = training(OptimizerKind::AdamLm, 6)
        .backend(nabla::Backend::Interp)
        .resume(dir.path());
    let e = nabla::train(&problem(), &other).err().unwrap().to_string();
    assert!(
        e.contains("--optimizer: the checkpoint has lm, this run adam+lm")
            && e.contains("--backend: the checkpoint has cpu, this run interp"),
        "{e}"
    );
    // a checkpoint written when keys held the program's names (`AdamLm`, `cranelift`)
    // continues a run that names them as the command line does
    let t = training(OptimizerKind::AdamLm, 6)
        .out(dir.path())
        .checkpoint_every(5);
    let whole = nabla::train(&problem(), &t).unwrap();
    let file = dir.path().join("checkpoint.json");
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["run"]["optimizer"], "adam+lm");
    assert_eq!(saved["run"]["backend"], "cpu");
    saved["run"]["optimizer"] = "AdamLm".into();
    saved["run"]["backend"] = "cranelift".into();
    std::fs::write(&file, saved.to_string()).unwrap();
    let again = nabla::train(
        &problem(),
        &training(OptimizerKind::AdamLm, 6).resume(dir.path()),
    );
    let again = again.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        records(&again.result.history),
        records(&whole.result.history)
    );
    let t = training(OptimizerKind::Adam, 10).resume(dir.path().join("nothing"));
    let e = nabla::train(&problem(), &t).err().unwrap().to_string();
    assert!(e.contains("no checkpoint there"), "{e}");
}

fn nabla() -> Command {
    Command::cargo_bin("nabla").unwrap()
}

fn write_problem(dir: &Path) -> String {
    let file = dir.join("tiny.nabla");
    std::fs::write(&file, TINY).unwrap();
    file.to_string_lossy().into_owned()
}

#[test]
fn a_run_killed_after_a_checkpoint_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_problem(dir.path());
    let args = |out: &Path| {
        let out = out.to_string_lossy().into_owned();
        let steps = [
            "--steps",
            "2000",
            "--optimizer",
            "adam+lbfgs",
            "--dtype",
            "f64",
        ];
        let mut v: Vec<String> = vec!["train".into(), file.clone()];
        v.extend(steps.iter().map(|s| s.to_string()));
        v.extend(["--resample".into(), "50".into(), "--out".into(), out]);
        v
    };
    let whole = dir.path().join("whole");
    nabla().args(args(&whole)).assert().success();
    let cut = dir.path().join("cut");
    let bin = assert_cmd::cargo::cargo_bin("nabla");
    let mut child = std::process::Command::new(&bin)
        .args(args(&cut))
        .args(["--checkpoint-every", "3"])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&cut.join("checkpoint.json"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let saved = std::fs::read_to_string(cut.join("checkpoint.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let step = saved["state"]["step"].as_u64().unwrap();
    assert!(step < 2000, "killed after the run had ended (step {step})");
    nabla()
        .args(args(&cut))
        .args(["--resume", &cut.to_string_lossy()])
        .assert()
        .success();
    let (a, b) = (whole.join("history.csv"), cut.join("history.csv"));
    assert_eq!(csv_losses(&a), csv_losses(&b));
}

#[test]
fn sigterm_stops_like_ctrl_c_and_writes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_problem(dir.path());
    let out = dir.path().join("out");
    let bin = assert_cmd::cargo::cargo_bin("nabla");
    let child = std::process::Command::new(&bin)
        .args(["train", &file, "--steps", "10000000", "--optimizer", "adam"])
        .args(["--checkpoint-every", "1000000", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // the output directory exists once the signal handler is installed and the file loaded
    wait_for(&out);
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(sent.unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("(Interrupted)"), "{text}");
    for f in ["params.json", "history.csv", "checkpoint.json", "loss.svg"] {
        assert!(out.join(f).exists(), "{f}");
    }
}

#[test]
fn checkpoints_need_an_output_directory() {
    nabla()
        .args(["train", "x.nabla", "--checkpoint-every", "10"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--out DIR"));
}

/// Starts `nabla train` for a long run into `out` and waits until it is training.
fn long_run(file: &str, out: &Path) -> std::process::Child {
    let bin = assert_cmd::cargo::cargo_bin("nabla");
    let child = std::process::Command::new(&bin)
        .args(["train", file, "--steps", "10000000", "--optimizer", "adam"])
        .args(["--checkpoint-every", "1000000", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(out);
    std::thread::sleep(Duration::from_millis(500));
    child
}

/// `kill -INT` the child twice from one shell, `gap` seconds apart (the second may find
/// it gone).
fn interrupt_twice(child: &std::process::Child, gap: &str) {
    let pid = child.id();
    let kills = format!("kill -INT {pid}; sleep {gap}; kill -INT {pid}");
    let sent = std::process::Command::new("sh")
        .args(["-c", &kills])
        .status();
    assert!(sent.is_ok());
}

/// A long run into `DIR/out`, interrupted twice `gap` seconds apart: the directory, the
/// problem file, the output directory and what the run printed.
fn interrupted_run(gap: &str) -> (tempfile::TempDir, String, PathBuf, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_problem(dir.path());
    let out = dir.path().join("out");
    let child = long_run(&file, &out);
    interrupt_twice(&child, gap);
    let output = child.wait_with_output().unwrap();
    (dir, file, out, output)
}

/// `timeout -s INT` signals the process and then its group: one interrupt delivered twice
/// still stops cleanly with every output written. Two signals 50 ms apart (which the
/// kernel does not merge, as it may merge two sent at once) quit with status 130 and
/// wrote nothing before they counted as one.
#[test]
fn one_interrupt_delivered_twice_stops_cleanly() {
    let (_dir, _file, out, output) = interrupted_run("0.05");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("(Interrupted)"));
    assert!(out.join("params.json").exists() && out.join("checkpoint.json").exists());
}

/// Writing checkpoints is not training: the wall time of a run (its records, its result,
/// what `compare` and `--max-time` go by) leaves the checkpoint hook's time out, as it
/// leaves error measurements out. Here every save takes 20 ms; the run's 11 saves
/// counted, its wall time was over 0.22 s.
#[test]
fn checkpoint_time_is_not_training_time() {
    use nabla::train::run::{train_from, Hooks, LoopState, TrainOptions};
    let problem = problem();
    let (mut model, theta, _) =
        nabla::train::model::Model::compile(&problem, &nabla::Options::interp()).unwrap();
    let mut opts = TrainOptions::new(10, OptimizerKind::Adam);
    opts.checkpoint_every = Some(1);
    let mut saves = 0;
    let mut save = |_: &LoopState| {
        saves += 1;
        std::thread::sleep(Duration::from_millis(20));
        Ok(())
    };
    let hooks = Hooks {
        on_step: &mut |_| {},
        tracker: None,
        checkpoint: Some(&mut save),
    };
    let t0 = std::time::Instant::now();
    let state = LoopState::start(theta, &opts).unwrap();
    let r = train_from(&mut model, state, &opts, &AtomicBool::new(false), hooks).unwrap();
    let elapsed = t0.elapsed().as_secs_f64();
    assert_eq!(saves, 11);
    assert!(elapsed >= 0.22, "{elapsed}");
    assert!(r.wall_s < elapsed - 0.2, "wall {} of {elapsed} s", r.wall_s);
    let last = r.history.last().unwrap().wall_s;
    assert!(last <= r.wall_s, "{last} {}", r.wall_s);
}

/// A new run into a directory holding the checkpoint of a run stopped before its end is
/// refused before it writes anything (it replaced that checkpoint without a word, and
/// the steps taken with it); a mistyped `--resume` creates no directory.
#[test]
fn a_new_run_does_not_overwrite_an_unfinished_one() {
    let (dir, file, out, output) = interrupted_run("0");
    assert!(output.status.success());
    let saved = std::fs::read(out.join("checkpoint.json")).unwrap();
    let params = std::fs::read(out.join("params.json")).unwrap();
    let again = nabla()
        .args(["train", &file, "--steps", "20", "--out"])
        .arg(&out)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&again.get_output().stderr).into_owned();
    let d = out.display();
    let tail = format!(
        " of 10000000, which a new run into {d} would overwrite: continue it with --resume \
         {d}, or remove the file to start afresh\n"
    );
    assert!(err.ends_with(&tail), "{err}");
    assert_eq!(std::fs::read(out.join("checkpoint.json")).unwrap(), saved);
    assert_eq!(std::fs::read(out.join("params.json")).unwrap(), params);
    // once the checkpoint is removed, the directory takes a new run
    std::fs::remove_file(out.join("checkpoint.json")).unwrap();
    nabla()
        .args(["train", &file, "--steps", "3", "--out"])
        .arg(&out)
        .assert()
        .success();
    let missing = dir.path().join("typo");
    nabla()
        .args(["train", &file, "--steps", "3", "--resume"])
        .arg(&missing)
        .assert()
        .failure()
        .stderr(predicate::str::contains("no checkpoint there"));
    assert!(!missing.exists());
}
