//! The interpreter against values computed independently: closed forms, std f64 math
//! written out here, and hand loops over explicitly indexed matrices.

use nabla_ir::interp::{eval, eval_outputs, Env, InterpError};
use nabla_ir::testing::input;
use nabla_ir::{BinOp, DType, Graph, Level, Method, NodeId, Num, Op, Shape, Tensor, UnOp};

fn tensor(g: &mut Graph, dims: &[usize], data: &[f64]) -> NodeId {
    let op = Op::Tensor {
        data: data.iter().map(|v| Num::new(*v)).collect(),
        dtype: DType::F64,
        shape: Shape::new(dims),
    };
    g.add(op, &[]).unwrap()
}

fn env(bindings: &[(&str, &[usize], &[f64])]) -> Env {
    bindings
        .iter()
        .map(|(n, d, v)| (n.to_string(), Tensor::new(Shape::new(d), v.to_vec())))
        .collect()
}

fn run(g: &Graph, root: NodeId, env: &Env) -> Tensor {
    eval(g, &[root], env, DType::F64).unwrap().remove(0)
}

/// `|a - b| <= tol · max(1, |b|)` elementwise, NaN only where NaN is expected.
fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let ok = if b.is_nan() {
            a.is_nan()
        } else {
            (a - b).abs() <= tol * b.abs().max(1.0) || a == b
        };
        assert!(ok, "element {i}: got {a:e}, want {b:e}");
    }
}

/// The reference formulas, written out from their textbook definitions.
fn reference(u: UnOp, x: f64) -> f64 {
    match u {
        UnOp::Neg => -x,
        UnOp::Exp => x.exp(),
        UnOp::Log => x.ln(),
        UnOp::Sin => x.sin(),
        UnOp::Cos => x.cos(),
        UnOp::Tan => x.sin() / x.cos(),
        UnOp::Tanh => (x.exp() - (-x).exp()) / (x.exp() + (-x).exp()),
        UnOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnOp::Softplus => (1.0 + x.exp()).ln(),
        UnOp::Silu => x / (1.0 + (-x).exp()),
        UnOp::Gelu => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
        UnOp::Sqrt => x.sqrt(),
        UnOp::Abs => x.abs(),
        UnOp::Square => x * x,
        UnOp::Recip => 1.0 / x,
        UnOp::Sign => [-1.0, 0.0, 1.0][(x > 0.0) as usize + (x >= 0.0) as usize],
    }
}

#[test]
fn unary_ops_match_reference_formulas() {
    let xs: Vec<f64> = (0..13).map(|i| -3.0 + 0.5 * i as f64 + 0.01).collect();
    for u in UnOp::ALL {
        let pos = matches!(u, UnOp::Log | UnOp::Sqrt);
        let data: Vec<f64> = xs.iter().map(|x| if pos { x.abs() } else { *x }).collect();
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[13, 1]);
        let y = g.unary(u, x);
        let got = run(&g, y, &env(&[("x", &[13, 1], &data)]));
        let want: Vec<f64> = data.iter().map(|x| reference(u, *x)).collect();
        assert_close(&got.data, &want, 1e-13);
    }
}

/// Where the naive formulas overflow, the interpreter must still give the limits.
#[test]
fn activations_are_stable_for_large_arguments() {
    let xs = [-800.0, -40.0, 40.0, 800.0];
    let cases: [(UnOp, [f64; 4]); 4] = [
        (
            UnOp::Sigmoid,
            [0.0, (-40f64).exp() / (1.0 + (-40f64).exp()), 1.0, 1.0],
        ),
        // softplus(x) = x + log(1 + e^-x); for x = -40 it is log1p(e^-40) ≈ e^-40.
        (UnOp::Softplus, [0.0, (-40f64).exp(), 40.0, 800.0]),
        (UnOp::Silu, [0.0, -40.0 * (-40f64).exp(), 40.0, 800.0]),
        (UnOp::Gelu, [0.0, 0.0, 40.0, 800.0]),
    ];
    for (u, want) in cases {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[4]);
        let y = g.unary(u, x);
        let got = run(&g, y, &env(&[("x", &[4], &xs)]));
        assert_close(&got.data, &want, 1e-12);
        assert!(
            got.data.iter().all(|v| v.is_finite()),
            "{u:?}: {:?}",
            got.data
        );
    }
}

#[test]
fn sign_of_zero_and_nan() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[4]);
    let y = g.unary(UnOp::Sign, x);
    let got = run(&g, y, &env(&[("x", &[4], &[-2.0, 0.0, 3.0, f64::NAN])]));
    assert_eq!(&got.data[..3], &[-1.0, 0.0, 1.0]);
    assert!(got.data[3].is_nan());
}

#[test]
fn binary_ops_elementwise() {
    let a = [1.5, -2.0, 0.25, 4.0];
    let b = [2.0, 3.0, -0.5, 0.5];
    let want = |op: BinOp| -> Vec<f64> {
        let f = |x: f64, y: f64| match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
            BinOp::Pow => (y * x.abs().ln()).exp() * if x < 0.0 { -1.0 } else { 1.0 },
            // the angle of (y, x) from the principal arctangent, moved by π when y < 0
            BinOp::Atan2 if y > 0.0 => (x / y).atan(),
            BinOp::Atan2 => (x / y).atan() + std::f64::consts::PI * x.signum(),
        };
        a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect()
    };
    for op in BinOp::ALL {
        let mut g = Graph::new();
        let x = input(&mut g, "a", &[4]);
        let y = input(&mut g, "b", &[4]);
        let z = g.binary(op, x, y);
        let got = run(&g, z, &env(&[("a", &[4], &a), ("b", &[4], &b)]));
        // (-2)^3 = -8 is the only negative base, with an odd integer exponent.
        assert_close(&got.data, &want(op), 1e-14);
    }
}

/// `pow` is the real power `powf`: a negative base with a non-integer exponent is NaN.
#[test]
fn pow_of_negative_base_with_fractional_exponent_is_nan() {
    let mut g = Graph::new();
    let x = input(&mut g, "a", &[2]);
    let y = tensor(&mut g, &[2], &[0.5, 2.0]);
    let z = g.binary(BinOp::Pow, x, y);
    let got = run(&g, z, &env(&[("a", &[2], &[-4.0, -3.0])]));
    assert!(got.data[0].is_nan());
    assert_eq!(got.data[1], 9.0);
}

#[test]
fn powi_with_negative_base_and_exponent() {
    let xs = [-1.5, -2.0, 3.0, -0.5];
    // (-1.5)^n for n = -3..=3 by hand: -1/3.375, 1/2.25, -1/1.5, 1, -1.5, 2.25, -3.375.
    let cases: [(i32, [f64; 4]); 7] = [
        (-3, [-1.0 / 3.375, -0.125, 1.0 / 27.0, -8.0]),
        (-2, [1.0 / 2.25, 0.25, 1.0 / 9.0, 4.0]),
        (-1, [-1.0 / 1.5, -0.5, 1.0 / 3.0, -2.0]),
        (0, [1.0, 1.0, 1.0, 1.0]),
        (1, xs),
        (2, [2.25, 4.0, 9.0, 0.25]),
        (5, [-7.59375, -32.0, 243.0, -0.03125]),
    ];
    for (n, want) in cases {
        let mut g = Graph::new();
        let x = input(&mut g, "x", &[4]);
        let y = g.add(Op::Powi(n), &[x]).unwrap();
        let got = run(&g, y, &env(&[("x", &[4], &xs)]));
        assert_close(&got.data, &want, 4.0 * f64::EPSILON);
    }
}

#[test]
fn broadcasting_scalar_row_and_column() {
    let (n, k) = (3, 2);
    let mut g = Graph::new();
    let s = g.constant(2.5, DType::F64);
    let row = tensor(&mut g, &[k], &[10.0, 20.0]);
    let col = input(&mut g, "c", &[n, 1]);
    let to = Shape::matrix(n, k);
    let bs = g.broadcast(s, &to);
    let br = g.broadcast(row, &to);
    let bc = g.broadcast(col, &to);
    let sum = g.binary(BinOp::Add, col, row);
    let e = env(&[("c", &[n, 1], &[1.0, 2.0, 3.0])]);
    let got = eval(&g, &[bs, br, bc, sum], &e, DType::F64).unwrap();
    assert_eq!(got[0].data, vec![2.5; 6]);
    assert_eq!(got[1].data, vec![10.0, 20.0, 10.0, 20.0, 10.0, 20.0]);
    assert_eq!(got[2].data, vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
    assert_eq!(got[3].data, vec![11.0, 21.0, 12.0, 22.0, 13.0, 23.0]);
    assert_eq!(got[3].shape, to);
}

#[test]
fn broadcasting_inner_unit_axis_of_rank_three() {
    let mut g = Graph::new();
    let a = tensor(&mut g, &[2, 1, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = g.broadcast(a, &Shape::new(&[2, 2, 3]));
    let got = run(&g, b, &Env::new());
    let want = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 4.0, 5.0, 6.0];
    assert_eq!(got.data, want);
}

/// A `rows × cols` matrix as nested vectors, entries `f(i, j)`.
fn matrix(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Vec<Vec<f64>> {
    (0..rows)
        .map(|i| (0..cols).map(|j| f(i, j)).collect())
        .collect()
}

fn transpose(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
    matrix(m[0].len(), m.len(), |i, j| m[j][i])
}

fn flat(m: &[Vec<f64>]) -> Vec<f64> {
    m.iter().flatten().copied().collect()
}

#[test]
fn matmul_all_flag_combinations_match_a_hand_loop() {
    let (m, k, n) = (2, 3, 4);
    let a = matrix(m, k, |i, j| 1.0 + i as f64 - 0.5 * j as f64);
    let b = matrix(k, n, |i, j| (i * n + j) as f64 * 0.25 - 1.0);
    let mut c = vec![vec![0.0; n]; m];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            for p in 0..k {
                *v += a[i][p] * b[p][j];
            }
        }
    }
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let sa = if ta { transpose(&a) } else { a.clone() };
        let sb = if tb { transpose(&b) } else { b.clone() };
        let mut g = Graph::new();
        let x = tensor(&mut g, &[sa.len(), sa[0].len()], &flat(&sa));
        let y = tensor(&mut g, &[sb.len(), sb[0].len()], &flat(&sb));
        let z = g.add(Op::MatMul { ta, tb }, &[x, y]).unwrap();
        let got = run(&g, z, &Env::new());
        assert_eq!(got.shape, Shape::matrix(m, n), "flags {ta} {tb}");
        assert_close(&got.data, &flat(&c), 1e-15);
    }
}

#[test]
fn sum_and_mean_over_each_axis() {
    // t[i][j][l] = 100 i + 10 j + l over [2, 3, 2].
    let dims = [2, 3, 2];
    let val = |i: usize, j: usize, l: usize| (100 * i + 10 * j + l) as f64;
    let mut data = vec![];
    for i in 0..2 {
        for j in 0..3 {
            for l in 0..2 {
                data.push(val(i, j, l));
            }
        }
    }
    let want_sum: [Vec<f64>; 3] = [
        // axis 0: Σ_i → [3, 2]
        (0..3)
            .flat_map(|j| (0..2).map(move |l| val(0, j, l) + val(1, j, l)))
            .collect(),
        // axis 1: Σ_j → [2, 2]
        (0..2)
            .flat_map(|i| (0..2).map(move |l| (0..3).map(|j| val(i, j, l)).sum()))
            .collect(),
        // axis 2: Σ_l → [2, 3]
        (0..2)
            .flat_map(|i| (0..3).map(move |j| val(i, j, 0) + val(i, j, 1)))
            .collect(),
    ];
    for axis in 0..3u8 {
        let mut g = Graph::new();
        let t = tensor(&mut g, &dims, &data);
        let s = g.add(Op::Sum(axis), &[t]).unwrap();
        let m = g.add(Op::Mean(axis), &[t]).unwrap();
        let got = eval(&g, &[s, m], &Env::new(), DType::F64).unwrap();
        let extent = dims[axis as usize] as f64;
        let want_mean: Vec<f64> = want_sum[axis as usize].iter().map(|v| v / extent).collect();
        assert_eq!(got[0].data, want_sum[axis as usize], "sum axis {axis}");
        assert_close(&got[1].data, &want_mean, 1e-15);
        let mut kept = dims.to_vec();
        kept.remove(axis as usize);
        assert_eq!(got[0].shape, Shape::new(&kept));
    }
}

#[test]
fn sum_of_a_vector_is_a_scalar() {
    let mut g = Graph::new();
    let t = tensor(&mut g, &[4], &[1.0, 2.0, 3.0, 4.5]);
    let s = g.add(Op::Mean(0), &[t]).unwrap();
    let got = run(&g, s, &Env::new());
    assert_eq!(got.shape, Shape::scalar());
    assert_eq!(got.item(), 2.625);
}

#[test]
fn slice_on_both_axes() {
    // [3, 4] with t[i][j] = 10 i + j.
    let data: Vec<f64> = (0..12).map(|f| (10 * (f / 4) + f % 4) as f64).collect();
    let mut g = Graph::new();
    let t = tensor(&mut g, &[3, 4], &data);
    let rows = g
        .add(
            Op::Slice {
                axis: 0,
                start: 1,
                len: 2,
            },
            &[t],
        )
        .unwrap();
    let col = g
        .add(
            Op::Slice {
                axis: 1,
                start: 2,
                len: 1,
            },
            &[t],
        )
        .unwrap();
    let got = eval(&g, &[rows, col], &Env::new(), DType::F64).unwrap();
    assert_eq!(got[0].shape, Shape::matrix(2, 4));
    assert_eq!(
        got[0].data,
        [10.0, 11.0, 12.0, 13.0, 20.0, 21.0, 22.0, 23.0]
    );
    assert_eq!(got[1].shape, Shape::matrix(3, 1));
    assert_eq!(got[1].data, [2.0, 12.0, 22.0]);
}

#[test]
fn concat_on_both_axes() {
    let mut g = Graph::new();
    let a = tensor(&mut g, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let b = tensor(&mut g, &[2, 1], &[5.0, 6.0]);
    let c = tensor(&mut g, &[1, 2], &[7.0, 8.0]);
    let cols = g.add(Op::Concat(1), &[a, b, a]).unwrap();
    let rows = g.add(Op::Concat(0), &[c, a]).unwrap();
    let got = eval(&g, &[cols, rows], &Env::new(), DType::F64).unwrap();
    assert_eq!(got[0].shape, Shape::matrix(2, 5));
    assert_eq!(
        got[0].data,
        [1.0, 2.0, 5.0, 1.0, 2.0, 3.0, 4.0, 6.0, 3.0, 4.0]
    );
    assert_eq!(got[1].shape, Shape::matrix(3, 2));
    assert_eq!(got[1].data, [7.0, 8.0, 1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn reshape_keeps_row_major_order() {
    let mut g = Graph::new();
    let t = tensor(&mut g, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let r = g.add(Op::Reshape(Shape::matrix(3, 2)), &[t]).unwrap();
    let col = g
        .add(
            Op::Slice {
                axis: 1,
                start: 1,
                len: 1,
            },
            &[r],
        )
        .unwrap();
    let got = run(&g, col, &Env::new());
    assert_eq!(got.data, [2.0, 4.0, 6.0]);
}

/// In f32 mode every value is rounded to f32 after each op. For `*` and `+` of f32 values
/// the f64 result is exact here, so one rounding gives exactly the f32 operation.
#[test]
fn f32_mode_rounds_every_value() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2]);
    let c = g.constant(0.1, DType::F64);
    let c = g.broadcast(c, &Shape::new(&[2]));
    let p = g.binary(BinOp::Mul, x, c);
    let s = g.binary(BinOp::Add, p, x);
    let e = g.unary(UnOp::Exp, s);
    let xs = [1.0 / 3.0, 2.7];
    let bindings = env(&[("x", &[2], &xs)]);
    let got32 = eval(&g, &[c, p, s, e], &bindings, DType::F32).unwrap();
    let got64 = eval(&g, &[e], &bindings, DType::F64).unwrap();
    for (i, &xi) in xs.iter().enumerate() {
        let x32 = xi as f32;
        let p32 = x32 * 0.1f32;
        let s32 = p32 + x32;
        let e32 = ((s32 as f64).exp()) as f32;
        assert_eq!(got32[0].data[i], 0.1f32 as f64);
        assert_eq!(got32[1].data[i], p32 as f64);
        assert_eq!(got32[2].data[i], s32 as f64);
        assert_eq!(got32[3].data[i], e32 as f64);
        let exact = (xi * 0.1 + xi).exp();
        assert!((got64[0].data[i] - exact).abs() < 1e-14 * exact);
        assert_ne!(got32[3].data[i], got64[0].data[i]);
    }
}

#[test]
fn eval_outputs_in_order() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2]);
    let y = g.unary(UnOp::Neg, x);
    g.set_output("b", y);
    g.set_output("a", x);
    let out = eval_outputs(&g, &env(&[("x", &[2], &[1.0, -2.0])]), DType::F64).unwrap();
    assert_eq!(out[0].0, "b");
    assert_eq!(out[0].1.data, [-1.0, 2.0]);
    assert_eq!(out[1].0, "a");
}

#[test]
fn missing_and_misshapen_leaves_are_errors() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2, 1]);
    let p = g
        .add(
            Op::Param {
                name: "w".into(),
                dtype: DType::F64,
                shape: Shape::new(&[2, 1]),
            },
            &[],
        )
        .unwrap();
    let y = g.binary(BinOp::Mul, x, p);
    let only_x = env(&[("x", &[2, 1], &[1.0, 2.0])]);
    let err = eval(&g, &[y], &only_x, DType::F64).unwrap_err();
    assert_eq!(
        err,
        InterpError::Missing {
            kind: "param",
            name: "w".into(),
            node: p
        }
    );
    assert_eq!(err.to_string(), "no value given for param `w` (%1)");
    let err = eval(&g, &[y], &Env::new(), DType::F64).unwrap_err();
    assert!(matches!(err, InterpError::Missing { kind: "input", .. }));

    let wrong = env(&[("x", &[2], &[1.0, 2.0]), ("w", &[2, 1], &[1.0, 2.0])]);
    let err = eval(&g, &[y], &wrong, DType::F64).unwrap_err();
    assert_eq!(err.to_string(), "`x` (%0) expects shape [2,1], found [2]");

    // A tensor whose data disagrees with its own shape is refused, not indexed.
    let mut bad = only_x.clone();
    let lying = Tensor {
        shape: Shape::new(&[2, 1]),
        data: vec![1.0],
    };
    bad.insert("w".into(), lying);
    let err = eval(&g, &[y], &bad, DType::F64).unwrap_err();
    assert!(matches!(err, InterpError::WrongShape { node, .. } if node == p));
}

#[test]
fn unexpanded_operators_and_unknown_roots_are_errors() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[2]);
    let d = g
        .add(
            Op::Diff {
                level: Level(0),
                order: 1,
                method: Method::Auto,
            },
            &[x, x],
        )
        .unwrap();
    let e = env(&[("x", &[2], &[1.0, 2.0])]);
    let err = eval(&g, &[d], &e, DType::F64).unwrap_err();
    assert_eq!(
        err,
        InterpError::Unexpanded {
            node: d,
            op: "diff"
        }
    );
    let err = eval(&g, &[NodeId(7)], &e, DType::F64).unwrap_err();
    assert_eq!(err.to_string(), "%7 is not a node of this graph (2 nodes)");
    // Only live nodes are evaluated: the unexpanded diff does not block `x`.
    assert_eq!(run(&g, x, &e).data, [1.0, 2.0]);
}

/// Sums start from `+0.0` in `sum`, `mean` and `matmul` alike: an empty inner extent and a
/// sum of negative zeros both give `+0.0` (`0.0 + -0.0 = +0.0`).
#[test]
fn sums_start_from_positive_zero() {
    let mut g = Graph::new();
    let a = tensor(&mut g, &[2, 0], &[]);
    let b = tensor(&mut g, &[0, 1], &[]);
    let empty = g
        .add(
            Op::MatMul {
                ta: false,
                tb: false,
            },
            &[a, b],
        )
        .unwrap();
    let z = tensor(&mut g, &[1, 2], &[-0.0, -0.0]);
    let one = tensor(&mut g, &[2, 1], &[1.0, 1.0]);
    let negzeros = g
        .add(
            Op::MatMul {
                ta: false,
                tb: false,
            },
            &[z, one],
        )
        .unwrap();
    let summed = g.add(Op::Sum(1), &[z]).unwrap();
    let got = eval(&g, &[empty, negzeros, summed], &Env::new(), DType::F64).unwrap();
    assert_eq!(got[0].shape, Shape::matrix(2, 1));
    for t in &got {
        assert!(t.data.iter().all(|v| v.to_bits() == 0), "{:?}", t.data);
    }
}
