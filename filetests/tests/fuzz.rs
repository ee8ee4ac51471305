//! Differential fuzzing in the manner of Cranelift's fuzzgen: random well-typed graphs
//! (`nabla_ir::testing::random_graph`, domain-safe, f64) with random leaf values run on
//! the interpreter, on the JIT in every option set of `targets::cpu_variants` and, for
//! the first few, on the OpenCL device, and every output must agree with the
//! interpreter's.
//!
//! The count is fixed, so the suite stays fast and a run is reproducible; each case is
//! its seed, and a batch size cycling through 1, 3, 5 and 1023 (empty vector loops,
//! tails, long loops split over threads). A failure prints the case as a `test run` file,
//! ready to save under `tests/filetests/run/` and debug there.
//!
//! Values are compared as in `test run` files (`values::close`, with the tolerance of
//! the dtype the target computes in).

use nabla_filetests::targets::{self, cpu_variants, opencl_dtypes};
use nabla_filetests::values::{close, list, run_lines, Outputs};
use nabla_ir::interp::Env;
use nabla_ir::testing::{random_env, random_graph, GenOptions, Rng};
use nabla_ir::{text, DType, Graph};

/// Random graphs per run of the suite.
const CASES: u64 = 256;

/// How many of them also run on OpenCL (each is a device build, slow on PoCL).
const OPENCL_CASES: u64 = 4;

/// Batch sizes, one per case in turn.
const BATCHES: [usize; 4] = [1, 3, 5, 1023];

/// Cases whose values hold more elements than this in all are skipped: at batch 1023 the
/// generator's broadcasts of flattened products can ask for 10⁹-element tensors.
const MAX_ELEMENTS: usize = 1 << 22;

#[test]
fn random_graphs_agree_on_every_target() {
    if let (Some(why), false) = (targets::opencl_missing(), targets::opencl_required()) {
        eprintln!("SKIPPED opencl in the random graphs: no OpenCL device ({why})");
    }
    let (mut failures, mut ran) = (Vec::new(), 0);
    for seed in 0..CASES {
        match case(seed) {
            Ok(r) => ran += u64::from(r),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    println!("{ran} of {CASES} random graphs run, the others too large");
    assert!(
        ran >= CASES * 9 / 10,
        "only {ran} of {CASES} cases were small enough"
    );
}

/// Generates case `seed` and compares every target with the interpreter; `Ok(false)`
/// when the graph is too large to run.
fn case(seed: u64) -> Result<bool, String> {
    let mut rng = Rng::new(seed);
    let opts = GenOptions {
        batch: BATCHES[seed as usize % BATCHES.len()],
        ..GenOptions::default()
    };
    let g = random_graph(&mut rng, &opts);
    if elements(&g) > MAX_ELEMENTS {
        return Ok(false);
    }
    let env = random_env(&g, &mut rng);
    let want = Want::new(&g, &env).map_err(|e| report(seed, "interp", &e, &g, &env, &[]))?;
    let fail = |what: &str, why: String| report(seed, what, &why, &g, &env, &want.f64);
    for (label, o) in cpu_variants(DType::F64) {
        let got = targets::cpu(&g, &env, &o).map_err(|e| fail(label, e))?;
        want.agree(&got, o.dtype)
            .map_err(|e| fail(&format!("cpu ({label})"), e))?;
    }
    if seed < OPENCL_CASES {
        for d in opencl_dtypes(DType::F64)?.unwrap_or_default() {
            let what = format!("opencl ({d})");
            let got = targets::opencl(&g, &env, d).map_err(|e| fail(&what, e))?;
            want.agree(&got, d).map_err(|e| fail(&what, e))?;
        }
    }
    Ok(true)
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
