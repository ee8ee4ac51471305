//! Fusion into kernels, buffer liveness and the memory plan shared by both backends.
