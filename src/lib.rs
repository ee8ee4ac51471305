//! nabla
