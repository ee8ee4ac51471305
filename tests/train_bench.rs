//! `nabla bench`: the JSON of the CLI spec, exact methods agreeing with the f64
//! interpreter, finite differences at the documented steps, the error plot.

use assert_cmd::Command;
use nabla::ir::Method;
use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/heat1d.nabla");
    let a = Command::cargo_bin("nabla")
        .unwrap()
        .args(["bench", file, "--reps", "1", "--json"])
        .args(args)
        .assert()
        .success();
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn f64_exact_methods_agree_with_the_interpreter_and_fd_does_not() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let j = bench(&["--dtypes", "f64", "--out", dir]);
    assert_eq!(j["problem"], "heat1d");
    assert!(j["threads"].as_u64().unwrap() >= 1);
    let results = j["results"].as_array().unwrap();
    let methods: Vec<&str> = results
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    let exact = Method::EXACT.map(Method::name);
    let want: Vec<&str> = exact.iter().map(String::as_str).chain(["fd"; 3]).collect();
    assert_eq!(methods, want);
    for r in results {
        for key in ["tiles", "compile_s", "loss_ms", "loss_grad_ms", "gflops"] {
            assert!(num(r, key) > 0.0, "{key} in {r}");
        }
        let (res, grad) = (num(r, "residual_rel_err"), num(r, "grad_rel_err"));
        if r["method"] == "fd" {
            // truncation and rounding: never exact, still close at these steps
            assert!(res > 1e-13 && res < 1e-4, "{r}");
        } else {
            // exact methods agree with the f64 interpreter to rounding
            assert!(res < 1e-12 && grad < 1e-12, "{r}");
        }
    }
    assert!(!results[0]["chosen"].as_str().unwrap().is_empty());
    // heat1d has u_t (order 1) and u_xx (order 2): the usual steps are one per operator,
    // eps^(1/3) and eps^(1/4), so the row names no one step; the others are one step on
    // every operator, ten times and a tenth of eps^(1/4)
    assert_eq!(results[5]["steps"], "per operator");
    assert!(results[5].get("h").is_none(), "{}", results[5]);
    let h = f64::EPSILON.powf(0.25);
    for (r, want) in [(&results[6], 10.0 * h), (&results[7], h / 10.0)] {
        let got = r["h"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-15 * want.max(1.0),
            "h = {got}, want {want}"
        );
    }
    let svg = std::fs::read_to_string(out.path().join("fd_error.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
}

#[test]
fn f32_auto_is_accurate_to_single_precision() {
    let j = bench(&["--dtypes", "f32", "--methods", "auto"]);
    let r = &j["results"][0];
    assert_eq!(r["dtype"], "f32");
    // tolerance: a few f32 ulps amplified by the second derivative
    assert!(num(r, "residual_rel_err") < 1e-4, "{r}");
    assert!(num(r, "grad_rel_err") < 1e-4, "{r}");
}

/// `nabla bench FILE --points 16 --reps 1 --dtypes f64 --json` with `methods`; checks the
/// JSON's shape and that every exact method agrees with the f64 interpreter.
fn bench_file(path: &str, methods: &str) {
    let file = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let a = Command::cargo_bin("nabla")
        .unwrap()
        .args(["bench", &file, "--points", "16", "--reps", "1"])
        .args(["--dtypes", "f64", "--methods", methods, "--json"])
        .assert()
        .success();
    let j: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("problem "))
        .unwrap()
        .trim();
    assert_eq!(j["problem"], name, "{path}");
    let results = j["results"].as_array().unwrap();
    let asked: Vec<&str> = methods.split(',').collect();
    let fd_rows = if asked.contains(&"fd") { 3 } else { 0 };
    assert_eq!(
        results.len(),
        asked.len() - usize::from(fd_rows > 0) + fd_rows
    );
    for r in results {
        assert!(r.get("error").is_none(), "{path}: {r}");
        assert_eq!(r["dtype"], "f64");
        for key in ["tiles", "compile_s", "loss_ms", "loss_grad_ms", "gflops"] {
            assert!(num(r, key) > 0.0, "{path}: {key} in {r}");
        }
        let (res, grad) = (num(r, "residual_rel_err"), num(r, "grad_rel_err"));
        if r["method"] == "fd" {
            // a step, or steps per operator where the nests' orders differ
            let step = r["h"]
                .as_f64()
                .map_or(r["steps"] == "per operator", |h| h > 0.0);
            assert!(step && res.is_finite() && grad.is_finite(), "{r}");
        } else {
            // exact methods agree with the f64 interpreter to rounding
            assert!(res < 1e-12 && grad < 1e-12, "{path}: {r}");
        }
    }
    assert!(!results[0]["chosen"].as_str().unwrap().is_empty(), "{path}");
}

/// One test per problem file, so that they run in parallel and a failure names the file.
macro_rules! bench_files {
    ($($test:ident: $path:literal, $methods:literal;)*) => {
        $(#[test]
        fn $test() {
            bench_file($path, $methods);
        })*
    };
}

// Every example with every exact method; the benchmark objectives with `auto` and finite
// differences (B3, in 100 dimensions, with `auto` only: its finite-difference programs
// evaluate the network at 201 shifted points and take a minute to compile).
bench_files! {
    bench_example_poisson2d: "examples/poisson2d.nabla", "auto,forward,taylor,collapsed,reverse,fd";
    bench_example_helmholtz2d: "examples/helmholtz2d.nabla", "auto,forward,taylor,collapsed,reverse,fd";
    bench_example_burgers: "examples/burgers.nabla", "auto,forward,taylor,collapsed,reverse,fd";
    bench_example_allen_cahn: "examples/allen_cahn.nabla", "auto,forward,taylor,collapsed,reverse,fd";
    bench_example_stokes: "examples/stokes.nabla", "auto,forward,taylor,collapsed,reverse,fd";
    bench_example_inverse: "examples/inverse.nabla", "auto,forward,taylor,collapsed,reverse,fd";
    bench_example_ode: "examples/ode.nabla", "auto,forward,taylor,collapsed,reverse,fd";
    bench_example_poisson10d: "examples/poisson10d.nabla", "auto,fd";
    bench_b1: "benches/problems/B1.nabla", "auto,fd";
    bench_b2: "benches/problems/B2.nabla", "auto,fd";
    bench_b3: "benches/problems/B3.nabla", "auto";
    bench_b4: "benches/problems/B4.nabla", "auto,fd";
    bench_b5: "benches/problems/B5.nabla", "auto,fd";
    bench_b6: "benches/problems/B6.nabla", "auto,forward,taylor,collapsed,reverse,fd";
    bench_b7: "benches/problems/B7.nabla", "auto,fd";
    bench_b8: "benches/problems/B8.nabla", "auto,fd";
}

/// Where every derivative nest has one order (poisson2d: Laplacians, order 2), the usual
/// step is one step, `eps^(1/4)`, and the row names it.
#[test]
fn one_order_names_its_one_step() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/poisson2d.nabla");
    let a = Command::cargo_bin("nabla")
        .unwrap()
        .args(["bench", file, "--points", "16", "--reps", "1", "--json"])
        .args(["--dtypes", "f64", "--methods", "fd"])
        .assert()
        .success();
    let j: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let h = j["results"][0]["h"].as_f64().expect("a number");
    assert!((h - f64::EPSILON.powf(0.25)).abs() < 1e-15, "h = {h}");
}
