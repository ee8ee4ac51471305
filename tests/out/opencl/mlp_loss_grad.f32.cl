// nabla OpenCL C: 18 steps, f32, arena 9664 elements
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
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  // 64 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 2;
  for (idx_t t = k0; t < k1; t += 2) {
    for (idx_t e = lid; e < 256; e += 64) {
      const idx_t r = e / 2;
      const idx_t c = e % 2;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 300 && gp < k1) ? b0[gr*2 + gp] : 0.0f;
    }
    for (idx_t e = lid; e < 16; e += 64) {
      const idx_t r = e % 2;
      const idx_t c = e / 2;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 8) ? b2[gp + gc*2] : 0.0f;
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
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  // 64 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 8;
  for (idx_t t = k0; t < k1; t += 8) {
    for (idx_t e = lid; e < 1024; e += 64) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 300 && gp < k1) ? arena[2416 + gr*8 + gp] : 0.0f;
    }
    for (idx_t e = lid; e < 64; e += 64) {
      const idx_t r = e % 8;
      const idx_t c = e / 8;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 8) ? b4[gp + gc*8] : 0.0f;
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
  arena[4832 + gid] = v3;
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
    for (int j = 0; j < 1; ++j) acc[i][j] = 0.0f;
  // 32 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 8;
  for (idx_t t = k0; t < k1; t += 8) {
    for (idx_t e = lid; e < 1024; e += 32) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 300 && gp < k1) ? arena[4832 + gr*8 + gp] : 0.0f;
    }
    for (idx_t e = lid; e < 8; e += 32) {
      const idx_t r = e % 8;
      const idx_t c = e / 8;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 1) ? b6[gp + gc*8] : 0.0f;
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

__kernel void s5_map(__global real* restrict arena, __global const real* restrict b1, __global const real* restrict b7) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 300) return;
  const real v0 = arena[gid];
  const real v1 = b7[0];
  const real v2 = v0 + v1; // %18
  const real v3 = b1[gid];
  const real v4 = v2 - v3; // %19
  const real v5 = v4 * v4; // %20
  arena[304 + gid] = v5;
  arena[608 + gid] = v4;
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void s6_reduce(__global const real* restrict arena, __global real* restrict b14) {
  __local real part[256];
  const idx_t o = (idx_t)get_group_id(0);
  const idx_t t = (idx_t)get_local_id(0);
  const idx_t base = 304;
  real acc = 0.0f;
  for (idx_t j = t; j < 300; j += 256) acc += arena[base + j];
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (idx_t s = 128; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) b14[o] = part[0] / 300.0f;
}

__kernel void s7_map(__global real* restrict arena) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 300) return;
  const real v0 = arena[608 + gid];
  const real v1 = 0.006666667f;
  const real v2 = v0 * v1; // %24
  arena[gid] = v2;
}

// 300x8x1, tile 128x8x1, 4x4 per work-item
__kernel __attribute__((reqd_work_group_size(2, 32, 1)))
void s8_matmul(__global real* restrict arena, __global const real* restrict b6) {
  __local real As[1][128 + 1];
  __local real Bs[1][8];
  const idx_t tx = (idx_t)get_local_id(0);
  const idx_t ty = (idx_t)get_local_id(1);
  const idx_t lid = ty * 2 + tx;
  const idx_t col0 = (idx_t)get_group_id(0) * 8;
  const idx_t row0 = (idx_t)get_group_id(1) * 128;
  real acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  // 64 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 1;
  for (idx_t t = k0; t < k1; t += 1) {
    for (idx_t e = lid; e < 128; e += 64) {
      const idx_t r = e / 1;
      const idx_t c = e % 1;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 300 && gp < k1) ? arena[gr + gp] : 0.0f;
    }
    for (idx_t e = lid; e < 8; e += 64) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 8) ? b6[gp*8 + gc] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = 0; p < 1; ++p) {
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
      if (r < 300 && c < 8) arena[7248 + r*8 + c] = acc[i][j];
    }
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void s9_reduce(__global const real* restrict arena, __global real* restrict b18) {
  __local real part[256];
  const idx_t o = (idx_t)get_group_id(0);
  const idx_t t = (idx_t)get_local_id(0);
  const idx_t base = 0;
  real acc = 0.0f;
  for (idx_t j = t; j < 300; j += 256) acc += arena[base + j];
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (idx_t s = 128; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) b18[o] = part[0];
}

// 1x8x300, tile 4x8x16, 4x4 per work-item
__kernel __attribute__((reqd_work_group_size(2, 1, 1)))
void s10_matmul(__global const real* restrict arena, __global real* restrict b17) {
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
  const idx_t k0 = 0;
  const idx_t k1 = 300;
  for (idx_t t = k0; t < k1; t += 16) {
    for (idx_t e = lid; e < 64; e += 2) {
      const idx_t r = e / 16;
      const idx_t c = e % 16;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 1 && gp < k1) ? arena[gr + gp] : 0.0f;
    }
    for (idx_t e = lid; e < 128; e += 2) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 8) ? arena[4832 + gp*8 + gc] : 0.0f;
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
      if (r < 1 && c < 8) b17[r*8 + c] = acc[i][j];
    }
}

__kernel void s11_map(__global real* restrict arena) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 2400) return;
  const real v0 = arena[4832 + gid];
  const real v1 = v0 * v0; // %28
  const real v2 = 1.0f;
  const real v3 = v2 - v1; // %31
  const real v4 = arena[7248 + gid];
  const real v5 = v4 * v3; // %32
  arena[gid] = v5;
}

// 300x8x8, tile 128x8x8, 4x4 per work-item
__kernel __attribute__((reqd_work_group_size(2, 32, 1)))
void s12_matmul(__global real* restrict arena, __global const real* restrict b4) {
  __local real As[8][128 + 1];
  __local real Bs[8][8];
  const idx_t tx = (idx_t)get_local_id(0);
  const idx_t ty = (idx_t)get_local_id(1);
  const idx_t lid = ty * 2 + tx;
  const idx_t col0 = (idx_t)get_group_id(0) * 8;
  const idx_t row0 = (idx_t)get_group_id(1) * 128;
  real acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  // 64 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 8;
  for (idx_t t = k0; t < k1; t += 8) {
    for (idx_t e = lid; e < 1024; e += 64) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 300 && gp < k1) ? arena[gr*8 + gp] : 0.0f;
    }
    for (idx_t e = lid; e < 64; e += 64) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 8) ? b4[gp*8 + gc] : 0.0f;
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
      if (r < 300 && c < 8) arena[4832 + r*8 + c] = acc[i][j];
    }
}

__kernel void s13_reduce(__global const real* restrict arena, __global real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  const idx_t p = (idx_t)get_global_id(1);
  if (o >= 8) return;
  const idx_t i0 = o;
  const idx_t base = i0;
  const idx_t j1 = min(p * 75 + 75, (idx_t)300);
  real acc = 0.0f;
  for (idx_t j = p * 75; j < j1; ++j) acc += arena[base + j*8];
  scratch[p * 8 + o] = acc;
}

__kernel void s13_reduce_sum(__global real* restrict b22, __global const real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 8) return;
  real acc = scratch[o];
  for (idx_t p = 1; p < 4; ++p) acc += scratch[p * 8 + o];
  b22[o] = acc;
}

// 8x8x300, tile 8x8x16, 4x4 per work-item
__kernel __attribute__((reqd_work_group_size(2, 2, 1)))
void s14_matmul(__global const real* restrict arena, __global real* restrict b21) {
  __local real As[16][8 + 1];
  __local real Bs[16][8];
  const idx_t tx = (idx_t)get_local_id(0);
  const idx_t ty = (idx_t)get_local_id(1);
  const idx_t lid = ty * 2 + tx;
  const idx_t col0 = (idx_t)get_group_id(0) * 8;
  const idx_t row0 = (idx_t)get_group_id(1) * 8;
  real acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  // 4 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 300;
  for (idx_t t = k0; t < k1; t += 16) {
    for (idx_t e = lid; e < 128; e += 4) {
      const idx_t r = e % 8;
      const idx_t c = e / 8;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 8 && gp < k1) ? arena[gr + gp*8] : 0.0f;
    }
    for (idx_t e = lid; e < 128; e += 4) {
      const idx_t r = e / 8;
      const idx_t c = e % 8;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 8) ? arena[2416 + gp*8 + gc] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = 0; p < 16; ++p) {
      real a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = As[p][ty + i * 2];
      for (int j = 0; j < 4; ++j) b[j] = Bs[p][tx + j * 2];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const idx_t r = row0 + ty + i * 2;
      const idx_t c = col0 + tx + j * 2;
      if (r < 8 && c < 8) b21[r*8 + c] = acc[i][j];
    }
}

__kernel void s15_map(__global real* restrict arena) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 2400) return;
  const real v0 = arena[2416 + gid];
  const real v1 = v0 * v0; // %36
  const real v2 = 1.0f;
  const real v3 = v2 - v1; // %37
  const real v4 = arena[4832 + gid];
  const real v5 = v4 * v3; // %38
  arena[gid] = v5;
}

__kernel void s16_reduce(__global const real* restrict arena, __global real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  const idx_t p = (idx_t)get_global_id(1);
  if (o >= 8) return;
  const idx_t i0 = o;
  const idx_t base = i0;
  const idx_t j1 = min(p * 75 + 75, (idx_t)300);
  real acc = 0.0f;
  for (idx_t j = p * 75; j < j1; ++j) acc += arena[base + j*8];
  scratch[p * 8 + o] = acc;
}

__kernel void s16_reduce_sum(__global real* restrict b26, __global const real* restrict scratch) {
  const idx_t o = (idx_t)get_global_id(0);
  if (o >= 8) return;
  real acc = scratch[o];
  for (idx_t p = 1; p < 4; ++p) acc += scratch[p * 8 + o];
  b26[o] = acc;
}

// 8x2x300, tile 8x2x16, 4x2 per work-item
__kernel __attribute__((reqd_work_group_size(1, 2, 1)))
void s17_matmul(__global const real* restrict arena, __global const real* restrict b0, __global real* restrict b25) {
  __local real As[16][8 + 1];
  __local real Bs[16][2];
  const idx_t tx = (idx_t)get_local_id(0);
  const idx_t ty = (idx_t)get_local_id(1);
  const idx_t lid = ty * 1 + tx;
  const idx_t col0 = (idx_t)get_group_id(0) * 2;
  const idx_t row0 = (idx_t)get_group_id(1) * 8;
  real acc[4][2];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) acc[i][j] = 0.0f;
  // 2 work-items per group
  const idx_t k0 = 0;
  const idx_t k1 = 300;
  for (idx_t t = k0; t < k1; t += 16) {
    for (idx_t e = lid; e < 128; e += 2) {
      const idx_t r = e % 8;
      const idx_t c = e / 8;
      const idx_t gr = row0 + r;
      const idx_t gp = t + c;
      As[c][r] = (gr < 8 && gp < k1) ? arena[gr + gp*8] : 0.0f;
    }
    for (idx_t e = lid; e < 32; e += 2) {
      const idx_t r = e / 2;
      const idx_t c = e % 2;
      const idx_t gp = t + r;
      const idx_t gc = col0 + c;
      Bs[r][c] = (gp < k1 && gc < 2) ? b0[gp*2 + gc] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = 0; p < 16; ++p) {
      real a[4], b[2];
      for (int i = 0; i < 4; ++i) a[i] = As[p][ty + i * 2];
      for (int j = 0; j < 2; ++j) b[j] = Bs[p][tx + j * 1];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 2; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) {
      const idx_t r = row0 + ty + i * 2;
      const idx_t c = col0 + tx + j * 1;
      if (r < 8 && c < 2) b25[r*2 + c] = acc[i][j];
    }
}
