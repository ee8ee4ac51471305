//! Scheduler tests: the scheduled program, run by [`super::reference`], must agree with
//! the graph interpreter; fusion and the memory plan must have the stated shape.

use super::{memory::touched, reference, schedule, BufKind, ScheduleOptions, Step};
use nabla_ir::testing::{leaf, mlp_named, sums_reusing_terms};
use nabla_ir::{interp, verify, BinOp, DType, Graph, NodeId, Op, Shape, Tensor, UnOp};
use std::collections::HashMap;

/// Deterministic values in (0.1, 1.1) for every leaf of `g`.
fn env(g: &Graph) -> HashMap<String, Vec<f64>> {
    let info = verify(g).unwrap();
    let mut out = HashMap::new();
    for (i, (name, id)) in info.leaves().enumerate() {
        let n = g.shape(*id).numel();
        let v = (0..n)
            .map(|j| 0.1 + ((j * 7 + i * 13) % 17) as f64 / 17.0)
            .collect();
        out.insert(name.clone(), v);
    }
    out
}

/// Schedules `g` (fused and unfused) and compares every output with the interpreter.
fn check(g: &Graph) -> super::Program {
    check_with(g, &ScheduleOptions::default())
}

/// [`check`] with `base`'s options other than fusion.
fn check_with(g: &Graph, base: &ScheduleOptions) -> super::Program {
    let info = verify(g).unwrap();
    let env = env(g);
    let ienv: interp::Env = env
        .iter()
        .map(|(n, v)| {
            let id = info.leaves().find(|l| &l.0 == n).unwrap().1;
            (n.clone(), Tensor::new(g.shape(id).clone(), v.clone()))
        })
        .collect();
    let want = interp::eval_outputs(g, &ienv, DType::F64).unwrap();
    let mut fused = None;
    for fuse in [true, false] {
        let opts = ScheduleOptions {
            fuse,
            ..base.clone()
        };
        let p = schedule(g, &info, &opts);
        check_plan(&p);
        let got = reference::run(&p, &env);
        for ((name, w), v) in want.iter().zip(&got) {
            assert_eq!(w.data.len(), v.len(), "{name}");
            for (a, b) in w.data.iter().zip(v) {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
                    "{name}: {a} vs {b}\n{p}"
                );
            }
        }
        fused.get_or_insert(p);
    }
    fused.unwrap()
}

/// Temporaries whose live ranges overlap must not share memory.
fn check_plan(p: &super::Program) {
    let n = p.buffers.len();
    let (mut first, mut last) = (vec![usize::MAX; n], vec![0; n]);
    for (i, s) in p.steps.iter().enumerate() {
        for b in touched(s) {
            first[b.index()] = first[b.index()].min(i);
            last[b.index()] = last[b.index()].max(i);
        }
    }
    let span = |b: usize| match p.buffers[b].kind {
        BufKind::Temp { offset } => Some((offset, offset + p.buffers[b].len())),
        _ => None,
    };
    for a in 0..n {
        for b in a + 1..n {
            if let (Some(x), Some(y)) = (span(a), span(b)) {
                let live = first[a] <= last[b] && first[b] <= last[a];
                let overlap = x.0 < y.1 && y.0 < x.1;
                assert!(!(live && overlap), "b{a} and b{b} overlap while live\n{p}");
                assert!(x.1 <= p.arena_len && y.1 <= p.arena_len);
            }
        }
    }
}

fn kernels(p: &super::Program) -> usize {
    p.steps
        .iter()
        .filter(|s| matches!(s, Step::Kernel(_)))
        .count()
}

#[test]
fn elementwise_chain_is_one_kernel() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[5, 1], false);
    let s = g.unary(UnOp::Sin, x);
    let c = g.unary(UnOp::Cos, x);
    let y = g.binary(BinOp::Mul, s, c);
    let z = g.add_or_panic(Op::Powi(3), &[y]);
    let two = g.constant(2.0, DType::F64);
    let w = g.binary(BinOp::Add, z, two);
    g.set_output("w", w);
    g.set_output("y", y);
    let p = check(&g);
    assert_eq!(p.steps.len(), 1, "{p}");
    let Step::Kernel(k) = &p.steps[0] else {
        unreachable!()
    };
    assert_eq!(k.stores.len(), 2);
    assert_eq!(p.arena_len, 0, "no temporaries");
    // sin, cos, mul, powi, add over 5 elements; the constant and the load are free.
    assert_eq!(k.flops(), 5 * 5);
    assert_eq!(p.flops(), k.flops());
    let stores: Vec<bool> = k.accesses().map(|a| a.store).collect();
    assert_eq!(
        stores,
        [false, true, true],
        "one load of x, then the two stores"
    );
    let bufs: Vec<_> = k.accesses().map(|a| a.buf).collect();
    assert_eq!(bufs, [p.leaves[0].1, k.stores[0].buf, k.stores[1].buf]);
}

#[test]
fn kernels_are_cut_at_the_operation_limit() {
    let g = sums_reusing_terms(60, 3);
    let info = verify(&g).unwrap();
    let whole = schedule(&g, &info, &ScheduleOptions::default());
    assert_eq!(kernels(&whole), 1, "{whole}");
    let limit = 50;
    let opts = ScheduleOptions {
        max_kernel_ops: limit,
        ..ScheduleOptions::default()
    };
    let cut = schedule(&g, &info, &opts);
    check_plan(&cut);
    let bodies: Vec<usize> = (cut.steps.iter())
        .filter_map(|s| match s {
            Step::Kernel(k) => Some(k.body.len()),
            _ => None,
        })
        .collect();
    // 60 loads, 60 sines and 179 sums and products: at least six kernels, none longer
    // than the limit, the sines the later kernels use stored by the earlier ones
    assert!(bodies.len() >= 6, "{bodies:?}");
    assert!(bodies.iter().all(|&b| b <= limit), "{bodies:?}");
    // the cut program (fused and not) against the interpreter
    check_with(&g, &opts);
}

#[test]
fn every_unary_and_binary_op() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[3, 2], false);
    let y = leaf(&mut g, "y", &[3, 2], false);
    for u in UnOp::ALL {
        let v = g.unary(u, x);
        g.set_output(u.name(), v);
    }
    for b in BinOp::ALL {
        let v = g.binary(b, x, y);
        g.set_output(b.name(), v);
    }
    let p = check(&g);
    assert_eq!(kernels(&p), 1, "{p}");
}

/// A two-layer tanh MLP (`2 → 4 → 1`) over a batch, with a mean-square loss.
fn mlp(g: &mut Graph, n: usize) {
    let x = leaf(g, "x", &[n, 2], false);
    let u = mlp_named(g, x, &[2, 4, 1], |l, p| format!("{p}{}", l + 1)).out;
    g.set_output("u", u);
    let sq = g.unary(UnOp::Square, u);
    let loss = g.add_or_panic(Op::Mean(0), &[sq]);
    g.set_output("loss", loss);
}

#[test]
fn mlp_forward_and_loss() {
    let mut g = Graph::new();
    mlp(&mut g, 7);
    let p = check(&g);
    let mm = p
        .steps
        .iter()
        .filter(|s| matches!(s, Step::MatMul(_)))
        .count();
    assert_eq!(mm, 2, "{p}");
    assert!(p.to_string().contains("matmul 7x4x2"), "{p}");
}

#[test]
fn views_slice_broadcast_reshape_concat() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[4, 3], false);
    let t = g.unary(UnOp::Exp, x);
    let col = g.slice(t, 1, 1, 1);
    let y = g.binary(BinOp::Mul, col, t); // broadcast [4,1] -> [4,3]
    let r = g.add_or_panic(Op::Reshape(Shape::new(&[3, 4])), &[y]);
    let r = g.unary(UnOp::Neg, r);
    let bx = g.broadcast(col, &Shape::new(&[4, 3]));
    let rb = g.add_or_panic(Op::Reshape(Shape::new(&[12])), &[bx]); // non-contiguous reshape
    let cat = g.add_or_panic(Op::Concat(1), &[t, col, x]);
    let cat0 = g.add_or_panic(Op::Concat(0), &[x, y]);
    let s1 = g.add_or_panic(Op::Sum(1), &[cat]);
    g.set_output("r", r);
    g.set_output("rb", rb);
    g.set_output("cat", cat);
    g.set_output("cat0", cat0);
    g.set_output("s1", s1);
    check(&g);
}

#[test]
fn outputs_that_are_leaves_constants_or_repeated() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[2, 2], false);
    let c = g.fill(1.5, DType::F64, &Shape::new(&[2, 2]));
    let t = g.tensor(&[1.0, 2.0, 3.0], DType::F64, &Shape::new(&[3]));
    let e = g.unary(UnOp::Exp, x);
    g.set_output("x", x);
    g.set_output("c", c);
    g.set_output("t", t);
    g.set_output("e1", e);
    g.set_output("e2", e);
    let s = g.binary(BinOp::Add, e, c);
    g.set_output("s", s);
    check(&g);
}

#[test]
fn matmul_transposes_and_reductions() {
    let mut g = Graph::new();
    let a = leaf(&mut g, "a", &[3, 5], false);
    let b = leaf(&mut g, "b", &[5, 4], true);
    let c = leaf(&mut g, "c", &[4, 5], true);
    for (ta, tb, l, r) in [
        (false, false, a, b),
        (false, true, a, c),
        (true, false, a, a),
        (true, true, b, a),
    ] {
        let m = g.add_or_panic(Op::MatMul { ta, tb }, &[l, r]);
        let m = g.unary(UnOp::Sin, m);
        let s0 = g.add_or_panic(Op::Sum(0), &[m]);
        let s1 = g.add_or_panic(Op::Mean(1), &[m]);
        let all = g.add_or_panic(Op::Sum(0), &[s0]);
        g.set_output(&format!("s0_{ta}_{tb}"), s0);
        g.set_output(&format!("s1_{ta}_{tb}"), s1);
        g.set_output(&format!("all_{ta}_{tb}"), all);
    }
    let p = check(&g);
    let flops = |want: fn(&Step) -> bool| -> u64 {
        p.steps.iter().filter(|s| want(s)).map(Step::flops).sum()
    };
    // m·n·k: 3·4·5, 3·4·5, 5·5·3, 4·3·5.
    assert_eq!(flops(|s| matches!(s, Step::MatMul(_))), 2 * 255);
    for s in &p.steps {
        if let Step::Reduce(r) = s {
            assert_eq!(r.flops(), r.shape.numel() as u64);
        }
    }
}

#[test]
fn memory_plan_reuses_dead_temporaries() {
    // A chain of products: each intermediate dies after the next product.
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[64, 8], false);
    let w = leaf(&mut g, "W", &[8, 8], true);
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
    g.set_output("h", h);
    let p = check(&g);
    let temps: usize = p
        .buffers
        .iter()
        .filter(|b| matches!(b.kind, BufKind::Temp { .. }))
        .map(|b| b.len())
        .sum();
    assert!(temps >= 10 * 512, "{p}");
    assert!(
        p.arena_len <= 2 * 512,
        "arena {} should hold two live 64x8 buffers\n{p}",
        p.arena_len
    );
}

/// Temporaries of 256 × 32 elements (32 KiB in f32, a multiple of 4 KiB) that are live
/// together start at different offsets modulo 4 KiB (1024 f32 elements), so the kernels
/// streaming them do not compete for one set of the L1 cache; small ones are packed
/// without the extra line.
#[test]
fn large_temporaries_are_staggered_modulo_four_kib() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[256, 32], false);
    let mut hs = Vec::new();
    for i in 0..6 {
        let w = leaf(&mut g, &format!("W{i}"), &[32, 32], true);
        let z = g.add_or_panic(
            Op::MatMul {
                ta: false,
                tb: true,
            },
            &[x, w],
        );
        hs.push(g.unary(UnOp::Tanh, z));
        let x2 = *hs.last().unwrap();
        let z2 = g.add_or_panic(
            Op::MatMul {
                ta: false,
                tb: true,
            },
            &[x2, w],
        );
        hs.push(z2);
    }
    let sum = (hs.iter().skip(1)).fold(hs[0], |a, &b| g.binary(BinOp::Add, a, b));
    g.set_output("s", sum);
    let p = check(&g);
    let mut starts: Vec<usize> = (p.buffers.iter())
        .filter_map(|b| match b.kind {
            BufKind::Temp { offset } if b.len() == 256 * 32 => Some(offset % 1024),
            _ => None,
        })
        .collect();
    assert!(starts.len() >= 6, "{p}");
    starts.sort_unstable();
    starts.dedup();
    assert!(starts.len() >= 6, "offsets modulo 1024: {starts:?}\n{p}");

    let mut small = Graph::new();
    mlp(&mut small, 7);
    let p = check(&small);
    assert!(
        p.arena_len <= 64,
        "small temporaries padded: arena {}\n{p}",
        p.arena_len
    );
}

/// A sum of products that nothing else uses is formed in place, whatever order the sum
/// names its terms in: the earliest product writes the sum's buffer, the later ones add to
/// it, no kernel adds them and no buffer is left for the later terms. A product that is
/// also used elsewhere, or added to itself, keeps its buffer and the add stays a kernel.
#[test]
fn sums_of_products_accumulate_in_place() {
    let mut g = Graph::new();
    let a: Vec<NodeId> = (0..4)
        .map(|i| leaf(&mut g, &format!("a{i}"), &[5, 3], false))
        .collect();
    let b: Vec<NodeId> = (0..4)
        .map(|i| leaf(&mut g, &format!("b{i}"), &[5, 4], false))
        .collect();
    let tr = Op::MatMul {
        ta: true,
        tb: false,
    };
    // aᵢᵀ·bᵢ, [3, 4], as the terms of a weight's gradient
    let p: Vec<NodeId> = (0..4)
        .map(|i| g.add_or_panic(tr.clone(), &[a[i], b[i]]))
        .collect();
    let s1 = g.binary(BinOp::Add, p[3], p[1]);
    let s2 = g.binary(BinOp::Add, p[0], p[2]);
    let sum = g.binary(BinOp::Add, s1, s2);
    g.set_output("sum", sum);
    let q = g.add_or_panic(tr.clone(), &[a[0], b[1]]);
    let r = g.add_or_panic(tr.clone(), &[a[1], b[2]]);
    let t = g.binary(BinOp::Add, q, r);
    g.set_output("t", t);
    g.set_output("q", q);
    let twice = g.add_or_panic(tr, &[a[2], b[3]]);
    let doubled = g.binary(BinOp::Add, twice, twice);
    g.set_output("doubled", doubled);
    let prog = check(&g);
    let out = |name: &str| prog.outputs.iter().find(|o| o.0 == name).unwrap().1;
    let products: Vec<_> = (prog.steps.iter())
        .filter_map(|s| match s {
            Step::MatMul(m) => Some((m.dst, m.accumulate)),
            _ => None,
        })
        .collect();
    let into_sum: Vec<bool> = (products.iter())
        .filter(|p| p.0 == out("sum"))
        .map(|p| p.1)
        .collect();
    assert_eq!(into_sum, [false, true, true, true], "{prog}");
    assert_eq!(products.len(), 7, "{prog}");
    assert_eq!(products.iter().filter(|p| p.1).count(), 3, "{prog}");
    // `t` and `doubled` are added by a kernel (one, of their shared shape)
    assert_eq!(kernels(&prog), 1, "{prog}");
    let touched: Vec<_> = prog.steps.iter().flat_map(touched).collect();
    for (i, buf) in prog.buffers.iter().enumerate() {
        let temp = matches!(buf.kind, BufKind::Temp { .. });
        assert!(
            !temp || touched.iter().any(|b| b.index() == i),
            "b{i}\n{prog}"
        );
    }
    // 7 products of 2·3·4·5 and 3 adds of 12 elements in place, 2 in the kernel
    assert_eq!(prog.flops(), 7 * 120 + 3 * 12 + 2 * 12);
}

/// Between products, a cheap value of a closed kernel (`1 − a²` of a stored `a`) is
/// computed again by each kernel that needs it instead of stored and loaded: nothing
/// stores it, and a kernel that already loads its operands loads nothing more. A
/// transcendental (`tanh`) is never computed twice: it is stored once and loaded.
#[test]
fn cheap_values_are_recomputed_where_they_are_used() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[6, 4], false);
    let w = leaf(&mut g, "w", &[4, 4], true);
    let mm = Op::MatMul {
        ta: false,
        tb: false,
    };
    let z = g.add_or_panic(mm.clone(), &[x, w]);
    let a = g.unary(UnOp::Tanh, z);
    let sq = g.unary(UnOp::Square, a);
    let one = g.constant(1.0, DType::F64);
    let one = g.add_or_panic(Op::Broadcast(Shape::matrix(6, 4)), &[one]);
    let d = g.binary(BinOp::Sub, one, sq);
    // two more layers' worth of kernels, each after a product, each using d
    let y1 = g.add_or_panic(mm.clone(), &[a, w]);
    let e1 = g.binary(BinOp::Mul, d, y1);
    let y2 = g.add_or_panic(mm, &[e1, w]);
    let e2 = g.binary(BinOp::Mul, d, y2);
    let e2 = g.binary(BinOp::Mul, e2, a);
    g.set_output("e2", e2);
    let p = check(&g);
    assert!(p.buffers.iter().all(|b| b.node != d), "1 − a² stored\n{p}");
    let kernels: Vec<&super::Kernel> = (p.steps.iter())
        .filter_map(|s| match s {
            Step::Kernel(k) => Some(k),
            _ => None,
        })
        .collect();
    let count = |f: &dyn Fn(&super::Expr) -> bool| {
        (kernels.iter())
            .map(|k| k.body.iter().filter(|e| f(e)).count())
            .sum::<usize>()
    };
    let tanh = count(&|e| matches!(e, super::Expr::Unary(UnOp::Tanh, _)));
    let squares = count(&|e| matches!(e, super::Expr::Unary(UnOp::Square, _)));
    assert_eq!(tanh, 1, "{p}");
    // d in the two kernels after the products (the first kernel needs only tanh)
    assert_eq!(squares, 2, "{p}");
    // the last kernel loads a once, for d and for the product with a
    let last = kernels.last().unwrap();
    let loads = last.accesses().filter(|x| !x.store).count();
    assert_eq!(loads, 2, "a and y2\n{p}");
}

/// A product whose operands are ready early runs right after them ([`super::order`]),
/// ahead of the kernels and products before it in the graph that it does not need; one
/// that reads a kernel's result stays after that kernel; the values do not change.
#[test]
fn products_run_as_soon_as_their_operands_are_ready() {
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[5, 3], false);
    let y = leaf(&mut g, "y", &[3, 4], false);
    let mm = Op::MatMul {
        ta: false,
        tb: false,
    };
    let e = g.unary(UnOp::Exp, x);
    let h = g.add_or_panic(mm.clone(), &[e, y]);
    let t = g.unary(UnOp::Tanh, h);
    g.set_output("t", t);
    // needs nothing but the leaves, yet comes last in the graph
    let early = g.add_or_panic(mm, &[x, y]);
    g.set_output("early", early);
    let p = check(&g);
    let out = |name: &str| p.outputs.iter().find(|o| o.0 == name).unwrap().1;
    let kinds: Vec<&str> = (p.steps.iter())
        .map(|s| match s {
            Step::Kernel(_) => "kernel",
            Step::MatMul(m) if m.dst == out("early") => "early",
            Step::MatMul(_) => "product",
            Step::Reduce(_) => "reduce",
        })
        .collect();
    assert_eq!(kinds, ["early", "kernel", "product", "kernel"], "{p}");
}
