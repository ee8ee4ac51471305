//! `test simplify`: the graph after the egg simplifier (`passes::simplify`), printed below
//! a line with the cost model's FLOPs before and after. The simplified graph must verify,
//! and its outputs must equal the input's on the interpreter (within `set tolerance`,
//! default `1e-10`: rewrites reassociate sums) for the file's `set` bindings, or for
//! leaves drawn uniformly from `[-2, 2)` with a fixed seed when it has none. Neither check
//! can be blessed away.
//!
//! Options: `set real_only = true|false`, `set node_limit = N`, `set iter_limit = N`,
//! `set collapse = true|false` (`SimplifyOptions`), `set tolerance = T`.

use super::{printed, Ctx};
use crate::file::TestFile;
use crate::targets;
use crate::values::close;
use nabla_ir::interp::Env;
use nabla_ir::testing::{random_env, Rng};
use nabla_ir::{text, verify, DType, Graph};
use nabla_passes::simplify::{simplify, SimplifyOptions};

const OPTIONS: [&str; 5] = [
    "real_only",
    "node_limit",
    "iter_limit",
    "collapse",
    "tolerance",
];

/// Seed of the leaf values when the file binds none.
const SEED: u64 = 1;

/// Simplifies the file's graph, checks its values, and compares the printed result with
/// the expectation.
pub fn check(cx: &Ctx) -> Result<(), String> {
    let f = cx.file;
    f.check_options(&OPTIONS)?;
    let tol = f.option("tolerance", 1e-10)?;
    let opts = options(f)?;
    let g = match text::parse(&f.input) {
        Ok(g) => g,
        Err(e) => return cx.expect(&[format!("error: {e}")], tol).map(drop),
    };
    let (s, report) = simplify(&g, &opts);
    verify(&s).map_err(|e| format!("the simplified graph does not verify: {e}"))?;
    same_values(&g, &s, &leaves(cx, &g)?, tol)?;
    let mut out = vec![format!(
        "flops: {:.0} before, {:.0} after",
        report.flops_before, report.flops_after
    )];
    out.extend(printed(&s));
    cx.expect(&out, tol).map(drop)
}

/// The simplifier's options, defaults overridden by `set` lines.
fn options(f: &TestFile) -> Result<SimplifyOptions, String> {
    let d = SimplifyOptions::default();
    Ok(SimplifyOptions {
        real_only: f.option("real_only", d.real_only)?,
        node_limit: f.option("node_limit", d.node_limit)?,
        iter_limit: f.option("iter_limit", d.iter_limit)?,
        collapse: f.option("collapse", d.collapse)?,
    })
}

/// The file's bindings, or seeded random values for every leaf.
fn leaves(cx: &Ctx, g: &Graph) -> Result<Env, String> {
    match cx.file.has_bindings() {
        true => cx.file.bindings(g),
        false => Ok(random_env(g, &mut Rng::new(SEED))),
    }
}

/// Fails unless `before` and `after` have the same outputs on `env`.
fn same_values(before: &Graph, after: &Graph, env: &Env, tol: f64) -> Result<(), String> {
    let want = targets::interp(before, env, DType::F64)?;
    let got = targets::interp(after, env, DType::F64)?;
    for ((name, w), (_, g)) in want.iter().zip(&got) {
        let bad = w.iter().zip(g).position(|(a, b)| !close(*a, *b, tol));
        if let Some(i) = bad {
            return Err(format!(
                "simplification changed `{name}`[{i}]: {:?} before, {:?} after",
                w[i], g[i]
            ));
        }
    }
    Ok(())
}
