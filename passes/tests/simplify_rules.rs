//! Soundness of every rule, generated from the rule tables.
//!
//! For each rule, the left-hand side is instantiated over small shapes (pattern variables
//! become random leaves, or constants where a guard asks for one; wild broadcasts get
//! target shapes), added to an e-graph, and the rule alone runs for one iteration. The rule
//! must fire, and then every e-node of every e-class must evaluate (interpreter, f64,
//! children taken as their class's smallest term) to the value of its class: exactly, NaN
//! included, on IEEE special values for the exact rules; on finite random values (where
//! both sides are defined) for the `real_only` rules.

mod simplify_util;

use egg::{AstSize, ENodeOrVar, Extractor, Id, Language, PatternAst, Runner, Var};
use nabla_ir::interp::{eval, Env};
use nabla_ir::{DType, Graph, NodeId, Num, Op, Shape};
use nabla_passes::simplify::analysis::EG;
use nabla_passes::simplify::convert::{from_recexpr, to_egraph};
use nabla_passes::simplify::lang::ENode;
use nabla_passes::simplify::rule::{Cond, Rule};
use nabla_passes::simplify::rules;
use simplify_util::*;
use std::collections::HashMap;

/// Shapes tried for variables and broadcast targets (`[3, 3]`: the product of a `[4, 3]`
/// transposed with one, as a weight's gradient, for `add-matmul-common`; `[1, 4]` last:
/// the one row of an outer product `[4, 1]·[1, 4]`, for `matmul-nn-outer-left`).
fn candidates() -> Vec<Shape> {
    vec![
        Shape::scalar(),
        Shape::new(&[3]),
        Shape::matrix(4, 3),
        Shape::matrix(4, 1),
        Shape::matrix(3, 4),
        Shape::new(&[2, 4, 3]),
        Shape::matrix(3, 3),
        Shape::matrix(1, 4),
    ]
}

/// The distinct variables of a pattern and its number of wild nodes, in order.
fn slots(ast: &PatternAst<ENode>) -> (Vec<Var>, usize) {
    let mut vars = Vec::new();
    let mut wild = 0;
    for n in ast.as_ref() {
        match n {
            ENodeOrVar::Var(v) if !vars.contains(v) => vars.push(*v),
            ENodeOrVar::Var(_) => {}
            ENodeOrVar::ENode(e) => wild += usize::from(e.is_wild()),
        }
    }
    (vars, wild)
}

/// The leaf standing for variable `v` of shape `s`: a constant where a guard requires one.
fn leaf(g: &mut Graph, rule: &Rule, v: Var, s: &Shape) -> NodeId {
    let name = v.to_string();
    let constant = rule.conds.iter().find_map(|c| match *c {
        Cond::Splat(x, val) if x == name => Some(val),
        Cond::NonzeroSplat(x) if x == name => Some(1.5),
        _ => None,
    });
    match constant {
        Some(val) => g.fill(val, DType::F64, s),
        None => input(g, name.trim_start_matches('?'), s.dims()),
    }
}

/// Builds the left-hand side with the given variable shapes and wild-node shapes.
fn build_lhs(rule: &Rule, ast: &PatternAst<ENode>, vs: &[Shape], ws: &[Shape]) -> Option<Graph> {
    let (vars, _) = slots(ast);
    let mut g = Graph::new();
    let mut ids: Vec<NodeId> = Vec::new();
    let mut wild = 0;
    for n in ast.as_ref() {
        let id = match n {
            ENodeOrVar::Var(v) => {
                let k = vars.iter().position(|x| x == v)?;
                leaf(&mut g, rule, *v, &vs[k])
            }
            ENodeOrVar::ENode(e) => {
                let args: Vec<NodeId> = e.children().iter().map(|&c| ids[usize::from(c)]).collect();
                let op = if e.is_wild() {
                    wild += 1;
                    wild_op(&e.op, &ws[wild - 1])?
                } else {
                    e.op.clone()
                };
                g.add(op, &args).ok()?
            }
        };
        ids.push(id);
    }
    g.set_output("lhs", *ids.last()?);
    Some(g)
}

/// A wild pattern node made concrete: a broadcast or reshape to `s`; a slice of one row
/// along axis 0 (`[0, 1)` when `s` is a scalar, `[1, 2)` otherwise, so that nested slices
/// and slices of either part of a concatenation are tried); a concatenation along axis 0.
fn wild_op(op: &Op, s: &Shape) -> Option<Op> {
    Some(match op {
        Op::Broadcast(_) => Op::Broadcast(s.clone()),
        Op::Reshape(_) => Op::Reshape(s.clone()),
        Op::Slice { .. } => Op::Slice {
            axis: 0,
            start: u32::from(s.rank() > 0),
            len: 1,
        },
        Op::Concat(_) => Op::Concat(0),
        _ => return None,
    })
}

/// Every assignment of candidate shapes to `k` slots.
fn assignments(k: usize) -> Vec<Vec<Shape>> {
    let c = candidates();
    let mut out = vec![vec![]];
    for _ in 0..k {
        out = out
            .into_iter()
            .flat_map(|p| {
                c.iter().map(move |s| {
                    let mut q = p.clone();
                    q.push(s.clone());
                    q
                })
            })
            .collect();
    }
    out
}

/// Runs `rule` once on `g`; returns the e-graph when it fired.
fn fire(rule: &Rule, g: &Graph) -> Option<EG> {
    let (eg, _) = to_egraph(g);
    let runner = Runner::default()
        .with_egraph(eg)
        .with_iter_limit(1)
        .run(&[rule.rewrite()]);
    let fired = runner.iterations.first()?.applied.values().sum::<usize>() > 0;
    fired.then_some(runner.egraph)
}

/// The value of e-node `n` with its children replaced by their classes' smallest terms.
fn node_value(
    eg: &EG,
    ex: &Extractor<AstSize, ENode, nabla_passes::simplify::analysis::Types>,
    n: &ENode,
    env: &Env,
) -> Vec<f64> {
    let mut g = Graph::new();
    let mut args = Vec::new();
    for &c in n.children() {
        let sub = from_recexpr(&ex.find_best(c).1);
        args.push(graft(&mut g, &sub));
    }
    let id = g.add_or_panic(n.op.clone(), &args);
    let _ = eg;
    eval(&g, &[id], env, DType::F64)
        .expect("evaluate")
        .remove(0)
        .data
}

/// Copies `sub` (one output) into `g`; returns the output's id there.
fn graft(g: &mut Graph, sub: &Graph) -> NodeId {
    let mut map = Vec::new();
    for id in sub.ids() {
        let args: Vec<NodeId> = sub.args(id).iter().map(|a| map[a.index()]).collect();
        map.push(g.add_or_panic(sub.op(id).clone(), &args));
    }
    map[sub.outputs()[0].1.index()]
}

/// Checks that all nodes of every class agree on `env`.
fn check_classes(name: &str, eg: &EG, env: &Env, finite_only: bool) {
    let ex = Extractor::new(eg, AstSize);
    for class in eg.classes() {
        let reference = node_value(eg, &ex, &ex.find_best_node(class.id).clone(), env);
        for n in &class.nodes {
            let got = node_value(eg, &ex, n, env);
            for (a, b) in got.iter().zip(&reference) {
                let skip = finite_only && !(a.is_finite() && b.is_finite());
                assert!(
                    skip || close(*a, *b, 1e-9),
                    "rule {name}: {n} gives {a}, class {} gives {b}",
                    class.id
                );
            }
        }
    }
}

/// Instantiates, fires and checks one rule; returns how many instances were checked.
fn check_rule(rule: &Rule, real_only: bool) -> usize {
    let term = rule.witness.as_deref().unwrap_or(&rule.lhs);
    let ast: PatternAst<ENode> = term.parse().expect("lhs parses");
    let (vars, wild) = slots(&ast);
    let mut checked = 0;
    for vs in assignments(vars.len()) {
        for ws in assignments(wild) {
            let Some(g) = build_lhs(rule, &ast, &vs, &ws) else {
                continue;
            };
            let Some(eg) = fire(rule, &g) else { continue };
            let mut rng = Rng(checked as u64 + 1);
            let draws: &[Draw] = if real_only {
                &[Draw::Mixed, Draw::Positive]
            } else {
                &[Draw::Mixed, Draw::Special, Draw::Special]
            };
            for &how in draws {
                let env = random_env(&g, &mut rng, how);
                check_classes(&rule.name, &eg, &env, real_only);
            }
            checked += 1;
            if checked == 3 {
                return checked;
            }
        }
    }
    checked
}

#[test]
fn exact_rules_are_sound_on_special_values() {
    for rule in rules::exact() {
        assert!(
            check_rule(&rule, false) > 0,
            "rule {} never fired: {}",
            rule.name,
            rule.text()
        );
    }
}

#[test]
fn real_only_rules_are_sound_on_finite_values() {
    for rule in rules::real_only() {
        assert!(
            check_rule(&rule, true) > 0,
            "rule {} never fired: {}",
            rule.name,
            rule.text()
        );
    }
}

#[test]
fn rule_names_are_unique_kebab_case() {
    let all = rules::all();
    let mut seen = HashMap::new();
    for r in &all {
        assert!(
            r.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}",
            r.name
        );
        assert!(
            seen.insert(r.name.clone(), ()).is_none(),
            "duplicate rule {}",
            r.name
        );
    }
    // The soundness tests above reach every rule of both sets.
    assert_eq!(all.len(), rules::exact().len() + rules::real_only().len());
}

#[test]
fn an_unsound_rule_is_caught() {
    // The checker itself must fail on a false identity, exact or real-only.
    let bogus = Rule::pat("bogus", "(add ?a ?b)", "(sub ?a ?b)");
    for real_only in [false, true] {
        let r = bogus.clone();
        let caught = std::panic::catch_unwind(move || check_rule(&r, real_only)).is_err();
        assert!(caught, "real_only={real_only}");
    }
}

#[test]
fn a_rule_that_changes_the_type_is_not_applied() {
    // Σ₀ a has type [3], a has [4,3]: the right-hand side is declined, nothing is merged.
    let bad = Rule::pat("bad", "(sum:0 ?a)", "?a");
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[4, 3]);
    let s = g.add_or_panic(Op::Sum(0), &[a]);
    g.set_output("s", s);
    assert!(fire(&bad, &g).is_none());
    // A literal takes the matched type: a · 0 = 0 gives a [4,1] zero.
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[4, 1]);
    let z = g.fill(0.0, DType::F64, &Shape::matrix(4, 1));
    let m = g.add_or_panic(Op::Binary(nabla_ir::BinOp::Mul), &[a, z]);
    g.set_output("m", m);
    let rule = rules::all()
        .into_iter()
        .find(|r| r.name == "mul-zero")
        .unwrap();
    let eg = fire(&rule, &g).expect("fires");
    let zero = ENode::new(
        Op::Const {
            value: Num::new(0.0),
            dtype: DType::F64,
        },
        &[],
    );
    let zero = eg.lookup(zero).expect("zero constant");
    let zeros = ENode::new(Op::Broadcast(Shape::matrix(4, 1)), &[zero]);
    let zeros = eg.lookup(zeros).expect("broadcast zero");
    let a: Id = eg.lookup(ENode::new(g.op(a).clone(), &[])).expect("leaf a");
    let product = ENode::new(Op::Binary(nabla_ir::BinOp::Mul), &[a, zeros]);
    assert_eq!(
        eg.lookup(product),
        Some(zeros),
        "a · 0 is in the [4,1] zero class"
    );
}

#[test]
fn slices_of_a_concatenation_pick_the_part() {
    // slice(concat(a, b)) along the concatenated axis: within b (shifted), exactly a, and
    // across both parts (kept)
    let mut g = Graph::new();
    let a = input(&mut g, "a", &[1, 3]);
    let b = input(&mut g, "b", &[4, 3]);
    let cat = g.add_or_panic(Op::Concat(0), &[a, b]);
    let cases = [("in_b", 2, 2), ("is_a", 0, 1), ("across", 0, 2)];
    for (name, start, len) in cases {
        let s = g.add_or_panic(
            Op::Slice {
                axis: 0,
                start,
                len,
            },
            &[cat],
        );
        let t = g.add_or_panic(Op::Unary(nabla_ir::UnOp::Tanh), &[s]);
        g.set_output(name, t);
    }
    let (out, _) = nabla_passes::simplify::simplify(&g, &Default::default());
    let env = random_env(&g, &mut Rng(9), Draw::Mixed);
    assert_same_outputs(&g, &out, &env, 0.0);
    let text = nabla_ir::text::print(&out);
    // only the slice across both parts still needs the concatenation
    assert_eq!(text.matches("concat").count(), 1, "{text}");
}
