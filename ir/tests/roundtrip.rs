//! The text format round-trips every graph `Graph::add` can build, and DOT output is
//! well formed.

use nabla_ir::interp::eval_outputs;
use nabla_ir::testing::{random_env, random_graph, GenOptions, Rng};
use nabla_ir::{dot, text, verify, DType, Graph, Method, Num, Op, Shape, UnOp};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Prints, parses (checked and unchecked) and prints again.
fn assert_round_trip(g: &Graph) {
    let printed = text::print(g);
    let back = text::parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(&back, g, "parse(print(g)) != g for\n{printed}");
    assert_eq!(text::print(&back), printed);
    let raw = text::parse_unchecked(&printed).unwrap();
    assert_eq!(&raw, g, "parse_unchecked(print(g)) != g");
    verify(&raw).unwrap();
}

/// Checks the DOT text: a digraph, one `<i> [ label = ... ]` line per node, one edge line
/// per operand use and per output, an ellipse per output, and every line a complete
/// statement (brackets closed, quotes balanced, nothing spilling onto the next line).
fn assert_dot(g: &Graph) {
    let d = dot::to_dot(g);
    let lines: Vec<&str> = d.lines().collect();
    assert_eq!(lines[0], "digraph nabla {");
    assert_eq!(*lines.last().unwrap(), "}");
    let body = &lines[1..lines.len() - 1];
    for l in body {
        assert!(
            l.starts_with("    ") && l.ends_with(']'),
            "bad DOT line {l:?}"
        );
        assert_eq!(unescaped_quotes(l) % 2, 0, "unbalanced quotes in {l:?}");
    }
    for id in g.ids() {
        let prefix = format!("    {} [ label = \"{id} = ", id.0);
        assert_eq!(body.iter().filter(|l| l.starts_with(&prefix)).count(), 1);
    }
    let node_lines = body.iter().filter(|l| l.contains(" [ label = \"%")).count();
    assert_eq!(node_lines, g.len());
    let operands: Vec<String> = g
        .ids()
        .flat_map(|i| {
            g.args(i)
                .iter()
                .enumerate()
                .map(move |(pos, a)| (i, pos, *a))
        })
        .map(|(i, pos, a)| format!("    {} -> {} [ label = \"{pos}\" ]", a.0, i.0))
        .collect();
    let edges: Vec<&str> = body
        .iter()
        .copied()
        .filter(|l| l.contains(" -> "))
        .collect();
    assert_eq!(edges.len(), operands.len() + g.outputs().len());
    for e in &operands {
        assert!(edges.contains(&e.as_str()), "missing edge {e:?}");
    }
    let outs = body
        .iter()
        .filter(|l| l.contains("shape = ellipse"))
        .count();
    assert_eq!(outs, g.outputs().len());
}

/// Number of `"` not preceded by an escaping backslash.
fn unescaped_quotes(line: &str) -> usize {
    let (mut n, mut escaped) = (0, false);
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => n += 1,
            _ => {}
        }
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_graphs_round_trip(seed in any::<u64>()) {
        let g = random_graph(&mut Rng::new(seed), &GenOptions::everything());
        verify(&g).unwrap();
        assert_round_trip(&g);
    }

    #[test]
    fn random_graphs_render_as_dot(seed in any::<u64>()) {
        let g = random_graph(&mut Rng::new(seed), &GenOptions::everything());
        assert_dot(&g);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Interpretable random graphs evaluate without error, and the same after printing
    /// and parsing and after `compact` (the interpreter is deterministic: equal bits).
    #[test]
    fn random_graphs_evaluate_the_same_after_round_trip_and_compact(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let g = random_graph(&mut rng, &GenOptions::default());
        let env = random_env(&g, &mut rng);
        let bits = |g: &Graph| -> Vec<(String, Vec<u64>)> {
            let outs = eval_outputs(g, &env, DType::F64).unwrap();
            outs.into_iter()
                .map(|(n, t)| (n, t.data.iter().map(|v| v.to_bits()).collect()))
                .collect()
        };
        let want = bits(&g);
        prop_assert_eq!(&bits(&text::parse(&text::print(&g)).unwrap()), &want);
        let small = g.compact();
        verify(&small).unwrap();
        prop_assert_eq!(&bits(&small), &want);
    }
}

/// A key naming what a node exercises, to check that the generator reaches every op.
fn feature(op: &Op) -> String {
    match op {
        Op::MatMul { ta, tb } => format!("matmul {ta} {tb}"),
        Op::Diff { method, .. } | Op::Laplacian { method, .. } => {
            format!("{} {}", op.mnemonic(), method_kind(*method))
        }
        Op::Powi(n) if n.unsigned_abs() > 100 => "powi extreme".into(),
        _ => op.mnemonic().into(),
    }
}

fn method_kind(m: Method) -> &'static str {
    match m {
        Method::FiniteDiff(Some(_)) => "fd=h",
        Method::FiniteDiff(None) => "fd",
        Method::Auto => "auto",
        Method::Forward => "forward",
        Method::Taylor => "taylor",
        Method::Collapsed => "collapsed",
        Method::Reverse => "reverse",
    }
}

#[test]
fn generator_reaches_every_op_flag_and_method() {
    let mut seen = BTreeSet::new();
    for seed in 0..400 {
        let g = random_graph(&mut Rng::new(seed), &GenOptions::everything());
        seen.extend(g.ids().map(|i| feature(g.op(i))));
    }
    let mut want: Vec<String> = UnOp::ALL.iter().map(|u| u.name().to_string()).collect();
    want.extend(
        [
            "input",
            "param",
            "bound",
            "const",
            "tensor",
            "powi",
            "add",
            "sub",
            "mul",
            "div",
            "pow",
            "broadcast",
            "reshape",
            "sum",
            "mean",
            "slice",
            "concat",
            "grad",
            "at",
            "powi extreme",
        ]
        .map(String::from),
    );
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        want.push(format!("matmul {ta} {tb}"));
    }
    let exact = Method::EXACT.map(Method::name);
    for m in exact.iter().map(String::as_str).chain(["fd", "fd=h"]) {
        want.push(format!("diff {m}"));
        want.push(format!("laplacian {m}"));
    }
    let missing: Vec<&String> = want.iter().filter(|w| !seen.contains(*w)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}

/// Constants whose bits the printer must keep: signed zero, subnormals, extremes,
/// infinities, and NaNs with a sign or payload.
#[test]
fn constants_keep_their_bits() {
    let values = [
        -0.0,
        5e-324,
        -2.2250738585072014e-308,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::from_bits(0xfff8_0000_0000_0000),
        f64::from_bits(0x7ff0_0000_0000_0001),
        0.1 + 0.2,
    ];
    let mut g = Graph::new();
    for (i, v) in values.iter().enumerate() {
        let c = g.constant(*v, DType::F64);
        g.set_output(&format!("c{i}"), c);
    }
    let data = values.iter().map(|v| Num::new(*v)).collect();
    let shape = Shape::new(&[values.len()]);
    let t = g
        .add(
            Op::Tensor {
                data,
                dtype: DType::F32,
                shape,
            },
            &[],
        )
        .unwrap();
    g.set_output("t", t);
    assert_round_trip(&g);
    assert!(text::print(&g).contains("const 0xfff8000000000000 : f64[]"));
}

/// Names with the characters the format quotes or that once ended a line early.
#[test]
fn odd_names_round_trip() {
    let names = [
        "a;b",
        "q\"uote",
        "back\\slash",
        "new\nline",
        "",
        "sp ace",
        "π;\\",
        "tab\there",
        "cr\r",
    ];
    let mut g = Graph::new();
    for (i, n) in names.iter().enumerate() {
        let shape = Shape::matrix(2, 1);
        let x = g
            .add(
                Op::Input {
                    name: n.to_string(),
                    dtype: DType::F64,
                    shape,
                },
                &[],
            )
            .unwrap();
        g.set_output(&format!("{n}{i}"), x);
    }
    assert_round_trip(&g);
    assert_dot(&g);
}

#[test]
fn extreme_attributes_round_trip() {
    let mut g = Graph::new();
    let x = g.constant(2.0, DType::F64);
    for n in [i32::MIN, i32::MAX, 0, -1] {
        let p = g.add(Op::Powi(n), &[x]).unwrap();
        g.set_output(&format!("p{n}"), p);
    }
    let b = g
        .add(
            Op::Bound {
                level: nabla_ir::Level(u32::MAX),
                index: 0,
                dtype: DType::F64,
                shape: Shape::scalar(),
            },
            &[],
        )
        .unwrap();
    g.set_output("b", b);
    assert_round_trip(&g);
}
