//! Shared fixtures of the training tests: a derivative-free regression problem built in
//! Rust, and an executable that adds parameter gradients by central differences so the
//! trainer can be tested independently of the derivative passes.

#![allow(dead_code)]

use nabla::backends::{Binding, Executable, RunError};
use nabla::frontend::dsl::Var;
use nabla::frontend::nn::{Act, Mlp};
use nabla::frontend::problem::*;
use nabla::ir::{DType, Tensor};
use nabla::train::model::{sizes, Model};
use nabla::{compile, Options};
use std::f64::consts::PI;
use std::sync::Arc;

fn x<'g>(c: &Ctx<'g>) -> Var<'g> {
    c.input("x").unwrap()
}

/// Fit `u(x) ≈ sin(πx)` on [0, 1] with an MLP `[1, 8, 1]`, and recover `a = 2` from the
/// residual `a·x − 2x`. Minimum of the loss: 0 (up to the net's approximation error).
pub fn regression() -> Problem {
    Problem {
        name: "fit".into(),
        inputs: vec![InputDecl {
            name: "x".into(),
            lo: 0.0,
            hi: 1.0,
        }],
        nets: vec![NetDecl {
            name: "u".into(),
            args: vec!["x".into()],
            outputs: vec!["u".into()],
            mlp: Mlp::new(&[1, 8, 1], Act::Tanh),
            seed: 0,
            embed: Default::default(),
        }],
        params: vec![ScalarParam {
            name: "a".into(),
            init: 0.5,
        }],
        point_sets: vec![PointSetDecl {
            name: "inner".into(),
            spec: PointSpec::Interior(32),
        }],
        residuals: vec![
            ResidualDecl {
                name: "fit".into(),
                points: "inner".into(),
                weight: 1.0,
                expr: Arc::new(|c| c.output("u", None).unwrap() - (x(c) * PI).sin()),
            },
            ResidualDecl {
                name: "inv".into(),
                points: "inner".into(),
                weight: 1.0,
                expr: Arc::new(|c| c.param("a").unwrap() * x(c) - x(c) * 2.0),
            },
        ],
        exact: vec![ExactDecl {
            output: "u".into(),
            expr: Arc::new(|c| (x(c) * PI).sin()),
        }],
        lets: vec![],
        domains: vec![],
        point_weights: vec![],
        owner: None,
    }
}

/// The regression problem's model, gradients by central differences in f64.
pub fn fd_model(problem: &Problem) -> (Model<'_>, Vec<f64>) {
    let obj = problem
        .objective(&sizes(problem), DType::F64, false)
        .unwrap();
    let inner = compile(&obj.graph, &Options::interp()).unwrap();
    let exe = FdGrad::new(inner, &obj.init);
    Model::from_executable(problem, Box::new(exe), &obj.init).unwrap()
}

/// Wraps an executable with outputs `loss`, ...; adds `grad.P` for every param by central
/// differences of `loss` with step [`FdGrad::H`] (error O(h²) ≈ 1e-10 here).
pub struct FdGrad {
    inner: Box<dyn Executable>,
    params: Vec<(String, Vec<f64>)>,
    outputs: Vec<Vec<f64>>,
}

impl FdGrad {
    /// The difference step.
    pub const H: f64 = 1e-5;

    pub fn new(inner: Box<dyn Executable>, init: &[(String, Tensor)]) -> FdGrad {
        let params = init
            .iter()
            .map(|(n, t)| (n.clone(), t.data.clone()))
            .collect();
        FdGrad {
            inner,
            params,
            outputs: vec![],
        }
    }

    fn loss_at(&mut self, p: usize, j: usize, v: f64) -> Result<f64, RunError> {
        let mut vals = self.params[p].1.clone();
        vals[j] = v;
        self.inner.set(&self.params[p].0, &vals)?;
        self.inner.run()?;
        Ok(self.inner.output(self.loss_index())[0])
    }

    fn loss_index(&self) -> usize {
        let names = self.inner.output_names();
        names.iter().position(|n| n == "loss").unwrap()
    }
}

impl Executable for FdGrad {
    fn bindings(&self) -> &[Binding] {
        self.inner.bindings()
    }
    fn output_names(&self) -> Vec<String> {
        let mut n = self.inner.output_names();
        n.extend(self.params.iter().map(|p| format!("grad.{}", p.0)));
        n
    }
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }
    fn set(&mut self, name: &str, values: &[f64]) -> Result<(), RunError> {
        self.inner.set(name, values)?;
        if let Some(p) = self.params.iter_mut().find(|p| p.0 == name) {
            p.1 = values.to_vec();
        }
        Ok(())
    }
    fn run(&mut self) -> Result<(), RunError> {
        let mut grads = Vec::new();
        for p in 0..self.params.len() {
            let mut g = Vec::new();
            for j in 0..self.params[p].1.len() {
                let x = self.params[p].1[j];
                let hi = self.loss_at(p, j, x + Self::H)?;
                let lo = self.loss_at(p, j, x - Self::H)?;
                g.push((hi - lo) / (2.0 * Self::H));
            }
            let (name, vals) = self.params[p].clone();
            self.inner.set(&name, &vals)?;
            grads.push(g);
        }
        self.inner.run()?;
        let n = self.inner.output_names().len();
        self.outputs = (0..n).map(|i| self.inner.output(i)).collect();
        self.outputs.extend(grads);
        Ok(())
    }
    fn output(&self, index: usize) -> Vec<f64> {
        self.outputs[index].clone()
    }
}
