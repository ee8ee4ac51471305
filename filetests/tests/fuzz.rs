//! Differential fuzzing in the manner of Cranelift's fuzzgen: random well-typed graphs
//! (`nabla_ir::testing::random_graph`, domain-safe, f64) with random leaf values run on
//! the interpreter, on the JIT in every option set of `targets::cpu_variants` and, for
//! the first few, on the OpenCL device in f32 (the `run` files run it in f64), and every
//! output must agree with the interpreter's.
//!
//! The count is fixed, so the suite stays fast and a run is reproducible; each case is
//! its seed, and a batch size cycling through 1, 3, 5 and 1023 (empty vector loops,
//! tails, long loops split over threads). The OpenCL cases run as one merged program
//! (`batch::merge`), since a build costs about a second on PoCL. A failure prints
//! the case as a `test run` file, ready to save under `tests/filetests/run/` and debug
//! there.
//!
//! Values are compared as in `test run` files (`values::close`, with the tolerance of
//! the dtype the target computes in).

use nabla_filetests::batch::{merge, split};
use nabla_filetests::targets::{self, cpu_variants};
use nabla_filetests::values::{close, list, run_lines, Outputs};
use nabla_ir::interp::Env;
use nabla_ir::testing::{random_env, random_graph, GenOptions, Rng};
use nabla_ir::{text, DType, Graph};

/// Random graphs per run of the suite.
const CASES: u64 = 128;

/// How many of them also run on OpenCL.
const OPENCL_CASES: usize = 4;

/// Batch sizes, one per case in turn.
const BATCHES: [usize; 4] = [1, 3, 5, 1023];

/// Cases whose values hold more elements than this in all are skipped: at batch 1023 the
/// generator's broadcasts of flattened products can ask for 10⁹-element tensors.
const MAX_ELEMENTS: usize = 1 << 22;

#[test]
fn random_graphs_agree_on_every_target() {
    let (mut failures, mut opencl) = (Vec::new(), Vec::new());
    let mut ran = 0;
    for seed in 0..CASES {
        match Case::new(seed) {
            None => continue,
            Some(Err(e)) => failures.push(e),
            Some(Ok(c)) => {
                ran += 1;
                match c.on_cpu() {
                    Err(e) => failures.push(e),
                    Ok(()) if opencl.len() < OPENCL_CASES => opencl.push(c),
                    Ok(()) => {}
                }
            }
        }
    }
    failures.extend(on_opencl(&opencl));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    println!("{ran} of {CASES} random graphs run, the others too large");
    assert!(
        ran >= CASES * 9 / 10,
        "only {ran} of {CASES} cases were small enough"
    );
}

/// One random graph, its leaf values and the interpreter's outputs.
struct Case {
    seed: u64,
    g: Graph,
    env: Env,
    want: Want,
}

impl Case {
    /// Case `seed`; `None` when its graph is too large to run, an error when the
    /// interpreter fails on it.
    fn new(seed: u64) -> Option<Result<Case, String>> {
        let mut rng = Rng::new(seed);
        let opts = GenOptions {
            batch: BATCHES[seed as usize % BATCHES.len()],
            ..GenOptions::default()
        };
        let g = random_graph(&mut rng, &opts);
        if elements(&g) > MAX_ELEMENTS {
            return None;
        }
        let env = random_env(&g, &mut rng);
        Some(match Want::new(&g, &env) {
            Ok(want) => Ok(Case { seed, g, env, want }),
            Err(e) => Err(report(seed, "interp", &e, &g, &env, &[])),
        })
    }

    /// Compares the JIT in every option set with the interpreter.
    fn on_cpu(&self) -> Result<(), String> {
        for (label, o) in cpu_variants(DType::F64) {
            let what = format!("cpu ({label})");
            let got = targets::cpu(&self.g, &self.env, &o);
            self.check(&what, got, o.dtype)?;
        }
        Ok(())
    }

    /// Fails, with the case as a file, unless `got` agrees with the interpreter.
    fn check(&self, what: &str, got: Result<Outputs, String>, dtype: DType) -> Result<(), String> {
        got.and_then(|got| self.want.agree(&got, dtype))
            .map_err(|why| report(self.seed, what, &why, &self.g, &self.env, &self.want.f64))
    }

    fn name(&self) -> String {
        format!("case{}", self.seed)
    }
}

/// Runs `cases` on the OpenCL device in f32 as one program and returns the failures;
/// when the merged program fails to build or run, each case runs alone to find which.
fn on_opencl(cases: &[Case]) -> Vec<String> {
    if let (Some(why), false) = (targets::opencl_missing(), targets::opencl_required()) {
        eprintln!("SKIPPED opencl in the random graphs: no OpenCL device ({why})");
        return Vec::new();
    }
    let parts: Vec<(String, &Graph, &Env)> =
        cases.iter().map(|c| (c.name(), &c.g, &c.env)).collect();
    let (g, env) = merge(&parts);
    let merged = targets::opencl(&g, &env, DType::F32);
    let got = |c: &Case| match &merged {
        Ok(outs) => Ok(split(outs, &c.name())),
        Err(_) => targets::opencl(&c.g, &c.env, DType::F32),
    };
    let check = |c: &Case| c.check("opencl (f32)", got(c), DType::F32).err();
    cases.iter().filter_map(check).collect()
}

/// The number of elements of all values of `g` together.
fn elements(g: &Graph) -> usize {
    g.ids().map(|i| g.shape(i).numel()).sum()
}

/// The interpreter's outputs: the expectation (f64), and the same rounded to f32, which
/// tells where f32 overflows.
struct Want {
    f64: Outputs,
    f32: Outputs,
}

impl Want {
    fn new(g: &Graph, env: &Env) -> Result<Want, String> {
        Ok(Want {
            f64: targets::interp(g, env, DType::F64)?,
            f32: targets::interp(g, env, DType::F32)?,
        })
    }

    /// Fails on the first value of `got` that is not [`close`] to the f64 expectation
    /// within the tolerance of `dtype`. In f32, outputs that are finite in f64 but not
    /// when every value is rounded to f32 are skipped: an intermediate value left f32's
    /// range, and the target may rightly give infinities or NaNs there.
    fn agree(&self, got: &Outputs, dtype: DType) -> Result<(), String> {
        let tol = targets::tolerance(dtype);
        if got.len() != self.f64.len() {
            return Err(format!(
                "{} outputs, expected {}",
                got.len(),
                self.f64.len()
            ));
        }
        for (((name, w), (_, w32)), (_, g)) in self.f64.iter().zip(&self.f32).zip(got) {
            let overflows = w
                .iter()
                .zip(w32)
                .any(|(a, b)| a.is_finite() != b.is_finite());
            if dtype == DType::F32 && overflows {
                continue;
            }
            if let Some(i) = w.iter().zip(g).position(|(a, b)| !close(*a, *b, tol)) {
                return Err(format!(
                    "{name}[{i}]: interpreter {:?}, target {:?} (tolerance {tol:e})",
                    w[i], g[i]
                ));
            }
        }
        Ok(())
    }
}

/// A failed case: what failed, then the case as a `test run` file.
fn report(
    seed: u64,
    what: &str,
    why: &str,
    g: &Graph,
    env: &Env,
    want: &[(String, Vec<f64>)],
) -> String {
    let mut sets: Vec<String> = env
        .iter()
        .map(|(n, t)| format!("; set {n} = {}\n", list(&t.data)))
        .collect();
    sets.sort();
    let expect: String = run_lines(want).iter().map(|l| format!("; {l}\n")).collect();
    format!(
        "seed {seed}, {what}: {why}\n\
         test run interp cpu opencl\n\
         ; random_graph case {seed} of filetests/tests/fuzz.rs\n{}{}; expect:\n{expect}",
        sets.concat(),
        text::print(g)
    )
}
