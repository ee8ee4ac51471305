// nabla OpenCL C: 3 steps, f32, arena 0 elements
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

__kernel void s0_map(__global const real* restrict b0, __global const real* restrict b1, __global real* restrict b3) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 15) return;
  const idx_t i1 = (gid) % 3;
  const real v0 = b0[gid];
  const real v1 = b1[i1];
  const real v2 = v0 * v1; // %3
  const real v3 = -v2; // %4
  const real v4 = v2 + v3; // %5
  const real v5 = exp(v2); // %6
  const real v6 = v4 + v5; // %7
  const real v7 = v2 * v2; // %8
  const real v8 = 1.0f;
  const real v9 = v7 + v8; // %11
  const real v10 = log(v9); // %12
  const real v11 = v6 + v10; // %13
  const real v12 = sin(v2); // %14
  const real v13 = v11 + v12; // %15
  const real v14 = cos(v2); // %16
  const real v15 = v13 + v14; // %17
  const real v16 = 0.25f;
  const real v17 = v2 * v16; // %20
  const real v18 = tan(v17); // %21
  const real v19 = v15 + v18; // %22
  const real v20 = nb_tanh(v2); // %23
  const real v21 = v19 + v20; // %24
  const real v22 = nb_sigmoid(v2); // %25
  const real v23 = v21 + v22; // %26
  const real v24 = nb_softplus(v2); // %27
  const real v25 = v23 + v24; // %28
  const real v26 = v2 * nb_sigmoid(v2); // %29
  const real v27 = v25 + v26; // %30
  const real v28 = nb_gelu(v2); // %31
  const real v29 = v27 + v28; // %32
  const real v30 = sqrt(v9); // %33
  const real v31 = v29 + v30; // %34
  const real v32 = fabs(v2); // %35
  const real v33 = v31 + v32; // %36
  const real v34 = v33 + v7; // %37
  const real v35 = 3.0f;
  const real v36 = v2 + v35; // %40
  const real v37 = 1.0f / v36; // %41
  const real v38 = v34 + v37; // %42
  const real v39 = nb_sign(v2); // %43
  const real v40 = v38 + v39; // %44
  const real v41 = nb_powi(v40, 3); // %45
  const real v42 = nb_powi(v40, -2); // %46
  const real v43 = pow(v5, v0); // %47
  const real v44 = v41 / v43; // %48
  const real v45 = v44 - v42; // %49
  b3[gid] = v45;
}

__kernel void s1_map(__global real* restrict b2, __global const real* restrict b3) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 5) return;
  const idx_t i0 = gid;
  const real v0 = b3[1 + i0*3];
  b2[i0*4] = v0;
}

__kernel void s2_map(__global const real* restrict b0, __global real* restrict b2) {
  const idx_t gid = (idx_t)get_global_id(0);
  if (gid >= 15) return;
  const idx_t i0 = gid / 3;
  const idx_t i1 = (gid) % 3;
  const real v0 = b0[gid];
  b2[1 + i0*4 + i1] = v0;
}
