//! Shared helpers of the Cranelift backend tests: deterministic inputs and the
//! differential check against the f64 interpreter. Leaves and value fills come from
//! `nabla_ir::testing`.
#![allow(dead_code)]

#[allow(unused_imports)] // each test binary uses its own subset
pub use nabla_ir::testing::{leaf, values};

use nabla_backends::cranelift::{compile, Options};
use nabla_backends::Executable;
use nabla_ir::{interp, verify, DType, Graph, Tensor};

/// Batch sizes that exercise empty vector loops, tails and long loops.
pub const BATCHES: [usize; 4] = [1, 3, 5, 1023];

/// f64 tolerance: `|got − want| ≤ F64_TOL·(1 + |want|)`.
pub const F64_TOL: f64 = 1e-12;
/// f32 tolerance against the f64 interpreter, same form.
pub const F32_TOL: f64 = 2e-4;

/// Values for every binding of `g`, in `lo..hi`.
pub fn env(g: &Graph, lo: f64, hi: f64) -> Vec<(String, Tensor)> {
    let info = verify(g).unwrap();
    info.leaves()
        .enumerate()
        .map(|(i, (name, id))| {
            let shape = g.shape(*id).clone();
            let v = values(shape.numel(), i as u64 + 1, lo, hi);
            (name.clone(), Tensor::new(shape, v))
        })
        .collect()
}

/// Compiles `g` with `opts`, binds `env`, runs, and returns the outputs.
pub fn run(g: &Graph, opts: &Options, env: &[(String, Tensor)]) -> Vec<Vec<f64>> {
    let info = verify(g).unwrap();
    let mut exe = compile(g, &info, opts).unwrap();
    for (name, t) in env {
        if exe.bindings().iter().any(|b| &b.name == name) {
            exe.set(name, &t.data).unwrap();
        }
    }
    exe.run().unwrap();
    (0..g.outputs().len()).map(|i| exe.output(i)).collect()
}

/// Runs `g` with `opts` on `env` and compares every output with the interpreter.
pub fn check_env(g: &Graph, opts: &Options, env: &[(String, Tensor)]) {
    let ienv: interp::Env = env.iter().cloned().collect();
    let want = interp::eval_outputs(g, &ienv, DType::F64).unwrap();
    let got = run(g, opts, env);
    let tol = match opts.dtype {
        DType::F64 => F64_TOL,
        DType::F32 => F32_TOL,
    };
    for ((name, w), v) in want.iter().zip(&got) {
        assert_eq!(w.data.len(), v.len(), "length of {name}");
        for (i, (a, b)) in w.data.iter().zip(v).enumerate() {
            let ok = (a - b).abs() <= tol * (1.0 + a.abs()) || a == b || (a.is_nan() && b.is_nan());
            assert!(ok, "{name}[{i}]: interpreter {a}, jit {b} ({opts:?})");
        }
    }
}

/// [`check_env`] with leaves drawn from `lo..hi`.
pub fn check(g: &Graph, opts: &Options, lo: f64, hi: f64) {
    check_env(g, opts, &env(g, lo, hi));
}

/// The option sets every differential test runs: f64 exact and with FMA, f32, scalar
/// code, two threads.
pub fn all_options() -> Vec<Options> {
    let base = Options::default();
    vec![
        Options {
            fma: false,
            ..base.clone()
        },
        base.clone(),
        Options {
            dtype: DType::F32,
            ..base.clone()
        },
        Options {
            dtype: DType::F32,
            inline_tanh: false,
            simd: false,
            ..base.clone()
        },
        Options {
            threads: 2,
            par_min: 1,
            ..base.clone()
        },
        Options {
            threads: 2,
            par_min: 1,
            dtype: DType::F32,
            ..base
        },
    ]
}

/// Checks `make(n)` for every batch size and option set.
pub fn check_all(make: impl Fn(usize) -> Graph, lo: f64, hi: f64) {
    for n in BATCHES {
        let g = make(n);
        for o in all_options() {
            check(&g, &o, lo, hi);
        }
    }
}
