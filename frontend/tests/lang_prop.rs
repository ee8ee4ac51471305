//! Properties of the problem-language parser: every well-formed file prints and re-parses
//! to the same tree, and no input — random bytes or random token soup — panics the
//! parser, the checks or the lowering.

use nabla_frontend::lang::{self, ast::*, parse_file, Span};
use nabla_ir::DType;
use proptest::prelude::*;

/// Names, including ones that are keywords elsewhere in the grammar.
const NAMES: [&str; 10] = [
    "x", "y", "u", "foo", "bar_1", "_z", "weight", "on", "in", "d",
];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(&NAMES[..]).prop_map(String::from)
}

fn ident() -> impl Strategy<Value = Ident> {
    name().prop_map(|name| Ident {
        name,
        span: Span::default(),
    })
}

fn idents(max: usize) -> impl Strategy<Value = Vec<Ident>> {
    prop::collection::vec(ident(), 1..=max)
}

fn num() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..1000).prop_map(f64::from),
        0.0..1e3f64,
        prop::sample::select(vec![1e-7, 2.5e-3, 1e20, 0.1, 5e-324]),
    ]
}

fn mk(kind: ExprKind) -> Expr {
    Expr::new(kind, Span::default())
}

fn bin_op() -> impl Strategy<Value = BinOp> {
    prop::sample::select(vec![
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Pow,
    ])
}

/// A callee that is not `d`, `lap` or `at` (which parse as derivative forms).
fn callee() -> impl Strategy<Value = Ident> {
    ident().prop_filter("special form", |i| i.name != "d")
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        num().prop_map(ExprKind::Num),
        name().prop_map(ExprKind::Name)
    ]
    .prop_map(mk);
    leaf.prop_recursive(4, 24, 3, |e| {
        let b = |x: Expr| Box::new(x);
        prop_oneof![
            e.clone().prop_map(move |a| mk(ExprKind::Neg(b(a)))),
            (bin_op(), e.clone(), e.clone()).prop_map(move |(o, a, c)| mk(ExprKind::Binary(
                o,
                b(a),
                b(c)
            ))),
            (callee(), prop::collection::vec(e.clone(), 0..3))
                .prop_map(|(f, a)| mk(ExprKind::Call(f, a))),
            (e.clone(), idents(3)).prop_map(move |(a, v)| mk(ExprKind::D(b(a), v))),
            (
                e.clone(),
                prop::option::of(idents(2)),
                prop::option::of(e.clone())
            )
                .prop_map(move |(a, v, k)| mk(ExprKind::Lap(b(a), v, k.map(b)))),
            (e.clone(), prop::collection::vec((ident(), e.clone()), 1..3))
                .prop_map(move |(a, s)| mk(ExprKind::At(b(a), s))),
        ]
    })
}

fn set_term() -> impl Strategy<Value = SetExpr> {
    prop_oneof![
        expr().prop_map(SetExpr::Interior),
        expr().prop_map(SetExpr::Boundary),
        (ident(), expr(), expr()).prop_map(|(v, x, n)| SetExpr::Face(v, x, n)),
    ]
}

fn set() -> impl Strategy<Value = SetExpr> {
    prop_oneof![
        set_term(),
        prop::collection::vec(set_term(), 2..4).prop_map(SetExpr::Union),
    ]
}

fn arg_value() -> impl Strategy<Value = ArgValue> {
    prop_oneof![
        expr().prop_map(ArgValue::Expr),
        prop::collection::vec(expr(), 0..3).prop_map(|v| ArgValue::List(v, Span::default())),
    ]
}

fn arch() -> impl Strategy<Value = Arch> {
    (ident(), prop::collection::vec((ident(), arg_value()), 0..3))
        .prop_map(|(kind, args)| Arch { kind, args })
}

fn stmt() -> impl Strategy<Value = StmtKind> {
    prop_oneof![
        ident().prop_map(StmtKind::Problem),
        (ident(), expr(), expr()).prop_map(|(n, a, b)| StmtKind::Input(n, a, b)),
        (ident(), expr()).prop_map(|(n, e)| StmtKind::Const(n, e)),
        (ident(), expr()).prop_map(|(n, e)| StmtKind::Param(n, e)),
        (
            ident(),
            prop::collection::vec(ident(), 0..3),
            prop::option::of(idents(3)),
            arch()
        )
            .prop_map(|(name, args, outputs, arch)| StmtKind::Net {
                name,
                args,
                outputs,
                arch
            }),
        (ident(), expr()).prop_map(|(n, e)| StmtKind::Let(n, e)),
        (ident(), set()).prop_map(|(n, s)| StmtKind::Points(n, s)),
        (ident(), ident(), prop::option::of(expr()), expr()).prop_map(
            |(name, on, weight, expr)| StmtKind::Residual {
                name,
                on,
                weight,
                expr
            }
        ),
        (ident(), expr()).prop_map(|(n, e)| StmtKind::Exact(n, e)),
    ]
}

fn file() -> impl Strategy<Value = File> {
    prop::collection::vec(stmt(), 1..6).prop_map(|v| File {
        stmts: v
            .into_iter()
            .map(|kind| Stmt {
                kind,
                span: Span::default(),
            })
            .collect(),
        broken: Vec::new(),
    })
}

/// Tokens that make up random, mostly ill-formed files.
const SOUP: [&str; 40] = [
    "input", "x", "y", "in", "[", "]", "0", "1", "2", ",", "net", "u", "(", ")", "=", "mlp",
    "widths", "act", "tanh", "seed", "->", "let", "points", "interior", "boundary", "face", "+",
    "-", "*", "/", "^", "d", "lap", "at", ";", "residual", "on", "weight", "\n", "exact",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_the_identity(f in file()) {
        let printed = f.to_string();
        let (again, errs) = parse_file(&printed);
        prop_assert!(errs.is_empty(), "{:?}\n{}", errs, printed);
        prop_assert_eq!(&again, &f, "{}", printed);
        prop_assert_eq!(again.to_string(), printed);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let src = String::from_utf8_lossy(&bytes);
        let _ = lang::load("fuzz.nabla", &src).map_err(|d| d.render());
    }

    #[test]
    fn token_soup_never_panics(toks in prop::collection::vec(prop::sample::select(&SOUP[..]), 0..60)) {
        let src = toks.join(" ");
        match lang::load("soup.nabla", &src) {
            Err(d) => { let _ = d.render(); }
            Ok(l) => {
                let sizes: Vec<(String, usize)> =
                    l.problem.point_sets.iter().map(|s| (s.name.clone(), 2)).collect();
                let _ = l.problem.objective(&sizes, DType::F64, true);
            }
        }
    }
}

#[test]
fn well_formed_generated_problems_lower_and_trace() {
    // A fixed well-formed skeleton with every expression form, lowered and traced.
    let src = "input x in [0, 1]\ninput y in [-1, 1]\nconst c = 2\nparam k = 0.5\n\
               net g(x, y) -> (a, b) = mlp(widths = [3], act = gelu)\nlet h = a * b\n\
               points s = interior(3) + face(y = 1, 2)\n\
               residual r on s weight c = d(h, x, y) + lap(a; x) - at(b; x = y, y = x) * k + a(y, -1) ^ 3\n";
    let l = lang::load("ok.nabla", src).unwrap_or_else(|d| panic!("{}", d.render()));
    let obj = l
        .problem
        .objective(&[("s".into(), 5)], DType::F64, true)
        .unwrap();
    nabla_ir::verify(&obj.graph).unwrap();
}
