//! Cranelift JIT backend for the CPU.
