//! Normals on boundary sets: `normal(v)` is the sampler's outward unit normal, `dn(E)`
//! agrees with central differences along it in f64, and for given points (`nabla eval
//! --points`) normals come from the nearest piece of the boundary, with a clear error for a
//! point off the boundary.

use nabla::data::{bind_params, bind_points, named_values};
use nabla::frontend::lang::{self, Loaded};
use nabla::ir::DType;
use nabla::{compile, Options};
use serde_json::{json, Value};

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/annulus_neumann.nabla"
);

fn load() -> Loaded {
    let src = std::fs::read_to_string(FILE).unwrap();
    lang::load(FILE, &src).unwrap_or_else(|d| panic!("{}", d.render()))
}

/// `src` on the sampled points of boundary set `wall`, in f64 on the interpreter, at the
/// initial parameters moved off zero.
fn on_wall(l: &Loaded, src: &str, rows: &[Vec<f64>]) -> Vec<f64> {
    let p = &l.problem;
    let f = l
        .expression("test", src)
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let obj = p
        .expression("v", &f, "wall", rows.len(), DType::F64)
        .unwrap();
    let mut exe = compile(&obj.graph, &Options::interp()).unwrap();
    bind_points(exe.as_mut(), p, "wall", rows).unwrap();
    let params: Vec<(String, nabla::ir::Tensor)> = (obj.init.iter())
        .map(|(n, t)| {
            let mut t = t.clone();
            t.data
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v += 0.05 * ((i % 7) as f64 - 3.0));
            (n.clone(), t)
        })
        .collect();
    bind_params(exe.as_mut(), named_values(&params)).unwrap();
    exe.run().unwrap();
    exe.output(0)
}

#[test]
fn normals_are_the_samplers_and_dn_agrees_with_central_differences() {
    let l = load();
    let rows = l
        .problem
        .sample(7)
        .into_iter()
        .find(|(s, _)| s == "wall")
        .unwrap()
        .1;
    assert_eq!(rows[0].len(), 4, "x, y, then the normal's two components");
    let (nx, ny) = (
        on_wall(&l, "normal(x)", &rows),
        on_wall(&l, "normal(y)", &rows),
    );
    for (i, r) in rows.iter().enumerate() {
        assert_eq!((nx[i], ny[i]), (r[2], r[3]));
        // The hole's outward normal at a point of its circle is the radial direction.
        let rad = r[0].hypot(r[1]);
        assert!((rad - 0.5).abs() < 1e-12);
        assert!((nx[i] - r[0] / rad).abs() < 1e-12 && (ny[i] - r[1] / rad).abs() < 1e-12);
    }
    let dn = on_wall(&l, "dn(u)", &rows);
    let h = 1e-5;
    let fd = on_wall(
        &l,
        &format!(
            "(u(x + {h} * normal(x), y + {h} * normal(y)) - u(x - {h} * normal(x), y - {h} * normal(y))) / (2 * {h})"
        ),
        &rows,
    );
    let scale = dn.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    // tolerance: h² u'''/6 and 1e-16/h rounding, relative to the largest value
    for (a, b) in dn.iter().zip(&fd) {
        assert!(
            (a - b).abs() <= 1e-7 * scale.max(1.0),
            "dn {a} vs central difference {b}"
        );
    }
}

#[test]
fn given_points_get_the_nearest_normal_or_a_clear_error() {
    let l = load();
    let p = &l.problem;
    let mut rows = vec![vec![0.5, 0.0], vec![0.0, -0.5]];
    p.attach_normals("wall", &mut rows).unwrap();
    assert_eq!(
        rows,
        vec![vec![0.5, 0.0, 1.0, 0.0], vec![0.0, -0.5, 0.0, -1.0]]
    );
    let mut inner = vec![vec![0.7, 0.0]];
    p.attach_normals("inner", &mut inner).unwrap();
    assert_eq!(inner, vec![vec![0.7, 0.0]], "not a boundary set: unchanged");
    let mut off = vec![vec![0.5, 0.0], vec![0.6, 0.0]];
    let e = p.attach_normals("wall", &mut off).unwrap_err();
    assert!(
        e.contains("point set `wall` row 1") && e.contains("domain `hole`"),
        "{e}"
    );

    // Through `nabla eval`.
    let dir = tempfile::tempdir().unwrap();
    let pts = dir.path().join("points.json");
    let good =
        json!({"inner": [[0.7, 0.1]], "rim": [[1.0, 0.0]], "wall": [[0.0, 0.5], [-0.5, 0.0]]});
    std::fs::write(&pts, good.to_string()).unwrap();
    let run = |pts: &std::path::Path| {
        assert_cmd::Command::cargo_bin("nabla")
            .unwrap()
            .args(["eval", FILE, "--dtype", "f64", "--points"])
            .arg(pts)
            .output()
            .unwrap()
    };
    let out = run(&pts);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["residuals"]["neumann"].as_array().unwrap().len(), 2);
    let bad = json!({"inner": [[0.7, 0.1]], "rim": [[1.0, 0.0]], "wall": [[0.0, 0.5], [0.0, 0.7]]});
    std::fs::write(&pts, bad.to_string()).unwrap();
    let out = run(&pts);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("point set `wall` row 1: the point is 2.000e-1 from the boundary"),
        "{err}"
    );
}
