//! Round trips IR → e-graph → IR, and whole-pass properties: values preserved, the
//! result verifies and prints/parses, levels are never mixed, derivative graphs are left
//! alone, options are respected.

mod simplify_util;

use nabla_ir::interp::eval_outputs;
use nabla_ir::testing::leaf_env;
use nabla_ir::{text, verify, BinOp, DType, Graph, Level, Op, Shape, UnOp};
use nabla_passes::simplify::convert::to_egraph_mapped;
use nabla_passes::simplify::cost::graph_cost;
use nabla_passes::simplify::extract::extract;
use nabla_passes::simplify::{simplify, SimplifyOptions};
use simplify_util::*;

/// A graph with one of every elementwise op, a reduction, slices and a product.
fn mixed_graph() -> Graph {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 3]);
    let w = param(&mut g, "W", &[2, 3]);
    let mut acc = x;
    for u in UnOp::ALL {
        if matches!(u, UnOp::Log | UnOp::Sqrt | UnOp::Recip | UnOp::Tan) {
            let a = g.unary(UnOp::Abs, acc);
            let one = g.fill(1.0, DType::F64, &Shape::matrix(4, 3));
            let p = g.binary(BinOp::Add, a, one);
            let v = g.unary(u, p);
            acc = g.binary(BinOp::Mul, acc, v);
        } else {
            let v = g.unary(u, acc);
            acc = g.binary(BinOp::Sub, acc, v);
            acc = g.unary(UnOp::Tanh, acc);
        }
    }
    let m = g.add_or_panic(
        Op::MatMul {
            ta: false,
            tb: true,
        },
        &[acc, w],
    );
    let s = g.add_or_panic(Op::Sum(0), &[m]);
    let sl = g.add_or_panic(
        Op::Slice {
            axis: 1,
            start: 1,
            len: 2,
        },
        &[x],
    );
    let c = g.add_or_panic(Op::Concat(1), &[sl, x]);
    let p = g.add_or_panic(Op::Powi(3), &[c]);
    let r = g.add_or_panic(Op::Mean(1), &[p]);
    g.set_output("s", s);
    g.set_output("r", r);
    g
}

/// A node line without its ids (`%3 = tanh %2 : f64[4,3]` → `tanh : f64[4,3]`).
fn strip(line: String) -> String {
    line.split_whitespace()
        .filter(|w| !w.starts_with('%') && *w != "=" && !w.is_empty())
        .map(|w| w.trim_end_matches(','))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A graph with no constants and no foldable or rewritable node.
fn plain_graph() -> Graph {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4, 3]);
    let w = param(&mut g, "W", &[2, 3]);
    let b = param(&mut g, "b", &[2]);
    let m = g.add_or_panic(
        Op::MatMul {
            ta: false,
            tb: true,
        },
        &[x, w],
    );
    let z = g.binary(BinOp::Add, m, b);
    let t = g.unary(UnOp::Tanh, z);
    let e = g.unary(UnOp::Exp, x);
    let s = g.add_or_panic(Op::Sum(1), &[e]);
    g.set_output("t", t);
    g.set_output("s", s);
    g
}

#[test]
fn egraph_round_trip_without_rules_is_identity() {
    for g in [
        mixed_graph(),
        taylor_laplacian(Mlp {
            dims: 2,
            width: 3,
            layers: 1,
            batch: 2,
        }),
    ] {
        let (eg, roots, map) = to_egraph_mapped(&g);
        let back = extract(&eg, &g, &roots, &map);
        verify(&back).expect("verifies");
        let mut rng = Rng(3);
        let env = random_env(&g, &mut rng, Draw::Mixed);
        assert_same_outputs(&g, &back, &env, 0.0);
        assert!(graph_cost(&back) <= graph_cost(&g));
    }
    // Without constants to fold, the graph comes back node for node (ids may differ).
    let g = plain_graph();
    let (eg, roots, map) = to_egraph_mapped(&g);
    let back = extract(&eg, &g, &roots, &map);
    let lines = |g: &Graph| {
        let mut v: Vec<String> = g.ids().map(|i| strip(text::node_line(g, i))).collect();
        v.sort();
        v
    };
    assert_eq!(lines(&g), lines(&back));
}

#[test]
fn simplify_preserves_values_and_text_round_trips() {
    for real_only in [true, false] {
        let opts = SimplifyOptions {
            real_only,
            ..SimplifyOptions::default()
        };
        let g = mixed_graph();
        let (out, report) = simplify(&g, &opts);
        verify(&out).expect("verifies");
        assert_eq!(text::parse(&text::print(&out)).unwrap(), out);
        assert!(report.flops_after <= report.flops_before, "{report}");
        let mut rng = Rng(11);
        for _ in 0..3 {
            let env = random_env(&g, &mut rng, Draw::Mixed);
            assert_same_outputs(&g, &out, &env, 1e-9);
        }
        assert_eq!(out.outputs().len(), 2);
    }
}

#[test]
fn algebra_folds_and_cancels() {
    // (x·1 + 0) − x·0 + (2 + 3)·y − 5·y  =  x
    let mut g = Graph::new();
    let s = Shape::matrix(3, 1);
    let x = input(&mut g, "x", s.dims());
    let y = input(&mut g, "y", s.dims());
    let c = |g: &mut Graph, v| g.fill(v, DType::F64, &s);
    let (zero, one, two) = (c(&mut g, 0.0), c(&mut g, 1.0), c(&mut g, 2.0));
    let (three, five) = (c(&mut g, 3.0), c(&mut g, 5.0));
    let x1 = g.binary(BinOp::Mul, x, one);
    let a = g.binary(BinOp::Add, x1, zero);
    let x0 = g.binary(BinOp::Mul, x, zero);
    let a = g.binary(BinOp::Sub, a, x0);
    let k = g.binary(BinOp::Add, two, three);
    let ky = g.binary(BinOp::Mul, k, y);
    let a = g.binary(BinOp::Add, a, ky);
    let fy = g.binary(BinOp::Mul, five, y);
    let a = g.binary(BinOp::Sub, a, fy);
    g.set_output("a", a);
    let (out, report) = simplify(&g, &SimplifyOptions::default());
    assert_eq!(out.len(), 1, "{out:?}\n{report}");
    assert_eq!(out.op(out.outputs()[0].1), g.op(x));
    assert_eq!(report.flops_after, 0.0);
}

#[test]
fn exact_mode_keeps_nan_producing_terms() {
    // x·0 is NaN for x = ∞: without `real_only` it must stay.
    let mut g = Graph::new();
    let s = Shape::matrix(2, 1);
    let x = input(&mut g, "x", s.dims());
    let z = g.fill(0.0, DType::F64, &s);
    let m = g.binary(BinOp::Mul, x, z);
    g.set_output("m", m);
    let exact = SimplifyOptions {
        real_only: false,
        ..SimplifyOptions::default()
    };
    let (out, _) = simplify(&g, &exact);
    assert!(out.ids().any(|i| out.op(i) == g.op(x)), "{out:?}");
    let (out, _) = simplify(&g, &SimplifyOptions::default());
    assert!(!out.ids().any(|i| out.op(i) == g.op(x)), "{out:?}");
}

#[test]
fn values_of_different_levels_are_never_merged() {
    let mut g = Graph::new();
    let s = Shape::matrix(2, 1);
    let bound = |g: &mut Graph, l| {
        g.add_or_panic(
            Op::Bound {
                level: Level(l),
                index: 0,
                dtype: DType::F64,
                shape: s.clone(),
            },
            &[],
        )
    };
    let (a, b) = (bound(&mut g, 1), bound(&mut g, 2));
    let diff = g.binary(BinOp::Sub, a, b);
    let same = g.binary(BinOp::Sub, a, a);
    g.set_output("diff", diff);
    g.set_output("same", same);
    let (out, _) = simplify(&g, &SimplifyOptions::default());
    let d = out.outputs()[0].1;
    assert_eq!(out.op(d), &Op::Binary(BinOp::Sub));
    let levels: Vec<_> = out.args(d).iter().map(|&a| out.op(a).level()).collect();
    assert_eq!(levels, vec![Some(Level(1)), Some(Level(2))]);
    let z = out.outputs()[1].1;
    assert!(matches!(out.op(z), Op::Broadcast(_)), "{out:?}");
}

#[test]
fn derivative_graphs_are_left_alone() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2, 1]);
    let y = g.unary(UnOp::Sin, x);
    let d = g.add_or_panic(
        Op::Diff {
            level: Level(0),
            order: 1,
            method: nabla_ir::Method::Auto,
        },
        &[y, x],
    );
    g.set_output("d", d);
    let (out, report) = simplify(&g, &SimplifyOptions::default());
    assert_eq!(out, g);
    assert!(report.stop_reason.contains("derivative"), "{report}");
}

#[test]
fn matmul_is_preferred_to_its_expansion_and_shared_tanh_to_recomputation() {
    // a·W + a·V (two products) becomes a·(W + V): one product.
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[8, 4]);
    let w = param(&mut g, "W", &[4, 4]);
    let v = param(&mut g, "V", &[4, 4]);
    let nn = Op::MatMul {
        ta: false,
        tb: false,
    };
    let aw = g.add_or_panic(nn.clone(), &[a, w]);
    let av = g.add_or_panic(nn.clone(), &[a, v]);
    let s = g.binary(BinOp::Add, aw, av);
    // tanh(s)·tanh(s) + tanh(s): the tanh stays shared.
    let t = g.unary(UnOp::Tanh, s);
    let tt = g.binary(BinOp::Mul, t, t);
    let out = g.binary(BinOp::Add, tt, t);
    g.set_output("out", out);
    let (simp, report) = simplify(&g, &SimplifyOptions::default());
    let count = |op: &dyn Fn(&Op) -> bool| simp.ids().filter(|&i| op(simp.op(i))).count();
    assert_eq!(count(&|o| matches!(o, Op::MatMul { .. })), 1, "{simp:?}");
    assert_eq!(count(&|o| *o == Op::Unary(UnOp::Tanh)), 1, "{simp:?}");
    // 2·8·4·4 for the product, 16 for W + V, 32·(10 + 1 + 1) for tanh, square and add.
    assert_eq!(report.flops_after, 256.0 + 16.0 + 32.0 * 12.0, "{simp:?}");
}

#[test]
fn products_of_a_sum_that_share_an_operand_become_one() {
    // dᵀ·h + r + (e·0.5)ᵀ·h + (d·(−3))ᵀ·g, every factor [64, 8]: the three products share
    // `h` on the right or `d` on the left, across a term that is no product and through
    // the scalar factors: two products (or one) are left, and the values are the same
    let mut g = Graph::new();
    let n = [64, 8];
    let (d, e, h, k) = (
        input(&mut g, "d", &n),
        input(&mut g, "e", &n),
        input(&mut g, "h", &n),
        input(&mut g, "k", &n),
    );
    let r = input(&mut g, "r", &[8, 8]);
    let tn = Op::MatMul {
        ta: true,
        tb: false,
    };
    let scaled = |g: &mut Graph, x, c| {
        let c = g.fill(c, DType::F64, &Shape::new(&n));
        g.binary(BinOp::Mul, x, c)
    };
    let dh = g.add_or_panic(tn.clone(), &[d, h]);
    let e_half = scaled(&mut g, e, 0.5);
    let eh = g.add_or_panic(tn.clone(), &[e_half, h]);
    let d_3 = scaled(&mut g, d, -3.0);
    let dk = g.add_or_panic(tn.clone(), &[d_3, k]);
    let s = g.binary(BinOp::Add, dh, r);
    let s = g.binary(BinOp::Add, s, eh);
    let s = g.binary(BinOp::Add, s, dk);
    g.set_output("s", s);
    let (simp, report) = simplify(&g, &SimplifyOptions::default());
    let products = (simp.ids()).filter(|&i| matches!(simp.op(i), Op::MatMul { .. }));
    assert!(products.count() <= 2, "{}{report}", text::print(&simp));
    assert!(report.flops_after < report.flops_before, "{report}");
    let mut rng = Rng(3);
    let env = random_env(&g, &mut rng, Draw::Mixed);
    assert_same_outputs(&g, &simp, &env, 1e-12);
}

#[test]
fn outer_products_with_ones_become_broadcasts() {
    // a first layer's input tangent: ones[64, 1]·w[:, 0]ᵀ, squared and added to the other
    // one's: no product over the points is left, the squares are taken of [8] vectors,
    // and the values are the same
    let mut g = Graph::new();
    let w = input(&mut g, "w", &[8, 2]);
    let z = input(&mut g, "z", &[64, 8]);
    let ones = g.fill(1.0, DType::F64, &Shape::matrix(64, 1));
    let nt = Op::MatMul {
        ta: false,
        tb: true,
    };
    let mut sum = None;
    for i in 0..2 {
        let col = g.add_or_panic(
            Op::Slice {
                axis: 1,
                start: i,
                len: 1,
            },
            &[w],
        );
        let t = g.add_or_panic(nt.clone(), &[ones, col]);
        let sq = g.unary(UnOp::Square, t);
        sum = Some(sum.map_or(sq, |s| g.binary(BinOp::Add, s, sq)));
    }
    let y = g.binary(BinOp::Mul, sum.unwrap(), z);
    g.set_output("y", y);
    let (simp, report) = simplify(&g, &SimplifyOptions::default());
    let shown = text::print(&simp);
    assert!(!shown.contains("matmul"), "{shown}{report}");
    let squares = (simp.ids()).filter(|&i| simp.op(i) == &Op::Unary(UnOp::Square));
    assert!(
        squares
            .into_iter()
            .all(|i| simp.shape(i) == &Shape::new(&[8])),
        "{shown}"
    );
    let mut rng = Rng(5);
    let env = random_env(&g, &mut rng, Draw::Mixed);
    assert_same_outputs(&g, &simp, &env, 1e-12);
}

#[test]
fn report_displays_its_numbers() {
    let (_, r) = simplify(&mixed_graph(), &SimplifyOptions::default());
    let s = r.to_string();
    assert!(
        s.contains("flops") && s.contains("iterations") && s.contains("algebra"),
        "{s}"
    );
}

/// `k·(l·x)` in `dtype`, with the simplifier's result and the input evaluated at `x`.
fn folded_pair(k: f64, l: f64, x: f64, dtype: DType) -> (f64, f64) {
    let mut g = Graph::new();
    let s = Shape::matrix(1, 1);
    let xi = input(&mut g, "x", s.dims());
    let (kc, lc) = (g.fill(k, DType::F64, &s), g.fill(l, DType::F64, &s));
    let lx = g.binary(BinOp::Mul, lc, xi);
    let y = g.binary(BinOp::Mul, kc, lx);
    g.set_output("y", y);
    let g = g.with_dtype(dtype);
    let (out, report) = simplify(&g, &SimplifyOptions::default());
    let env = leaf_env(&g, |n| vec![x; n]);
    let at = |g: &Graph| eval_outputs(g, &env, dtype).expect("evaluates")[0].1.data[0];
    println!("{}{report}", text::print(&out));
    (at(&g), at(&out))
}

#[test]
fn constants_are_not_folded_beyond_their_types_range() {
    // k·(l·x) = (k·l)·x over the reals, but k·l may overflow or underflow where l·x
    // does not: 1e30·(1e30·1e-30) is 1e30 in f32, (1e30·1e30)·1e-30 is ∞.
    for (k, x, dtype) in [
        (1e30, 1e-30, DType::F32),
        (1e-30, 1e30, DType::F32),
        (1e200, 1e-200, DType::F64),
        (1e-200, 1e200, DType::F64),
    ] {
        let (want, got) = folded_pair(k, k, x, dtype);
        assert!(want.is_finite() && want != 0.0, "{k:e}² at {x:e}: {want}");
        let agree = (got - want).abs() <= 1e-6 * want.abs();
        assert!(agree, "{k:e}² at {x:e} in {dtype:?}: {got}, not {want}");
    }
    // where k·l is a normal number the constants are still folded into one
    let (want, got) = folded_pair(3.0, 5.0, 2.0, DType::F32);
    assert_eq!((want, got), (30.0, 30.0));
}

#[test]
fn a_constant_that_is_not_finite_turns_the_real_only_rules_off() {
    // (x·c)·0 is 0 over the reals, NaN for c = ∞ (1e39 rounds to ∞ in f32): the
    // simplified graph must compute the NaN the program computes
    for (c, dtype) in [(1e39, DType::F32), (f64::INFINITY, DType::F64)] {
        let mut g = Graph::new();
        let s = Shape::matrix(2, 1);
        let x = input(&mut g, "x", s.dims());
        let cc = g.fill(c, DType::F64, &s);
        let xc = g.binary(BinOp::Mul, x, cc);
        let z = g.fill(0.0, DType::F64, &s);
        let y = g.binary(BinOp::Mul, xc, z);
        g.set_output("xc", xc);
        g.set_output("y", y);
        let g = g.with_dtype(dtype);
        let (out, report) = simplify(&g, &SimplifyOptions::default());
        assert!(report.stop_reason.contains("real_only off"), "{report}");
        let env = leaf_env(&g, |n| vec![0.5; n]);
        let v = eval_outputs(&out, &env, dtype).expect("evaluates");
        assert!(
            v[0].1.data.iter().all(|&a| a == f64::INFINITY),
            "{:?}",
            v[0]
        );
        assert!(v[1].1.data.iter().all(|a| a.is_nan()), "{:?}", v[1]);
    }
}

#[test]
fn identities_that_hold_only_on_a_domain_keep_its_nans() {
    // e^(log x), (√x)² and log x + log y are NaN for x, y < 0: the simplifier must not
    // turn them into x, x and log(x·y), which are numbers there
    let mut g = Graph::new();
    let s = Shape::matrix(2, 1);
    let x = input(&mut g, "x", s.dims());
    let y = input(&mut g, "y", s.dims());
    let lx = g.unary(UnOp::Log, x);
    let a = g.unary(UnOp::Exp, lx);
    let r = g.unary(UnOp::Sqrt, x);
    let b = g.unary(UnOp::Square, r);
    let ly = g.unary(UnOp::Log, y);
    let c = g.binary(BinOp::Add, lx, ly);
    for (name, v) in [("a", a), ("b", b), ("c", c)] {
        g.set_output(name, v);
    }
    let (out, _) = simplify(&g, &SimplifyOptions::default());
    let env = leaf_env(&g, |n| vec![-0.5; n]);
    for (name, t) in eval_outputs(&out, &env, DType::F64).expect("evaluates") {
        assert!(t.data.iter().all(|v| v.is_nan()), "{name}: {:?}", t.data);
    }
}
