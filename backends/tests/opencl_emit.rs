//! The emitted OpenCL C of the sample graphs, diff-checked against the committed files
//! in `tests/out/opencl/` (rewrite them with `BLESS=1`). Needs no OpenCL device.

use nabla_backends::opencl::{emit, samples, Options};
use nabla_ir::{verify, DType, Graph, Method, Op, Shape, UnOp};
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/out/opencl")
}

/// Compares `text` with the golden file `name`, or rewrites it under `BLESS=1`.
fn check(name: &str, text: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", path.display()));
    if want != text {
        let first = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(text.lines().count()));
        panic!(
            "{} differs from the emitted source at line {} (BLESS=1 rewrites it):\n  committed: {:?}\n  emitted:   {:?}",
            path.display(),
            first + 1,
            want.lines().nth(first),
            text.lines().nth(first)
        );
    }
}

#[test]
fn emitted_sources_match_the_committed_files() {
    for s in samples::all() {
        let info = verify(&s.graph).unwrap();
        for dtype in [DType::F64, DType::F32] {
            let opts = Options {
                dtype,
                ..Options::default()
            };
            let src = emit(&s.graph, &info, &opts);
            check(&format!("{}.{}.cl", s.name, dtype), &src);
        }
    }
}

#[test]
fn emission_is_deterministic() {
    for s in samples::all() {
        let info = verify(&s.graph).unwrap();
        let a = emit(&s.graph, &info, &Options::default());
        let b = emit(&s.graph.clone(), &info, &Options::default());
        assert_eq!(a, b, "{}", s.name);
    }
}

#[test]
fn every_step_is_one_named_kernel() {
    for s in samples::all() {
        let info = verify(&s.graph).unwrap();
        let src = emit(&s.graph, &info, &Options::default());
        let p = nabla_passes::schedule::schedule(&s.graph, &info, &Default::default());
        let split = src.matches("_matmul_sum(").count();
        assert_eq!(
            src.matches("__kernel").count(),
            p.steps.len() + split,
            "{}",
            s.name
        );
        for (i, step) in p.steps.iter().enumerate() {
            let kind = match step {
                nabla_passes::schedule::Step::Kernel(_) => "map",
                nabla_passes::schedule::Step::Reduce(_) => "reduce",
                nabla_passes::schedule::Step::MatMul(_) => "matmul",
            };
            assert!(
                src.contains(&format!("void s{i}_{kind}(")),
                "{}: s{i}",
                s.name
            );
        }
    }
}

#[test]
fn batch_length_products_are_split() {
    let g = samples::weight_gradient(2500);
    let src = emit(&g, &verify(&g).unwrap(), &Options::default());
    assert!(src.contains("void s0_matmul_sum("), "{src}");
    assert!(src.contains("(idx_t)get_group_id(2) * 15 + "), "{src}");
    let short = samples::weight_gradient(300);
    let src = emit(&short, &verify(&short).unwrap(), &Options::default());
    assert!(!src.contains("_matmul_sum("), "{src}");
}

#[test]
fn unexpanded_graphs_emit_an_error_directive() {
    let mut g = Graph::new();
    let x = g
        .add(
            Op::Input {
                name: "x".into(),
                dtype: DType::F64,
                shape: Shape::matrix(4, 1),
            },
            &[],
        )
        .unwrap();
    let s = g.unary(UnOp::Sin, x);
    let level = g.fresh_level();
    let op = Op::Diff {
        level,
        order: 1,
        method: Method::Auto,
    };
    let d = g.add(op, &[s, x]).unwrap();
    g.set_output("d", d);
    let info = verify(&g).unwrap();
    let src = emit(&g, &info, &Options::default());
    assert!(src.starts_with("#error"), "{src}");
}
