//! The collapsed Laplacian with its tangents stacked on a leading axis (16 or more
//! variables) against the same Laplacian from one Taylor jet per direction and against f64
//! finite differences: on an MLP (values and the parameter gradient of a loss built on
//! them), and on a graph that goes through every rule of the stacked expansion.

mod ad_util;

use ad_util::*;
use nabla_ir::interp::Env;
use nabla_ir::testing::Mlp;
use nabla_ir::{BinOp, Graph, Method, NodeId, Op, Shape, Tensor, UnOp};
use nabla_passes::ad::{expand, AdOptions};

fn forced(m: Method) -> AdOptions {
    AdOptions { method: Some(m) }
}

fn inputs(g: &mut Graph, d: usize, n: usize) -> Vec<NodeId> {
    (0..d)
        .map(|i| input(g, &format!("x{i}"), &[n, 1]))
        .collect()
}

fn point_env(d: usize, n: usize, seed: u64) -> Env {
    let mut rng = Rng(seed);
    let mut e = env(&[]);
    for i in 0..d {
        e.insert(format!("x{i}"), Tensor::column(rng.vec(n, -0.8, 0.8)));
    }
    e
}

/// `Δu` (output "lap") of a tanh MLP `u` with two hidden layers of `hidden` over `d`
/// concatenated inputs of `n` points: the inputs, the network and the Laplacian.
fn mlp_laplacian(g: &mut Graph, d: usize, n: usize, hidden: usize) -> (Vec<NodeId>, Mlp, NodeId) {
    let xs = inputs(g, d, n);
    let x = op(g, Op::Concat(1), &xs);
    let net = mlp(g, x, &[d, hidden, hidden, 1], "u");
    let lap = laplacian(g, net.out, &xs, Method::Auto);
    g.set_output("lap", lap);
    (xs, net, lap)
}

/// `Σ xᵢ`, added left to right.
fn sum_of(g: &mut Graph, xs: &[NodeId]) -> NodeId {
    (xs.iter().skip(1)).fold(xs[0], |a, &b| bin(g, BinOp::Add, a, b))
}

fn product(ta: bool, tb: bool) -> Op {
    Op::MatMul { ta, tb }
}

/// Columns `start..start + len` of a matrix.
fn columns(start: u32, len: u32) -> Op {
    Op::Slice {
        axis: 1,
        start,
        len,
    }
}

/// `Σᵢ (f(x + h·1ᵢ) − 2f(x) + f(x − h·1ᵢ)) / h²` over the listed variables (an input
/// listed twice counts twice), `h = 1e-4`: error ~1e-8 per term.
fn fd_laplacian(g: &Graph, out: &str, e: &Env, vars: &[String]) -> Vec<f64> {
    fd_laplacian_at(g, out, e, vars, 1e-4)
}

/// [`fd_laplacian`] with step `h`.
fn fd_laplacian_at(g: &Graph, out: &str, e: &Env, vars: &[String], h: f64) -> Vec<f64> {
    let mut plain = g.clone();
    plain.clear_outputs();
    plain.set_output(out, g.output(out).unwrap());
    let f = |e: &Env| eval_plain(&plain, e, nabla_ir::DType::F64).remove(0).data;
    let c = f(e);
    let mut lap = vec![0.0; c.len()];
    for v in vars {
        for s in [h, -h] {
            let mut e2 = e.clone();
            e2.get_mut(v).unwrap().data.iter_mut().for_each(|x| *x += s);
            for (l, (a, b)) in lap.iter_mut().zip(f(&e2).iter().zip(&c)) {
                *l += (a - b) / (h * h);
            }
        }
    }
    lap
}

/// Whether the expanded graph holds a `[D, …]` value: the stacked path was taken.
fn stacks(g: &Graph, opts: &AdOptions, d: usize) -> bool {
    let (e, _) = expand(g, opts).unwrap();
    e.ids().any(|i| {
        let s = e.shape(i);
        s.rank() == 3 && s.dims()[0] == d
    })
}

/// `Δu` of a tanh MLP over 20 inputs, and the parameter gradient of `Σ w·(Δu)²`: stacked
/// against per-direction Taylor jets (1e-12) and finite differences (1e-6).
#[test]
fn a_stacked_laplacian_of_an_mlp_is_the_per_direction_one() {
    let (d, n) = (20, 6);
    let mut g = Graph::new();
    let xs = inputs(&mut g, d, n);
    let x = op(&mut g, Op::Concat(1), &xs);
    let net = mlp(&mut g, x, &[d, 12, 12, 1], "u");
    let (u, params) = (net.out, net.params());
    g.set_output("u", u);
    let lap = laplacian(&mut g, u, &xs, Method::Auto);
    g.set_output("lap", lap);
    let mut e = point_env(d, n, 7);
    param_env(&g, &params, &mut Rng(8), &mut e);
    let vars: Vec<String> = (0..d).map(|i| format!("x{i}")).collect();
    let reference = fd_laplacian(&g, "u", &e, &vars);

    assert!(stacks(&g, &forced(Method::Collapsed), d));
    assert!(!stacks(&g, &forced(Method::Taylor), d));
    let stacked = eval_expanded(&g, &forced(Method::Collapsed), &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    assert_close(
        "stacked vs finite differences",
        &stacked[1].data,
        &reference,
        1e-6,
    );
    assert_close(
        "stacked vs Taylor jets",
        &stacked[1].data,
        &jets[1].data,
        1e-12,
    );

    // the gradient of a loss on the Laplacian w.r.t. every parameter
    let w = tensor(&mut g, &Rng(9).tensor(&[n, 1], -1.0, 1.0));
    let sq = un(&mut g, UnOp::Square, lap);
    let wsq = bin(&mut g, BinOp::Mul, w, sq);
    let loss = sum_all(&mut g, wsq);
    g.clear_outputs();
    for (k, &p) in params.iter().enumerate() {
        let level = g.fresh_level();
        let gr = op(&mut g, Op::Grad { level }, &[loss, p]);
        g.set_output(&format!("g{k}"), gr);
    }
    let stacked = eval_expanded(&g, &forced(Method::Collapsed), &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    for (k, (s, j)) in stacked.iter().zip(&jets).enumerate() {
        assert_close(&format!("gradient {k}"), &s.data, &j.data, 1e-10);
    }
}

/// One expression through every rule, from three columns `cols` (`[n, 1]` each) and a
/// value `w` broadcast to four columns: unary and `powi` (elementwise), `sub`, `div`, `pow`,
/// `atan2`, broadcast to more axes, reshape, sum, mean, slice, a concat with a constant
/// part, products whose left operand is contracted over its rows, whose right operand
/// carries tangents, and whose two operands both do.
fn every_rule(g: &mut Graph, n: usize, cols: &[NodeId], w: NodeId) -> NodeId {
    let c = tensor(g, &Rng(3).tensor(&[n, 1], 0.5, 1.5));
    let mixed = op(g, Op::Concat(1), &[c, cols[0], cols[1], cols[2]]);
    let s = un(g, UnOp::Sin, mixed);
    let p3 = op(g, Op::Powi(3), &[s]);
    let wide = g.broadcast(w, &Shape::matrix(n, 4));
    let q = bin(g, BinOp::Div, p3, wide);
    let q = bin(g, BinOp::Add, q, wide);
    let q = bin(g, BinOp::Sub, q, s);
    let two = cst(g, 2.0);
    let two = g.broadcast(two, &Shape::matrix(n, 4));
    let base = bin(g, BinOp::Add, q, two);
    let base = un(g, UnOp::Square, base);
    let pw = bin(g, BinOp::Pow, base, mixed);
    let at = bin(g, BinOp::Atan2, pw, wide);
    // [n, 4] → [2n, 2] → back, a slice, and a sum and mean over columns
    let r = op(g, Op::Reshape(Shape::matrix(2 * n, 2)), &[at]);
    let r = op(g, Op::Reshape(Shape::matrix(n, 4)), &[r]);
    let sl = op(g, columns(1, 3), &[r]);
    // contracted over rows: slᵀ·sl is [3, 3], both operands carry tangents
    let tn = op(g, product(true, false), &[sl, sl]);
    // a right operand with tangents: [n, 3] · [3, 3]
    let k = tensor(g, &Rng(4).tensor(&[n, 3], -1.0, 1.0));
    let right = op(g, product(false, false), &[k, tn]);
    let total = bin(g, BinOp::Mul, right, sl);
    let m = op(g, Op::Mean(1), &[total]);
    let s1 = op(g, Op::Sum(1), &[sl]);
    let f = bin(g, BinOp::Add, m, s1);
    op(g, Op::Reshape(Shape::matrix(n, 1)), &[f])
}

/// Stacked against per-direction Taylor jets (1e-11) and finite differences (1e-5).
fn check_every_rule(g: &mut Graph, f: NodeId, vs: &[NodeId], d: usize, stacked_values: bool) {
    g.set_output("f", f);
    let lap = laplacian(g, f, vs, Method::Auto);
    g.set_output("lap", lap);
    let e = point_env(d, 5, 11);
    let vars: Vec<String> = (vs.iter())
        .map(|&v| match g.op(v) {
            Op::Input { name, .. } => name.clone(),
            _ => unreachable!(),
        })
        .collect();
    let reference = fd_laplacian(g, "f", &e, &vars);
    assert_eq!(
        stacks(g, &forced(Method::Collapsed), vs.len()),
        stacked_values
    );
    let stacked = eval_expanded(g, &forced(Method::Collapsed), &e);
    let jets = eval_expanded(g, &forced(Method::Taylor), &e);
    let fd = "stacked vs finite differences";
    assert_close(fd, &stacked[1].data, &reference, 1e-5);
    let t = "stacked vs Taylor jets";
    assert_close(t, &stacked[1].data, &jets[1].data, 1e-11);
}

/// Functions of single coordinates keep one tangent per nonzero direction: the columns
/// are inputs (`x3`, `x0`, `x5`), the broadcast value `Σ xᵢ`, and `x5` is listed twice
/// (17 directions). No stacked value is formed.
#[test]
fn every_rule_on_coordinates_against_taylor_jets() {
    let (d, n) = (16, 5);
    let mut g = Graph::new();
    let xs = inputs(&mut g, d, n);
    let sum_x = sum_of(&mut g, &xs);
    let f = every_rule(&mut g, n, &[xs[3], xs[0], xs[5]], sum_x);
    let mut vs = xs.clone();
    vs.push(xs[5]);
    check_every_rule(&mut g, f, &vs, d, false);
}

/// The same through stacked tangents: the columns are those of `tanh(x·Wᵀ)` over all 16
/// inputs in order (the identity seed, `Wᵀ`'s rows), and the broadcast value mixes a
/// column with the coordinate sum `Σ xᵢ` (per-direction parts meeting stacked tangents).
#[test]
fn every_rule_on_stacked_tangents_against_taylor_jets() {
    let (d, n) = (16, 5);
    let mut g = Graph::new();
    let (xs, f) = every_rule_on_columns(&mut g, d, n, 12);
    check_every_rule(&mut g, f, &xs, d, true);
}

/// [`every_rule`] on the columns of `tanh(x·Wᵀ)` over `d` inputs, with `W` drawn from
/// `seed`, and the broadcast value `(Σ xᵢ)·column 1`: the inputs and the result.
fn every_rule_on_columns(g: &mut Graph, d: usize, n: usize, seed: u64) -> (Vec<NodeId>, NodeId) {
    let xs = inputs(g, d, n);
    let x = op(g, Op::Concat(1), &xs);
    let w = tensor(g, &Rng(seed).tensor(&[3, d], -0.5, 0.5));
    let z = op(g, product(false, true), &[x, w]);
    let z = un(g, UnOp::Tanh, z);
    let cols: Vec<NodeId> = (0..3).map(|j| op(g, columns(j, 1), &[z])).collect();
    let sum_x = sum_of(g, &xs);
    let wv = bin(g, BinOp::Mul, sum_x, cols[1]);
    let f = every_rule(g, n, &cols, wv);
    (xs, f)
}

/// A per-point Jacobian needs the batch axis first everywhere: with one in the graph the
/// Laplacian keeps one tangent per direction, and the Jacobian of the Laplacian is the
/// one of the per-direction expansion.
#[test]
fn a_graph_with_a_per_point_jacobian_keeps_directions_apart() {
    let (d, n) = (16, 4);
    let mut g = Graph::new();
    let xs = inputs(&mut g, d, n);
    let x = op(&mut g, Op::Concat(1), &xs);
    let net = mlp(&mut g, x, &[d, 6, 1], "u");
    let lap = laplacian(&mut g, net.out, &xs, Method::Auto);
    let p = net.params()[0];
    let level = g.fresh_level();
    let j = op(&mut g, Op::Jacobian { level }, &[lap, p]);
    g.set_output("j", j);
    assert!(!stacks(&g, &AdOptions::default(), d));
    let mut e = point_env(d, n, 5);
    param_env(&g, &net.params(), &mut Rng(6), &mut e);
    let by_default = eval_expanded(&g, &AdOptions::default(), &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    assert_close("jacobian", &by_default[0].data, &jets[0].data, 1e-11);
}

/// The stacked expansion's graph does not grow with the number of variables: the
/// Laplacian of an MLP over 100 inputs has the nodes of the one over 50 plus the 50 extra
/// input leaves (and a handful for the wider concat and first layer), where one tangent
/// per direction adds a chain of nodes per layer for every direction.
#[test]
fn the_stacked_graph_does_not_grow_with_the_variables() {
    let nodes = |d: usize, m: Method| {
        let mut g = Graph::new();
        mlp_laplacian(&mut g, d, 8, 16);
        expand(&g, &forced(m)).unwrap().1.nodes_after
    };
    let (s50, s100) = (nodes(50, Method::Collapsed), nodes(100, Method::Collapsed));
    assert!(
        s100 - s50 <= 60,
        "stacked: {s50} nodes at D = 50, {s100} at D = 100"
    );
    let (t50, t100) = (nodes(50, Method::Taylor), nodes(100, Method::Taylor));
    assert!(t100 - t50 > 10 * 50, "per direction: {t50} and {t100}");
}

/// The network's input holds other columns than the Laplacian's variables, or holds them
/// out of order: `u(t, x₁ … x₁₆)` with `Δ` over the x's (the first layer's tangents a slice
/// of `Wᵀ`'s rows), and `u(x₁₆ … x₁, t)` (a selection of them): stacked, against Taylor
/// jets (1e-12) and finite differences (1e-6), values and the parameter gradient.
#[test]
fn inputs_beside_and_out_of_order_stack_too() {
    let (d, n) = (16, 5);
    for reversed in [false, true] {
        let mut g = Graph::new();
        let xs = inputs(&mut g, d, n);
        let t = input(&mut g, "t", &[n, 1]);
        let cols: Vec<NodeId> = match reversed {
            false => std::iter::once(t).chain(xs.iter().copied()).collect(),
            true => xs.iter().rev().copied().chain(std::iter::once(t)).collect(),
        };
        let x = op(&mut g, Op::Concat(1), &cols);
        let net = mlp(&mut g, x, &[d + 1, 10, 10, 1], "u");
        g.set_output("u", net.out);
        let lap = laplacian(&mut g, net.out, &xs, Method::Auto);
        g.set_output("lap", lap);
        let mut e = point_env(d, n, 21);
        e.insert("t".into(), Tensor::column(Rng(22).vec(n, 0.0, 1.0)));
        param_env(&g, &net.params(), &mut Rng(23), &mut e);
        let vars: Vec<String> = (0..d).map(|i| format!("x{i}")).collect();
        let reference = fd_laplacian(&g, "u", &e, &vars);
        assert!(stacks(&g, &forced(Method::Collapsed), d));
        let stacked = eval_expanded(&g, &forced(Method::Collapsed), &e);
        let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
        let what = format!("reversed = {reversed}");
        assert_close(&what, &stacked[1].data, &reference, 1e-6);
        assert_close(&what, &stacked[1].data, &jets[1].data, 1e-12);
        let sq = un(&mut g, UnOp::Square, lap);
        let loss = sum_all(&mut g, sq);
        g.clear_outputs();
        let p = net.params()[0];
        let level = g.fresh_level();
        let gr = op(&mut g, Op::Grad { level }, &[loss, p]);
        g.set_output("g", gr);
        let stacked = eval_expanded(&g, &forced(Method::Collapsed), &e);
        let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
        assert_close(&what, &stacked[0].data, &jets[0].data, 1e-10);
    }
}

// ---- finite-difference stencils: the shifted points stacked on a leading axis ----

/// A graph whose expansion keeps the batch axis first everywhere: `g` with a per-point
/// Jacobian of `u` added as an output (finite-difference stencils then substitute one
/// copy of `f` per point).
fn with_jacobian(g: &Graph, u: NodeId, p: NodeId) -> Graph {
    let mut g = g.clone();
    let level = g.fresh_level();
    let j = op(&mut g, Op::Jacobian { level }, &[u, p]);
    g.set_output("jacobian", j);
    g
}

/// The outputs of `g` by finite differences of step `h`, stacked and as substituted
/// copies (`g` with a Jacobian of `u` w.r.t. `p`), which must agree to `tol`.
fn fd_both_ways(g: &Graph, u: NodeId, p: NodeId, e: &Env, h: f64, tol: f64) -> Vec<Tensor> {
    let fd = forced(Method::FiniteDiff(Some(nabla_ir::Num::new(h))));
    assert!(lifts(g, &fd) && !lifts(&with_jacobian(g, u, p), &fd));
    let stacked = eval_expanded(g, &fd, e);
    let copies = eval_expanded(&with_jacobian(g, u, p), &fd, e);
    for (k, s) in stacked.iter().enumerate() {
        let what = format!("output {k}: stacked vs copies, h = {h}");
        assert_close(&what, &s.data, &copies[k].data, tol);
    }
    stacked
}

/// Whether the expansion of `g` holds a value of higher rank than any of `g`'s own, a
/// stacked one, that an output other than [`with_jacobian`]'s needs.
fn lifts(g: &Graph, opts: &AdOptions) -> bool {
    let own = g.ids().map(|i| g.shape(i).rank()).max().unwrap_or(0);
    let (e, _) = expand(g, opts).unwrap();
    let roots: Vec<NodeId> = (e.outputs().iter())
        .filter(|o| o.0 != "jacobian")
        .map(|o| o.1)
        .collect();
    let live = e.live(&roots);
    e.ids().any(|i| live[i.index()] && e.shape(i).rank() > own)
}

/// How many products the expansion of `g` by finite differences holds.
fn fd_products(g: &Graph) -> usize {
    let (e, _) = expand(g, &forced(Method::FiniteDiff(None))).unwrap();
    let live = e.live(&e.outputs().iter().map(|o| o.1).collect::<Vec<_>>());
    (e.ids())
        .filter(|&i| live[i.index()] && matches!(e.op(i), Op::MatMul { .. }))
        .count()
}

/// Whether the expansion of `g` holds a point-major stack `[n, s, …]`: the stencil's
/// points with the centre among them.
fn point_major(g: &Graph, opts: &AdOptions, n: usize, s: usize) -> bool {
    let (e, _) = expand(g, opts).unwrap();
    e.ids().any(|i| {
        let d = e.shape(i).dims();
        d.len() == 3 && d[0] == n && d[1] == s
    })
}

/// The finite-difference Laplacian of a 20-input MLP that nothing else uses evaluates the
/// network once at its 40 shifted points and the centre, point-major: the same values as
/// 40 substituted copies and the centre (h = 0.1, where the stencil's cancellation costs
/// little, 1e-10), Taylor jets to the stencil's error at the default step (1e-5), and the
/// parameter gradient of a loss on it as the copies' (1e-9). Its products are those of one
/// network.
#[test]
fn a_finite_difference_laplacian_stacks_its_points() {
    let (d, n) = (20, 6);
    let mut g = Graph::new();
    let (_, net, lap) = mlp_laplacian(&mut g, d, n, 12);
    let (u, params) = (net.out, net.params());
    let mut e = point_env(d, n, 31);
    param_env(&g, &params, &mut Rng(32), &mut e);
    let fd = forced(Method::FiniteDiff(None));
    assert!(point_major(&g, &fd, n, 2 * d + 1) && !stacks(&g, &fd, 2 * d));
    assert_eq!(fd_products(&g), 3);
    assert!(fd_products(&with_jacobian(&g, u, params[0])) >= 2 * d * 3);
    fd_both_ways(&g, u, params[0], &e, 1e-1, 1e-10);
    let fd = eval_expanded(&g, &forced(Method::FiniteDiff(None)), &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    assert_close("fd vs Taylor jets", &fd[0].data, &jets[0].data, 1e-5);
    // the same stencil through the interpreter, shifting the inputs by hand (h = 10⁻²)
    let mut gu = g.clone();
    gu.set_output("u", u);
    let vars: Vec<String> = (0..d).map(|i| format!("x{i}")).collect();
    let by_hand = fd_laplacian_at(&gu, "u", &e, &vars, 1e-2);
    let h = forced(Method::FiniteDiff(Some(nabla_ir::Num::new(1e-2))));
    let fd = eval_expanded(&g, &h, &e);
    assert_close(
        "fd vs the interpreter's stencil",
        &fd[0].data,
        &by_hand,
        1e-9,
    );

    let sq = un(&mut g, UnOp::Square, lap);
    let loss = sum_all(&mut g, sq);
    g.clear_outputs();
    for (k, &p) in params.iter().enumerate() {
        let level = g.fresh_level();
        let gr = op(&mut g, Op::Grad { level }, &[loss, p]);
        g.set_output(&format!("g{k}"), gr);
    }
    fd_both_ways(&g, u, params[0], &e, 1e-1, 1e-9);
}

/// Every lifting rule (elementwise, broadcast, reshape, slice, sum, mean, products with
/// stacked contracted rows and stacked right operands, a concat with a constant part)
/// under a stencil of all 16 inputs: stacked against copies at h = 0.1 (1e-10).
#[test]
fn every_rule_lifts_for_a_finite_difference_stencil() {
    let (d, n) = (16, 5);
    let mut g = Graph::new();
    let (xs, f) = every_rule_on_columns(&mut g, d, n, 13);
    let lap = laplacian(&mut g, f, &xs, Method::Auto);
    g.set_output("lap", lap);
    let e = point_env(d, n, 14);
    // the Jacobian that forces copies needs a param: one scales `f`
    let s = param(&mut g, "s", &[1]);
    let fs = bin(&mut g, BinOp::Mul, f, s);
    let mut e2 = e.clone();
    e2.insert("s".into(), Tensor::new(Shape::new(&[1]), vec![1.0]));
    fd_both_ways(&g, fs, s, &e2, 1e-1, 1e-10);
}

/// `∂ⁿu/∂xⁿ` for n = 1..4 and the nested mixed `∂²u/∂x∂t` by stencils: stacked as the
/// copies (1e-10 at h = 0.1), and within the stencils' error of Taylor jets at the
/// default steps; a derivative along a variable `u` does not depend on is zero.
#[test]
fn derivatives_of_every_order_stack_their_points() {
    let n = 5;
    let mut g = Graph::new();
    let x = input(&mut g, "x0", &[n, 1]);
    let t = input(&mut g, "x1", &[n, 1]);
    let y = input(&mut g, "x2", &[n, 1]);
    let xt = op(&mut g, Op::Concat(1), &[x, t]);
    let net = mlp(&mut g, xt, &[2, 10, 10, 1], "u");
    let u = net.out;
    for k in 1..=4u8 {
        let dk = diff(&mut g, u, x, k, Method::Auto);
        g.set_output(&format!("d{k}"), dk);
    }
    let dx = diff(&mut g, u, x, 1, Method::Auto);
    let dxt = diff(&mut g, dx, t, 1, Method::Auto);
    g.set_output("dxt", dxt);
    let dy = diff(&mut g, u, y, 2, Method::Auto);
    g.set_output("dy", dy);
    let mut e = point_env(3, n, 41);
    param_env(&g, &net.params(), &mut Rng(42), &mut e);
    let stacked = fd_both_ways(&g, u, net.params()[0], &e, 1e-1, 1e-10);
    assert!(stacked[5].data.iter().all(|v| *v == 0.0));
    let fd = eval_expanded(&g, &forced(Method::FiniteDiff(None)), &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    // the stencils' errors at the default steps ε^(1/(2+n)) grow with the order
    for (k, tol) in [1e-9, 1e-7, 1e-5, 1e-4, 1e-5].iter().enumerate() {
        let what = format!("output {k}: fd vs Taylor");
        assert_close(&what, &fd[k].data, &jets[k].data, *tol);
    }
}

/// The stacked stencil's graph grows with the number of variables by a few nodes per
/// input leaf (its shift and the add), not by a copy of the network per shifted point:
/// its products stay those of one network.
#[test]
fn a_finite_difference_graph_does_not_grow_with_the_variables() {
    let nodes = |d: usize| {
        let mut g = Graph::new();
        mlp_laplacian(&mut g, d, 8, 16);
        (
            g.clone(),
            expand(&g, &forced(Method::FiniteDiff(None)))
                .unwrap()
                .1
                .nodes_after,
        )
    };
    let ((g50, s50), (_, s100)) = (nodes(50), nodes(100));
    assert!(
        s100 - s50 <= 6 * 50,
        "{s50} nodes at D = 50, {s100} at D = 100"
    );
    assert_eq!(fd_products(&g50), 3);
}

/// Where the network is used at the centre besides the stencil (`u` is an output too),
/// the stencil takes that evaluation as its centre and stacks only the shifted points, on
/// a leading axis: products of two networks, the values of the copies (1e-10 at h = 0.1).
#[test]
fn a_stencil_whose_function_has_another_use_keeps_its_centre_apart() {
    let (d, n) = (6, 5);
    let mut g = Graph::new();
    let (_, net, _) = mlp_laplacian(&mut g, d, n, 8);
    g.set_output("u", net.out);
    let mut e = point_env(d, n, 81);
    param_env(&g, &net.params(), &mut Rng(82), &mut e);
    let fd = forced(Method::FiniteDiff(None));
    assert!(stacks(&g, &fd, 2 * d) && !point_major(&g, &fd, n, 2 * d + 1));
    assert_eq!(fd_products(&g), 2 * 3);
    fd_both_ways(&g, net.out, net.params()[0], &e, 1e-1, 1e-10);
}

/// The outputs of `g` by finite differences of step `h`: with the centre among the
/// stacked points (nothing else uses `f`), and with it apart (`f` an output too), which
/// must agree to `tol`.
/// `s`: the stencil's points, its centre included.
fn centre_both_ways(g: &Graph, f: NodeId, s: usize, e: &Env, h: f64, tol: f64) -> Vec<Tensor> {
    let fd = forced(Method::FiniteDiff(Some(nabla_ir::Num::new(h))));
    let mut apart = g.clone();
    apart.set_output("f, also", f);
    let n = g.shape(f).dims()[0];
    assert!(point_major(g, &fd, n, s) && !point_major(&apart, &fd, n, s));
    let rows = eval_expanded(g, &fd, e);
    let kept = eval_expanded(&apart, &fd, e);
    for (k, r) in rows.iter().enumerate() {
        let what = format!("output {k}: centre among the points vs apart, h = {h}");
        assert_close(&what, &r.data, &kept[k].data, tol);
    }
    rows
}

/// A derivative of order 4 stacks its four shifted points and the centre point-major
/// (weights 1, −4, 6, −4, 1 over `x − 2h … x + 2h`, so a point given the offset of one
/// with another weight shows): the values of the centre apart (1e-8 at h = 0.1, where the
/// stencil divides by `h⁴`), the same stencil from the interpreter with the input shifted
/// by hand, and Taylor jets to the stencil's error at h = 0.05.
#[test]
fn a_fourth_derivative_stacks_point_major() {
    let n = 6;
    let mut g = Graph::new();
    let x = input(&mut g, "x0", &[n, 1]);
    let t = input(&mut g, "t", &[n, 1]);
    let xt = op(&mut g, Op::Concat(1), &[x, t]);
    let net = mlp(&mut g, xt, &[2, 8, 8, 1], "u");
    let d4 = diff(&mut g, net.out, x, 4, Method::Auto);
    g.set_output("d4", d4);
    let mut e = point_env(1, n, 101);
    e.insert("t".into(), Tensor::column(Rng(102).vec(n, -0.5, 0.5)));
    param_env(&g, &net.params(), &mut Rng(103), &mut e);
    let stacked = centre_both_ways(&g, net.out, 5, &e, 1e-1, 1e-8);
    let mut gu = g.clone();
    gu.clear_outputs();
    gu.set_output("u", net.out);
    let u = |e: &Env| eval_plain(&gu, e, nabla_ir::DType::F64).remove(0).data;
    let mut by_hand = vec![0.0; n];
    for (k, w) in [
        (-2.0, 1.0),
        (-1.0, -4.0),
        (0.0, 6.0),
        (1.0, -4.0),
        (2.0, 1.0),
    ] {
        let mut shifted = e.clone();
        let col = shifted.get_mut("x0").unwrap();
        col.data.iter_mut().for_each(|v| *v += k * 0.1);
        for (b, v) in by_hand.iter_mut().zip(u(&shifted)) {
            *b += w * v / 1e-4;
        }
    }
    assert_close("point-major vs by hand", &stacked[0].data, &by_hand, 1e-8);
    let h = forced(Method::FiniteDiff(Some(nabla_ir::Num::new(5e-2))));
    let fd = eval_expanded(&g, &h, &e);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    assert_close("fd vs Taylor", &fd[0].data, &jets[0].data, 5e-2);
}

/// The rules of the point-major stack under a Laplacian of three inputs: an input left
/// unshifted (`t`, per point), a per-point constant, a bias broadcast over the points, a
/// broadcast and reshapes that keep the points first, a slice, sum and mean over columns,
/// a concat with a constant part, and products of the points' rows: the values (1e-10 at
/// h = 0.1) and the parameter gradient of a loss on them (1e-9) as with the centre apart,
/// and Taylor jets to the stencil's error at the default step.
#[test]
fn every_row_rule_stacks_point_major() {
    let n = 5;
    let mut g = Graph::new();
    let xs = inputs(&mut g, 3, n);
    let t = input(&mut g, "t", &[n, 1]);
    let c = tensor(&mut g, &Rng(91).tensor(&[n, 2], 0.5, 1.5));
    let x = op(&mut g, Op::Concat(1), &[xs[0], xs[1], xs[2], t, c]);
    let w = param(&mut g, "W", &[6, 6]);
    let b = param(&mut g, "b", &[6]);
    let z = op(&mut g, product(false, true), &[x, w]);
    let bn = g.broadcast(b, &Shape::matrix(n, 6));
    let h = bin(&mut g, BinOp::Add, z, bn);
    let h = un(&mut g, UnOp::Tanh, h);
    let tt = g.broadcast(t, &Shape::matrix(n, 6));
    let h = bin(&mut g, BinOp::Mul, h, tt);
    let r = op(&mut g, Op::Reshape(Shape::new(&[n, 2, 3])), &[h]);
    let m = op(&mut g, Op::Mean(1), &[r]);
    let sl = op(&mut g, columns(1, 2), &[m]);
    let k = tensor(&mut g, &Rng(92).tensor(&[2, 1], -1.0, 1.0));
    let p = op(&mut g, product(false, false), &[sl, k]);
    let s = op(&mut g, Op::Sum(1), &[h]);
    let s = op(&mut g, Op::Reshape(Shape::matrix(n, 1)), &[s]);
    let s = op(&mut g, Op::Powi(2), &[s]);
    let f = bin(&mut g, BinOp::Add, p, s);
    let lap = laplacian(&mut g, f, &xs, Method::Auto);
    g.set_output("lap", lap);
    let mut e = point_env(3, n, 93);
    e.insert("t".into(), Tensor::column(Rng(94).vec(n, 0.5, 1.0)));
    e.insert(
        "W".into(),
        Tensor::new(Shape::matrix(6, 6), Rng(95).vec(36, -1.0, 1.0)),
    );
    e.insert(
        "b".into(),
        Tensor::new(Shape::new(&[6]), Rng(96).vec(6, -0.5, 0.5)),
    );
    let fd = forced(Method::FiniteDiff(None));
    centre_both_ways(&g, f, 7, &e, 1e-1, 1e-10);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    let at_default = eval_expanded(&g, &fd, &e);
    assert_close("fd vs Taylor", &at_default[0].data, &jets[0].data, 1e-5);
    let sq = un(&mut g, UnOp::Square, lap);
    let loss = sum_all(&mut g, sq);
    g.clear_outputs();
    let level = g.fresh_level();
    let gw = op(&mut g, Op::Grad { level }, &[loss, w]);
    g.set_output("gW", gw);
    centre_both_ways(&g, f, 7, &e, 1e-1, 1e-9);
}

/// In f32 (every op rounded) a stacked finite-difference Laplacian is as accurate as the
/// copies: each direction's stencil is formed before the directions are added, so no sum
/// holds `2D` terms of `h⁻²` times the result's size.
#[test]
fn a_stacked_stencil_rounds_like_the_copies_in_f32() {
    let (d, n) = (32, 16);
    let mut g = Graph::new();
    let (_, net, _) = mlp_laplacian(&mut g, d, n, 16);
    let mut e = point_env(d, n, 51);
    param_env(&g, &net.params(), &mut Rng(52), &mut e);
    let exact = eval_expanded(&g, &forced(Method::Taylor), &e)
        .remove(0)
        .data;
    // the f32 step ε^(1/4) ≈ 1.9e-2
    let fd = forced(Method::FiniteDiff(Some(nabla_ir::Num::new(1.86e-2))));
    let error = |g: &Graph| {
        let (ex, _) = expand(g, &fd).unwrap();
        let got = eval_plain(&ex, &e, nabla_ir::DType::F32).remove(0).data;
        (got.iter().zip(&exact)).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
    };
    let with_j = with_jacobian(&g, net.out, net.params()[0]);
    assert!(lifts(&g, &fd) && !lifts(&with_j, &fd));
    let stacked = error(&g);
    let copies = error(&with_j);
    // (adding the 2D shifted points first and the centre last: 3.2e-2 against 2.2e-2)
    assert!(
        stacked <= 1.2 * copies,
        "f32 errors: stacked {stacked:.2e}, copies {copies:.2e}"
    );
}

/// A Laplacian that lists a leaf twice counts it twice (`Δ` over `x₀, x₀, x₁`), stacked
/// as in copies (1e-10 at h = 0.1) and within the stencil's error of Taylor jets.
#[test]
fn a_leaf_listed_twice_counts_twice_in_a_stencil() {
    let n = 5;
    let mut g = Graph::new();
    let xs = inputs(&mut g, 2, n);
    let x = op(&mut g, Op::Concat(1), &xs);
    let net = mlp(&mut g, x, &[2, 8, 8, 1], "u");
    let lap = laplacian(&mut g, net.out, &[xs[0], xs[0], xs[1]], Method::Auto);
    g.set_output("lap", lap);
    let mut e = point_env(2, n, 61);
    param_env(&g, &net.params(), &mut Rng(62), &mut e);
    let stacked = fd_both_ways(&g, net.out, net.params()[0], &e, 0.1, 1e-10);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    assert_close("fd vs Taylor", &stacked[0].data, &jets[0].data, 1e-1);
    let fd = eval_expanded(&g, &forced(Method::FiniteDiff(None)), &e);
    assert_close("fd vs Taylor", &fd[0].data, &jets[0].data, 1e-6);
}

/// The rarer lifting rules under a first-order stencil in `x`: a product contracted over
/// the points with a stacked left operand and a fixed right one (`xᵀ·C`), a stacked value
/// broadcast to a higher rank and reduced back, and a product whose right operand is
/// stacked (`K·(…)`).
#[test]
fn products_over_the_points_and_broadcasts_to_more_axes_lift() {
    let n = 6;
    let mut g = Graph::new();
    let x = input(&mut g, "x0", &[n, 1]);
    let s = un(&mut g, UnOp::Sin, x);
    let c = tensor(&mut g, &Rng(71).tensor(&[n, 3], -1.0, 1.0));
    let xc = op(&mut g, product(true, false), &[s, c]);
    let wide = g.broadcast(xc, &Shape::new(&[2, n, 3]));
    let back = op(&mut g, Op::Sum(0), &[wide]);
    let k = tensor(&mut g, &Rng(72).tensor(&[n, n], -1.0, 1.0));
    let right = op(&mut g, product(false, false), &[k, back]);
    let sq = bin(&mut g, BinOp::Mul, right, right);
    let f = op(&mut g, Op::Sum(1), &[sq]);
    let f = op(&mut g, Op::Reshape(Shape::matrix(n, 1)), &[f]);
    let d1 = diff(&mut g, f, x, 1, Method::Auto);
    g.set_output("d1", d1);
    let d2 = diff(&mut g, f, x, 2, Method::Auto);
    g.set_output("d2", d2);
    let p = param(&mut g, "p", &[1]);
    let fp = bin(&mut g, BinOp::Mul, f, p);
    let e = env(&[
        ("x0", Tensor::column(Rng(73).vec(n, -1.0, 1.0))),
        ("p", Tensor::new(Shape::new(&[1]), vec![1.0])),
    ]);
    let stacked = fd_both_ways(&g, fp, p, &e, 0.1, 1e-10);
    let jets = eval_expanded(&g, &forced(Method::Taylor), &e);
    let fd = eval_expanded(&g, &forced(Method::FiniteDiff(None)), &e);
    for k in 0..2 {
        assert_close("fd vs Taylor", &fd[k].data, &jets[k].data, [1e-8, 1e-5][k]);
        assert!(stacked[k].data.iter().all(|v| v.is_finite()));
    }
}
