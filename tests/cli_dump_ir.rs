//! `nabla dump-ir`: every stage of the pipeline prints for a real problem.

use assert_cmd::Command;

fn dump(stage: &str) -> String {
    let out = Command::cargo_bin("nabla")
        .unwrap()
        .args(["dump-ir", "examples/heat1d.nabla", "--stage", stage])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// The FLOPs per point in a graph stage's header `== NAME: N nodes, F FLOPs per point ==`.
fn flops(header_of: &str) -> f64 {
    let line = header_of
        .lines()
        .find(|l| l.contains("FLOPs per point"))
        .unwrap();
    let field = line.split(", ").nth(1).unwrap();
    field.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn graph_stages_print_counts_and_simplification_does_not_add_work() {
    let ad = dump("ad");
    let simplified = dump("simplified");
    assert!(
        simplified.contains("e-graph") && simplified.contains("iterations"),
        "{simplified}"
    );
    assert!(
        flops(&simplified) <= flops(&ad),
        "simplified {} > ad {}",
        flops(&simplified),
        flops(&ad)
    );
    // The simplified graph is valid IR text: it parses back.
    let body: String = simplified
        .lines()
        .filter(|l| l.starts_with('%') || l.starts_with("output"))
        .map(|l| format!("{l}\n"))
        .collect();
    nabla::ir::text::parse(&body).unwrap();
}

#[test]
fn code_stages_print_the_schedule_clif_and_opencl_source() {
    assert!(dump("scheduled").contains("arena"));
    assert!(dump("clif").contains("function"));
    assert!(dump("opencl").contains("__kernel"));
}
