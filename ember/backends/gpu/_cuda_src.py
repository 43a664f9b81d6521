"""CUDA C sources of the CUDA backend's fused kernels (compiled by CuPy at first use).

Two kinds, both plain strings so that a test can compile them with ``nvcc``
on a machine without a GPU (tests/test_cuda_kernels.py):

* ``ROWS``: one CUDA module of templates, each kernel a function of a
  C-contiguous (R, D) array run as one thread block per row (softmax, the
  norms, the cross-entropy rows) or one thread per row (the scans), plus an
  atomic scatter.  ``ROWS_KERNELS`` names each template with the element
  types it is instantiated for (CuPy's ``RawModule(name_expressions=...)``).
* ``ELEMENTWISE``: bodies of CuPy ``ElementwiseKernel``s (GELU, the
  optimizer updates), where CuPy writes the indexing and the loop: name ->
  (input parameters, output parameters, body).  ``T`` is the element type
  (float or double); inputs are read as values, outputs are references, so
  an output may be read before it is written (in-place updates).

Every kernel follows the formula of its generic twin in
``ember/backends/generic`` operation by operation, accumulating float32 in
float and float64 in double, as torch's CUDA kernels do.
"""

# Threads per block of the row kernels (a multiple of 32, at most 1024).
ROW_THREADS = 256

ROWS = r"""
// (No #include: NVRTC, which CuPy compiles with, has the CUDA built-ins
// without headers; -inf is spelled by its bits for the same reason.)

// ---- math on float and double by overloading (the C names differ) --------------------------
__device__ __forceinline__ float ek_exp(float x) { return expf(x); }
__device__ __forceinline__ double ek_exp(double x) { return exp(x); }
__device__ __forceinline__ float ek_log(float x) { return logf(x); }
__device__ __forceinline__ double ek_log(double x) { return log(x); }
__device__ __forceinline__ float ek_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double ek_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float ek_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double ek_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float ek_neg_inf(float) { return __int_as_float(0xff800000); }
__device__ __forceinline__ double ek_neg_inf(double) {
    return __longlong_as_double((long long)0xfff0000000000000ULL);
}
__device__ __forceinline__ float ek_log2(float) { return 0.69314718f; }
__device__ __forceinline__ double ek_log2(double) { return 0.6931471805599453; }

// ---- block-wide reductions: every thread gets the result ---------------------------------
// ``shared`` holds one value per warp (32 at most).  The first __syncthreads
// lets a previous reduction's readers of shared[0] finish before it is reused.
template <typename T>
__device__ T block_sum(T v, T* shared) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = (lane < (int)((blockDim.x + 31) >> 5)) ? shared[lane] : T(0);
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    return shared[0];
}

// The row max; NaN is not propagated here (a NaN makes its row NaN through
// exp() anyway).
template <typename T>
__device__ T block_max(T v, T* shared) {
    for (int o = 16; o > 0; o >>= 1) {
        T w = __shfl_down_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = (lane < (int)((blockDim.x + 31) >> 5)) ? shared[lane] : ek_neg_inf(T(0));
        for (int o = 16; o > 0; o >>= 1) {
            T w = __shfl_down_sync(0xffffffffu, v, o);
            v = w > v ? w : v;
        }
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    return shared[0];
}

// ---- softmax / log_softmax of each row (the generic ``softmax``) ------------------------
// y = exp(x - max) * (1 / sum)   or, with ``log``, (x - max) - log(sum).
// ``masked_rows``: a row whose max is -inf (every entry masked) is shifted by
// 0 and its sum taken as 1, so its weights are 0 (attention_softmax_); without
// it such a row is NaN, as NumPy's and torch's softmax give.
template <typename T>
__global__ void softmax_rows(const T* x, T* y, long long D,
                             int log, int masked_rows) {
    __shared__ T shared[32];
    const T* xr = x + blockIdx.x * D;
    T* yr = y + blockIdx.x * D;
    T m = ek_neg_inf(T(0));
    for (long long j = threadIdx.x; j < D; j += blockDim.x) m = xr[j] > m ? xr[j] : m;
    m = block_max(m, shared);
    if (masked_rows && m == ek_neg_inf(T(0))) m = T(0);
    T s = T(0);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) s += ek_exp(xr[j] - m);
    s = block_sum(s, shared);
    if (masked_rows && s == T(0)) s = T(1);
    if (log) {
        const T ls = ek_log(s);
        for (long long j = threadIdx.x; j < D; j += blockDim.x) yr[j] = (xr[j] - m) - ls;
    } else {
        const T inv = T(1) / s;
        for (long long j = threadIdx.x; j < D; j += blockDim.x) yr[j] = ek_exp(xr[j] - m) * inv;
    }
}

// The softmax backward (generic ``softmax_backward``): gx = g*y - y * sum(g*y).
// gx may be g itself (attention_softmax_backward_ works in place).
template <typename T>
__global__ void softmax_backward_rows(const T* g, const T* __restrict__ y, T* gx, long long D) {
    __shared__ T shared[32];
    const T* gr = g + blockIdx.x * D;
    const T* yr = y + blockIdx.x * D;
    T* xr = gx + blockIdx.x * D;
    T s = T(0);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) s += gr[j] * yr[j];
    s = block_sum(s, shared);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) xr[j] = gr[j] * yr[j] - yr[j] * s;
}

// The log_softmax backward (generic ``log_softmax_backward``): gx = g - exp(y) * sum(g).
template <typename T>
__global__ void log_softmax_backward_rows(const T* __restrict__ g, const T* __restrict__ y,
                                          T* __restrict__ gx, long long D) {
    __shared__ T shared[32];
    const T* gr = g + blockIdx.x * D;
    const T* yr = y + blockIdx.x * D;
    T* xr = gx + blockIdx.x * D;
    T s = T(0);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) s += gr[j];
    s = block_sum(s, shared);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) xr[j] = gr[j] - ek_exp(yr[j]) * s;
}

// Cross-entropy's rows (generic ``log_softmax_rows``): log-softmax into logp
// and, when p is not null, the softmax from the same exp pass.
template <typename T>
__global__ void log_softmax_probs_rows(const T* __restrict__ x, T* __restrict__ logp,
                                       T* __restrict__ p, long long D) {
    __shared__ T shared[32];
    const T* xr = x + blockIdx.x * D;
    T* lr = logp + blockIdx.x * D;
    T m = ek_neg_inf(T(0));
    for (long long j = threadIdx.x; j < D; j += blockDim.x) m = xr[j] > m ? xr[j] : m;
    m = block_max(m, shared);
    T s = T(0);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) s += ek_exp(xr[j] - m);
    s = block_sum(s, shared);
    const T ls = ek_log(s);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) lr[j] = (xr[j] - m) - ls;
    if (p != nullptr) {
        T* pr = p + blockIdx.x * D;
        for (long long j = threadIdx.x; j < D; j += blockDim.x) pr[j] = ek_exp(xr[j] - m) / s;
    }
}

// Layer / RMS norm forward of each row (generic ``normalize``, elementwise affine):
// mean = sum(x) / D (``center``), var = sum((x - mean)^2) / D, rstd = 1 / sqrt(var + eps),
// xhat = (x - mean) * rstd, y = xhat * w + b (w, b may be null).
template <typename T>
__global__ void norm_rows_forward(const T* __restrict__ x, const T* __restrict__ w,
                                  const T* __restrict__ b, T* __restrict__ y,
                                  T* __restrict__ xhat, T* __restrict__ rstd, long long D,
                                  T eps, T inv, int center) {
    __shared__ T shared[32];
    const T* xr = x + blockIdx.x * D;
    T* yr = y + blockIdx.x * D;
    T* hr = xhat + blockIdx.x * D;
    T mean = T(0);
    if (center) {
        T s = T(0);
        for (long long j = threadIdx.x; j < D; j += blockDim.x) s += xr[j];
        mean = block_sum(s, shared) * inv;
    }
    T q = T(0);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
        const T c = xr[j] - mean;
        q += c * c;
    }
    const T var = block_sum(q, shared) * inv;
    const T r = T(1) / ek_sqrt(var + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
        const T h = (xr[j] - mean) * r;
        hr[j] = h;
        T v = w != nullptr ? h * w[j] : h;
        yr[j] = b != nullptr ? v + b[j] : v;
    }
}

// Its backward for x (generic ``_affine_backward``), from the saved xhat and rstd:
// dxhat = g * w;  gx = dxhat * rstd - xhat * (rstd * sum(dxhat * xhat) / D)
//                      - (centred) sum(dxhat * rstd) / D.
template <typename T>
__global__ void norm_rows_backward(const T* __restrict__ g, const T* __restrict__ xhat,
                                   const T* __restrict__ rstd, const T* __restrict__ w,
                                   T* __restrict__ gx, long long D, T inv, int center) {
    __shared__ T shared[32];
    const T* gr = g + blockIdx.x * D;
    const T* hr = xhat + blockIdx.x * D;
    T* xr = gx + blockIdx.x * D;
    const T r = rstd[blockIdx.x];
    T sp = T(0), sd = T(0);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
        const T d = w != nullptr ? gr[j] * w[j] : gr[j];
        sp += d * hr[j];
        sd += d * r;
    }
    const T proj = block_sum(sp, shared) * (r * inv);
    const T mean = center ? block_sum(sd, shared) * inv : T(0);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
        const T d = w != nullptr ? gr[j] * w[j] : gr[j];
        xr[j] = (d * r - hr[j] * proj) - mean;
    }
}

// ---- scans along each row: one thread per row ---------------------------------------------
// The running max (``largest``) or min, a NaN sticking once met (maximum.accumulate).
template <typename T>
__global__ void cum_extreme_rows(const T* __restrict__ x, T* __restrict__ y, long long R,
                                 long long D, int largest) {
    const long long row = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= R || D == 0) return;
    const T* xr = x + row * D;
    T* yr = y + row * D;
    T acc = xr[0];
    yr[0] = acc;
    for (long long j = 1; j < D; ++j) {
        const T v = xr[j];
        if (acc == acc) {           // (false once acc is NaN: it stays)
            if (v != v || (largest ? v > acc : v < acc)) acc = v;
        }
        yr[j] = acc;
    }
}

// log(cumsum(exp(x))) along each row (logaddexp.accumulate): each step
// log(exp(a) + exp(b)) = max + log1p(exp(-|a - b|)), exact at equal infinities.
template <typename T>
__global__ void log_cum_sum_exp_rows(const T* __restrict__ x, T* __restrict__ y, long long R,
                                     long long D) {
    const long long row = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= R || D == 0) return;
    const T* xr = x + row * D;
    T* yr = y + row * D;
    T acc = xr[0];
    yr[0] = acc;
    for (long long j = 1; j < D; ++j) {
        const T v = xr[j];
        if (acc == v) {
            acc = acc + ek_log2(T(0));        // (also -inf + -inf = -inf, inf + inf = inf)
        } else {
            const T d = acc - v;              // (NaN when either is NaN: falls through)
            if (d > T(0)) acc = acc + ek_log1p(ek_exp(-d));
            else if (d <= T(0)) acc = v + ek_log1p(ek_exp(d));
            else acc = d;
        }
        yr[j] = acc;
    }
}

// ---- target[idx[i]] *= vals[i], repeats multiplying in (multiply.at) ----------------------
// An atomic compare-and-swap loop per element: CUDA has no atomic multiply.
__device__ __forceinline__ void atomic_mul(float* a, float v) {
    unsigned int* p = reinterpret_cast<unsigned int*>(a);
    unsigned int old = *p, seen;
    do {
        seen = old;
        old = atomicCAS(p, seen, __float_as_uint(__uint_as_float(seen) * v));
    } while (seen != old);
}
__device__ __forceinline__ void atomic_mul(double* a, double v) {
    unsigned long long* p = reinterpret_cast<unsigned long long*>(a);
    unsigned long long old = *p, seen;
    do {
        seen = old;
        old = atomicCAS(p, seen, (unsigned long long)__double_as_longlong(
            __longlong_as_double((long long)seen) * v));
    } while (seen != old);
}
__device__ __forceinline__ void atomic_mul(int* a, int v) {
    int old = *a, seen;
    do {
        seen = old;
        old = atomicCAS(a, seen, (int)((unsigned int)seen * (unsigned int)v));
    } while (seen != old);
}
__device__ __forceinline__ void atomic_mul(long long* a, long long v) {
    unsigned long long* p = reinterpret_cast<unsigned long long*>(a);
    unsigned long long old = *p, seen;
    do {
        seen = old;
        old = atomicCAS(p, seen, seen * (unsigned long long)v);  // (wraps as int64 does)
    } while (seen != old);
}

template <typename T>
__global__ void scatter_multiply_flat(T* target, const long long* __restrict__ idx,
                                      const T* __restrict__ vals, long long n) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) atomic_mul(target + idx[i], vals[i]);
}
"""

# template -> the element types it is instantiated for (as C++ spells them).
FLOATS = ("float", "double")
ROWS_KERNELS = {
    "softmax_rows": FLOATS,
    "softmax_backward_rows": FLOATS,
    "log_softmax_backward_rows": FLOATS,
    "log_softmax_probs_rows": FLOATS,
    "norm_rows_forward": FLOATS,
    "norm_rows_backward": FLOATS,
    "cum_extreme_rows": FLOATS + ("long long", "unsigned long long"),
    "log_cum_sum_exp_rows": FLOATS,
    "scatter_multiply_flat": FLOATS + ("int", "long long"),
}

# ---- elementwise bodies (CuPy ElementwiseKernel) ---------------------------------------------

_GELU_ERF = """
const T cdf = T(0.5) * (T(1) + erf(x * T(0.70710678118654752440)));
const T pdf = exp(x * x * T(-0.5)) * T(0.39894228040143267794);
y = x * cdf;
dy = cdf + x * pdf;
"""

_GELU_TANH = """
const T k = T(0.79788456080286535588);      // sqrt(2 / pi)
const T c = T(0.044715);
const T t = tanh(k * (x + c * x * x * x));
y = T(0.5) * x * (T(1) + t);
dy = T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * c * x * x);
"""

# torch's Adam, operation by operation (ember/backends/generic/optim.py):
# m = lerp(m, g, w1) (two-sided), v = v * beta2 + g * (1 - beta2) * g,
# d += -step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
_ADAM = """
T diff = g - m;
if (small_w) m = m + diff * w1; else m = g - diff * one_minus_w1;
v = v * beta2 + (g * one_minus_beta2) * g;
T den = sqrt(v) / bc2_sqrt + eps;
d = d + (m / den) * neg_step;
"""

_ADAM_AMSGRAD = """
T diff = g - m;
if (small_w) m = m + diff * w1; else m = g - diff * one_minus_w1;
v = v * beta2 + (g * one_minus_beta2) * g;
vmax = vmax > v ? vmax : v;
T den = sqrt(vmax) / bc2_sqrt + eps;
d = d + (m / den) * neg_step;
"""

_ADAM_IN = ("T g, T w1, T one_minus_w1, bool small_w, T beta2, T one_minus_beta2, "
            "T bc2_sqrt, T eps, T neg_step")

ELEMENTWISE = {
    "ek_gelu_erf": ("T x", "T y, T dy", _GELU_ERF),
    "ek_gelu_tanh": ("T x", "T y, T dy", _GELU_TANH),
    "ek_mul": ("T g, T dydx", "T gx", "gx = g * dydx;"),
    "ek_adam": (_ADAM_IN, "T d, T m, T v", _ADAM),
    "ek_adam_amsgrad": (_ADAM_IN, "T d, T m, T v, T vmax", _ADAM_AMSGRAD),
    "ek_sgd": ("T g, T neg_lr", "T d", "d = d + g * neg_lr;"),
}
