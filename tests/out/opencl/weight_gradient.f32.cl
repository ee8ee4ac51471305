// nabla OpenCL C: 1 steps, f32, arena 0 elements
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

// 3x5x2500, tile 4x8x16, 4x4 per work-item
__kernel __attribute__((reqd_work_group_size(2, 1, 1)))
void s0_matmul(__global const real* restrict b0, __global const real* restrict b1, __global real* restrict scratch) {
  __local real As[16][4 + 1];
  __local real Bs[16][8];
  const idx_t tx = (idx_t)get_local_id(0);
  const idx_t ty = (idx_t)get_local_id(1);
  const idx_t lid = ty * 2 + tx;
  const idx_t col0 = (idx_t)get_group_id(0) * 8;
  const idx_t row0 = (idx_t)get_group_id(1) * 4;
  real acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  // 2 work-items per group
  const idx_t k0 = (idx_t)get_group_id(2) * 80;
  const idx_t k1 = min(k0 + 80, (idx_t)2500);
  for (idx_t t = k0; t < k1; t += 16) {
    for (idx_t e = lid; e < 64; e += 2) {
      const idx_t r = e % 4;
      const idx_t c = e / 4;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 3 && gp < k1) ? b0[gr + gp*3] : 0.0f;
    }
    for (idx_t e = lid; e < 128; e += 2) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 5) ? b1[gp*5 + gc] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = 0; p < 16; ++p) {
      real a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = As[p][ty + i * 1];
      for (int j = 0; j < 4; ++j) b[j] = Bs[p][tx + j * 2];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const idx_t r = row0 + ty + i * 1;
      const idx_t c = col0 + tx + j * 2;
      if (r < 3 && c < 5) scratch[(idx_t)get_group_id(2) * 15 + r*5 + c] = acc[i][j];
    }
}

__kernel void s0_matmul_sum(__global real* restrict b2, __global const real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 15) return;
  real acc = scratch[o];
  for (idx_t s = 1; s < 32; ++s) acc += scratch[s * 15 + o];
  b2[o] = acc;
}
