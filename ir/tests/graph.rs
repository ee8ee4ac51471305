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
