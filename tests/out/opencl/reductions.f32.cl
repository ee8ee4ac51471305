// nabla OpenCL C: 7 steps, f32, arena 1216 elements
#pragma OPENCL FP_CONTRACT OFF
typedef float real;
typedef uint idx_t;
real nb_sigmoid(real x) {
  if (x >= 0.0f) return 1.0f / (1.0f + exp(-x));
  const real e = exp(x);
  return e / (1.0f + e);
}
real nb_softplus(real x) { return fmax(x, 0.0f) + log1p(exp(-fabs(x))); }
real nb_tanh(real x) { return fabs(x) >= 9.010913f ? copysign(1.0f, x) : tanh(x); }
real nb_gelu(real x) { return 0.5f * x * (1.0f + nb_tanh(0.7978846f * (x + 0.044715f * x * x * x))); }
real nb_sign(real x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x * 0.0f); }
real nb_powi(real a, int n) {
  const int recip = n < 0;
  real r = 1.0f;
  for (;;) {
    if (n & 1) r *= a;
    n /= 2;
    if (n == 0) break;
    a *= a;
  }
  return recip ? 1.0f / r : r;
}

__kernel void s0_reduce(__global const real* restrict b2, __global real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  const idx_t p = (idx_t)get_global_id(1);
  if (o >= 4) return;
  const idx_t i0 = o;
  const idx_t base = i0;
  const idx_t j1 = min(p * 75 + 75, (idx_t)300);
  real acc = 0.0f;
  for (idx_t j = p * 75; j < j1; ++j) acc += b2[base];
  scratch[p * 4 + o] = acc;
}

__kernel void s0_reduce_sum(__global real* restrict b6, __global const real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 4) return;
  real acc = scratch[o];
  for (idx_t p = 1; p < 4; ++p) acc += scratch[p * 4 + o];
  b6[o] = acc / 300.0f;
}

__kernel void s1_reduce(__global const real* restrict b1, __global real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  const idx_t p = (idx_t)get_global_id(1);
  if (o >= 6) return;
  const idx_t i0 = o / 3;
  const idx_t i1 = (o) % 3;
  const idx_t base = i0*900 + i1;
  const idx_t j1 = min(p * 75 + 75, (idx_t)300);
  real acc = 0.0f;
  for (idx_t j = p * 75; j < j1; ++j) acc += b1[base + j*3];
  scratch[p * 6 + o] = acc;
}

__kernel void s1_reduce_sum(__global real* restrict b5, __global const real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 6) return;
  real acc = scratch[o];
  for (idx_t p = 1; p < 4; ++p) acc += scratch[p * 6 + o];
  b5[o] = acc;
}

__kernel void s2_reduce(__global const real* restrict b0, __global real* restrict b4) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 300) return;
  const idx_t i0 = o;
  const idx_t base = i0*4;
  real acc = 0.0f;
  for (idx_t j = 0; j < 4; ++j) acc += b0[base + j];
  b4[o] = acc / 4.0f;
}

__kernel void s3_reduce(__global const real* restrict b0, __global real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  const idx_t p = (idx_t)get_global_id(1);
  if (o >= 4) return;
  const idx_t i0 = o;
  const idx_t base = i0;
  const idx_t j1 = min(p * 75 + 75, (idx_t)300);
  real acc = 0.0f;
  for (idx_t j = p * 75; j < j1; ++j) acc += b0[base + j*4];
  scratch[p * 4 + o] = acc;
}

__kernel void s3_reduce_sum(__global real* restrict b3, __global const real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 4) return;
  real acc = scratch[o];
  for (idx_t p = 1; p < 4; ++p) acc += scratch[p * 4 + o];
  b3[o] = acc;
}

__kernel void s4_reduce(__global const real* restrict b3, __global real* restrict b9) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 1) return;
  const idx_t base = 0;
  real acc = 0.0f;
  for (idx_t j = 0; j < 4; ++j) acc += b3[base + j];
  b9[o] = acc;
}

__kernel void s5_map(__global real* restrict arena, __global const real* restrict b0) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 1200) return;
  const real v0 = b0[gid];
  const real v1 = exp(v0); // %8
  arena[gid] = v1;
}

__kernel void s6_reduce(__global const real* restrict arena, __global real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  const idx_t p = (idx_t)get_global_id(1);
  if (o >= 2) return;
  const idx_t i0 = o;
  const idx_t base = 2 + i0;
  const idx_t j1 = min(p * 75 + 75, (idx_t)300);
  real acc = 0.0f;
  for (idx_t j = p * 75; j < j1; ++j) acc += arena[base + j*4];
  scratch[p * 2 + o] = acc;
}

__kernel void s6_reduce_sum(__global real* restrict b8, __global const real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 2) return;
  real acc = scratch[o];
  for (idx_t p = 1; p < 4; ++p) acc += scratch[p * 2 + o];
  b8[o] = acc;
}
