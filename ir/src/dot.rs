//! Graphviz DOT rendering of a graph (`nabla dump-ir --format dot`).

use crate::graph::Graph;
use crate::text::node_line;
use std::fmt::Write;

/// The graph as a DOT digraph: one box per node labelled with its text line, edges from
/// operands to users labelled with the operand position, outputs as ellipses. Every
/// statement sits on its own line, whatever the names contain.
pub fn to_dot(g: &Graph) -> String {
    let mut s = String::from("digraph nabla {\n  node [shape=box, fontname=monospace];\n");
    for id in g.ids() {
        let label = escape(&node_line(g, id));
        let _ = writeln!(s, "  n{} [label=\"{label}\"];", id.0);
        for (pos, a) in g.args(id).iter().enumerate() {
            let _ = writeln!(s, "  n{} -> n{} [label=\"{pos}\"];", a.0, id.0);
        }
    }
    for (i, (name, id)) in g.outputs().iter().enumerate() {
        let _ = writeln!(s, "  out{i} [shape=ellipse, label=\"{}\"];", escape(name));
        let _ = writeln!(s, "  n{} -> out{i};", id.0);
    }
    s.push_str("}\n");
    s
}

/// Text made safe inside a DOT double-quoted string: backslashes and quotes escaped, line
/// breaks written as DOT's `\n` escape so that the label stays on one line of the file.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}
