//! Automatic differentiation: expands `diff`, `laplacian`, `grad` and `at` into plain ops.
