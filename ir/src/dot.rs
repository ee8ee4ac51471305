//! Graphviz DOT rendering of a graph (`nabla dump-ir --format dot`), written by petgraph's
//! `dot` module from the graph's own edges.

use crate::graph::{Graph, Node, NodeId};
use crate::text::node_line;
use petgraph::dot::{Config, Dot};
use petgraph::graph::NodeIndex;
use std::fmt::Write;

/// The graph as a DOT digraph: one box per node, named by its id (`3` for `%3`) and
/// labelled with its text line; one edge per operand use, from operand to user, labelled
/// with the operand position; outputs as ellipses (`out0`, ...). Every statement sits on
/// its own line, whatever the names contain.
pub fn to_dot(g: &Graph) -> String {
    let label = |_, (ix, _): (NodeIndex<u32>, &Node)| {
        let id = NodeId(ix.index() as u32);
        format!("label = \"{}\" ", escape(&node_line(g, id)))
    };
    let config = [Config::GraphContentOnly, Config::NodeNoLabel];
    let body = Dot::with_attr_getters(g.storage(), &config, &|_, _| String::new(), &label);
    let mut s = String::from("digraph nabla {\n    node [ shape = box, fontname = monospace ]\n");
    let _ = write!(s, "{body:?}");
    for (i, (name, id)) in g.outputs().iter().enumerate() {
        let _ = writeln!(
            s,
            "    out{i} [ shape = ellipse, label = \"{}\" ]",
            escape(name)
        );
        let _ = writeln!(s, "    {} -> out{i} [ ]", id.0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BinOp, DType, Op, Shape};

    #[test]
    fn nodes_edges_and_outputs_each_take_one_line() {
        let mut g = Graph::new();
        let (dtype, shape) = (DType::F64, Shape::matrix(2, 1));
        let x = g.add_or_panic(
            Op::Input {
                name: "x\"1".into(),
                dtype,
                shape,
            },
            &[],
        );
        let y = g.binary(BinOp::Mul, x, x);
        g.set_output("y", y);
        let want = "digraph nabla {
    node [ shape = box, fontname = monospace ]
    0 [ label = \"%0 = input \\\"x\\\\\\\"1\\\" : f64[2,1]\" ]
    1 [ label = \"%1 = mul %0, %0 : f64[2,1]\" ]
    0 -> 1 [ label = \"0\" ]
    0 -> 1 [ label = \"1\" ]
    out0 [ shape = ellipse, label = \"y\" ]
    1 -> out0 [ ]
}
";
        assert_eq!(to_dot(&g), want, "{}", to_dot(&g));
    }
}
