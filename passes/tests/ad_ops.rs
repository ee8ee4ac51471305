//! Every op's forward (JVP) and reverse (VJP) rule against f64 central differences through
//! the interpreter, and the duality `⟨w, J v⟩ = ⟨Jᵀ w, v⟩` on random graphs.

mod ad_util;

use ad_util::*;
use nabla_ir::{BinOp, DType, Graph, Method, NodeId, Op, Shape, Tensor, UnOp};
use nabla_passes::ad::AdOptions;
use proptest::prelude::*;

type Build = Box<dyn Fn(&mut Graph, NodeId) -> NodeId>;

/// One op under test, applied to a `[4, 2]` leaf, with the interval its inputs are drawn from.
struct Case {
    name: String,
    build: Build,
    lo: f64,
    hi: f64,
}

fn case(
    name: &str,
    lo: f64,
    hi: f64,
    build: impl Fn(&mut Graph, NodeId) -> NodeId + 'static,
) -> Case {
    Case {
        name: name.into(),
        build: Box::new(build),
        lo,
        hi,
    }
}

fn constant(g: &mut Graph, shape: &[usize], seed: u64) -> NodeId {
    let t = Rng(seed).tensor(shape, -1.0, 1.0);
    tensor(g, &t)
}

fn unary_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for u in UnOp::ALL {
        // positive inputs: inside every domain (log, sqrt, recip) and away from tan's poles
        v.push(case(&format!("{}+", u.name()), 0.3, 1.3, move |g, x| {
            un(g, u, x)
        }));
        if !matches!(u, UnOp::Log | UnOp::Sqrt) {
            v.push(case(&format!("{}-", u.name()), -1.3, -0.3, move |g, x| {
                un(g, u, x)
            }));
        }
    }
    v
}

fn binary_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for b in BinOp::ALL {
        // both operands depend on x; the second is positive so div and pow are defined
        v.push(case(
            &format!("{}(x, 2+sin x)", b.name()),
            0.3,
            1.3,
            move |g, x| {
                let s = un(g, UnOp::Sin, x);
                let two = cst(g, 2.0);
                let y = bin(g, BinOp::Add, s, two);
                bin(g, b, x, y)
            },
        ));
        v.push(case(
            &format!("{}(c, x)", b.name()),
            0.3,
            1.3,
            move |g, x| {
                let c = constant(g, &[4, 2], 7);
                let c = un(g, UnOp::Exp, c);
                bin(g, b, c, x)
            },
        ));
    }
    // the second quadrant, where atan2 differs from atan(a/b) by π
    v.push(case("atan2(x, x-2)", 0.3, 1.3, move |g, x| {
        let two = cst(g, 2.0);
        let b = bin(g, BinOp::Sub, x, two);
        bin(g, BinOp::Atan2, x, b)
    }));
    for k in [-2, 0, 1, 2, 3, 5] {
        v.push(case(&format!("powi {k}"), -1.3, 1.3, move |g, x| {
            op(g, Op::Powi(k), &[x])
        }));
    }
    v
}

fn shape_cases() -> Vec<Case> {
    let sq = |g: &mut Graph, x: NodeId| un(g, UnOp::Square, x);
    let mut v = vec![
        case("broadcast [4,2]->[3,4,2]", -1.0, 1.0, move |g, x| {
            let s = sq(g, x);
            op(g, Op::Broadcast(Shape::new(&[3, 4, 2])), &[s])
        }),
        case("broadcast [4,1]->[4,3]", -1.0, 1.0, move |g, x| {
            let s = sq(g, x);
            let c = op(
                g,
                Op::Slice {
                    axis: 1,
                    start: 1,
                    len: 1,
                },
                &[s],
            );
            op(g, Op::Broadcast(Shape::new(&[4, 3])), &[c])
        }),
        case("reshape [8]", -1.0, 1.0, move |g, x| {
            let s = sq(g, x);
            op(g, Op::Reshape(Shape::new(&[8])), &[s])
        }),
        case("reshape [2,4]", -1.0, 1.0, move |g, x| {
            let s = sq(g, x);
            op(g, Op::Reshape(Shape::new(&[2, 4])), &[s])
        }),
    ];
    for axis in 0..2u8 {
        v.push(case(&format!("sum {axis}"), -1.0, 1.0, move |g, x| {
            let s = sq(g, x);
            op(g, Op::Sum(axis), &[s])
        }));
        v.push(case(&format!("mean {axis}"), -1.0, 1.0, move |g, x| {
            let s = sq(g, x);
            op(g, Op::Mean(axis), &[s])
        }));
        v.push(case(
            &format!("slice axis {axis}"),
            -1.0,
            1.0,
            move |g, x| {
                let s = sq(g, x);
                op(
                    g,
                    Op::Slice {
                        axis,
                        start: 1,
                        len: 1,
                    },
                    &[s],
                )
            },
        ));
        v.push(case(
            &format!("concat axis {axis}"),
            -1.0,
            1.0,
            move |g, x| {
                let s = un(g, UnOp::Sin, x);
                let c = constant(g, &[4, 2], 3);
                op(g, Op::Concat(axis), &[x, s, c])
            },
        ));
    }
    v
}

fn matmul_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        // x as the left operand: op(x) is [4,2] or [2,4]
        let other = match (ta, tb) {
            (false, false) => [2, 3],
            (false, true) => [3, 2],
            (true, false) => [4, 3],
            (true, true) => [3, 4],
        };
        v.push(case(
            &format!("matmul x·c ta={ta} tb={tb}"),
            -1.0,
            1.0,
            move |g, x| {
                let c = constant(g, &other, 11);
                let s = un(g, UnOp::Sin, x);
                op(g, Op::MatMul { ta, tb }, &[s, c])
            },
        ));
        let left = match (ta, tb) {
            (false, false) => [3, 4],
            (true, false) => [4, 3],
            (false, true) => [3, 2],
            (true, true) => [2, 3],
        };
        v.push(case(
            &format!("matmul c·x ta={ta} tb={tb}"),
            -1.0,
            1.0,
            move |g, x| {
                let c = constant(g, &left, 13);
                let s = un(g, UnOp::Sin, x);
                op(g, Op::MatMul { ta, tb }, &[c, s])
            },
        ));
        v.push(case(
            &format!("matmul x·x ta={ta} tb={tb}"),
            -1.0,
            1.0,
            move |g, x| {
                let s = un(g, UnOp::Sin, x);
                let a = if ta == tb {
                    op(g, Op::Reshape(Shape::new(&[2, 4])), &[s])
                } else {
                    s
                };
                op(g, Op::MatMul { ta, tb }, &[a, x])
            },
        ));
    }
    v
}

fn all_cases() -> Vec<Case> {
    let mut v = unary_cases();
    v.extend(binary_cases());
    v.extend(shape_cases());
    v.extend(matmul_cases());
    v
}

const H: f64 = 1e-6;
/// Central differences with `h = 1e-6` in f64: truncation `~h²` plus rounding `~ε/h`.
const TOL: f64 = 1e-7;

/// JVP along the all-ones direction (the meaning of `diff` of order 1), by forward and
/// Taylor mode, against `(f(x + h) - f(x - h)) / 2h`.
#[test]
fn jvp_of_every_op_matches_central_differences() {
    for (i, c) in all_cases().iter().enumerate() {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[4, 2]);
        let f = (c.build)(&mut g, x);
        g.set_output("f", f);
        let plain = g.clone();
        for m in [Method::Forward, Method::Taylor] {
            let d = diff(&mut g, f, x, 1, m);
            g.set_output(&m.name(), d);
        }
        let xv = Rng(100 + i as u64).tensor(&[4, 2], c.lo, c.hi);
        let shifted = |s: f64| {
            let mut t = xv.clone();
            t.data.iter_mut().for_each(|v| *v += s);
            eval_plain(&plain, &env(&[("x", t)]), DType::F64).remove(0)
        };
        let (fp, fm) = (shifted(H), shifted(-H));
        let fd: Vec<f64> = fp
            .data
            .iter()
            .zip(&fm.data)
            .map(|(a, b)| (a - b) / (2.0 * H))
            .collect();
        let out = eval_expanded(&g, &AdOptions::default(), &env(&[("x", xv.clone())]));
        assert_close(&format!("{} forward", c.name), &out[1].data, &fd, TOL);
        assert_close(&format!("{} taylor", c.name), &out[2].data, &fd, TOL);
    }
}

/// VJP: the gradient of `Σ w ⊙ f(p)` for a random weight `w`, against per-element central
/// differences.
#[test]
fn vjp_of_every_op_matches_central_differences() {
    for (i, c) in all_cases().iter().enumerate() {
        let mut g = Graph::new();
        let p = param(&mut g, "p", &[4, 2]);
        let f = (c.build)(&mut g, p);
        let w = Rng(200 + i as u64).tensor(g.shape(f).dims(), -1.0, 1.0);
        let w = tensor(&mut g, &w);
        let wf = bin(&mut g, BinOp::Mul, w, f);
        let loss = sum_all(&mut g, wf);
        g.set_output("loss", loss);
        let plain = g.clone();
        let level = g.fresh_level();
        let gr = op(&mut g, Op::Grad { level }, &[loss, p]);
        g.set_output("grad", gr);
        let pv = Rng(300 + i as u64).tensor(&[4, 2], c.lo, c.hi);
        let out = eval_expanded(&g, &AdOptions::default(), &env(&[("p", pv.clone())]));
        let fd: Vec<f64> = (0..8)
            .map(|k| {
                let mut at = |s: f64| {
                    let mut t = pv.clone();
                    t.data[k] += s;
                    eval_plain(&plain, &env(&[("p", t)]), DType::F64)[0].item()
                };
                central(&mut at, 0.0, H)
            })
            .collect();
        assert_close(&format!("{} vjp", c.name), &out[1].data, &fd, TOL);
    }
}

/// Higher orders of every op: Taylor's recurrences (order 3) against nested forward mode,
/// whose first-order rules the tests above check against finite differences.
#[test]
fn taylor_of_every_op_matches_nested_forward() {
    for (i, c) in all_cases().iter().enumerate() {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[4, 2]);
        let f = (c.build)(&mut g, x);
        for k in [2, 3] {
            let t = diff(&mut g, f, x, k, Method::Taylor);
            let n = diff(&mut g, f, x, k, Method::Forward);
            g.set_output(&format!("taylor {k}"), t);
            g.set_output(&format!("forward {k}"), n);
        }
        let xv = Rng(400 + i as u64).tensor(&[4, 2], c.lo, c.hi);
        let out = eval_expanded(&g, &AdOptions::default(), &env(&[("x", xv)]));
        assert_close(
            &format!("{} order 2", c.name),
            &out[0].data,
            &out[1].data,
            1e-10,
        );
        assert_close(
            &format!("{} order 3", c.name),
            &out[2].data,
            &out[3].data,
            1e-10,
        );
    }
}

/// The collapsed Taylor rules of every op (`φ''`, the bilinear cross terms) against the sum
/// of nested forward second derivatives, over two variables that both reach the op:
/// `y = x₁ + 0.1 sin x₂`, `f = op(y)`.
#[test]
fn collapsed_laplacian_of_every_op_matches_nested_forward() {
    for (i, c) in all_cases().iter().enumerate() {
        let mut g = Graph::new();
        let x1 = input(&mut g, "x1", &[4, 2]);
        let x2 = input(&mut g, "x2", &[4, 2]);
        let s = un(&mut g, UnOp::Sin, x2);
        let tenth = cst(&mut g, 0.1);
        let s = bin(&mut g, BinOp::Mul, s, tenth);
        let y = bin(&mut g, BinOp::Add, x1, s);
        let f = (c.build)(&mut g, y);
        for m in [Method::Collapsed, Method::Forward, Method::Taylor] {
            let l = laplacian(&mut g, f, &[x1, x2], m);
            g.set_output(&m.name(), l);
        }
        let mut rng = Rng(500 + i as u64);
        let e = env(&[
            ("x1", rng.tensor(&[4, 2], c.lo, c.hi)),
            ("x2", rng.tensor(&[4, 2], -1.0, 1.0)),
        ]);
        let out = eval_expanded(&g, &AdOptions::default(), &e);
        assert_close(
            &format!("{} collapsed", c.name),
            &out[0].data,
            &out[1].data,
            1e-10,
        );
        assert_close(
            &format!("{} taylor", c.name),
            &out[2].data,
            &out[1].data,
            1e-10,
        );
    }
}

/// One step of a random graph over `[3, 2]` values.
#[derive(Clone, Debug)]
enum Step {
    Unary(usize, usize),
    Binary(usize, usize, usize),
    MatMul(usize, bool),
    RowSum(usize),
    SliceConcat(usize, usize),
}

const SAFE: [UnOp; 9] = [
    UnOp::Sin,
    UnOp::Cos,
    UnOp::Tanh,
    UnOp::Sigmoid,
    UnOp::Softplus,
    UnOp::Silu,
    UnOp::Gelu,
    UnOp::Square,
    UnOp::Neg,
];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..SAFE.len(), 0..64usize).prop_map(|(u, a)| Step::Unary(u, a)),
        (0..3usize, 0..64usize, 0..64usize).prop_map(|(b, x, y)| Step::Binary(b, x, y)),
        (0..64usize, any::<bool>()).prop_map(|(a, t)| Step::MatMul(a, t)),
        (0..64usize).prop_map(Step::RowSum),
        (0..64usize, 0..64usize).prop_map(|(a, b)| Step::SliceConcat(a, b)),
    ]
}

fn apply(g: &mut Graph, pool: &mut Vec<NodeId>, s: &Step) {
    let pick = |i: usize| pool[i % pool.len()];
    let n = match *s {
        Step::Unary(u, a) => un(g, SAFE[u], pick(a)),
        Step::Binary(b, x, y) => bin(g, [BinOp::Add, BinOp::Sub, BinOp::Mul][b], pick(x), pick(y)),
        Step::MatMul(a, tb) => {
            let c = constant(g, &[2, 2], 5);
            op(g, Op::MatMul { ta: false, tb }, &[pick(a), c])
        }
        Step::RowSum(a) => {
            let s = op(g, Op::Sum(1), &[pick(a)]);
            let s = op(g, Op::Reshape(Shape::new(&[3, 1])), &[s]);
            op(g, Op::Broadcast(Shape::new(&[3, 2])), &[s])
        }
        Step::SliceConcat(a, b) => {
            let l = op(
                g,
                Op::Slice {
                    axis: 1,
                    start: 0,
                    len: 1,
                },
                &[pick(a)],
            );
            let r = op(
                g,
                Op::Slice {
                    axis: 1,
                    start: 1,
                    len: 1,
                },
                &[pick(b)],
            );
            op(g, Op::Concat(1), &[r, l])
        }
    };
    pool.push(n);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `⟨w, J v⟩` (forward mode along `v` through a scalar `s`: `f(x₀ + s v)` at `s = 0`)
    /// equals `⟨Jᵀ w, v⟩` (reverse mode w.r.t. `x₀`).
    #[test]
    fn jvp_vjp_duality(steps in proptest::collection::vec(step(), 1..10), seed in 0u64..1000) {
        let mut g = Graph::new();
        let x0 = param(&mut g, "x0", &[3, 2]);
        let s = input(&mut g, "s", &[]);
        let mut rng = Rng(seed);
        let vt = rng.tensor(&[3, 2], -1.0, 1.0);
        let wt = rng.tensor(&[3, 2], -1.0, 1.0);
        let v = tensor(&mut g, &vt);
        let w = tensor(&mut g, &wt);
        let sv = bin(&mut g, BinOp::Mul, s, v);
        let x = bin(&mut g, BinOp::Add, x0, sv);
        let mut pool = vec![x];
        for st in &steps {
            apply(&mut g, &mut pool, st);
        }
        let f = *pool.last().unwrap();
        let jv = diff(&mut g, f, s, 1, Method::Forward);
        let wjv = bin(&mut g, BinOp::Mul, w, jv);
        let wjv = sum_all(&mut g, wjv);
        let wf = bin(&mut g, BinOp::Mul, w, f);
        let loss = sum_all(&mut g, wf);
        let level = g.fresh_level();
        let jtw = op(&mut g, Op::Grad { level }, &[loss, x0]);
        g.set_output("wjv", wjv);
        g.set_output("jtw", jtw);
        let e = env(&[("x0", rng.tensor(&[3, 2], -1.0, 1.0)), ("s", Tensor::scalar(0.0))]);
        let out = eval_expanded(&g, &AdOptions::default(), &e);
        let lhs = out[0].item();
        let rhs: f64 = out[1].data.iter().zip(&vt.data).map(|(a, b)| a * b).sum();
        prop_assert!((lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
    }
}
