//! The Poisson problem of `examples/poisson2d.nabla`, built in Rust through the DSL and
//! trained with the same trainer as `nabla train`:
//!
//! ```text
//! -Δu = 2π² sin(πx) sin(πy) on (0,1)²,  u = 0 on the boundary,  u* = sin(πx) sin(πy)
//! ```
//!
//! Run: `cargo run --release --example poisson_dsl [STEPS] [OUT_DIR]`.

use nabla::frontend::dsl::{laplacian_of, Var};
use nabla::frontend::nn::{Act, Mlp};
use nabla::frontend::problem::*;
use nabla::train::model::Model;
use nabla::train::report::Report;
use nabla::train::run::{train, OptimizerKind, TrainOptions};
use nabla::Options;
use std::f64::consts::PI;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn x<'g>(c: &Ctx<'g>) -> Var<'g> {
    c.input("x").expect("declared below")
}

fn y<'g>(c: &Ctx<'g>) -> Var<'g> {
    c.input("y").expect("declared below")
}

fn u<'g>(c: &Ctx<'g>) -> Var<'g> {
    c.output("u", None).expect("declared below")
}

/// `sin(πx) sin(πy)`.
fn exact<'g>(c: &Ctx<'g>) -> Var<'g> {
    (x(c) * PI).sin() * (y(c) * PI).sin()
}

/// The Poisson problem with an MLP of the given hidden widths.
pub fn poisson(hidden: &[usize]) -> Problem {
    let unit = |name: &str| InputDecl {
        name: name.into(),
        lo: 0.0,
        hi: 1.0,
    };
    let widths: Vec<usize> = [2].iter().chain(hidden).chain(&[1]).copied().collect();
    Problem {
        name: "poisson2d".into(),
        inputs: vec![unit("x"), unit("y")],
        nets: vec![NetDecl {
            name: "u".into(),
            args: vec!["x".into(), "y".into()],
            outputs: vec!["u".into()],
            mlp: Mlp::new(&widths, Act::Tanh),
            seed: 0,
        }],
        params: vec![],
        point_sets: vec![
            PointSetDecl {
                name: "inner".into(),
                spec: PointSpec::Interior(1024),
            },
            PointSetDecl {
                name: "walls".into(),
                spec: PointSpec::Boundary(256),
            },
        ],
        residuals: vec![
            ResidualDecl {
                name: "pde".into(),
                points: "inner".into(),
                weight: 1.0,
                // -Δu - f with f = 2π² sin(πx) sin(πy)
                expr: Arc::new(|c| {
                    let lap = laplacian_of(u(c), &[x(c), y(c)]);
                    -lap - exact(c) * (2.0 * PI * PI)
                }),
            },
            ResidualDecl {
                name: "bc".into(),
                points: "walls".into(),
                weight: 10.0,
                expr: Arc::new(u),
            },
        ],
        exact: vec![ExactDecl {
            output: "u".into(),
            expr: Arc::new(exact),
        }],
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().map_or(Ok(3000), |s| s.parse())?;
    let out = args.next();
    let problem = poisson(&[32, 32]);
    let (mut model, theta, compile_s) = Model::compile(&problem, &Options::cranelift())?;
    println!("compiled in {compile_s:.3} s");
    let mut opts = TrainOptions::new(steps, OptimizerKind::AdamLbfgs);
    opts.lr = 3e-3;
    opts.adam_steps = steps / 3;
    let stop = AtomicBool::new(false);
    let result = train(&mut model, theta, &opts, &stop, &mut |r| {
        if r.step % 500 == 0 {
            println!("step {:5}  loss {:.3e}  {:.1} s", r.step, r.loss, r.wall_s);
        }
    })?;
    let report = Report::new(
        &problem,
        model.layout(),
        model.part_names(),
        &result,
        compile_s,
    )?;
    println!(
        "{} steps in {:.1} s ({:?})",
        result.history.len(),
        result.wall_s,
        result.reason
    );
    print!("{}", report.text());
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir)?;
        report.save(std::path::Path::new(&dir))?;
    }
    Ok(())
}
