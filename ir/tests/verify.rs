//! The verifier rejects malformed graphs (read with `text::parse_unchecked`, which keeps
//! what the text says) with the error that names the problem.

use nabla_ir::{text, verify, DType, NodeId, Shape, Type, TypeError, VerifyError};

fn verify_text(src: &str) -> Result<nabla_ir::GraphInfo, VerifyError> {
    let g = text::parse_unchecked(src).unwrap_or_else(|e| panic!("syntax error {e} in\n{src}"));
    verify(&g)
}

fn rejected(src: &str) -> VerifyError {
    let err = verify_text(src).expect_err("verified");
    assert!(
        text::parse(src).is_err(),
        "the checked parser accepted\n{src}"
    );
    err
}

const X: &str = "%0 = input \"x\" : f64[2]\n";

#[test]
fn stale_type() {
    let err = rejected(&format!("{X}%1 = neg %0 : f64[3]\noutput \"y\" = %1"));
    assert_eq!(
        err,
        VerifyError::StaleType {
            node: NodeId(1),
            stored: Type::new(DType::F64, Shape::new(&[3])),
            inferred: Type::new(DType::F64, Shape::new(&[2])),
        }
    );
    assert_eq!(
        err.to_string(),
        "%1: stored type f64[3] but operands give f64[2]"
    );
    let err = rejected(&format!("{X}%1 = neg %0 : f32[2]"));
    assert!(matches!(
        err,
        VerifyError::StaleType {
            node: NodeId(1),
            ..
        }
    ));
}

#[test]
fn operand_order() {
    let forward = format!("{X}%1 = add %0, %2 : f64[2]\n%2 = neg %0 : f64[2]");
    let err = rejected(&forward);
    assert_eq!(
        err,
        VerifyError::OperandOrder {
            node: NodeId(1),
            arg: NodeId(2)
        }
    );
    assert_eq!(err.to_string(), "%1: operand %2 does not precede it");
    let own = rejected(&format!("{X}%1 = neg %1 : f64[2]"));
    assert!(matches!(
        own,
        VerifyError::OperandOrder {
            node: NodeId(1),
            arg: NodeId(1)
        }
    ));
    let dangling = rejected(&format!("{X}%1 = neg %9 : f64[2]"));
    assert!(matches!(
        dangling,
        VerifyError::OperandOrder { arg: NodeId(9), .. }
    ));
}

#[test]
fn name_clash_of_two_leaves() {
    let err = rejected(&format!("{X}%1 = input \"x\" : f64[3]"));
    assert_eq!(
        err,
        VerifyError::NameClash {
            name: "x".into(),
            a: NodeId(0),
            b: NodeId(1)
        }
    );
    assert_eq!(err.to_string(), "%0 and %1 are both named `x`");
    let kinds = rejected(&format!("{X}%1 = param \"x\" : f64[2]"));
    assert!(matches!(kinds, VerifyError::NameClash { .. }));
}

#[test]
fn bad_output() {
    let err = rejected(&format!("{X}output \"y\" = %5"));
    assert_eq!(
        err,
        VerifyError::BadOutput {
            name: "y".into(),
            node: NodeId(5)
        }
    );
    assert_eq!(err.to_string(), "output `y` refers to missing node %5");
}

#[test]
fn duplicate_node() {
    let err = rejected(&format!("{X}%1 = neg %0 : f64[2]\n%2 = neg %0 : f64[2]"));
    assert_eq!(
        err,
        VerifyError::Duplicate {
            node: NodeId(2),
            earlier: NodeId(1)
        }
    );
}

#[test]
fn ill_typed_node() {
    let err = rejected(&format!(
        "{X}%1 = input \"z\" : f64[3]\n%2 = add %0, %1 : f64[2]"
    ));
    let VerifyError::Type { node, source } = err else {
        panic!("{err:?}");
    };
    assert_eq!(node, NodeId(2));
    assert!(matches!(source, TypeError::Shape { op: "add", .. }));
    let err = rejected(&format!(
        "{X}%1 = neg %0 : f64[2]\n%2 = diff L0 order=1 method=auto %0, %1 : f64[2]"
    ));
    assert!(matches!(
        err,
        VerifyError::Type {
            source: TypeError::NotVariable {
                op: "diff",
                index: 1
            },
            ..
        }
    ));
}

#[test]
fn a_good_graph_reports_its_analysis() {
    let src = "%0 = input \"x\" : f64[2,1]\n%1 = param \"w\" : f64[1]\n\
               %2 = broadcast %1 : f64[2,1]\n%3 = mul %0, %2 : f64[2,1]\n\
               %4 = diff L0 order=2 method=taylor %3, %0 : f64[2,1]\n%5 = neg %0 : f64[2,1]\n\
               output \"y\" = %3\noutput \"z\" = %3";
    let info = verify_text(src).unwrap();
    assert_eq!(info.inputs(), [("x".to_string(), NodeId(0))]);
    assert_eq!(info.params(), [("w".to_string(), NodeId(1))]);
    let ids = (0..6).map(NodeId);
    // %0 is used by mul, diff and neg; %3 by diff and both outputs.
    let uses: Vec<u32> = ids.clone().map(|i| info.use_count(i)).collect();
    assert_eq!(uses, [3, 1, 1, 3, 0, 0]);
    let live: Vec<bool> = ids.map(|i| info.is_live(i)).collect();
    assert_eq!(live, [true, true, true, true, false, false]);
    // The diff is dead, so the graph can be evaluated as is.
    assert!(!info.has_derivatives());
    let with_diff = src.replace("output \"z\" = %3", "output \"z\" = %4");
    assert!(verify_text(&with_diff).unwrap().has_derivatives());
}
