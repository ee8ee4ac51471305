//! The Cranelift backend's executable beyond values: runs reproducible bit for bit across
//! runs and thread counts, copies that share code but not buffers, rebinding, binding
//! errors, rejected graphs and options, and the CLIF of an f32 program.
//!
//! Values op by op are file tests: `tests/filetests/run/*.ir` run every graph there on the
//! interpreter and on the JIT in every option set (`test run interp cpu opencl`), and
//! `nabla-filetests`' random graphs cover batch sizes 1, 3, 5 and 1023.

mod jit_support;

use jit_support::{all_options, check, env, leaf, run, values};
use nabla_backends::cranelift::{compile, compile_copies, Error, Options};
use nabla_backends::{Executable, RunError};
use nabla_ir::testing::sums_reusing_terms;
use nabla_ir::{verify, BinOp, DType, Graph, NodeId, Op, UnOp};

/// `tanh(x·Wᵀ)` with the leaves `x: [rows, w]` (an input) and `W: [w, w]` (a param).
fn tanh_layer(g: &mut Graph, rows: usize, w: usize) -> NodeId {
    let x = leaf(g, "x", &[rows, w], false);
    let weight = leaf(g, "W", &[w, w], true);
    let z = g.add_or_panic(
        Op::MatMul {
            ta: false,
            tb: true,
        },
        &[x, weight],
    );
    g.unary(UnOp::Tanh, z)
}

#[test]
fn runs_are_bitwise_reproducible_across_runs_and_thread_counts() {
    let mut g = Graph::new();
    let t = tanh_layer(&mut g, 4099, 8);
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
        // the product's kernel is chosen by the whole product, not by a thread's rows
        assert_eq!(
            a[1], c[1],
            "tanh of the product differs between 1 and 2 threads"
        );
        assert_eq!(a[2], c[2], "row sums differ between 1 and 2 threads");
    }
}

/// Three copies of one compiled program (calling host functions), each bound to other
/// inputs and run at once on its own thread, give the bits of a program compiled alone
/// for those inputs. (Kernels compiled on several threads are covered by every test
/// that runs with `threads: 2`.)
#[test]
fn copies_share_code_and_keep_their_own_buffers() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[257, 6], false);
    let w = leaf(&mut g, "W", &[6, 6], true);
    let z = g.add_or_panic(
        Op::MatMul {
            ta: false,
            tb: true,
        },
        &[x, w],
    );
    let (t, e, sn) = (
        g.unary(UnOp::Tanh, z),
        g.unary(UnOp::Exp, x),
        g.unary(UnOp::Sin, z),
    );
    let p = g.binary(BinOp::Mul, t, sn);
    let q = g.binary(BinOp::Add, p, e);
    let s = g.add_or_panic(Op::Mean(0), &[q]);
    g.set_output("q", q);
    g.set_output("s", s);
    let info = verify(&g).unwrap();
    for dtype in [DType::F32, DType::F64] {
        let o = Options {
            dtype,
            ..Options::default()
        };
        let envs: Vec<_> = (0..3)
            .map(|i| env(&g, -1.0 - i as f64, 1.0 + i as f64))
            .collect();
        let alone: Vec<_> = envs.iter().map(|e| run(&g, &o, e)).collect();
        let copies = compile_copies(&g, &info, &o, 3).unwrap();
        assert_eq!(copies.len(), 3);
        let got: Vec<Vec<Vec<f64>>> = std::thread::scope(|sc| {
            let hs: Vec<_> = (copies.into_iter().zip(&envs))
                .map(|(mut exe, e)| {
                    sc.spawn(move || {
                        for (name, t) in e {
                            exe.set(name, &t.data).unwrap();
                        }
                        exe.run().unwrap();
                        (0..2).map(|i| exe.output(i)).collect()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, (a, b)) in got.iter().zip(&alone).enumerate() {
            assert_eq!(
                a, b,
                "copy {i} ({dtype:?}) differs from a program of its own"
            );
        }
        assert_ne!(got[0], got[1], "the copies were bound to different inputs");
    }
}

/// The machine code lives as long as any copy: with two of three copies dropped (the
/// code is freed with the last), the third still runs and gives a lone program's bits.
#[test]
fn a_copy_runs_after_the_others_are_dropped() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[33, 3], false);
    let t = g.unary(UnOp::Tanh, x);
    let s = g.unary(UnOp::Sin, t);
    g.set_output("s", s);
    let info = verify(&g).unwrap();
    let o = Options::default();
    let e = env(&g, -2.0, 2.0);
    let mut copies = compile_copies(&g, &info, &o, 3).unwrap();
    let mut last = copies.pop().unwrap();
    drop(copies);
    for (name, t) in &e {
        last.set(name, &t.data).unwrap();
    }
    last.run().unwrap();
    assert_eq!(vec![last.output(0)], run(&g, &o, &e));
}

/// One executable run many times by 2–4 threads claiming chunks, with a spinning thread
/// competing for the cores: every run gives the first run's bits.
#[test]
fn dynamically_claimed_chunks_reproduce_every_run() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[2053, 16], false);
    let w = leaf(&mut g, "W", &[16, 16], true);
    let mut h = x;
    for _ in 0..6 {
        let z = g.add_or_panic(
            Op::MatMul {
                ta: false,
                tb: true,
            },
            &[h, w],
        );
        h = g.unary(UnOp::Tanh, z);
    }
    let s = g.add_or_panic(Op::Mean(0), &[h]);
    g.set_output("s", s);
    g.set_output("h", h);
    let e = env(&g, -1.0, 1.0);
    let info = verify(&g).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    };
    let single = run(&g, &Options::default(), &e);
    for threads in [2, 3, 4] {
        let opts = Options {
            threads,
            par_min: 1,
            ..Options::default()
        };
        let mut exe = compile(&g, &info, &opts).unwrap();
        for (name, t) in &e {
            exe.set(name, &t.data).unwrap();
        }
        let mut first = None;
        for k in 0..200 {
            exe.run().unwrap();
            let out: Vec<Vec<f64>> = (0..2).map(|i| exe.output(i)).collect();
            match &first {
                None => first = Some(out),
                Some(f) => assert_eq!(f, &out, "{threads} threads, run {k}"),
            }
        }
        let first = first.unwrap();
        for (a, b) in first[1].iter().zip(&single[1]) {
            assert!(
                (a - b).abs() <= 1e-12,
                "{threads} threads against one: {a} vs {b}"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().unwrap();
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

/// `output_into` writes exactly `output`'s values, on the JIT in both types and on the
/// interpreter (the trait's own way), and a slice of another length is an error that
/// leaves it as it was.
#[test]
fn outputs_read_into_a_slice_are_the_outputs() {
    let mut g = Graph::new();
    let t = tanh_layer(&mut g, 33, 5);
    let s = g.add_or_panic(Op::Sum(0), &[t]);
    g.set_output("t", t);
    g.set_output("s", s);
    let info = verify(&g).unwrap();
    let e = env(&g, -1.0, 1.0);
    let mut exes: Vec<Box<dyn Executable>> = [DType::F32, DType::F64]
        .map(|dtype| {
            let opts = Options {
                dtype,
                ..Options::default()
            };
            Box::new(compile(&g, &info, &opts).unwrap()) as Box<dyn Executable>
        })
        .into_iter()
        .collect();
    let opts = nabla_backends::interp::Options { dtype: DType::F64 };
    exes.push(Box::new(nabla_backends::interp::compile(&g, &info, &opts)));
    for exe in &mut exes {
        for (name, v) in &e {
            exe.set(name, &v.data).unwrap();
        }
        exe.run().unwrap();
        for (i, len) in [(0, 33 * 5), (1, 5)] {
            let whole = exe.output(i);
            let mut into = vec![f64::NAN; len];
            exe.output_into(i, &mut into).unwrap();
            assert_eq!(
                whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                into.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "output {i} in {:?}",
                exe.dtype()
            );
            let mut short = vec![7.0; len - 1];
            assert!(matches!(
                exe.output_into(i, &mut short),
                Err(RunError::OutputLength { index, expected, found })
                    if index == i && expected == len - 1 && found == len
            ));
            assert!(short.iter().all(|&v| v == 7.0), "the slice was written");
        }
    }
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
        keep_clif: true,
        ..Options::default()
    };
    let exe = compile(&g, &info, &o).unwrap();
    assert_eq!(exe.dtype(), DType::F32);
    let clif = exe.clif().expect("kept");
    assert!(clif.contains("f32x4"), "{clif}");
    assert!(clif.contains("fma"), "inline tanh uses fma: {clif}");
    check(&g, &o, -3.0, 3.0);
}

/// A sum over 3000 inputs whose terms are used again after it (as a 10⁴-dimensional
/// right-hand side uses every coordinate in several sums): the scheduler cuts the kernel
/// at its operation limit, so no kernel keeps thousands of values in spill slots (at
/// D = 10⁴ one kernel's 2 MB frame overflowed a worker thread's stack), and the cut
/// program agrees with the interpreter on two threads.
#[test]
fn a_sum_over_thousands_of_inputs_is_cut_into_kernels_and_agrees() {
    let g = sums_reusing_terms(3000, 64);
    for dtype in [DType::F64, DType::F32] {
        let opts = Options {
            dtype,
            threads: 2,
            par_min: 1,
            ..Options::default()
        };
        check(&g, &opts, -1.0, 1.0);
    }
}

/// Products on both sides of the line between `nano-gemm` and `gemm` (width under 32 in
/// f32, under 16 in f64, in `cranelift::runtime`), each in the three forms a network's
/// layers take: forward `[rows, w]·[w, w]`, back through the weight `[rows, w]·[w, w]ᵀ`,
/// and the weight's gradient `[rows, w]ᵀ·[rows, w]` (inner extent `rows`), alone and as
/// sums of three, agree with the interpreter in every option set (f32, f64, two threads
/// cutting the rows); at 100 wide (130 rows) f64 products go through `faer`.
#[test]
fn narrow_and_wide_products_agree_with_the_interpreter() {
    for w in [1, 3, 12, 15, 16, 20, 31, 32, 40, 100] {
        for (ta, tb) in [(false, false), (false, true), (true, false)] {
            let mut g = Graph::new();
            // at 100 wide, 130 rows: every form reaches `faer` in f64
            let rows = if w >= 100 { 130 } else { 67 };
            let x = leaf(&mut g, "x", &[rows, w], false);
            let y = if ta {
                leaf(&mut g, "y", &[rows, w], false)
            } else {
                leaf(&mut g, "W", &[w, w], true)
            };
            let z = g.add_or_panic(Op::MatMul { ta, tb }, &[x, y]);
            g.set_output("z", z);
            for o in all_options() {
                check(&g, &o, -1.0, 1.0);
            }
            let sum = sum_of_products(w, (ta, tb));
            for o in all_options() {
                check(&sum, &o, -1.0, 1.0);
            }
        }
    }
}

/// `Σᵢ xᵢ·yᵢ` over three products of one form, which the schedule forms in place (the
/// later products add to the first's result, through the same kernel choice).
fn sum_of_products(w: usize, (ta, tb): (bool, bool)) -> Graph {
    let mut g = Graph::new();
    let mut sum = None;
    let rows = if w >= 100 { 130 } else { 67 };
    for i in 0..3 {
        let x = leaf(&mut g, &format!("x{i}"), &[rows, w], false);
        let y = if ta {
            leaf(&mut g, &format!("y{i}"), &[rows, w], false)
        } else {
            leaf(&mut g, &format!("W{i}"), &[w, w], true)
        };
        let z = g.add_or_panic(Op::MatMul { ta, tb }, &[x, y]);
        sum = Some(match sum {
            None => z,
            Some(s) => g.binary(BinOp::Add, s, z),
        });
    }
    g.set_output("sum", sum.expect("three terms"));
    g
}

/// A product whose rows two threads cut below the narrow kernels' line (`[40, 30]·[30,
/// 20]`: 20 rows each, but 30 inner) takes the whole product's kernel on every thread, so
/// one and two threads give the same bits, in f32 and f64.
#[test]
fn a_product_takes_one_kernel_whatever_the_cut() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[40, 30], false);
    let w = leaf(&mut g, "W", &[30, 20], true);
    let z = g.add_or_panic(
        Op::MatMul {
            ta: false,
            tb: false,
        },
        &[x, w],
    );
    g.set_output("z", z);
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
        assert_eq!(run(&g, &one, &e), run(&g, &two, &e), "{dtype:?}");
    }
}
