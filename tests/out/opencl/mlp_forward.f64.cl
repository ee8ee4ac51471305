// nabla OpenCL C: 7 steps, f64, arena 4832 elements
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
real nb_tanh(real x) { return fabs(x) >= 19.061547465398494 ? copysign(1.0, x) : tanh(x); }
real nb_gelu(real x) { return 0.5 * x * (1.0 + nb_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
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

// 300x8x2, tile 128x8x2, 4x4 per work-item
__kernel __attribute__((reqd_work_group_size(2, 32, 1)))
void s0_matmul(__global real* restrict arena, __global const real* restrict b0, __global const real* restrict b2) {
  __local real As[2][128 + 1];
  __local real Bs[2][8];
  const idx_t tx = (idx_t)get_local_id(0);
  const idx_t ty = (idx_t)get_local_id(1);
  const idx_t lid = ty * 2 + tx;
  const idx_t col0 = (idx_t)get_group_id(0) * 8;
  const idx_t row0 = (idx_t)get_group_id(1) * 128;
  real acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0;
  // 64 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 2;
  for (idx_t t = k0; t < k1; t += 2) {
    for (idx_t e = lid; e < 256; e += 64) {
      const idx_t r = e / 2;
      const idx_t c = e % 2;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 300 && gp < k1) ? b0[gr*2 + gp] : 0.0;
    }
    for (idx_t e = lid; e < 16; e += 64) {
      const idx_t r = e % 2;
      const idx_t c = e / 2;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 8) ? b2[gp + gc*2] : 0.0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = 0; p < 2; ++p) {
      real a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = As[p][ty + i * 32];
      for (int j = 0; j < 4; ++j) b[j] = Bs[p][tx + j * 2];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const idx_t r = row0 + ty + i * 32;
      const idx_t c = col0 + tx + j * 2;
      if (r < 300 && c < 8) arena[r*8 + c] = acc[i][j];
    }
}

__kernel void s1_map(__global real* restrict arena, __global const real* restrict b3) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 2400) return;
  const idx_t i1 = (gid) % 8;
  const real v0 = arena[gid];
  const real v1 = b3[i1];
  const real v2 = v0 + v1; // %6
  const real v3 = nb_tanh(v2); // %7
  arena[2416 + gid] = v3;
}

// 300x8x8, tile 128x8x8, 4x4 per work-item
__kernel __attribute__((reqd_work_group_size(2, 32, 1)))
void s2_matmul(__global real* restrict arena, __global const real* restrict b4) {
  __local real As[8][128 + 1];
  __local real Bs[8][8];
  const idx_t tx = (idx_t)get_local_id(0);
  const idx_t ty = (idx_t)get_local_id(1);
  const idx_t lid = ty * 2 + tx;
  const idx_t col0 = (idx_t)get_group_id(0) * 8;
  const idx_t row0 = (idx_t)get_group_id(1) * 128;
  real acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0;
  // 64 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 8;
  for (idx_t t = k0; t < k1; t += 8) {
    for (idx_t e = lid; e < 1024; e += 64) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 300 && gp < k1) ? arena[2416 + gr*8 + gp] : 0.0;
    }
    for (idx_t e = lid; e < 64; e += 64) {
      const idx_t r = e % 8;
      const idx_t c = e / 8;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 8) ? b4[gp + gc*8] : 0.0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = 0; p < 8; ++p) {
      real a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = As[p][ty + i * 32];
      for (int j = 0; j < 4; ++j) b[j] = Bs[p][tx + j * 2];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const idx_t r = row0 + ty + i * 32;
      const idx_t c = col0 + tx + j * 2;
      if (r < 300 && c < 8) arena[r*8 + c] = acc[i][j];
    }
}

__kernel void s3_map(__global real* restrict arena, __global const real* restrict b5) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 2400) return;
  const idx_t i1 = (gid) % 8;
  const real v0 = arena[gid];
  const real v1 = b5[i1];
  const real v2 = v0 + v1; // %12
  const real v3 = nb_tanh(v2); // %13
  arena[2416 + gid] = v3;
}

// 300x1x8, tile 128x1x8, 4x1 per work-item
__kernel __attribute__((reqd_work_group_size(1, 32, 1)))
void s4_matmul(__global real* restrict arena, __global const real* restrict b6) {
  __local real As[8][128 + 1];
  __local real Bs[8][1];
  const idx_t tx = (idx_t)get_local_id(0);
  const idx_t ty = (idx_t)get_local_id(1);
  const idx_t lid = ty * 1 + tx;
  const idx_t col0 = (idx_t)get_group_id(0) * 1;
  const idx_t row0 = (idx_t)get_group_id(1) * 128;
  real acc[4][1];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 1; ++j) acc[i][j] = 0.0;
  // 32 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 8;
  for (idx_t t = k0; t < k1; t += 8) {
    for (idx_t e = lid; e < 1024; e += 32) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 300 && gp < k1) ? arena[2416 + gr*8 + gp] : 0.0;
    }
    for (idx_t e = lid; e < 8; e += 32) {
      const idx_t r = e % 8;
      const idx_t c = e / 8;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 1) ? b6[gp + gc*8] : 0.0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = 0; p < 8; ++p) {
      real a[4], b[1];
      for (int i = 0; i < 4; ++i) a[i] = As[p][ty + i * 32];
      for (int j = 0; j < 1; ++j) b[j] = Bs[p][tx + j * 1];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 1; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 1; ++j) {
      const idx_t r = row0 + ty + i * 32;
      const idx_t c = col0 + tx + j * 1;
      if (r < 300 && c < 1) arena[r + c] = acc[i][j];
    }
}

__kernel void s5_map(__global real* restrict arena, __global const real* restrict b1, __global const real* restrict b7, __global real* restrict b15) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 300) return;
  const real v0 = arena[gid];
  const real v1 = b7[0];
  const real v2 = v0 + v1; // %18
  const real v3 = b1[gid];
  const real v4 = v2 - v3; // %19
  const real v5 = v4 * v4; // %20
  arena[304 + gid] = v5;
  b15[gid] = v2;
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void s6_reduce(__global const real* restrict arena, __global real* restrict b14) {
  __local real part[256];
  const idx_t o = (idx_t)get_group_id(0);
  const idx_t t = (idx_t)get_local_id(0);
  const idx_t base = 304;
  real acc = 0.0;
  for (idx_t j = t; j < 300; j += 256) acc += arena[base + j];
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (idx_t s = 128; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) b14[o] = part[0] / 300.0;
}
