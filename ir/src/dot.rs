//! Graphviz DOT rendering of a graph (`nabla dump-ir --format dot`).

use crate::graph::Graph;
use crate::text::node_line;
use std::fmt::Write;

/// The graph as a DOT digraph: one box per node labelled with its text line, edges from
/// operands to users labelled with the operand position, outputs as ellipses.
pub fn to_dot(g: &Graph) -> String {
    let mut s = String::from("digraph nabla {\n  node [shape=box, fontname=monospace];\n");
    for id in g.ids() {
        let label = node_line(g, id).replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(s, "  n{} [label=\"{label}\"];", id.0);
        for (pos, a) in g.args(id).iter().enumerate() {
            let _ = writeln!(s, "  n{} -> n{} [label=\"{pos}\"];", a.0, id.0);
        }
    }
    for (i, (name, id)) in g.outputs().iter().enumerate() {
        let name = name.replace('"', "\\\"");
        let _ = writeln!(s, "  out{i} [shape=ellipse, label=\"{name}\"];");
        let _ = writeln!(s, "  n{} -> out{i};", id.0);
    }
    s.push_str("}\n");
    s
}
