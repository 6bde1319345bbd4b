// The fixed part of every model's CUDA C, after the generated header: one source for three compilers
// (NVRTC at run time; clang-14 for the PTX check, without the CUDA SDK; a C++ compiler under DSL_EMULATE for the
// CPU emulation check). An embedded resource of the generator (CudaSources); the marker lines are filled in at
// generation time.
#if defined(DSL_EMULATE)
/* C++ emulation (CPU check): the including header supplies __global__, __device__, __shared__,
   DSL_TID/DSL_BID/DSL_BDIM/DSL_GDIM, __syncthreads and the DSL_* math. */
#elif defined(__CUDACC_RTC__)
/* NVRTC: CUDA's own names and device math. */
#define DSL_TID ((int)threadIdx.x)
#define DSL_BID ((int)blockIdx.x)
#define DSL_BDIM ((int)blockDim.x)
#define DSL_GDIM ((int)gridDim.x)
#define DSL_EXPF(x) expf(x)
#define DSL_LOGF(x) logf(x)
#define DSL_LOG1PF(x) log1pf(x)
#define DSL_SQRTF(x) sqrtf(x)
#define DSL_TANHF(x) tanhf(x)
#define DSL_ERFF(x) erff(x)
#define DSL_SQRT(x) sqrt(x)
#define DSL_NAN __int_as_float(0x7fc00000)
#define DSL_INF __int_as_float(0x7f800000)
#else
/* clang -x cuda -nocudainc -nocudalib (the CI's PTX check, no CUDA SDK): attributes and NVVM
   builtins only; libm does not exist on the device, so exp/log are ex2/lg2 and erf a rational fit. */
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define DSL_TID ((int)__nvvm_read_ptx_sreg_tid_x())
#define DSL_BID ((int)__nvvm_read_ptx_sreg_ctaid_x())
#define DSL_BDIM ((int)__nvvm_read_ptx_sreg_ntid_x())
#define DSL_GDIM ((int)__nvvm_read_ptx_sreg_nctaid_x())
#define DSL_EXPF(x) __nvvm_ex2_approx_f((x) * 1.44269504088896341f)
#define DSL_LOGF(x) (__nvvm_lg2_approx_f(x) * 0.693147180559945309f)
#define DSL_LOG1PF(x) DSL_LOGF(1.0f + (x))
#define DSL_SQRTF(x) __nvvm_sqrt_rn_f(x)
#define DSL_TANHF(x) (1.0f - 2.0f / (DSL_EXPF(2.0f * (x)) + 1.0f))
#define DSL_SQRT(x) __nvvm_sqrt_rn_d(x)
#define DSL_NAN __builtin_nanf("")
#define DSL_INF __builtin_huge_valf()
static __device__ inline float dsl_erf_fit(float x)
{
    /* Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 */
    float a = x < 0.0f ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float r = 1.0f - p * DSL_EXPF(-a * a);
    return x < 0.0f ? -r : r;
}
#define DSL_ERFF(x) dsl_erf_fit(x)
#endif

#define DSL_KERNEL(name) extern "C" __global__ void name(float* arena, const int* ids, const int* labels, const float* targets, DslArgs args)
#define DSL_FOR_ELEMENTS(i, count) for (int i = DSL_BID * DSL_BDIM + DSL_TID; i < (count); i += DSL_BDIM * DSL_GDIM)

/* The run-time values, by value in every launch (layout of Dsl.Cuda.CudaArgs). */
typedef struct DslArgs
{
    int rows, batch, training, decayAll;
    unsigned long long seed, dropoutStep;
    float learningRate, beta1, oneMinusBeta1, beta2, oneMinusBeta2, epsilon, decay, stepSize, sqrtBiasCorrection2, maxGradientNorm;
} DslArgs;

/* Activations and their derivatives f'(x, y), y = f(x): the formulas of Dsl.Kernels' activations. σ is shared;
   each activation op (generators/Dsl.Generators/Ops/Activations) prints its own functions in place of the marker. */
static __device__ inline float dsl_sigmoid(float x) { float e = DSL_EXPF(-(x < 0.0f ? -x : x)); float r = 1.0f / (1.0f + e); return x >= 0.0f ? r : e * r; }
/* DSL:ACTIVATIONS */

/* Dropout masks: SplitMix64 counter hash of (seed, stream, index), as Dsl.Runtime.SeededRandom. */
static __device__ inline unsigned long long dsl_mix(unsigned long long z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static __device__ inline unsigned long long dsl_stream_key(unsigned long long seed, unsigned long long stream)
{
    return dsl_mix(dsl_mix(seed + 0x9E3779B97F4A7C15ULL) + (stream + 1ULL) * 0xD1B54A32D192ED03ULL);
}
/* e^x − 1 without cancellation near 0 (Dsl.Kernels.LossMath.ExpM1: 2t/(1 − t), t = tanh(x/2)). */
static __device__ inline float dsl_expm1(float x)
{
    if (x > 1.0f || x < -1.0f) return DSL_EXPF(x) - 1.0f;
    float t = DSL_TANHF(0.5f * x);
    return 2.0f * t / (1.0f - t);
}
/* Linear attention's feature map φ = elu + 1 > 0 and its derivative. */
static __device__ inline float dsl_phi(float x) { return x > 0.0f ? x + 1.0f : DSL_EXPF(x); }
static __device__ inline float dsl_phi_d(float x) { return x > 0.0f ? 1.0f : DSL_EXPF(x); }

/* Keys visible to query i (Dsl.Kernels.AttentionMath.KeyRange): [lo, hi]. */
static __device__ inline void dsl_key_range(int i, int sequence, int causal, int window, int* lo, int* hi)
{
    *hi = causal ? i : sequence - 1;
    *lo = 0;
    if (window > 0)
    {
        *lo = i - window + 1 > 0 ? i - window + 1 : 0;
        if (!causal) *hi = i + window - 1 < sequence - 1 ? i + window - 1 : sequence - 1;
    }
}

static __device__ inline int dsl_keep(unsigned long long key, int index, unsigned long long threshold)
{
    return (dsl_mix(key + ((unsigned long long)index + 1ULL) * 0x9E3779B97F4A7C15ULL) >> 11) >= threshold;
}
