//! Tiled evaluation (`nabla::train::dist::Tiling`): a model cuts its points into tiles,
//! runs one program per tile shape and adds the tiles' gradients over a fixed tree. Checked
//! here: the tiles add up to the loss, gradient and Jacobian of one program over all the
//! points (to rounding: the same terms, grouped by tile), and the threads that run the
//! tiles change no bit (each tile runs on one thread in its own copy of the program,
//! whichever thread claims it).

use nabla::frontend::lang;
use nabla::frontend::problem::{PointSpec, Problem};
use nabla::ir::DType;
use nabla::train::model::{sizes, Batch, Model};
use nabla::train::Objective;
use nabla::{compile, Options};

/// Uneven sets (1000 and 37 rows: tiles of two shapes), a trainable scalar and a
/// weighted boundary residual; a net wide enough that its tiles (about 8 MFLOP each) run
/// side by side on two or more threads.
const SRC: &str = "\
input x in [0, 1]
input y in [0, 1]
param k = 0.7
net u(x, y) = mlp(widths = [32, 32], act = tanh, seed = 3)
points inner = interior(1000)
points walls = boundary(37)
residual pde on inner = -lap(u) + k * u - sin(pi * x) * y
residual bc on walls weight 10 = u - x * y
";

/// An interval's two ends beside 1000 interior points: more tiles than end points, so
/// most tiles hold no row of `ends` and their programs leave `bc` out; there the
/// gradient of `c` is zero, read over a vector that held another tile's gradient.
const ENDS: &str = "\
input x in [0, 1]
param k = 0.7
param c = 0.2
net u(x) = mlp(widths = [32, 32], act = tanh, seed = 3)
points inner = interior(1000)
points ends = boundary(2)
residual ode on inner = d(u, x, x) + k * u - sin(pi * x)
residual bc on ends weight 10 = u - x - c
";

fn problem() -> Problem {
    load(SRC)
}

fn load(src: &str) -> Problem {
    lang::load("tiles.nabla", src)
        .unwrap_or_else(|d| panic!("{}", d.render()))
        .problem
}

fn opts(threads: usize) -> Options {
    let mut o = Options::new(nabla::Backend::Cranelift, DType::F64, None);
    o.threads = Some(threads);
    o
}

/// Loss, gradient, scaled residuals and Jacobian of `model` at a θ moved off the
/// initial one.
fn evaluate(model: &mut Model<'_>, theta: &[f64]) -> (f64, Vec<f64>, Vec<f64>, Vec<f64>) {
    let theta: Vec<f64> = (theta.iter().enumerate())
        .map(|(i, t)| t + 0.05 * ((i * 7 % 11) as f64 - 5.0) / 5.0)
        .collect();
    model.add_jacobian(&opts(2)).unwrap();
    model.bind_points(11).unwrap();
    let mut grad = vec![0.0; theta.len()];
    let loss = model.eval(&theta, &mut grad).unwrap();
    let ls = model.least_squares(&theta).unwrap();
    (loss, grad, ls.r, ls.j)
}

fn max_rel(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    (got.iter().zip(want)).fold(0.0, |m, (g, w)| m.max((g - w).abs() / scale))
}

#[test]
fn tiles_add_up_to_one_program_over_all_the_points() {
    let p = problem();
    let (tiled, theta, _) = Model::compile(&p, &opts(2)).unwrap();
    assert!(tiled.tiling().tiles >= 4, "{:?}", tiled.tiling());
    assert_eq!(tiled.programs(), 2, "37 rows in 4 tiles: 9 and 10");
    matches_one_program(&p, tiled, &theta);
}

/// A set smaller than the number of tiles does not cap it: the two ends of an interval
/// are in two of the tiles, the other tiles' programs leave their residual out, and the
/// loss, gradient, residuals and Jacobian are one program's all the same.
#[test]
fn a_set_smaller_than_the_tiles_is_in_some_tiles_only() {
    let p = load(ENDS);
    let (tiled, theta, _) = Model::compile(&p, &opts(2)).unwrap();
    assert!(tiled.tiling().tiles >= 4, "{:?}", tiled.tiling());
    assert_eq!(
        1000 % tiled.tiling().tiles,
        0,
        "an even cut of the interior"
    );
    assert_eq!(tiled.programs(), 2, "tiles with and without an end point");
    matches_one_program(&p, tiled, &theta);
}

/// The loss, gradient, scaled residuals and Jacobian of the tiled model `tiled` of `p`
/// against one program over all the points, at a θ moved off the initial `theta`; and
/// the gradient against a central difference of the loss.
fn matches_one_program(p: &Problem, mut tiled: Model<'_>, theta: &[f64]) {
    let obj = p.objective(&sizes(p), DType::F64, true).unwrap();
    let exe = compile(&obj.graph, &opts(2)).unwrap();
    let (mut whole, _) = Model::from_executable(p, exe, &obj.init).unwrap();
    assert_eq!(whole.tiling().tiles, 1);
    let (l1, g1, r1, j1) = evaluate(&mut tiled, theta);
    let (l2, g2, r2, j2) = evaluate(&mut whole, theta);
    // f64; the loss is added up on the host in the same order either way, the gradient
    // adds the same terms grouped by tile
    assert!((l1 - l2).abs() <= 1e-14 * l2, "loss {l1} vs {l2}");
    assert!(
        max_rel(&g1, &g2) <= 1e-12,
        "gradient: {:e}",
        max_rel(&g1, &g2)
    );
    assert!(
        max_rel(&r1, &r2) <= 1e-13,
        "residuals: {:e}",
        max_rel(&r1, &r2)
    );
    assert!(
        max_rel(&j1, &j2) <= 1e-13,
        "Jacobian: {:e}",
        max_rel(&j1, &j2)
    );
    // and it is a real gradient: a central difference of the loss along it
    let n: f64 = g1.iter().map(|g| g * g).sum::<f64>().sqrt();
    let d: Vec<f64> = g1.iter().map(|g| g / n).collect();
    let h = 1e-5;
    let moved = |s: f64| -> Vec<f64> {
        let t: Vec<f64> = (theta.iter().enumerate())
            .map(|(i, t)| t + 0.05 * ((i * 7 % 11) as f64 - 5.0) / 5.0)
            .collect();
        t.iter().zip(&d).map(|(t, d)| t + s * d).collect()
    };
    let mut g = vec![0.0; theta.len()];
    let (lp, lm) = (
        tiled.eval(&moved(h), &mut g).unwrap(),
        tiled.eval(&moved(-h), &mut g).unwrap(),
    );
    let slope = (lp - lm) / (2.0 * h);
    assert!((slope - n).abs() <= 1e-6 * n, "slope {slope} vs |g| {n}");
}

#[test]
fn the_threads_that_run_the_tiles_change_no_bit() {
    let p = problem();
    let runs: Vec<_> = [1, 2, 3]
        .into_iter()
        .map(|threads| {
            let (mut m, theta, _) = Model::compile(&p, &opts(threads)).unwrap();
            // one copy per thread: the tiles run side by side
            assert_eq!(m.copies(), threads);
            let (l, g, r, _) = evaluate(&mut m, &theta);
            (
                l.to_bits(),
                g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                r,
            )
        })
        .collect();
    for (threads, run) in [2, 3].iter().zip(&runs[1..]) {
        assert_eq!(run.0, runs[0].0, "loss, {threads} threads");
        assert!(run.1 == runs[0].1, "gradient, {threads} threads");
        assert!(run.2 == runs[0].2, "residuals, {threads} threads");
    }
}

/// What `nabla bench --points N` times: a model for the first rows of every set, with and
/// without the gradient. Its loss is that of one program over those rows (bound from the
/// same seed's sample), and the loss-only model gives the same loss.
#[test]
fn a_batch_of_the_first_rows_is_one_program_over_those_rows() {
    let p = problem();
    let first = |n: usize| -> Vec<(String, usize)> {
        (sizes(&p).into_iter())
            .map(|(s, all)| (s, all.min(n)))
            .collect()
    };
    let batch = |grad| Batch {
        sizes: first(600),
        grad,
    };
    let (mut tiled, theta, _) = Model::compile_for(&p, &batch(true), &opts(2)).unwrap();
    assert!(tiled.tiling().tiles >= 4, "{:?}", tiled.tiling());
    let (mut loss_only, _, _) = Model::compile_for(&p, &batch(false), &opts(2)).unwrap();
    // one program over the first 600 inner and all 37 wall points of seed 0 (bound by
    // hand: a problem declaring 600 inner points would sample others)
    let mut p600 = p.clone();
    p600.point_sets[0].spec = PointSpec::Interior(600);
    let obj = p600.objective(&first(600), DType::F64, true).unwrap();
    let mut exe = compile(&obj.graph, &opts(2)).unwrap();
    for (set, mut rows) in p.sample(0) {
        rows.truncate(600);
        nabla::data::bind_points(exe.as_mut(), &p, &set, &rows).unwrap();
    }
    let (mut whole, _) = Model::from_executable(&p600, exe, &obj.init).unwrap();
    tiled.bind_points(0).unwrap();
    loss_only.bind_points(0).unwrap();
    let (mut g1, mut g2) = (vec![0.0; theta.len()], vec![0.0; theta.len()]);
    let l1 = tiled.eval(&theta, &mut g1).unwrap();
    let l2 = whole.eval(&theta, &mut g2).unwrap();
    let l3 = loss_only.loss(&theta).unwrap();
    let e = loss_only.eval(&theta, &mut g2).unwrap_err().to_string();
    assert!(e.contains("compiled without the gradient"), "{e}");
    assert!((l1 - l2).abs() <= 1e-14 * l2, "loss {l1} vs {l2}");
    assert!(
        max_rel(&g1, &g2) <= 1e-12,
        "gradient: {:e}",
        max_rel(&g1, &g2)
    );
    assert!((l3 - l1).abs() <= 1e-14 * l1, "loss only {l3} vs {l1}");
    assert_eq!(tiled.last_residuals().len(), 637);
    assert!(max_rel(&loss_only.last_residuals(), &tiled.last_residuals()) <= 1e-14);
}

#[test]
fn a_batch_larger_than_the_sets_is_an_error_not_a_panic() {
    let p = problem();
    let batch = Batch {
        sizes: (sizes(&p).into_iter()).map(|(s, n)| (s, n + 1)).collect(),
        grad: true,
    };
    let (mut m, _, _) = Model::compile_for(&p, &batch, &opts(1)).unwrap();
    let e = m.bind_points(0).unwrap_err().to_string();
    assert!(e.contains("has 1000 points, the programs take 1001"), "{e}");
}

/// A Laplacian over 100 variables carries stacked tangents of `100·64` values per point:
/// its tiles aim at `409,600 / 6400 = 64` rows instead of f64's 128, so 1024 points take
/// 16 tiles where a 2-variable one takes 8 (`dist::aim_for_width`). The tiles still add up
/// to one program over all the points.
#[test]
fn wide_stacked_values_choose_the_tiles() {
    let load = |d: usize| {
        let xs: Vec<String> = (1..=d).map(|i| format!("x{i}")).collect();
        let inputs: String = xs
            .iter()
            .map(|x| format!("input {x} in [0, 1]\n"))
            .collect();
        let src = format!(
            "{inputs}net u({}) = mlp(widths = [64, 64], act = tanh, seed = 1)\n\
             points inner = interior(1024)\n\
             residual pde on inner = lap(u) - 1\n",
            xs.join(", ")
        );
        lang::load("wide.nabla", &src)
            .unwrap_or_else(|e| panic!("{}", e.render()))
            .problem
    };
    let p = load(100);
    let (mut tiled, theta, _) = Model::compile(&p, &opts(2)).unwrap();
    assert_eq!(tiled.tiling().tiles, 1024 / 64);
    let obj = p.objective(&sizes(&p), DType::F64, true).unwrap();
    let exe = compile(&obj.graph, &opts(2)).unwrap();
    let (mut whole, _) = Model::from_executable(&p, exe, &obj.init).unwrap();
    let (l1, g1, _, _) = evaluate(&mut tiled, &theta);
    let (l2, g2, _, _) = evaluate(&mut whole, &theta);
    assert!((l1 - l2).abs() <= 1e-13 * l2, "loss {l1} vs {l2}");
    assert!(max_rel(&g1, &g2) <= 1e-12, "{:e}", max_rel(&g1, &g2));
    let p2 = load(2);
    let (narrow, _, _) = Model::compile(&p2, &opts(2)).unwrap();
    assert_eq!(narrow.tiling().tiles, 1024 / 128);
}
