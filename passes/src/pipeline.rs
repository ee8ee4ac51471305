//! The pass pipeline and the registry of pass names.
