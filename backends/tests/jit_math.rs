//! Accuracy of the f32 transcendentals the JIT emits, in ulp against the correctly
//! rounded value (f64 libm rounded to f32), over a sweep of the whole useful range: every
//! binade from 2⁻³⁰ to 2⁴ in both signs plus a dense uniform grid on [−10, 10].

mod jit_support;

use jit_support::{leaf, values};
use nabla_backends::cranelift::{compile, Options};
use nabla_backends::Executable;
use nabla_ir::{verify, DType, Graph, UnOp};

/// A float's sign-magnitude bit pattern `bits` (sign-extended from a type whose most
/// negative integer is `min`) mapped to an integer that counts representable values in
/// order, so the difference of two keys is their distance in units in the last place.
fn ordered(bits: i128, min: i128) -> i128 {
    if bits < 0 {
        min - bits
    } else {
        bits
    }
}

/// Distance in units in the last place between two finite f32 values.
fn ulps(a: f32, b: f32) -> u32 {
    let key = |x: f32| ordered(x.to_bits() as i32 as i128, i32::MIN as i128);
    (key(a) - key(b)).unsigned_abs() as u32
}

fn sweep() -> Vec<f64> {
    let mut xs = Vec::new();
    for e in -30..4 {
        for k in 0..64 {
            let x = 2f64.powi(e) * (1.0 + k as f64 / 64.0);
            xs.push(x);
            xs.push(-x);
        }
    }
    xs.extend((0..=20_000).map(|i| -10.0 + i as f64 * 1e-3));
    xs.into_iter().map(|x| x as f32 as f64).collect()
}

/// The largest ulp error of the JIT's f32 `u` over the sweep.
fn max_ulp(u: UnOp, opts: &Options) -> u32 {
    let xs: Vec<f64> = sweep()
        .into_iter()
        .filter(|&x| nabla_ir::interp::in_domain(u, x))
        .collect();
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[xs.len(), 1], false);
    let y = g.unary(u, x);
    g.set_output("y", y);
    let info = verify(&g).unwrap();
    let mut exe = compile(&g, &info, opts).unwrap();
    exe.set("x", &xs).unwrap();
    exe.run().unwrap();
    let got = exe.output(0);
    xs.iter()
        .zip(&got)
        .map(|(&x, &y)| ulps(y as f32, u.eval(x) as f32))
        .max()
        .unwrap()
}

fn f32_opts(inline_tanh: bool) -> Options {
    Options {
        dtype: DType::F32,
        inline_tanh,
        ..Options::default()
    }
}

#[test]
fn inline_tanh_is_within_4_ulp() {
    let e = max_ulp(UnOp::Tanh, &f32_opts(true));
    eprintln!("inline f32 tanh: max {e} ulp");
    assert!(e <= 4, "inline tanh: {e} ulp");
    // The scalar tail and the vector body use the same formula.
    let scalar = Options {
        simd: false,
        ..f32_opts(true)
    };
    assert!(max_ulp(UnOp::Tanh, &scalar) <= 4);
}

/// Where f32 `tanh` rounds to ±1 (`|x| ≥ 13·ln 2`) the inline one is exactly ±1, in the
/// vector body and the scalar tail, so `1 − tanh²` (every tanh derivative) is 0 there: it
/// stopped at `1 − 2⁻²²`, 4 ulp short, which left `1 − tanh²` at 4.8e-7 however large `x`
/// and made GELU's second derivative at `x = 1000` −5.5e6.
#[test]
fn inline_tanh_is_exactly_one_where_it_rounds_to_one() {
    let mut xs: Vec<f64> = (0..2000).map(|i| 9.0110 + i as f64 * 0.05).collect();
    xs.extend([1e4, 1e30, f64::from(f32::MAX), f64::INFINITY]);
    xs.extend(xs.clone().iter().map(|x| -x));
    let xs: Vec<f64> = xs.into_iter().map(|x| x as f32 as f64).collect();
    for simd in [true, false] {
        let opts = Options {
            simd,
            ..f32_opts(true)
        };
        let mut g = Graph::new();
        let x = leaf(&mut g, "x", &[xs.len(), 1], false);
        let y = g.unary(UnOp::Tanh, x);
        g.set_output("y", y);
        let info = verify(&g).unwrap();
        let mut exe = compile(&g, &info, &opts).unwrap();
        exe.set("x", &xs).unwrap();
        exe.run().unwrap();
        for (x, t) in xs.iter().zip(exe.output(0)) {
            assert_eq!(t, x.signum(), "tanh({x}) (simd {simd})");
            assert_eq!((x.tanh() as f32) as f64, t, "libm at {x}");
        }
    }
}

#[test]
fn host_transcendentals_are_within_4_ulp() {
    for u in [
        UnOp::Tanh,
        UnOp::Exp,
        UnOp::Log,
        UnOp::Sin,
        UnOp::Cos,
        UnOp::Sigmoid,
        UnOp::Silu,
    ] {
        let e = max_ulp(u, &f32_opts(false));
        eprintln!("host f32 {}: max {e} ulp", u.name());
        assert!(e <= 4, "{}: {e} ulp", u.name());
    }
}

/// Distance in ulp between two finite f64 values.
fn ulps64(a: f64, b: f64) -> u64 {
    let key = |x: f64| ordered(x.to_bits() as i64 as i128, i64::MIN as i128);
    (key(a) - key(b)).unsigned_abs() as u64
}

#[test]
fn inline_f64_tanh_is_within_4_ulp() {
    let mut xs = sweep();
    xs.extend((0..=4000).map(|i| 0.6 + i as f64 * 1e-5)); // around the 0.625 switch
    xs.extend([21.9, 22.0, 22.1, 40.0, -30.0, 1e-300, 0.0, -0.0]);
    let mut g = Graph::new();
    let x = leaf(&mut g, "x", &[xs.len(), 1], false);
    let y = g.unary(UnOp::Tanh, x);
    g.set_output("y", y);
    let info = verify(&g).unwrap();
    for simd in [true, false] {
        let o = Options {
            simd,
            ..Options::default()
        };
        let mut exe = compile(&g, &info, &o).unwrap();
        exe.set("x", &xs).unwrap();
        exe.run().unwrap();
        let got = exe.output(0);
        let e = xs
            .iter()
            .zip(&got)
            .map(|(x, y)| ulps64(*y, x.tanh()))
            .max()
            .unwrap();
        eprintln!("inline f64 tanh (simd {simd}): max {e} ulp");
        assert!(e <= 4, "inline f64 tanh: {e} ulp");
    }
}

#[test]
fn ulp_distance_is_measured_correctly() {
    assert_eq!(ulps(1.0, 1.0), 0);
    assert_eq!(ulps(1.0, f32::from_bits(1.0f32.to_bits() + 3)), 3);
    assert_eq!(ulps(-0.0, 0.0), 0);
    assert_eq!(ulps(f32::from_bits(1), -f32::from_bits(1)), 2);
}

/// `tanh(z + b)` over `[rows, cols]`, `b` broadcast down the rows: the activation kernel of
/// a tanh layer.
#[cfg(target_arch = "x86_64")]
fn bias_tanh_graph(rows: usize, cols: usize) -> Graph {
    let mut g = Graph::new();
    let z = leaf(&mut g, "z", &[rows, cols], false);
    let b = leaf(&mut g, "b", &[cols], false);
    let bb = g
        .add(
            nabla_ir::Op::Broadcast(nabla_ir::Shape::matrix(rows, cols)),
            &[b],
        )
        .unwrap();
    let s = g.binary(nabla_ir::BinOp::Add, z, bb);
    let y = g.unary(UnOp::Tanh, s);
    g.set_output("y", y);
    g
}

/// Values where `tanh`'s branches change (its clamps, the saturation and the small-input
/// cut, in both element types), special values and a sweep, repeated to fill `n`.
#[cfg(target_arch = "x86_64")]
fn tanh_inputs(n: usize) -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e-300,
        -1e-40,
        1e-45,
        4e-4,
        3.99e-4,
        7.905_311_107_635_498,
        -7.905_311_107_635_5,
        9.010_913_347_279_288,
        9.0109,
        22.0,
        -22.000_001,
        21.999_999,
        1e300,
    ];
    v.extend((0..2000).map(|i| -25.0 + i as f64 * 0.025));
    v.extend(values(2000, 9, -3.0, 3.0));
    v.into_iter().cycle().take(n).collect()
}

/// Whether two outputs are the same bits in `dtype`, NaN payloads included.
#[cfg(target_arch = "x86_64")]
fn same_bits(a: f64, b: f64, dtype: DType) -> bool {
    match dtype {
        DType::F32 => (a as f32).to_bits() == (b as f32).to_bits(),
        DType::F64 => a.to_bits() == b.to_bits(),
    }
}

/// `tanh(z + b)` over `[rows, cols]` by the compiled kernel (one thread) and by the
/// AVX-512 code (on `threads`, every step cut into chunks): the same bits, and `tanh`
/// within 4 ulp where finite.
#[cfg(target_arch = "x86_64")]
fn avx512_agrees(rows: usize, cols: usize, b: &[f64], threads: usize, dtype: DType) {
    let g = bias_tanh_graph(rows, cols);
    let info = verify(&g).unwrap();
    let z = tanh_inputs(rows * cols);
    let out = |native_tanh: bool, threads: usize| {
        let opts = Options {
            dtype,
            native_tanh,
            threads,
            par_min: 1,
            ..Options::default()
        };
        let mut exe = compile(&g, &info, &opts).unwrap();
        let native = exe.native_kernels();
        exe.set("z", &z).unwrap();
        exe.set("b", b).unwrap();
        exe.run().unwrap();
        (exe.output(0), native)
    };
    let ((avx, native), (jit, none)) = (out(true, threads), out(false, 1));
    assert_eq!(none, 0);
    if !std::is_x86_feature_detected!("avx512f") {
        assert_eq!(native, 0);
        return;
    }
    assert_eq!(native, 1, "{rows}x{cols} {dtype}: the kernel is recognised");
    for (i, (a, j)) in avx.iter().zip(&jit).enumerate() {
        assert!(
            same_bits(*a, *j, dtype),
            "{rows}x{cols} {dtype} [{i}] tanh({:e}): AVX-512 {a:e}, compiled {j:e}",
            sum(z[i], b[i % cols], dtype)
        );
        assert_tanh_of_sum(*a, (z[i], b[i % cols]), dtype);
    }
}

/// What a layer's kernel adds: `z + b` rounded to `dtype`, in `dtype`.
#[cfg(target_arch = "x86_64")]
fn sum(z: f64, b: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => (z as f32 + b as f32) as f64,
        DType::F64 => z + b,
    }
}

/// `a` is `tanh(z + b)` within 4 ulp of f64's `tanh` (NaN where that is NaN).
#[cfg(target_arch = "x86_64")]
fn assert_tanh_of_sum(a: f64, (z, b): (f64, f64), dtype: DType) {
    let x = sum(z, b, dtype);
    let t = x.tanh();
    let close = match dtype {
        DType::F32 => ulps(a as f32, t as f32) <= 4,
        DType::F64 => ulps64(a, t) <= 4,
    };
    assert!(
        t.is_nan() && a.is_nan() || close,
        "{dtype} tanh({x:e}) = {a:e}, not {t:e}"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_tanh_gives_the_compiled_kernels_bits() {
    // widths that end mid-vector in both element types, and whole vectors; a zero bias
    // (every special value of `tanh_inputs` reaches `tanh` as it is: ±0, NaN, ±∞, the
    // clamps, the saturation and small-input cuts) and a bias that shifts them; one
    // thread, and two threads claiming rows in chunks
    for (rows, cols) in [(37, 20), (9, 33), (64, 16), (5, 8), (10, 2)] {
        let zero = vec![0.0; cols];
        let shift: Vec<f64> = (0..cols).map(|j| 0.01 * j as f64 - 0.05).collect();
        for dtype in [DType::F32, DType::F64] {
            for (b, threads) in [(&zero, 1), (&shift, 1), (&zero, 2)] {
                avx512_agrees(rows, cols, b, threads, dtype);
            }
        }
    }
}

/// Compiles `g` (inputs `z`, `b`, `w`; two outputs) with `opts` and runs it once: both
/// outputs, the kernels that run as AVX-512 code, and the program's kernel steps.
#[cfg(target_arch = "x86_64")]
fn run_zbw(g: &Graph, opts: &Options, zbw: [&[f64]; 3]) -> (Vec<f64>, Vec<f64>, usize, usize) {
    use nabla_passes::schedule::Step;
    let info = verify(g).unwrap();
    let mut exe = compile(g, &info, opts).unwrap();
    for (name, v) in ["z", "b", "w"].into_iter().zip(zbw) {
        exe.set(name, v).unwrap();
    }
    exe.run().unwrap();
    let kernels = (exe.program().steps.iter())
        .filter(|s| matches!(s, Step::Kernel(_)))
        .count();
    (exe.output(0), exe.output(1), exe.native_kernels(), kernels)
}

/// A layer's activation fused with unrelated work of the same shape (`w·w + w`) is split
/// off and run as the AVX-512 code where the host has AVX-512F: both outputs are the
/// compiled kernel's bits, and the program has one kernel step more than unsplit.
#[cfg(target_arch = "x86_64")]
#[test]
fn a_fused_activation_runs_as_the_avx512_code() {
    let (rows, cols) = (21, 19);
    let mut g = bias_tanh_graph(rows, cols);
    let w = leaf(&mut g, "w", &[rows, cols], false);
    let ww = g.binary(nabla_ir::BinOp::Mul, w, w);
    let y2 = g.binary(nabla_ir::BinOp::Add, ww, w);
    g.set_output("y2", y2);
    let (z, wv) = (tanh_inputs(rows * cols), values(rows * cols, 3, -2.0, 2.0));
    let b: Vec<f64> = (0..cols).map(|j| 0.1 * j as f64 - 0.9).collect();
    for dtype in [DType::F32, DType::F64] {
        let run = |native_tanh: bool| {
            let opts = Options {
                dtype,
                native_tanh,
                ..Options::default()
            };
            run_zbw(&g, &opts, [&z, &b, &wv])
        };
        let (native, compiled) = (run(true), run(false));
        assert_eq!(
            (compiled.2, compiled.3),
            (0, 1),
            "{dtype}: one fused kernel"
        );
        if std::is_x86_feature_detected!("avx512f") {
            assert_eq!(
                (native.2, native.3),
                (1, 2),
                "{dtype}: the activation split off"
            );
        }
        for (i, (a, c)) in native.0.iter().zip(&compiled.0).enumerate() {
            assert!(
                same_bits(*a, *c, dtype),
                "{dtype} tanh: {a:e} against {c:e}"
            );
            assert_tanh_of_sum(*a, (z[i], b[i % cols]), dtype);
        }
        for (i, (a, c)) in native.1.iter().zip(&compiled.1).enumerate() {
            assert!(
                same_bits(*a, *c, dtype),
                "{dtype} w·w + w: {a:e} against {c:e}"
            );
            let want = wv[i] * wv[i] + wv[i];
            assert!(
                (a - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{a} against {want}"
            );
        }
    }
}

/// An activation that other values of its kernel use (`t·t + w` beside `t = tanh(z + b)`)
/// is not split off: the rest would compute the `tanh` a second time.
#[cfg(target_arch = "x86_64")]
#[test]
fn an_activation_other_values_use_stays_in_its_kernel() {
    let (rows, cols) = (12, 7);
    let mut g = bias_tanh_graph(rows, cols);
    let t = g.outputs()[0].1;
    let w = leaf(&mut g, "w", &[rows, cols], false);
    let tt = g.binary(nabla_ir::BinOp::Mul, t, t);
    let y2 = g.binary(nabla_ir::BinOp::Add, tt, w);
    g.set_output("y2", y2);
    let (z, wv) = (
        values(rows * cols, 5, -3.0, 3.0),
        values(rows * cols, 6, -1.0, 1.0),
    );
    let b: Vec<f64> = (0..cols).map(|j| 0.2 * j as f64 - 0.6).collect();
    let (y, y2, native, kernels) = run_zbw(&g, &Options::default(), [&z, &b, &wv]);
    assert_eq!((kernels, native), (1, 0));
    for i in 0..rows * cols {
        let want = (z[i] + b[i % cols]).tanh();
        assert!(
            (y[i] - want).abs() <= 1e-15,
            "tanh: {} against {want}",
            y[i]
        );
        let want2 = want * want + wv[i];
        assert!(
            (y2[i] - want2).abs() <= 1e-14,
            "t·t + w: {} against {want2}",
            y2[i]
        );
    }
}
