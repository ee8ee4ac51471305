//! The checks that turn silent mistakes into diagnostics: a face outside its input's
//! interval, two `exact` for one output, a file without residuals (refused by the commands
//! that need a loss), and point sets no residual uses (a warning).

use nabla_frontend::lang::{self, Severity};

/// The rendered errors of a file that must not load.
fn errors(src: &str) -> String {
    match lang::load("t.nabla", src) {
        Ok(_) => panic!("loaded:\n{src}"),
        Err(d) => d.render(),
    }
}

fn load(src: &str) -> lang::Loaded {
    lang::load("t.nabla", src).unwrap_or_else(|d| panic!("{}", d.render()))
}

const HEAD: &str = "input x in [-1, 1]\nnet u(x) = mlp(widths = [4])\n";

#[test]
fn a_face_outside_its_interval_is_an_error_at_the_position() {
    let src = format!("{HEAD}points s = face(x = 1.5, 4)\nresidual r on s = u\n");
    assert_eq!(
        errors(&src),
        "error: the face `x = 1.5` lies outside `x`'s interval\n --> t.nabla:3:21\n  |\n\
         3 | points s = face(x = 1.5, 4)\n  |                     ^^^ `x` is in [-1, 1]\n\n\
         1 error in t.nabla"
    );
}

#[test]
fn faces_at_the_ends_and_inside_are_fine_even_before_the_input_is_declared() {
    // The interval is known only after the `input` line; the check waits for it.
    let src = "points s = face(t = 0, 2) + face(t = 2, 2) + face(t = 0.5, 2)\n\
               input t in [0, 2]\nnet u(t) = mlp(widths = [4])\nresidual r on s = u\n";
    assert_eq!(load(src).problem.point_sets[0].spec.len(), 6);
    let late = src.replace("t = 2, 2", "t = 2.5, 2");
    assert!(errors(&late).contains("the face `t = 2.5` lies outside `t`'s interval"));
}

#[test]
fn a_second_exact_for_one_output_is_an_error_naming_the_first() {
    let src = format!(
        "{HEAD}points s = interior(4)\nresidual r on s = u\nexact u = x\n# again\nexact u = -x\n"
    );
    let e = errors(&src);
    assert!(
        e.starts_with("error: `exact u` is given twice\n --> t.nabla:7:7\n"),
        "{e}"
    );
    assert!(e.contains("^ first given on line 5; keep one"), "{e}");
}

#[test]
fn a_file_without_residuals_loads_but_fails_the_residual_check() {
    let l = load(&format!("{HEAD}points inner = interior(4)\n"));
    let d = l.require_residuals().unwrap_err();
    let r = d.render();
    assert!(
        r.starts_with(
            "error: the problem has no residuals: its loss is 0, with nothing to train or \
             evaluate\n --> t.nabla:3:27\n"
        ),
        "{r}"
    );
    assert!(r.contains("e.g. `residual pde on inner = EXPR`"), "{r}");
    // no point-set warnings on top of it: every set is unused in such a file
    assert!(l.warnings.errors.is_empty());
}

#[test]
fn unused_point_sets_are_warnings_not_errors() {
    let src = format!(
        "{HEAD}points a = interior(4)\npoints b = boundary(2)\npoints c = interior(3)\n\
         residual r on a = u\nresidual q on c = d(u, x)\n"
    );
    let l = load(&src);
    let w = &l.warnings.errors;
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].severity, Severity::Warning);
    assert_eq!(w[0].message, "point set `b` is not used by any residual");
    assert!(l
        .warnings
        .render_errors()
        .starts_with("warning: point set `b` is not used by any residual\n --> t.nabla:4:8\n"));
}
