// nabla OpenCL C: 7 steps, f64, arena 1200 elements
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF
typedef double real;
typedef uint idx_t;
real nb_sigmoid(real x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  const real e = exp(x);
  return e / (1.0 + e);
}
real nb_softplus(real x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }
real nb_gelu(real x) { return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
real nb_sign(real x) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x * 0.0); }
real nb_powi(real a, int n) {
  const int recip = n < 0;
  real r = 1.0;
  for (;;) {
    if (n & 1) r *= a;
    n /= 2;
    if (n == 0) break;
    a *= a;
  }
  return recip ? 1.0 / r : r;
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void s0_reduce(__global const real* restrict b0, __global real* restrict b3) {
  __local real part[256];
  const idx_t o = (idx_t)get_group_id(0);
  const idx_t t = (idx_t)get_local_id(0);
  const idx_t i0 = o;
  const idx_t base = i0;
  real acc = 0.0;
  for (idx_t j = t; j < 300; j += 256) acc += b0[base + j*4];
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (idx_t s = 128; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) b3[o] = part[0];
}

__kernel void s1_reduce(__global const real* restrict b0, __global real* restrict b4) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 300) return;
  const idx_t i0 = o;
  const idx_t base = i0*4;
  real acc = 0.0;
  for (idx_t j = 0; j < 4; ++j) acc += b0[base + j];
  b4[o] = acc / 4.0;
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void s2_reduce(__global const real* restrict b1, __global real* restrict b5) {
  __local real part[256];
  const idx_t o = (idx_t)get_group_id(0);
  const idx_t t = (idx_t)get_local_id(0);
  const idx_t i0 = o / 3;
  const idx_t i1 = (o) % 3;
  const idx_t base = i0*900 + i1;
  real acc = 0.0;
  for (idx_t j = t; j < 300; j += 256) acc += b1[base + j*3];
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (idx_t s = 128; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) b5[o] = part[0];
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void s3_reduce(__global const real* restrict b2, __global real* restrict b6) {
  __local real part[256];
  const idx_t o = (idx_t)get_group_id(0);
  const idx_t t = (idx_t)get_local_id(0);
  const idx_t i0 = o;
  const idx_t base = i0;
  real acc = 0.0;
  for (idx_t j = t; j < 300; j += 256) acc += b2[base];
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (idx_t s = 128; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) b6[o] = part[0] / 300.0;
}

__kernel void s4_map(__global real* restrict arena, __global const real* restrict b0) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 1200) return;
  const real v0 = b0[gid];
  const real v1 = exp(v0); // %8
  arena[gid] = v1;
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void s5_reduce(__global const real* restrict arena, __global real* restrict b8) {
  __local real part[256];
  const idx_t o = (idx_t)get_group_id(0);
  const idx_t t = (idx_t)get_local_id(0);
  const idx_t i0 = o;
  const idx_t base = 2 + i0;
  real acc = 0.0;
  for (idx_t j = t; j < 300; j += 256) acc += arena[base + j*4];
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (idx_t s = 128; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) b8[o] = part[0];
}

__kernel void s6_reduce(__global const real* restrict b3, __global real* restrict b9) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 1) return;
  const idx_t base = 0;
  real acc = 0.0;
  for (idx_t j = 0; j < 4; ++j) acc += b3[base + j];
  b9[o] = acc;
}
