//! Random graphs (proptest) on the Cranelift backend, differential against the
//! interpreter: elementwise chains with broadcasts, slices, concats, products and
//! reductions mixed at random, at batch sizes 1, 3, 5 and 1023, in every option set.

mod jit_support;

use jit_support::{all_options, check, leaf, BATCHES};
use nabla_ir::{BinOp, Graph, NodeId, Op, Shape, UnOp};
use proptest::prelude::*;

/// Unary ops that map moderate values to moderate values.
const UNARY: [UnOp; 9] = [
    UnOp::Neg,
    UnOp::Sin,
    UnOp::Cos,
    UnOp::Tanh,
    UnOp::Sigmoid,
    UnOp::Silu,
    UnOp::Gelu,
    UnOp::Abs,
    UnOp::Softplus,
];

const BINARY: [BinOp; 3] = [BinOp::Add, BinOp::Sub, BinOp::Mul];

/// Builds a graph over `[n,1]` columns and `[n,3]` matrices from a list of
/// `(opcode, operand, operand)` choices.
fn build(n: usize, prog: &[(u8, u8, u8)]) -> Graph {
    let mut g = Graph::new();
    let mut cols = vec![leaf(&mut g, "x", &[n, 1], false)];
    let mut mats = vec![leaf(&mut g, "m", &[n, 3], false)];
    let w = leaf(&mut g, "W", &[3, 3], true);
    let pick = |v: &Vec<NodeId>, i: u8| v[i as usize % v.len()];
    let mshape = Shape::new(&[n, 3]);
    for &(op, a, b) in prog {
        let (ca, cb, ma, mb) = (
            pick(&cols, a),
            pick(&cols, b),
            pick(&mats, a),
            pick(&mats, b),
        );
        match op % 12 {
            0 => cols.push(g.unary(UNARY[b as usize % 9], ca)),
            1 => mats.push(g.unary(UNARY[a as usize % 9], mb)),
            2 => cols.push(g.binary(BINARY[a as usize % 3], ca, cb)),
            3 => mats.push(g.binary(BINARY[b as usize % 3], ma, mb)),
            4 => mats.push(g.binary(BINARY[a as usize % 3], ma, cb)),
            5 => cols.push(g.add_or_panic(
                Op::Slice {
                    axis: 1,
                    start: (b % 3) as u32,
                    len: 1,
                },
                &[ma],
            )),
            6 => mats.push(g.add_or_panic(Op::Concat(1), &[ca, cb, ca])),
            7 => mats.push(g.add_or_panic(
                Op::MatMul {
                    ta: false,
                    tb: true,
                },
                &[ma, w],
            )),
            8 => {
                let s = g.add_or_panic(Op::Sum(1), &[ma]);
                cols.push(g.add_or_panic(Op::Reshape(Shape::new(&[n, 1])), &[s]));
            }
            9 => {
                let m = g.add_or_panic(Op::Mean(0), &[mb]);
                let mbc = g.broadcast(m, &mshape);
                mats.push(g.binary(BinOp::Add, ma, mbc));
            }
            10 => cols.push(g.add_or_panic(Op::Powi(2 + (a % 2) as i32), &[ca])),
            _ => {
                let e = g.unary(UnOp::Exp, cb);
                cols.push(g.binary(BinOp::Div, ca, e));
            }
        }
    }
    g.set_output("col", *cols.last().unwrap());
    g.set_output("mat", *mats.last().unwrap());
    let s = g.add_or_panic(Op::Mean(0), &[*mats.last().unwrap()]);
    g.set_output("mean", s);
    if cols.len() > 2 {
        g.set_output("col1", cols[cols.len() / 2]);
    }
    g
}

proptest! {
    // A fixed seed keeps CI reproducible; run with PROPTEST_CASES=300 to search wider.
    #![proptest_config(ProptestConfig {
        cases: 24,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x006e_6162_6c61),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_graphs_match_interpreter(prog in prop::collection::vec((0u8..12, any::<u8>(), any::<u8>()), 1..16)) {
        for n in BATCHES {
            let g = build(n, &prog);
            for o in all_options() {
                check(&g, &o, -1.0, 1.0);
            }
        }
    }
}
