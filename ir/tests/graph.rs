//! What the graph answers from its edges (users, liveness, dependence) agrees with what
//! the operand lists say.

use nabla_ir::testing::{random_graph, GenOptions, Rng};
use nabla_ir::{Graph, NodeId};

/// Users of every node, read from the operand lists: one entry per operand position.
fn users_from_operands(g: &Graph) -> Vec<Vec<NodeId>> {
    let mut u = vec![Vec::new(); g.len()];
    for id in g.ids() {
        for &a in g.args(id) {
            u[a.index()].push(id);
        }
    }
    u
}

/// Liveness by one backward sweep over the operand lists.
fn live_from_operands(g: &Graph, roots: &[NodeId]) -> Vec<bool> {
    let mut live = vec![false; g.len()];
    for r in roots {
        live[r.index()] = true;
    }
    for id in g.ids().rev() {
        if live[id.index()] {
            for &a in g.args(id) {
                live[a.index()] = true;
            }
        }
    }
    live
}

/// Checks users, use counts, liveness and dependence of `g` against its operand lists.
fn check_edges(g: &Graph) {
    let want = users_from_operands(g);
    for id in g.ids() {
        let mut users: Vec<NodeId> = g.users(id).collect();
        users.sort();
        assert_eq!(users, want[id.index()], "users of {id}");
        assert_eq!(g.use_count(id), want[id.index()].len());
    }
    let last = NodeId(g.len() as u32 - 1);
    let roots = [last, NodeId(g.len() as u32 / 2)];
    assert_eq!(g.live(&roots), live_from_operands(g, &roots));
    let under_last = live_from_operands(g, &[last]);
    for id in g.ids() {
        assert_eq!(
            g.depends_on(last, id),
            under_last[id.index()],
            "{last} on {id}"
        );
        assert_eq!(g.depends_on(id, last), id == last, "{id} on {last}");
    }
}

#[test]
fn edges_agree_with_operands_on_random_graphs() {
    for seed in 0..300 {
        let g = random_graph(&mut Rng::new(seed), &GenOptions::everything());
        check_edges(&g);
    }
}

/// The canonical form keeps the program: same outputs, same values (interpreted on random
/// leaves), and it is a fixed point.
#[test]
fn canonical_form_keeps_values_and_is_a_fixed_point() {
    use nabla_ir::interp::eval_outputs;
    use nabla_ir::testing::random_env;
    let opts = GenOptions {
        derivatives: false,
        ..GenOptions::everything()
    };
    for seed in 0..100 {
        let mut rng = Rng::new(seed);
        let g = random_graph(&mut rng, &opts);
        let c = g.canonical();
        assert!(c.len() <= g.len());
        assert_eq!(
            nabla_ir::text::print(&c.canonical()),
            nabla_ir::text::print(&c)
        );
        let env = random_env(&g, &mut rng);
        let prec = g.output_dtype().unwrap_or(nabla_ir::DType::F64);
        let a = eval_outputs(&g, &env, prec).unwrap();
        let b = eval_outputs(&c, &env, prec).unwrap();
        for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
            assert_eq!(na, nb, "seed {seed}");
            let same = (ta.data.iter().zip(&tb.data)).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same && ta.shape == tb.shape, "seed {seed}: output {na}");
        }
    }
}

/// `sin(x) · cos(y) + 2` built in two orders has one canonical form; `cos(x) · sin(y) + 2`
/// has another.
#[test]
fn canonical_form_forgets_construction_order_only() {
    use nabla_ir::{BinOp, DType, Op, Shape, UnOp};
    let leaf = |g: &mut Graph, name: &str| {
        let op = Op::Input {
            name: name.into(),
            dtype: DType::F64,
            shape: Shape::matrix(4, 1),
        };
        g.add_or_panic(op, &[])
    };
    let build = |first_y: bool, swap: bool| {
        let mut g = Graph::new();
        let two = g.constant(2.0, DType::F64);
        let (x, y) = if first_y {
            let y = leaf(&mut g, "y");
            (leaf(&mut g, "x"), y)
        } else {
            (leaf(&mut g, "x"), leaf(&mut g, "y"))
        };
        let (f, h) = if swap {
            (UnOp::Cos, UnOp::Sin)
        } else {
            (UnOp::Sin, UnOp::Cos)
        };
        let cy = g.unary(h, y);
        let sx = g.unary(f, x);
        let p = g.binary(BinOp::Mul, sx, cy);
        let two = g.broadcast(two, &Shape::matrix(4, 1));
        let s = g.binary(BinOp::Add, p, two);
        g.set_output("s", s);
        nabla_ir::text::print(&g.canonical())
    };
    assert_eq!(build(false, false), build(true, false));
    assert_ne!(build(false, false), build(false, true));
}
