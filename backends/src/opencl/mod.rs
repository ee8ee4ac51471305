//! OpenCL C backend for GPUs (and CPUs through PoCL).
