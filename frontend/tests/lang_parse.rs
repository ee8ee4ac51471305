//! The problem language: every example of the specification parses and lowers; each
//! statement and expression form has the meaning the specification gives it.

use nabla_frontend::lang::{self, ast::*, parse_expr, parse_file};
use nabla_frontend::nn::Act;
use nabla_frontend::problem::PointSpec;

fn example(name: &str) -> String {
    let path = format!(
        "{}/tests/lang_examples/{name}.nabla",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

fn load(src: &str) -> lang::Loaded {
    match lang::load("test.nabla", src) {
        Ok(l) => l,
        Err(d) => panic!("{}", d.render()),
    }
}

#[test]
fn poisson_example_lowers_to_the_stated_problem() {
    let l = load(&example("poisson2d"));
    let p = &l.problem;
    assert_eq!(p.name, "poisson2d");
    assert_eq!(p.inputs.len(), 2);
    assert_eq!((p.inputs[1].lo, p.inputs[1].hi), (0.0, 1.0));
    assert_eq!(p.nets[0].mlp.widths, vec![2, 64, 64, 64, 1]);
    assert_eq!(p.nets[0].mlp.act, Act::Tanh);
    assert_eq!(p.point_sets[0].spec, PointSpec::Interior(4096));
    assert_eq!(p.point_sets[1].spec, PointSpec::Boundary(512));
    let w: Vec<(&str, &str, f64)> = p
        .residuals
        .iter()
        .map(|r| (r.name.as_str(), r.points.as_str(), r.weight))
        .collect();
    assert_eq!(w, vec![("pde", "inner", 1.0), ("bc", "walls", 10.0)]);
    assert_eq!(p.exact.len(), 1);
    assert_eq!(p.exact[0].output, "u");
}

#[test]
fn burgers_example_has_faces_unions_and_folded_consts() {
    let l = load(&example("burgers"));
    let p = &l.problem;
    assert_eq!(p.nets[0].mlp.widths.len(), 10);
    assert_eq!(p.nets[0].seed, 0);
    assert_eq!(
        p.point_sets[1].spec,
        PointSpec::Face {
            input: 0,
            value: 0.0,
            n: 256,
            owner: None
        }
    );
    assert_eq!(
        p.point_sets[2].spec,
        PointSpec::Union(vec![
            PointSpec::Face {
                input: 1,
                value: -1.0,
                n: 128,
                owner: None
            },
            PointSpec::Face {
                input: 1,
                value: 1.0,
                n: 128,
                owner: None
            },
        ])
    );
    let nu = l.scope.fold(&parse_expr("nu").unwrap()).unwrap();
    assert!((nu - 0.01 / std::f64::consts::PI).abs() < 1e-18);
}

#[test]
fn stokes_example_has_a_multi_output_net_and_a_param() {
    let l = load(&example("stokes_inverse"));
    let p = &l.problem;
    assert_eq!(p.nets[0].name, "flow");
    assert_eq!(p.nets[0].outputs, vec!["u", "v", "p"]);
    assert_eq!(p.nets[0].mlp.widths, vec![2, 50, 50, 50, 3]);
    assert_eq!(p.nets[0].seed, 1);
    assert_eq!(p.params[0].name, "mu");
    assert_eq!(p.params[0].init, 0.5);
    assert_eq!(p.residuals.len(), 3);
}

#[test]
fn examples_pretty_print_and_reparse_to_the_same_tree() {
    for name in ["poisson2d", "burgers", "stokes_inverse"] {
        let (ast, errs) = parse_file(&example(name));
        assert!(errs.is_empty(), "{name}: {errs:?}");
        let printed = ast.to_string();
        let (again, errs) = parse_file(&printed);
        assert!(errs.is_empty(), "{name}: {errs:?}\n{printed}");
        assert_eq!(again, ast, "{printed}");
    }
}

fn expr(s: &str) -> Expr {
    parse_expr(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

/// The printed form shows the parse with full parenthesisation where it matters.
fn shape(s: &str) -> String {
    fn go(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Num(v) => format!("{v}"),
            ExprKind::Name(n) => n.clone(),
            ExprKind::Neg(a) => format!("(neg {})", go(a)),
            ExprKind::Binary(op, a, b) => format!("({op:?} {} {})", go(a), go(b)),
            ExprKind::Call(f, args) => {
                let a: Vec<String> = args.iter().map(go).collect();
                format!("({} {})", f.name, a.join(" "))
            }
            ExprKind::D(a, vs) => {
                let v: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
                format!("(d {} {})", go(a), v.join(" "))
            }
            ExprKind::Lap(a, vs, k) => {
                let v = vs.as_ref().map_or(String::new(), |vs| {
                    let v: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
                    format!("; {}", v.join(" "))
                });
                let k = k
                    .as_ref()
                    .map_or(String::new(), |k| format!("; sample {}", go(k)));
                format!("(lap {}{v}{k})", go(a))
            }
            ExprKind::At(a, subs) => {
                let v: Vec<String> = subs
                    .iter()
                    .map(|(v, e)| format!("{}={}", v.name, go(e)))
                    .collect();
                format!("(at {}; {})", go(a), v.join(" "))
            }
        }
    }
    go(&expr(s))
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(shape("-x^2"), "(neg (Pow x 2))");
    assert_eq!(shape("2^3^2"), "(Pow 2 (Pow 3 2))");
    assert_eq!(shape("(-2)^3"), "(Pow (neg 2) 3)");
    assert_eq!(shape("a - b - c"), "(Sub (Sub a b) c)");
    assert_eq!(shape("a / b * c"), "(Mul (Div a b) c)");
    assert_eq!(shape("a + b * c"), "(Add a (Mul b c))");
    assert_eq!(shape("-a * b"), "(Mul (neg a) b)");
    assert_eq!(shape("x^-2"), "(Pow x (neg 2))");
    assert_eq!(shape("1e-3 + 2.5"), "(Add 0.001 2.5)");
}

#[test]
fn derivative_and_substitution_forms() {
    assert_eq!(shape("d(u, x, y)"), "(d u x y)");
    assert_eq!(shape("lap(u)"), "(lap u)");
    assert_eq!(shape("lap(u; x, y)"), "(lap u; x y)");
    assert_eq!(shape("lap(u; sample = 4)"), "(lap u; sample 4)");
    assert_eq!(
        shape("lap(u; x, y; sample = 2 * k)"),
        "(lap u; x y; sample (Mul 2 k))"
    );
    // an input may be named `sample`: only `sample =` starts the clause
    assert_eq!(shape("lap(u; sample)"), "(lap u; sample)");
    assert_eq!(shape("at(d(u, y); y = x^2)"), "(at (d u y); y=(Pow x 2))");
    assert_eq!(shape("at(u; x = y, y = x)"), "(at u; x=y y=x)");
    assert_eq!(shape("u(t, -1)"), "(u t (neg 1))");
    assert_eq!(shape("sin(pi * x)"), "(sin (Mul pi x))");
}

#[test]
fn each_statement_form_parses() {
    let src = "problem p\ninput x in [-1, 2 * pi]\nconst c = 2\nparam k = -0.5\n\
               net u(x) = mlp(widths = [4], act = sin, seed = 7)\n\
               net g(x) -> (a, b) = mlp(widths = [3, 3])\nlet f = c * x\n\
               domain half(x) = box([0, pi])\n\
               points s = interior(5) + boundary(2) + face(x = 0, 3) + interior(half, 2)\n\
               residual r on s weight c + 1 = u - f\nexact u = x\n";
    let (ast, errs) = parse_file(src);
    assert!(errs.is_empty(), "{errs:?}");
    let kinds: Vec<&str> = ast
        .stmts
        .iter()
        .map(|s| match s.kind {
            StmtKind::Problem(_) => "problem",
            StmtKind::Input(..) => "input",
            StmtKind::Const(..) => "const",
            StmtKind::Param(..) => "param",
            StmtKind::Net { .. } => "net",
            StmtKind::Let(..) => "let",
            StmtKind::Points(..) => "points",
            StmtKind::Domain(..) => "domain",
            StmtKind::Residual { .. } => "residual",
            StmtKind::Exact(..) => "exact",
        })
        .collect();
    let want = "problem input const param net net let domain points residual exact";
    assert_eq!(kinds.join(" "), want);
    let l = load(src);
    let p = &l.problem;
    assert!((p.inputs[0].hi - 2.0 * std::f64::consts::PI).abs() < 1e-15);
    assert_eq!(p.params[0].init, -0.5);
    assert_eq!(p.nets[0].mlp.act, Act::Sin);
    assert_eq!(p.nets[0].seed, 7);
    assert_eq!(p.nets[1].mlp.widths, vec![1, 3, 3, 2]);
    assert_eq!(p.residuals[0].weight, 3.0);
    assert_eq!(p.point_sets[0].spec.len(), 12);
    assert_eq!(p.domains[0].shape.bbox().1, vec![std::f64::consts::PI]);
}

#[test]
fn comments_blank_lines_and_forward_references() {
    let src = "# a comment\n\n  input x in [0, 1]   # trailing\nlet a = b + 1\nlet b = 2 * x\n\
               points s = interior(3)\nresidual r on s = a\n";
    let l = load(src);
    assert_eq!(l.problem.residuals.len(), 1);
}
