//! Malformed text gives `line:col: message` errors and never a panic.

use nabla_ir::testing::{random_env, random_graph, GenOptions, Rng};
use nabla_ir::{dot, interp, text, verify, DType};
use proptest::prelude::*;

const X: &str = "%0 = input \"x\" : f64[2]\n";

/// Each case: the text and the exact error, columns counted by hand (1-based, in chars).
const CASES: &[(&str, &str)] = &[
    (
        "%1 = input \"x\" : f64[2]",
        "1:1: expected %0 (ids are dense and in order)",
    ),
    ("%0 input", "1:4: expected `=`"),
    ("x = neg %0 : f64[]", "1:1: expected a node id `%N`"),
    ("%0 = input \"x : f64[2]", "1:12: unterminated string"),
    ("%0 = input x : f64[2]", "1:12: expected a quoted name"),
    ("%0 = input \"x\"", "1:15: expected `:`"),
    (
        "%0 = input \"x\" : f16[2]",
        "1:18: expected a dtype `f32` or `f64`",
    ),
    (
        "%0 = input \"x\" : f64[2,x]",
        "1:24: expected an extent, found `x`",
    ),
    (
        "%0 = input \"x\" : f64[-2]",
        "1:22: expected an extent, found `-2`",
    ),
    (
        "%0 = input \"x\" : f64[1099511627776,2]",
        "1:21: shape has more than 2^40 elements",
    ),
    (
        "%0 = input \"x\" : f64[99999999999999999999]",
        "1:22: expected an extent, found `99999999999999999999`",
    ),
    ("%0 = input \"x\" : f64[2] extra", "1:25: unexpected `e`"),
    (
        "%0 = const abc : f64[]",
        "1:12: expected a number, found `abc`",
    ),
    (
        "%0 = const 0x1zz : f64[]",
        "1:12: expected a number, found `0x1zz`",
    ),
    (
        "%0 = tensor [1.0, 2.0] : f64[3]",
        "1:6: `tensor`: 2 values for shape [3]",
    ),
    ("%0 = tensor [1.0 2.0] : f64[2]", "1:18: expected `,`"),
    (
        "%0 = bound 3 : f64[]",
        "1:12: expected a level `L<n>`, found `3`",
    ),
    (
        "output \"y\" = %0",
        "1:14: %0 is not defined before this line",
    ),
    ("output y = %0", "1:8: expected a quoted name"),
];

/// Cases that need a defined `%0 = input "x" : f64[2]` first (line 2 is the one tested).
const AFTER_X: &[(&str, &str)] = &[
    ("%1 = nope %0 : f64[2]", "2:6: unknown op `nope`"),
    (
        "%1 = neg %2 : f64[2]",
        "2:10: %2 is not defined before this line",
    ),
    (
        "%1 = neg %0 : f64[3]",
        "2:13: type is f64[3], operands give f64[2]",
    ),
    (
        "%1 = neg %0 : f64[2]\n%2 = neg %0 : f64[2]",
        "3:6: duplicates %1",
    ),
    (
        "%1 = param \"x\" : f64[]",
        "2:6: %0 already has the name \"x\"",
    ),
    (
        "%1 = input \"y\" : f64[2]\n%2 = add %0, %1 : f64[3]",
        "3:17: type is f64[3], operands give f64[2]",
    ),
    (
        "%1 = input \"y\" : f64[3]\n%2 = add %0, %1 : f64[2]",
        "3:6: `add`: operand shapes differ: [2] and [3] (insert a broadcast)",
    ),
    ("%1 = neg %0, : f64[2]", "2:14: expected a node id `%N`"),
    (
        "%1 = powi 2.5 %0 : f64[2]",
        "2:11: expected an integer exponent, found `2.5`",
    ),
    (
        "%1 = powi 3000000000 %0 : f64[2]",
        "2:11: expected an integer exponent, found `3000000000`",
    ),
    (
        "%1 = sum %0 : f64[]",
        "2:10: expected `axis=...`, found `%0`",
    ),
    (
        "%1 = sum axis=x %0 : f64[]",
        "2:10: bad value for `axis`: `x`",
    ),
    (
        "%1 = sum axis=1 %0 : f64[]",
        "2:6: `sum`: axis 1 out of range for [2]",
    ),
    (
        "%1 = reshape %0 : f64[3]",
        "2:6: `reshape`: cannot reshape [2] to [3]: sizes differ",
    ),
    (
        "%1 = matmul xn %0, %0 : f64[2]",
        "2:13: expected matmul flags nn|nt|tn|tt, found `xn`",
    ),
    (
        "%1 = matmul nn %0, %0 : f64[2]",
        "2:6: `matmul`: operands must be matrices, found [2] and [2]",
    ),
    (
        "%1 = slice axis=0 start=4000000000 len=4000000000 %0 : f64[2]",
        "2:6: `slice`: range 4000000000..8000000000 out of bounds for axis 0 of [2]",
    ),
    (
        "%1 = diff L0 order=1 method=magic %0, %0 : f64[2]",
        "2:22: unknown method `magic`",
    ),
    (
        "%1 = diff L0 order=0 method=auto %0, %0 : f64[2]",
        "2:6: `diff`: order must be at least 1",
    ),
    (
        "%1 = neg %0 : f64[2]\n%2 = diff L0 order=1 method=auto %0, %1 : f64[2]",
        "3:6: `diff`: operand 1 must be an input, param or bound variable",
    ),
    (
        "output \"y\" = %0\noutput \"y\" = %0",
        "3:1: output \"y\" is named twice",
    ),
    (
        "%1 = neg %0 : f64[2]\n%2 = at %1, %0, %1, %1, %0 : f64[2]",
        "3:6: `at`: operand 3 must be an input, param or bound variable",
    ),
    (
        "%1 = neg %0 : f64[2] ; fine\n%2 = sin %1 ; : f64[2]",
        "3:13: expected `:`",
    ),
];

fn error_of(src: &str) -> String {
    match text::parse(src) {
        Ok(g) => panic!("accepted:\n{src}\nas\n{g:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_name_line_and_column() {
    for (src, want) in CASES {
        assert_eq!(error_of(src), *want, "for {src:?}");
    }
    for (src, want) in AFTER_X {
        let src = format!("{X}{src}");
        assert_eq!(error_of(&src), *want, "for {src:?}");
    }
}

#[test]
fn comments_and_blank_lines_are_skipped() {
    let src = "; a graph\n\n%0 = input \"a;b\" : f64[2] ; the \"name\" has a ;\n   \n\
               %1 = neg %0 : f64[2];\noutput \"y;\" = %1 ;end\n";
    let g = text::parse(src).unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g.outputs()[0].0, "y;");
    assert!(text::print(&g).starts_with("%0 = input \"a;b\" : f64[2]\n"));
}

/// Whatever the input, the parsers return; whatever `parse` accepts verifies, prints back
/// to text that parses to the same graph, and evaluates without a panic.
fn check_no_panic(src: &str) {
    if let Ok(g) = text::parse(src) {
        verify(&g).unwrap_or_else(|e| panic!("parse accepted a graph that fails verify: {e}"));
        assert_eq!(text::parse(&text::print(&g)).unwrap(), g);
        let small = g.ids().all(|i| g.shape(i).numel() <= 1 << 16);
        if small {
            let env = random_env(&g, &mut Rng::new(1));
            let _ = interp::eval_outputs(&g, &env, DType::F64);
        }
    }
    if let Ok(g) = text::parse_unchecked(src) {
        let _ = (text::print(&g), dot::to_dot(&g));
        let small = g.ids().all(|i| g.shape(i).numel() <= 1 << 16);
        if verify(&g).is_ok() && small {
            let env = random_env(&g, &mut Rng::new(2));
            let _ = interp::eval_outputs(&g, &env, DType::F64);
        }
    }
}

/// Fragments of the text format, so that random sequences look almost right.
const TOKENS: &[&str] = &[
    "%0",
    "%1",
    "%2",
    "%3",
    "%4294967296",
    " = ",
    " ",
    ", ",
    "input",
    "param",
    "const",
    "tensor",
    "bound",
    "\"x\"",
    "\"y",
    "\"",
    "\\",
    ":",
    " : ",
    "f64",
    "f32",
    "[",
    "]",
    "[]",
    "2",
    "1",
    "0",
    "-1",
    "1e400",
    "NaN",
    "0x7ff0000000000001",
    "0x",
    "neg",
    "add",
    "sin",
    "powi",
    "-2147483648",
    "matmul",
    "nt",
    "tt",
    "slice",
    "axis=0",
    "axis=1",
    "axis=9",
    "start=1",
    "len=5",
    "len=0",
    "concat",
    "reshape",
    "broadcast",
    "sum",
    "mean",
    "diff",
    "laplacian",
    "grad",
    "at",
    "L0",
    "L4294967295",
    "order=0",
    "order=2",
    "method=fd=1e-3",
    "method=auto",
    "output",
    "\n",
    ";",
    "π",
    "\r",
    "\t",
    "f64[2,1]",
    "f64[]",
    "f64[2]",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..48).prop_map(|v| v.concat())
}

/// A printed random graph with a few edits: deleting a character, inserting a token,
/// changing a digit, or duplicating a line.
fn mutated_graph() -> impl Strategy<Value = String> {
    let edits = prop::collection::vec((any::<usize>(), 0..4u8, prop::sample::select(TOKENS)), 1..4);
    (any::<u64>(), edits).prop_map(|(seed, edits)| {
        let g = random_graph(&mut Rng::new(seed), &GenOptions::everything());
        let mut s = text::print(&g);
        for (at, kind, tok) in edits {
            s = edit(&s, at, kind, tok);
        }
        s
    })
}

fn edit(s: &str, at: usize, kind: u8, tok: &str) -> String {
    let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
    if bounds.is_empty() {
        return tok.to_string();
    }
    let i = bounds[at % bounds.len()];
    let c = s[i..].chars().next().unwrap_or(' ');
    let after = i + c.len_utf8();
    match kind {
        0 => format!("{}{}", &s[..i], &s[after..]),
        1 => format!("{}{tok}{}", &s[..i], &s[i..]),
        2 if c.is_ascii_digit() => format!("{}{}{}", &s[..i], (at % 10), &s[after..]),
        _ => {
            let lines: Vec<&str> = s.lines().collect();
            let k = at % lines.len();
            let mut out: Vec<&str> = lines.clone();
            out.insert(k, lines[k]);
            out.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn arbitrary_text_never_panics(src in ".{0,200}") {
        check_no_panic(&src);
    }

    #[test]
    fn token_soup_never_panics(src in token_soup()) {
        check_no_panic(&src);
    }

    #[test]
    fn mutated_graphs_never_panic(src in mutated_graph()) {
        check_no_panic(&src);
    }
}
