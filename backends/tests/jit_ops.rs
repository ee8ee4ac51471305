//! Differential tests of the Cranelift backend against the interpreter, op by op, at
//! batch sizes 1, 3, 5 and 1023, in f64 (with and without FMA), f32 (inline and libm
//! `tanh`, SIMD and scalar) and on two threads; plus binding errors.

mod jit_support;

use jit_support::{check, check_all, env, leaf, run, values};
use nabla_backends::cranelift::{compile, Error, Options};
use nabla_backends::{Executable, RunError};
use nabla_ir::{verify, BinOp, DType, Graph, Num, Op, Shape, UnOp};

#[test]
fn every_unary_op() {
    check_all(
        |n| {
            let mut g = Graph::new();
            let x = leaf(&mut g, "x", &[n, 3], false);
            for u in UnOp::ALL {
                let y = g.unary(u, x);
                g.set_output(u.name(), y);
            }
            g
        },
        0.1,
        1.4,
    );
}

#[test]
fn signed_inputs_for_odd_functions_and_sign() {
    check_all(
        |n| {
            let mut g = Graph::new();
            let x = leaf(&mut g, "x", &[n, 2], false);
            let z = g.fill(0.0, DType::F64, &Shape::new(&[n, 2]));
            let xz = g.binary(BinOp::Mul, x, z); // exact zeros for sign(0)
            let cat = g.add_or_panic(Op::Concat(1), &[x, xz]);
            for u in [
                UnOp::Neg,
                UnOp::Abs,
                UnOp::Sign,
                UnOp::Tanh,
                UnOp::Sin,
                UnOp::Exp,
            ] {
                let y = g.unary(u, cat);
                g.set_output(u.name(), y);
            }
            for u in [
                UnOp::Sigmoid,
                UnOp::Softplus,
                UnOp::Silu,
                UnOp::Gelu,
                UnOp::Cos,
            ] {
                let y = g.unary(u, x);
                g.set_output(u.name(), y);
            }
            g
        },
        -6.0,
        6.0,
    );
}

#[test]
fn tanh_saturates_and_keeps_tiny_values() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[8, 1], false);
    let t = g.unary(UnOp::Tanh, x);
    g.set_output("t", t);
    let xs = [-40.0, -8.0, -1e-6, 0.0, 3e-4, 1e-3, 9.0, 1e30];
    let e = vec![("x".to_string(), nabla_ir::Tensor::column(xs.to_vec()))];
    for o in jit_support::all_options() {
        jit_support::check_env(&g, &o, &e);
    }
}

#[test]
fn every_binary_op_and_powi() {
    check_all(
        |n| {
            let mut g = Graph::new();
            let x = leaf(&mut g, "x", &[n, 5], false);
            let y = leaf(&mut g, "y", &[n, 5], false);
            for b in BinOp::ALL {
                let v = g.binary(b, x, y);
                g.set_output(b.name(), v);
            }
            for k in [-3, -1, 0, 1, 2, 3, 7] {
                let v = g.add_or_panic(Op::Powi(k), &[x]);
                g.set_output(&format!("powi{k}"), v);
            }
            g
        },
        0.2,
        1.7,
    );
}

#[test]
fn fused_multiply_adds_in_all_positions() {
    check_all(
        |n| {
            let mut g = Graph::new();
            let a = leaf(&mut g, "a", &[n, 4], false);
            let b = leaf(&mut g, "b", &[n, 4], false);
            let c = leaf(&mut g, "c", &[n, 4], false);
            let ab = g.binary(BinOp::Mul, a, b);
            let bc = g.binary(BinOp::Mul, b, c);
            let s1 = g.binary(BinOp::Add, ab, c);
            let s2 = g.binary(BinOp::Sub, ab, c);
            let s3 = g.binary(BinOp::Sub, c, bc);
            let s4 = g.binary(BinOp::Add, s1, bc);
            let s5 = g.binary(BinOp::Mul, s2, s3);
            let s6 = g.binary(BinOp::Add, s5, s4);
            g.set_output("s6", s6);
            g
        },
        -2.0,
        2.0,
    );
}

#[test]
fn broadcasts_scalars_constants_and_rows() {
    check_all(
        |n| {
            let mut g = Graph::new();
            let x = leaf(&mut g, "x", &[n, 4], false);
            let b = leaf(&mut g, "b", &[4], true);
            let s = leaf(&mut g, "s", &[], true);
            let col = leaf(&mut g, "col", &[n, 1], false);
            let y = g.binary(BinOp::Add, x, b);
            let y = g.binary(BinOp::Mul, y, s);
            let y = g.binary(BinOp::Div, y, col);
            let c = g.constant(0.25, DType::F64);
            let y = g.binary(BinOp::Sub, y, c);
            let data: Vec<Num> = [1.0, -2.0, 3.0, 0.5].map(Num::new).into();
            let t = g.add_or_panic(
                Op::Tensor {
                    data: data.into(),
                    dtype: DType::F64,
                    shape: Shape::new(&[4]),
                },
                &[],
            );
            let y = g.binary(BinOp::Mul, y, t);
            g.set_output("y", y);
            let sb = g.broadcast(s, &Shape::new(&[n, 1]));
            let z = g.unary(UnOp::Exp, sb);
            g.set_output("z", z);
            g
        },
        0.5,
        1.5,
    );
}

#[test]
fn slices_reshapes_and_concats() {
    check_all(
        |n| {
            let mut g = Graph::new();
            let x = leaf(&mut g, "x", &[n, 3], false);
            let t = g.unary(UnOp::Sin, x);
            let c1 = g.add_or_panic(
                Op::Slice {
                    axis: 1,
                    start: 1,
                    len: 1,
                },
                &[t],
            );
            let c2 = g.add_or_panic(
                Op::Slice {
                    axis: 1,
                    start: 0,
                    len: 2,
                },
                &[x],
            );
            let y = g.binary(BinOp::Mul, c1, t);
            let r = g.add_or_panic(Op::Reshape(Shape::new(&[3 * n])), &[y]);
            let r = g.unary(UnOp::Square, r);
            let cat = g.add_or_panic(Op::Concat(1), &[c2, c1, t]);
            let rows = g.add_or_panic(Op::Concat(0), &[x, y, t]);
            let bx = g.broadcast(c1, &Shape::new(&[n, 3]));
            let rb = g.add_or_panic(Op::Reshape(Shape::new(&[n * 3, 1])), &[bx]);
            g.set_output("r", r);
            g.set_output("cat", cat);
            g.set_output("rows", rows);
            g.set_output("rb", rb);
            g
        },
        -1.0,
        1.0,
    );
}

#[test]
fn reductions_over_each_axis() {
    check_all(
        |n| {
            let mut g = Graph::new();
            let x = leaf(&mut g, "x", &[n, 6], false);
            let e = g.unary(UnOp::Cos, x);
            let s0 = g.add_or_panic(Op::Sum(0), &[e]);
            let m0 = g.add_or_panic(Op::Mean(0), &[x]);
            let s1 = g.add_or_panic(Op::Sum(1), &[e]);
            let m1 = g.add_or_panic(Op::Mean(1), &[e]);
            let all = g.add_or_panic(Op::Mean(0), &[s1]);
            let sl = g.add_or_panic(
                Op::Slice {
                    axis: 1,
                    start: 2,
                    len: 3,
                },
                &[x],
            );
            let ssl = g.add_or_panic(Op::Sum(0), &[sl]);
            for (k, v) in [
                ("s0", s0),
                ("m0", m0),
                ("s1", s1),
                ("m1", m1),
                ("all", all),
                ("ssl", ssl),
            ] {
                g.set_output(k, v);
            }
            g
        },
        -1.0,
        1.0,
    );
}

#[test]
fn products_with_every_transpose() {
    check_all(
        |n| {
            let mut g = Graph::new();
            let a = leaf(&mut g, "a", &[n, 5], false);
            let w = leaf(&mut g, "W", &[7, 5], true);
            let v = leaf(&mut g, "V", &[5, 7], true);
            let nn = leaf(&mut g, "B", &[n, 7], false);
            let p1 = g.add_or_panic(
                Op::MatMul {
                    ta: false,
                    tb: true,
                },
                &[a, w],
            );
            let p2 = g.add_or_panic(
                Op::MatMul {
                    ta: false,
                    tb: false,
                },
                &[a, v],
            );
            let p3 = g.add_or_panic(
                Op::MatMul {
                    ta: true,
                    tb: false,
                },
                &[a, nn],
            );
            let p4 = g.add_or_panic(Op::MatMul { ta: true, tb: true }, &[w, v]);
            let t = g.unary(UnOp::Tanh, p1);
            let sl = g.add_or_panic(
                Op::Slice {
                    axis: 1,
                    start: 1,
                    len: 3,
                },
                &[t],
            );
            let sq = leaf(&mut g, "S", &[3, 3], true);
            let p5 = g.add_or_panic(
                Op::MatMul {
                    ta: false,
                    tb: false,
                },
                &[sl, sq],
            );
            for (k, x) in [("p1", p1), ("p2", p2), ("p3", p3), ("p4", p4), ("p5", p5)] {
                g.set_output(k, x);
            }
            g
        },
        -1.0,
        1.0,
    );
}

#[test]
fn outputs_that_are_leaves_constants_or_repeated() {
    check_all(
        |n| {
            let mut g = Graph::new();
            let x = leaf(&mut g, "x", &[n, 2], false);
            let c = g.fill(1.5, DType::F64, &Shape::new(&[n, 2]));
            let e = g.unary(UnOp::Exp, x);
            g.set_output("x", x);
            g.set_output("c", c);
            g.set_output("e1", e);
            g.set_output("e2", e);
            let k = g.constant(2.0, DType::F64);
            g.set_output("k", k);
            g
        },
        -1.0,
        1.0,
    );
}

#[test]
fn runs_are_bitwise_reproducible_across_runs_and_thread_counts() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[4099, 8], false);
    let w = leaf(&mut g, "W", &[8, 8], true);
    let z = g.add_or_panic(
        Op::MatMul {
            ta: false,
            tb: true,
        },
        &[x, w],
    );
    let t = g.unary(UnOp::Tanh, z);
    let s = g.add_or_panic(Op::Mean(0), &[t]);
    let s1 = g.add_or_panic(Op::Sum(1), &[t]);
    g.set_output("s", s);
    g.set_output("t", t);
    g.set_output("s1", s1);
    let e = env(&g, -1.0, 1.0);
    for dtype in [DType::F32, DType::F64] {
        let one = Options {
            dtype,
            ..Options::default()
        };
        let two = Options {
            dtype,
            threads: 2,
            par_min: 1,
            ..Options::default()
        };
        let a = run(&g, &two, &e);
        let b = run(&g, &two, &e);
        assert_eq!(a, b, "two runs differ");
        let c = run(&g, &one, &e);
        // Kernels and reductions do not depend on the split; the product rows do not
        // either (each row block is one gemm call over the full inner extent).
        assert_eq!(a[0], c[0], "mean differs between 1 and 2 threads");
        assert_eq!(a[2], c[2], "row sums differ between 1 and 2 threads");
    }
}

#[test]
fn running_twice_after_rebinding_gives_new_values() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[5, 1], false);
    let y = g.unary(UnOp::Square, x);
    g.set_output("y", y);
    let info = verify(&g).unwrap();
    let mut exe = compile(&g, &info, &Options::default()).unwrap();
    exe.set("x", &[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    exe.run().unwrap();
    assert_eq!(exe.output(0), vec![1.0, 4.0, 9.0, 16.0, 25.0]);
    exe.set("x", &[-1.0, 0.5, 0.0, 2.0, 3.0]).unwrap();
    exe.run().unwrap();
    assert_eq!(exe.output(0), vec![1.0, 0.25, 0.0, 4.0, 9.0]);
}

#[test]
fn binding_errors_are_errors() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[3, 2], false);
    let w = leaf(&mut g, "W", &[2, 2], true);
    let y = g.add_or_panic(
        Op::MatMul {
            ta: false,
            tb: false,
        },
        &[x, w],
    );
    g.set_output("y", y);
    let info = verify(&g).unwrap();
    let mut exe = compile(&g, &info, &Options::default()).unwrap();
    assert!(matches!(exe.run(), Err(RunError::Unset(n)) if n == "x"));
    assert!(matches!(
        exe.set("x", &[1.0; 5]),
        Err(RunError::Length {
            expected: 6,
            found: 5,
            ..
        })
    ));
    assert!(matches!(
        exe.set("nope", &[1.0]),
        Err(RunError::UnknownName(_))
    ));
    exe.set("x", &values(6, 1, 0.0, 1.0)).unwrap();
    assert!(matches!(exe.run(), Err(RunError::Unset(n)) if n == "W"));
    assert!(matches!(exe.set("W", &[]), Err(RunError::Length { .. })));
    exe.set("W", &[1.0, 0.0, 0.0, 1.0]).unwrap();
    exe.run().unwrap();
    assert_eq!(exe.output(0).len(), 6);
    let names: Vec<&str> = exe.bindings().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["x", "W"]);
    assert_eq!(exe.output_names(), ["y"]);
}

#[test]
fn graphs_with_derivatives_and_bad_options_are_rejected() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[3, 1], false);
    let s = g.unary(UnOp::Sin, x);
    let level = g.fresh_level();
    let d = g.add_or_panic(
        Op::Diff {
            level,
            order: 1,
            method: nabla_ir::Method::Forward,
        },
        &[s, x],
    );
    g.set_output("d", d);
    let info = verify(&g).unwrap();
    assert!(matches!(
        compile(&g, &info, &Options::default()),
        Err(Error::Unexpanded(_))
    ));
    let mut h = Graph::new();
    let x = leaf(&mut h, "x", &[3, 1], false);
    h.set_output("x", x);
    let info = verify(&h).unwrap();
    let bad = Options {
        threads: 0,
        ..Options::default()
    };
    assert!(matches!(compile(&h, &info, &bad), Err(Error::Options(_))));
}

#[test]
fn f32_program_from_f64_graph_and_clif_text() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[9, 4], false);
    let b = leaf(&mut g, "b", &[4], true);
    let y = g.binary(BinOp::Add, x, b);
    let y = g.unary(UnOp::Tanh, y);
    g.set_output("y", y);
    let info = verify(&g).unwrap();
    let o = Options {
        dtype: DType::F32,
        ..Options::default()
    };
    let exe = compile(&g, &info, &o).unwrap();
    assert_eq!(exe.dtype(), DType::F32);
    let clif = exe.clif();
    assert!(clif.contains("f32x4"), "{clif}");
    assert!(clif.contains("fma"), "inline tanh uses fma: {clif}");
    check(&g, &o, -3.0, 3.0);
}
