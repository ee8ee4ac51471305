//! The OpenCL backend against the reference interpreter, on whatever OpenCL device is
//! present (PoCL on the CPU in CI).
//!
//! Tolerances, relative to the largest magnitude of each output (`|got − want| ≤
//! tol · max|want|`): f64 `1e-12`, f32 `1e-4` (f32 against the f64 interpreter: a few
//! hundred f32 roundings of values of order one, plus f32 transcendentals).
//!
//! Without any OpenCL device these tests print that they were skipped and why, and pass,
//! unless `NABLA_REQUIRE_OPENCL=1`, under which they fail.

use nabla_backends::opencl::{compile, samples, select, Error, Options};
use nabla_backends::{Executable, RunError};
use nabla_ir::{interp, verify, DType, Graph, GraphInfo, Tensor};

/// Whether a device is present; panics when one is required but missing.
fn have_device(test: &str) -> bool {
    match select(None) {
        Ok(_) => true,
        Err(e) if std::env::var("NABLA_REQUIRE_OPENCL").as_deref() == Ok("1") => {
            panic!("NABLA_REQUIRE_OPENCL=1 but no OpenCL device: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: no OpenCL device ({e})");
            false
        }
    }
}

/// Leaf values for `g`, distinct per leaf: inputs in [0.5, 1.5), params in [-0.5, 0.5)
/// (so that tanh layers do not saturate and gradients stay of order one).
fn leaves(g: &Graph, info: &GraphInfo) -> Vec<(String, Tensor)> {
    let inputs = info.inputs().iter().map(|l| (l, 0.5));
    let params = info.params().iter().map(|l| (l, -0.5));
    inputs
        .chain(params)
        .enumerate()
        .filter(|(_, ((_, id), _))| info.is_live(*id))
        .map(|(i, ((name, id), lo))| {
            let shape = g.shape(*id).clone();
            let v = samples::leaf_values(shape.numel(), i, lo);
            (name.clone(), Tensor::new(shape, v))
        })
        .collect()
}

/// Compiles `g` for the default device in `dtype`, runs it and compares every output with
/// the f64 interpreter.
fn check(name: &str, g: &Graph, dtype: DType, tol: f64) {
    let info = verify(g).unwrap();
    let opts = Options {
        dtype,
        ..Options::default()
    };
    let mut exe = compile(g, &info, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    let env = leaves(g, &info);
    for (n, t) in &env {
        exe.set(n, &t.data).unwrap();
    }
    exe.run().unwrap();
    let want = interp::eval_outputs(g, &env.into_iter().collect(), DType::F64).unwrap();
    for (i, (out, w)) in want.iter().enumerate() {
        assert_close(
            &format!("{name} {dtype} `{out}`"),
            &exe.output(i),
            &w.data,
            tol,
        );
    }
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs() / scale;
        assert!(
            err <= tol,
            "{what}[{j}]: got {g}, want {w} (error {err:.2e} of scale {scale:.3e})"
        );
    }
}

#[test]
fn samples_match_the_interpreter_in_f64() {
    if !have_device("samples_match_the_interpreter_in_f64") {
        return;
    }
    for s in samples::all() {
        check(s.name, &s.graph, DType::F64, 1e-12);
    }
}

#[test]
fn mlp_loss_and_gradient_match_in_f32() {
    if !have_device("mlp_loss_and_gradient_match_in_f32") {
        return;
    }
    let s = samples::all()
        .into_iter()
        .find(|s| s.name == "mlp_loss_grad")
        .unwrap();
    check(s.name, &s.graph, DType::F32, 1e-4);
}

/// Products of every transpose combination and of shapes that are not multiples of any
/// tile, including a long inner extent; and a sum of such products, formed in place (the
/// later terms add to the first's result, through the split sum too).
#[test]
fn products_of_awkward_shapes_match() {
    if !have_device("products_of_awkward_shapes_match") {
        return;
    }
    let mut g = Graph::new();
    let leaf = |g: &mut Graph, n: &str, r, c| {
        let shape = nabla_ir::Shape::matrix(r, c);
        let op = nabla_ir::Op::Input {
            name: n.into(),
            dtype: DType::F64,
            shape,
        };
        g.add(op, &[]).unwrap()
    };
    let a = leaf(&mut g, "a", 37, 300);
    let b = leaf(&mut g, "b", 300, 5);
    let bt = leaf(&mut g, "bt", 5, 300);
    let at = leaf(&mut g, "at", 300, 37);
    for (name, x, y, ta, tb) in [
        ("nn", a, b, false, false),
        ("nt", a, bt, false, true),
        ("tn", at, b, true, false),
        ("tt", at, bt, true, true),
    ] {
        let m = g.add(nabla_ir::Op::MatMul { ta, tb }, &[x, y]).unwrap();
        g.set_output(name, m);
    }
    // an inner extent long enough to be split
    let a2 = leaf(&mut g, "a2", 37, 2100);
    let b2 = leaf(&mut g, "b2", 2100, 5);
    let b3 = leaf(&mut g, "b3", 2100, 5);
    let at2 = leaf(&mut g, "at2", 2100, 37);
    let mut sum = None;
    for (x, y, ta) in [(a2, b2, false), (at2, b2, true), (a2, b3, false)] {
        let m = g
            .add(nabla_ir::Op::MatMul { ta, tb: false }, &[x, y])
            .unwrap();
        sum = Some(match sum {
            None => m,
            Some(s) => g.binary(nabla_ir::BinOp::Add, s, m),
        });
    }
    g.set_output("sum", sum.unwrap());
    check("products", &g, DType::F64, 1e-12);
}

#[test]
fn leaves_are_uploaded_only_when_they_change() {
    if !have_device("leaves_are_uploaded_only_when_they_change") {
        return;
    }
    let g = samples::mlp_loss(8, &[2, 4, 1]);
    let info = verify(&g).unwrap();
    let mut exe = compile(&g, &info, &Options::default()).unwrap();
    let env = leaves(&g, &info);
    for (n, t) in &env {
        exe.set(n, &t.data).unwrap();
    }
    assert_eq!(exe.uploads(), env.len());
    exe.run().unwrap();
    let first = exe.output(1);
    for (n, t) in &env {
        exe.set(n, &t.data).unwrap();
    }
    assert_eq!(
        exe.uploads(),
        env.len(),
        "unchanged values are not uploaded again"
    );
    let (name, t) = &env[0];
    let moved: Vec<f64> = t.data.iter().map(|v| v + 0.25).collect();
    exe.set(name, &moved).unwrap();
    assert_eq!(exe.uploads(), env.len() + 1);
    exe.run().unwrap();
    assert_ne!(exe.output(1), first, "the new values were used");
}

#[test]
fn binding_errors_are_reported_before_any_upload() {
    if !have_device("binding_errors_are_reported_before_any_upload") {
        return;
    }
    let g = samples::mlp_loss(8, &[2, 4, 1]);
    let info = verify(&g).unwrap();
    let mut exe = compile(&g, &info, &Options::default()).unwrap();
    assert!(matches!(
        exe.set("nope", &[1.0]),
        Err(RunError::UnknownName(_))
    ));
    assert!(matches!(exe.set("x", &[1.0]), Err(RunError::Length { .. })));
    assert!(matches!(exe.run(), Err(RunError::Unset(_))));
    assert_eq!(exe.uploads(), 0);
}

#[test]
fn unknown_devices_list_the_available_ones() {
    if !have_device("unknown_devices_list_the_available_ones") {
        return;
    }
    let g = samples::mlp_loss(8, &[2, 4, 1]);
    let info = verify(&g).unwrap();
    let opts = Options {
        device: Some("no such device".into()),
        ..Options::default()
    };
    match compile(&g, &info, &opts) {
        Err(Error::NoSuchDevice { available, .. }) => assert!(available.contains("0: ")),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("compiled for a device that does not exist"),
    }
}

/// A program whose buffers exceed what the device can hold is refused before anything is
/// allocated, with both sizes: an input of a few more f64 values than the device's
/// largest buffer takes.
#[test]
fn programs_larger_than_the_device_are_refused_with_the_sizes() {
    if !have_device("programs_larger_than_the_device_are_refused_with_the_sizes") {
        return;
    }
    let dev = select(None).unwrap();
    let n = (dev.max_alloc / 8 + 1024) as usize;
    let mut g = Graph::new();
    let x = g
        .add(
            nabla_ir::Op::Input {
                name: "x".into(),
                dtype: DType::F64,
                shape: nabla_ir::Shape::matrix(n, 1),
            },
            &[],
        )
        .unwrap();
    let s = g.unary(nabla_ir::UnOp::Sin, x);
    let y = g.binary(nabla_ir::BinOp::Mul, s, x);
    g.set_output("y", y);
    let info = verify(&g).unwrap();
    match compile(&g, &info, &Options::default()) {
        Err(e @ Error::TooLarge { .. }) => {
            let msg = e.to_string();
            let mb = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
            assert!(msg.contains(&format!("`{}`", dev.name)), "{msg}");
            assert!(msg.contains(&mb(dev.max_alloc)), "{msg}");
            assert!(msg.contains(&mb(8 * n as u64)), "the input's bytes: {msg}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("compiled a program larger than the device"),
    }
}

/// With the ICD loader pointed at an empty vendor directory there is no platform: the
/// backend must say what to install, not crash. Runs itself in a child process. The
/// loader of Debian's `ocl-icd` (what CI has) honours `OCL_ICD_VENDORS`; some loaders
/// bundled with GPU toolkits do not, and there the check cannot be made and says so.
#[test]
fn no_platform_is_a_clear_error() {
    if std::env::var_os("NABLA_TEST_CHILD_NO_PLATFORM").is_some() {
        let g = samples::mlp_loss(8, &[2, 4, 1]);
        let info = verify(&g).unwrap();
        match compile(&g, &info, &Options::default()) {
            Err(e @ (Error::NoPlatform | Error::NoRuntime)) => {
                assert!(e.to_string().contains("install"), "{e}")
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(exe) => println!(
                "LOADER-IGNORES-OCL_ICD_VENDORS: found {}",
                exe.device().name
            ),
        }
        return;
    }
    let empty = std::env::temp_dir().join("nabla-no-opencl-vendors");
    std::fs::create_dir_all(&empty).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no_platform_is_a_clear_error", "--nocapture"])
        .env("NABLA_TEST_CHILD_NO_PLATFORM", "1")
        .env("OCL_ICD_VENDORS", &empty)
        .env("OPENCL_VENDOR_PATH", &empty)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if stdout.contains("LOADER-IGNORES-OCL_ICD_VENDORS") {
        eprintln!("SKIPPED no_platform_is_a_clear_error: this ICD loader ignores OCL_ICD_VENDORS");
    }
}
