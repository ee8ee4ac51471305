//! `nabla bench`: the JSON of the CLI spec, exact methods agreeing with the f64
//! interpreter, finite differences at the documented steps, the error plot.

use assert_cmd::Command;
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
    assert_eq!(
        methods,
        [
            "auto",
            "forward",
            "taylor",
            "collapsed",
            "reverse",
            "fd",
            "fd",
            "fd"
        ]
    );
    for r in results {
        for key in ["compile_s", "loss_ms", "loss_grad_ms", "gflops"] {
            assert!(num(r, key) > 0.0, "{key} in {r}");
        }
        let (res, grad) = (num(r, "residual_rel_err"), num(r, "grad_rel_err"));
        if r["method"] == "fd" {
            // truncation and rounding: never exact, still close at these steps
            assert!(res > 1e-13 && res < 1e-4, "{r}");
            assert!(r["h"].as_f64().unwrap() > 0.0);
        } else {
            // exact methods agree with the f64 interpreter to rounding
            assert!(res < 1e-12 && grad < 1e-12, "{r}");
        }
    }
    assert!(!results[0]["chosen"].as_str().unwrap().is_empty());
    // heat1d's highest order is 2: the usual step is eps^(1/4)
    let h0 = results[5]["h"].as_f64().unwrap();
    assert!((h0 - f64::EPSILON.powf(0.25)).abs() < 1e-15, "h = {h0}");
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
