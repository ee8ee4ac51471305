//! Equality saturation with egg.
