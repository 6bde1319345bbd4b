using System.Collections.Generic;
using System.Linq;
using Dsl.Generators.Model;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Emit.Cuda;

/// <summary>One launch of the CUDA schedule, as the emitter decided it (printed into the C# as a
/// <c>Dsl.Cuda.CudaLaunch</c>).</summary>
/// <c>UnlessFused</c>: a Dense's bias/activation kernel that runs only when cuBLASLt did not fuse it into the product before it.
internal sealed record CudaLaunchSpec(string Name, string Comment, string Grid, int Width, int Block, CudaGemmSpec? Gemm = null, bool PerExample = false, bool UnlessFused = false);

/// <summary>A row-major C (+)= op(A)·op(B) over arena offsets (see <c>Dsl.Cuda.CudaGemm</c>); <paramref name="Epilogue"/>
/// names a <c>Dsl.Cuda.CudaEpilogue</c> member cuBLASLt may fuse ("None", "Bias", "Gelu", "GeluBias"), with the bias
/// and the kept GELU input (aux) at <paramref name="Bias"/> and <paramref name="Aux"/> (−1 when absent).</summary>
internal sealed record CudaGemmSpec(bool TransposeA, bool TransposeB, int A, int Lda, int B, int Ldb, int C, int Ldc, int M, int N, int K, bool RowsAreM, bool Accumulate,
    string Epilogue = "None", int Bias = -1, int Aux = -1);

/// <summary>The CUDA form of a plan: the source and its launch lists.</summary>
internal sealed record CudaModule(
    string Source, int ArenaLength, int NormOffset, int LossOffset, int LossDivisor,
    List<CudaLaunchSpec> Forward, List<CudaLaunchSpec> Loss, List<CudaLaunchSpec> Backward,
    List<CudaLaunchSpec> GradientNorm, List<CudaLaunchSpec> Sgd, List<CudaLaunchSpec> AdamW, List<string> Unsupported, bool Pooled, List<CudaLaunchSpec> Lion,
    List<CudaLaunchSpec> AdversarialPerturb, List<CudaLaunchSpec> AdversarialRestore, CudaMultiTaskSpec? MultiTask = null);

/// <summary>
/// Prints CUDA C for a <see cref="ModelPlan"/>: the same steps, offsets and fusion decisions the CPU
/// emitter prints as C#, as kernels over one float arena (llm.c's layout: every kernel gets the
/// arena base and indexes it at the plan's constant offsets). Matrix products are not kernels here:
/// they become cuBLAS calls in the launch list, and each Dense's bias and activation run in a small
/// epilogue kernel after it — or, where cuBLASLt offers the same epilogue (a bias, GELU-tanh), in the
/// product itself, the kernel then marked to run only on the plain cuBLAS path. Each layer's backward kernels follow its forward kernels in the text.
/// Every kernel has the same signature, so one launcher serves them all. The source carries its own
/// prelude: under NVRTC it uses CUDA's names, under clang-14 without the CUDA SDK it spells them with
/// attributes and NVVM builtins, and under <c>DSL_EMULATE</c> (a C++ compiler, for the CPU emulation
/// check) an external header supplies them.
/// </summary>
internal static partial class CudaEmitter
{
    private const int ElementBlock = 256;
    private const int RowBlock = 128;
    private const int ReduceBlock = 256;

    public static CudaModule Emit(ModelPlan plan)
    {
        var e = new Emission(plan);
        return e.Run();
    }

    private sealed class ByReference : IEqualityComparer<PlanStep>
    {
        public static readonly ByReference Instance = new();

        public bool Equals(PlanStep? x, PlanStep? y) => ReferenceEquals(x, y);

        public int GetHashCode(PlanStep obj) => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
    }

    private sealed partial class Emission
    {
        private readonly ModelPlan _plan;
        // Keyed by identity: two steps of a plan may be equal as records.
        private readonly Dictionary<PlanStep, CodeWriter> _text = new(ByReference.Instance);
        private readonly Dictionary<PlanStep, List<CudaLaunchSpec>> _launches = new(ByReference.Instance);
        private readonly List<string> _unsupported = new();
        private readonly HashSet<string> _cooperative = new() { "loss_softmax_cross_entropy", "loss_mean_squared_error", "optimizer_gradient_norm" };
        private readonly int _normOffset;
        private readonly int _lossOffset;
        private readonly int _arenaLength;
        private readonly int _talkingOffset;
        // Where the loss kernel being printed leaves its per-row losses, its kernel-name prefix and the first label and
        // target it reads (a multi-task loss prints one loss per task, each with its own slots and targets).
        private int _slot;
        private string _kernelPrefix = "";
        private int _labelBase;
        private int _targetBase;
        private readonly int _factorOffset = -1;

        public Emission(ModelPlan plan)
        {
            _plan = plan;
            // The scratch tail after the CPU arena: ‖g‖ at +0, the per-row losses from +16.
            _normOffset = plan.ArenaLength;
            _lossOffset = plan.ArenaLength + 16;
            int tasks = plan.Model.MultiTask?.Tasks.Count ?? 0;
            _slot = _lossOffset;
            _arenaLength = Align(_lossOffset + (plan.Rows * System.Math.Max(1, tasks)), 16);
            if (tasks > 0)
            {
                // A multi-task loss: each task's per-row losses (plan.Rows apart), then the factors ∂L/∂L_i the host writes.
                _factorOffset = _arenaLength;
                _arenaLength = Align(_arenaLength + tasks, 16);
            }

            // Talking heads' backward scratch (P′ and λ·∂Ĵ per query and key, the mix-gradient partials per query).
            _talkingOffset = _arenaLength;
            int talking = plan.Forward.Where(s => s.Kind == StepKind.AttentionForward && s.Attention is { Options.TalkingHeads: true })
                .Select(s => TalkingScratch(s.Attention!.Options, plan.Rows, plan.Model.Sequence)).DefaultIfEmpty(0).Max();
            _arenaLength = Align(_arenaLength + talking, 16);
        }

        private static int Align(int value, int to) => (value + to - 1) / to * to;

        public CudaModule Run()
        {
            // Plan-level extras the CUDA path does not carry yet: refused by name rather than run without them.
            var extras = _unsupported.ToList();
            static bool IsLoss(PlanStep s) => s.Kind is StepKind.SoftmaxCrossEntropy or StepKind.MeanSquaredError or StepKind.Loss;
            var forward = _plan.Forward.Where(s => !IsLoss(s)).ToList();
            var lossStep = _plan.Forward.FirstOrDefault(IsLoss);
            for (int i = 0; i < forward.Count; i++) Step(forward[i], $"f{Int(i)}", forward: true);
            for (int i = 0; i < _plan.Backward.Count; i++) Step(_plan.Backward[i], $"b{Int(i)}", forward: false);
            var loss = new CodeWriter();
            var lossLaunches = new List<CudaLaunchSpec>();
            int lossDivisor = 1;
            CudaMultiTaskSpec? multiTask = null;
            if (_plan.Model.MultiTask is { } multi) multiTask = MultiTaskLoss(loss, lossLaunches, multi);
            else if (lossStep is not null)
            {
                if (_plan.Model.Loss is { IsPlain: false } spec) lossDivisor = ExtendedLoss(loss, lossLaunches, lossStep, spec);
                else if (lossStep.Kind == StepKind.SoftmaxCrossEntropy) SoftmaxCrossEntropy(loss, lossLaunches, lossStep);
                else
                {
                    MeanSquaredError(loss, lossLaunches, lossStep);
                    lossDivisor = lossStep.In;
                }
            }

            // After a MeanPool a pass has one row per example: the forward launches after the pool, the loss and
            // the backward launches before the pool's backward run with rows = batch.
            bool pooled = _plan.Model.Pooled;
            if (pooled)
            {
                int poolForward = forward.FindIndex(s => s.Kind == StepKind.MeanPoolForward);
                int poolBackward = _plan.Backward.ToList().FindIndex(s => s.Kind == StepKind.MeanPoolBackward);
                for (int i = poolForward + 1; i < forward.Count; i++) PerExample(_launches[forward[i]]);
                for (int i = 0; i < poolBackward; i++) PerExample(_launches[_plan.Backward[i]]);
                PerExample(lossLaunches);
                if (multiTask is not null) PerExample(multiTask.Scales);
            }

            // Spectral normalisation: before the forward schedule (power iteration, σ, W̄) and after the backward one (the σ term).
            var spectral = new CodeWriter();
            var spectralForward = new List<CudaLaunchSpec>();
            var spectralBackward = new List<CudaLaunchSpec>();
            SpectralNorm(spectral, spectralForward, spectralBackward);
            var adversarial = new CodeWriter();
            var perturb = new List<CudaLaunchSpec>();
            var restore = new List<CudaLaunchSpec>();
            Adversarial(adversarial, perturb, restore);

            var optimizer = new CodeWriter();
            var norm = new List<CudaLaunchSpec>();
            var sgd = new List<CudaLaunchSpec>();
            var adamW = new List<CudaLaunchSpec>();
            var lion = new List<CudaLaunchSpec>();
            Optimizers(optimizer, norm, sgd, adamW);
            Lion(optimizer, lion);

            var w = new CodeWriter();
            Header(w);
            foreach (var extra in extras) w.Line($"/* {extra}: not emitted for CUDA yet; this model cannot run on a GPU. */");
            if (extras.Count > 0) w.Line();
            if (spectralForward.Count > 0) Append(w, spectral);
            // Forward and backward side by side: each forward step, then the backward steps of the same node.
            var byNode = _plan.Backward.GroupBy(s => s.Node).ToDictionary(g => g.Key, g => g.ToList());
            var printed = new HashSet<PlanStep>(ByReference.Instance);
            foreach (var s in forward)
            {
                Append(w, _text[s]);
                if (!byNode.TryGetValue(s.Node, out var partners)) continue;
                foreach (var b in partners.Where(printed.Add)) Append(w, _text[b]);
            }

            foreach (var b in _plan.Backward.Where(printed.Add)) Append(w, _text[b]);
            w.Line("/* ---- loss: value and gradient in one pass ---- */");
            w.Line();
            Append(w, loss);
            w.Line("/* ---- optimizer updates ---- */");
            w.Line();
            Append(w, optimizer);
            if (perturb.Count > 0) Append(w, adversarial);
            Exports(w, forward, multiTask is null ? lossLaunches : lossLaunches.Concat(multiTask.Scales).ToList(), norm, sgd, adamW.Concat(lion).Concat(spectralForward).Concat(spectralBackward).Concat(perturb).Concat(restore).ToList());

            return new CudaModule(w.ToString(), _arenaLength, _normOffset, _lossOffset, lossDivisor,
                spectralForward.Concat(forward.SelectMany(s => _launches[s])).ToList(), lossLaunches,
                _plan.Backward.SelectMany(s => _launches[s]).Concat(spectralBackward).ToList(),
                norm, sgd, adamW, _unsupported, pooled, lion, perturb, restore, multiTask);
        }

        private static void PerExample(List<CudaLaunchSpec> launches)
        {
            for (int i = 0; i < launches.Count; i++) launches[i] = launches[i] with { PerExample = true };
        }

        private static void Append(CodeWriter w, CodeWriter part) => w.Lines(part.ToString().TrimEnd('\n')).Line();

        private void Header(CodeWriter w)
        {
            w.Line("// <auto-generated/> CUDA C generated by the Dsl source generator from the model's plan.");
            ModelEmitter.Description(w, _plan);
            w.Line($"//     [{Int(_normOffset),9}] CUDA scratch: gradient norm (1), per-row losses from {Int(_lossOffset)} ({Int(_plan.Rows)})");
            w.Line($"//   Device arena: {Int(_arenaLength)} floats, one allocation.");
            w.Line("// Every kernel: (arena, token ids, labels, targets, args) at the offsets above; matrix products are");
            w.Line("// cuBLAS (or cuBLASLt, with a fused bias/GELU) calls listed in the C# launch list, not kernels.");
            w.Lines(Prelude);
        }

        private const string Prelude = """
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

            /* Activations and their derivatives f'(x, y), y = f(x): the formulas of Dsl.Kernels' activations. */
            static __device__ inline float dsl_sigmoid(float x) { float e = DSL_EXPF(-(x < 0.0f ? -x : x)); float r = 1.0f / (1.0f + e); return x >= 0.0f ? r : e * r; }
            static __device__ inline float dsl_relu(float x) { return x > 0.0f ? x : 0.0f; }
            static __device__ inline float dsl_relu_d(float x, float y) { (void)x; return y > 0.0f ? 1.0f : 0.0f; }
            static __device__ inline float dsl_gelu(float x) { return x * dsl_sigmoid(1.59576912160573071f * x * (0.044715f * x * x + 1.0f)); }
            static __device__ inline float dsl_gelu_d(float x, float y)
            {
                (void)y;
                float x2 = x * x;
                float s = dsl_sigmoid(1.59576912160573071f * x * (0.044715f * x2 + 1.0f));
                float du = 1.59576912160573071f * (0.134145f * x2 + 1.0f);
                return s + x * s * (1.0f - s) * du;
            }
            static __device__ inline float dsl_gelu_erf(float x) { return x * (0.5f + 0.5f * DSL_ERFF(x * 0.707106781186547524f)); }
            static __device__ inline float dsl_gelu_erf_d(float x, float y)
            {
                (void)y;
                return (0.5f + 0.5f * DSL_ERFF(x * 0.707106781186547524f)) + x * 0.398942280401432678f * DSL_EXPF(-0.5f * x * x);
            }
            static __device__ inline float dsl_silu(float x) { return x * dsl_sigmoid(x); }
            static __device__ inline float dsl_silu_d(float x, float y) { (void)y; float s = dsl_sigmoid(x); return s * (1.0f + x * (1.0f - s)); }
            static __device__ inline float dsl_softplus(float x) { return (x > 0.0f ? x : 0.0f) + DSL_LOG1PF(DSL_EXPF(-(x < 0.0f ? -x : x))); }
            static __device__ inline float dsl_softplus_d(float x, float y) { (void)y; return dsl_sigmoid(x); }
            static __device__ inline float dsl_squareplus(float x, float b) { float s = DSL_SQRTF(x * x + b); return x < 0.0f ? b / ((s - x) + (s - x)) : (x + s) * 0.5f; }
            static __device__ inline float dsl_squareplus_d(float x, float y, float b) { float s = DSL_SQRTF(x * x + b); return s == 0.0f ? 0.0f : y / s; }
            static __device__ inline float dsl_tanh(float x) { return DSL_TANHF(x); }
            static __device__ inline float dsl_tanh_d(float x, float y) { (void)x; return 1.0f - y * y; }
            static __device__ inline float dsl_sigmoid_d(float x, float y) { (void)x; return y * (1.0f - y); }

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

            """;

        // ---------- steps ----------

        private void Step(PlanStep s, string prefix, bool forward)
        {
            var w = new CodeWriter();
            var launches = new List<CudaLaunchSpec>();
            _text[s] = w;
            _launches[s] = launches;
            switch (s.Kind)
            {
                case StepKind.DenseForward: DenseForward(w, launches, s, prefix); break;
                case StepKind.DenseBackward: DenseBackward(w, launches, s, prefix); break;
                case StepKind.ActivationForward:
                    Elementwise(w, launches, $"{prefix}_activation", $"{Name(s)}: y = {ActivationName(s.Activation)}(x)", s.Out, false,
                        $"arena[{Int(s.Y)} + i] = {Forward(s.Activation, $"arena[{Int(s.X)} + i]", s.Scalar)};");
                    break;
                case StepKind.ActivationBackward:
                    Elementwise(w, launches, $"{prefix}_activation_backward", $"{Name(s)} backward: ∂x {Op(s.AccumulateDX)} ∂y ⊙ {ActivationName(s.Activation)}′(x)", s.Out, false,
                        $"const float g = arena[{Int(s.DY)} + i] * {Derivative(s.Activation, s.X >= 0 ? $"arena[{Int(s.X)} + i]" : "0.0f", $"arena[{Int(s.Y)} + i]", s.Scalar)};",
                        Store(s.DX, "g", s.AccumulateDX));
                    break;
                case StepKind.DropoutForward: DropoutForward(w, launches, s, prefix); break;
                case StepKind.DropoutBackward: DropoutBackward(w, launches, s, prefix); break;
                case StepKind.AddForward:
                    Elementwise(w, launches, $"{prefix}_add", "residual: y = x₁ + x₂", s.Out, false,
                        $"arena[{Int(s.Y)} + i] = arena[{Int(s.X)} + i] + arena[{Int(s.X2)} + i];");
                    break;
                case StepKind.AddBackward:
                {
                    var body = new List<string> { $"const float g = arena[{Int(s.DY)} + i];" };
                    if (s.DX >= 0) body.Add(Store(s.DX, "g", s.AccumulateDX));
                    if (s.DX2 >= 0) body.Add(Store(s.DX2, "g", s.AccumulateDX2));
                    Elementwise(w, launches, $"{prefix}_add_backward", $"residual backward: ∂x₁ {Op(s.AccumulateDX)} ∂y, ∂x₂ {Op(s.AccumulateDX2)} ∂y", s.Out, false, body.ToArray());
                    break;
                }
                case StepKind.ScaleForward:
                    Elementwise(w, launches, $"{prefix}_scale", $"y = {Literals.Double(s.Scalar)}·x", s.Out, false,
                        $"arena[{Int(s.Y)} + i] = {Float(s.Scalar)} * arena[{Int(s.X)} + i];");
                    break;
                case StepKind.ScaleBackward:
                    Elementwise(w, launches, $"{prefix}_scale_backward", $"scale backward: ∂x {Op(s.AccumulateDX)} {Literals.Double(s.Scalar)}·∂y", s.Out, false,
                        $"const float g = {Float(s.Scalar)} * arena[{Int(s.DY)} + i];", Store(s.DX, "g", s.AccumulateDX));
                    break;
                case StepKind.EmbeddingForward: EmbeddingForward(w, launches, s, prefix); break;
                case StepKind.EmbeddingBackward: EmbeddingBackward(w, launches, s, prefix); break;
                case StepKind.PositionForward: PositionForward(w, launches, s, prefix); break;
                case StepKind.PositionBackward: PositionBackward(w, launches, s, prefix); break;
                case StepKind.LayerNormForward: NormForward(w, launches, s, prefix, layerNorm: true); break;
                case StepKind.RmsNormForward: NormForward(w, launches, s, prefix, layerNorm: false); break;
                case StepKind.LayerNormBackward: NormBackward(w, launches, s, prefix, layerNorm: true); break;
                case StepKind.RmsNormBackward: NormBackward(w, launches, s, prefix, layerNorm: false); break;
                case StepKind.MeanPoolForward: MeanPoolForward(w, launches, s, prefix); break;
                case StepKind.MeanPoolBackward: MeanPoolBackward(w, launches, s, prefix); break;
                case StepKind.AttentionForward when s.Attention is { Options: { TalkingHeads: false } or { TalkingHeads: true, Linear: false } }: AttentionForward(w, launches, s, prefix); break;
                case StepKind.AttentionBackward when s.Attention is { Options: { TalkingHeads: false } or { TalkingHeads: true, Linear: false } }: AttentionBackward(w, launches, s, prefix); break;
                default:
                    string what = $"{s.Kind} ({Name(s)})";
                    _unsupported.Add(what);
                    w.Line($"/* {what}: not emitted for CUDA yet; this model cannot run on a GPU. */");
                    break;
            }

            _ = forward;
        }

        /// <summary>The label of row <paramref name="row"/> for the loss being printed.</summary>
        private string Label(string row) => _labelBase == 0 ? $"labels[{row}]" : $"labels[{Int(_labelBase)} + {row}]";

        /// <summary>The target value <paramref name="index"/> for the loss being printed.</summary>
        private string Target(string index) => _targetBase == 0 ? $"targets[{index}]" : $"targets[{Int(_targetBase)} + {index}]";

        private static string Op(bool accumulate) => accumulate ? "+=" : "=";

        private static string Store(int offset, string value, bool accumulate) => accumulate
            ? $"arena[{Int(offset)} + i] += {value};"
            : $"arena[{Int(offset)} + i] = {value};";

        private static string Name(PlanStep s) => s.Layer.Length > 0 ? s.Layer : $"node {Int(s.Node)}";

        /// <summary>A grid-stride kernel over rows × <paramref name="width"/> elements (or <paramref name="width"/>
        /// when <paramref name="fixedCount"/>); the body sees i (flat index) and c (column).</summary>
        private static void Elementwise(CodeWriter w, List<CudaLaunchSpec> launches, string name, string comment, int width, bool fixedCount, params string[] body)
        {
            w.Line($"/* {comment} */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                w.Line(fixedCount ? $"const int n = {Int(width)};" : $"const int n = args.rows * {Int(width)};");
                using (w.Block("DSL_FOR_ELEMENTS(i, n)"))
                {
                    if (body.Any(b => b.Contains("+ c]"))) w.Line($"const int c = i % {Int(width)};");
                    foreach (var line in body) w.Line(line);
                }
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(name, comment, fixedCount ? "Elements" : "RowElements", width, ElementBlock));
        }

        private static void DenseForward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            string act = s.Activation == ActivationKind.None ? "" : ActivationName(s.Activation);
            string formula = $"y[rows, {Int(s.Out)}] = {(act.Length > 0 ? act + "(" : "")}x[rows, {Int(s.In)}]·W[{Int(s.Out)}, {Int(s.In)}]ᵀ{(s.B >= 0 ? " + b" : "")}{(act.Length > 0 ? ")" : "")}";
            string? fused = FusedEpilogue(s);
            w.Line($"/* ==== {s.Layer}: Dense {Int(s.In)} → {Int(s.Out)}: {formula} ==== */");
            w.Line($"/* cuBLAS: y = x·Wᵀ (x at {Int(s.X)}, W at {Int(s.W)}, y at {Int(s.Y)}) */");
            var gemm = new CudaGemmSpec(false, true, s.X, s.In, s.W, s.In, s.Y, s.Out, 0, s.Out, s.In, RowsAreM: true, Accumulate: false);
            if (fused is not null)
            {
                bool keepsZ = fused != "Bias" && s.Z >= 0;
                gemm = gemm with { Epilogue = fused, Bias = fused is "Bias" or "GeluBias" ? s.B : -1, Aux = keepsZ ? s.Z : -1 };
                w.Line($"/* cuBLASLt fuses the epilogue into the product ({LtEpilogueName(fused, keepsZ)}{(keepsZ ? $", z kept at {Int(s.Z)}" : "")});");
                w.Line("   the kernel below runs only on the plain cublasSgemm path (cuBLASLt missing, or no algorithm for the shape). */");
            }

            launches.Add(new CudaLaunchSpec($"{prefix}_gemm", $"{s.Layer}: y = x·Wᵀ{(fused is null ? "" : $" with the {fused} epilogue on cuBLASLt")}", "Single", 0, 0, gemm));
            if (s.B < 0 && s.Activation == ActivationKind.None) return;
            var body = new List<string> { s.B >= 0 ? $"const float z = arena[{Int(s.Y)} + i] + arena[{Int(s.B)} + c];" : $"const float z = arena[{Int(s.Y)} + i];" };
            if (s.Z >= 0) body.Add($"arena[{Int(s.Z)} + i] = z;");
            body.Add($"arena[{Int(s.Y)} + i] = {Forward(s.Activation, "z", s.Scalar)};");
            string comment = $"{s.Layer} epilogue: {(s.B >= 0 ? "z = y + b" : "z = y")}{(s.Z >= 0 ? $" (kept at {Int(s.Z)})" : "")}, y = {(act.Length > 0 ? act + "(z)" : "z")}";
            Elementwise(w, launches, $"{prefix}_dense_epilogue", comment, s.Out, false, body.ToArray());
            if (fused is not null) launches[launches.Count - 1] = launches[launches.Count - 1] with { UnlessFused = true };
        }

        /// <summary>
        /// The cuBLASLt epilogue a Dense forward's bias and activation can become, or null. cuBLASLt offers a bias
        /// (added per output column) and GELU in its tanh form, which is our GeluTanh (x·σ(2√(2/π)(x + 0.044715x³)),
        /// the same function as ½x(1 + tanh(√(2/π)(x + 0.044715x³)))); the exact (erf) GELU and the other activations
        /// stay in our kernel. When the backward needs z, cuBLASLt's GELU_AUX writes it with a leading dimension
        /// that must be a multiple of 8, and z's is the layer's width, so a width that is not is not fused.
        /// </summary>
        private static string? FusedEpilogue(PlanStep s)
        {
            if (s.Activation == ActivationKind.None) return s.B >= 0 && s.Z < 0 ? "Bias" : null;
            if (s.Activation != ActivationKind.GeluTanh) return null;
            if (s.Z >= 0 && s.Out % 8 != 0) return null;
            return s.B >= 0 ? "GeluBias" : "Gelu";
        }

        private static string LtEpilogueName(string fused, bool aux) => fused switch
        {
            "Bias" => "CUBLASLT_EPILOGUE_BIAS",
            "Gelu" => aux ? "CUBLASLT_EPILOGUE_GELU_AUX" : "CUBLASLT_EPILOGUE_GELU",
            _ => aux ? "CUBLASLT_EPILOGUE_GELU_AUX_BIAS" : "CUBLASLT_EPILOGUE_GELU_BIAS",
        };

        private static void DenseBackward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            w.Line($"/* ---- {s.Layer} backward: ∂W {Op(s.AccumulateParams)} ∂zᵀ·x{(s.GB >= 0 ? $", ∂b {Op(s.AccumulateParams)} Σ ∂z" : "")}{(s.DX >= 0 ? $", ∂x {Op(s.AccumulateDX)} ∂z·W" : "")} ---- */");
            if (s.Activation != ActivationKind.None)
            {
                string x = s.Z >= 0 ? $"arena[{Int(s.Z)} + i]" : "0.0f";
                Elementwise(w, launches, $"{prefix}_dense_activation_backward", $"{s.Layer}: ∂z = ∂y ⊙ {ActivationName(s.Activation)}′(z), in place", s.Out, false,
                    $"arena[{Int(s.DY)} + i] *= {Derivative(s.Activation, x, $"arena[{Int(s.Y)} + i]", s.Scalar)};");
            }

            launches.Add(new CudaLaunchSpec($"{prefix}_gemm_weight", $"{s.Layer}: ∂W {Op(s.AccumulateParams)} ∂zᵀ·x", "Single", 0, 0,
                new CudaGemmSpec(true, false, s.DY, s.Out, s.X, s.In, s.GW, s.In, s.Out, s.In, 0, RowsAreM: false, Accumulate: s.AccumulateParams)));
            if (s.GB >= 0) ColumnSums(w, launches, $"{prefix}_bias_gradient", $"{s.Layer}: ∂b {Op(s.AccumulateParams)} Σ_rows ∂z", s.DY, s.Out, s.GB, s.AccumulateParams);

            if (s.DX >= 0)
            {
                launches.Add(new CudaLaunchSpec($"{prefix}_gemm_input", $"{s.Layer}: ∂x {Op(s.AccumulateDX)} ∂z·W", "Single", 0, 0,
                    new CudaGemmSpec(false, false, s.DY, s.Out, s.W, s.In, s.DX, s.In, 0, s.In, s.Out, RowsAreM: true, Accumulate: s.AccumulateDX)));
            }
        }

        /// <summary>dst[c] (+)= Σ_rows src[r, c], one thread per column (deterministic: no atomics).</summary>
        private static void ColumnSums(CodeWriter w, List<CudaLaunchSpec> launches, string name, string comment, int source, int width, int destination, bool accumulate)
        {
            w.Line($"/* {comment}, one thread per column */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                using (w.Block($"DSL_FOR_ELEMENTS(c, {Int(width)})"))
                {
                    w.Line("float sum = 0.0f;");
                    w.Line($"for (int r = 0; r < args.rows; r++) sum += arena[{Int(source)} + r * {Int(width)} + c];");
                    w.Line(accumulate ? $"arena[{Int(destination)} + c] += sum;" : $"arena[{Int(destination)} + c] = sum;");
                }
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(name, comment, "Elements", width, ElementBlock));
        }

        private static ulong Threshold(double rate)
        {
            // ⌈rate·2⁵³⌉: element i is kept iff (hash >> 11) ≥ threshold (Dsl.Kernels.Dropout's decision, in integers).
            return (ulong)System.Math.Ceiling(rate * (1UL << 53));
        }

        private static void DropoutForward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            string comment = $"{s.Layer}: dropout p = {Literals.Double(s.Scalar)} in training (mask from seed and step), a copy otherwise";
            if (s.Scalar == 0)
            {
                Elementwise(w, launches, $"{prefix}_dropout", comment, s.Out, false, $"arena[{Int(s.Y)} + i] = arena[{Int(s.X)} + i];");
                return;
            }

            Elementwise(w, launches, $"{prefix}_dropout", comment, s.Out, false,
                $"const float x = arena[{Int(s.X)} + i];",
                $"const unsigned long long key = dsl_stream_key(args.seed, (args.dropoutStep << 12) | {Int(s.Stream)}ULL);",
                $"arena[{Int(s.Y)} + i] = !args.training ? x : dsl_keep(key, i, {ULong(Threshold(s.Scalar))}) ? x * {Float(1.0 / (1.0 - s.Scalar))} : 0.0f;");
        }

        private static void DropoutBackward(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s, string prefix)
        {
            string comment = $"{s.Layer} backward: ∂x {Op(s.AccumulateDX)} mask ⊙ ∂y/(1 − p), the forward's mask";
            if (s.Scalar == 0)
            {
                Elementwise(w, launches, $"{prefix}_dropout_backward", comment, s.Out, false, $"const float g = arena[{Int(s.DY)} + i];", Store(s.DX, "g", s.AccumulateDX));
                return;
            }

            Elementwise(w, launches, $"{prefix}_dropout_backward", comment, s.Out, false,
                $"const unsigned long long key = dsl_stream_key(args.seed, (args.dropoutStep << 12) | {Int(s.Stream)}ULL);",
                $"const float g = dsl_keep(key, i, {ULong(Threshold(s.Scalar))}) ? arena[{Int(s.DY)} + i] * {Float(1.0 / (1.0 - s.Scalar))} : 0.0f;",
                Store(s.DX, "g", s.AccumulateDX));
        }

        // ---------- losses ----------

        /// <summary>A shared-memory tree reduction of <paramref name="variable"/> over the block (block size a power of two).</summary>
        private static void BlockReduce(CodeWriter w, string buffer, string variable, string combine)
        {
            w.Line($"{buffer}[DSL_TID] = {variable};");
            w.Line("__syncthreads();");
            using (w.Block("for (int stride = DSL_BDIM / 2; stride > 0; stride >>= 1)"))
            {
                w.Line($"if (DSL_TID < stride) {buffer}[DSL_TID] = {string.Format(System.Globalization.CultureInfo.InvariantCulture, combine, $"{buffer}[DSL_TID]", $"{buffer}[DSL_TID + stride]")};");
                w.Line("__syncthreads();");
            }

            w.Line($"{variable} = {buffer}[0];");
            w.Line("__syncthreads();");
        }

        private void SoftmaxCrossEntropy(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s)
        {
            int classes = s.In;
            string name = _kernelPrefix + "loss_softmax_cross_entropy";
            _cooperative.Add(name);
            w.Line($"/* loss = mean over rows of −log softmax(z)[label], fused with ∂z = (softmax(z) − onehot)/rows.");
            w.Line($"   One block per row; z at {Int(s.X)}, ∂z at {Int(s.DX)} (may be the same memory: z[label] is read before any write),");
            w.Line($"   the row's loss at {Int(_slot)} + row. */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                w.Line($"__shared__ float reduce[{Int(RowBlock)}];");
                w.Line("const int r = DSL_BID;");
                w.Line("if (r >= args.rows) return;");
                w.Line($"const float* z = arena + {Int(s.X)} + r * {Int(classes)};");
                w.Line($"float* d = arena + {Int(s.DX)} + r * {Int(classes)};");
                w.Line($"const int label = {Label("r")};");
                w.Line($"const float zLabel = label >= 0 && label < {Int(classes)} ? z[label] : DSL_NAN;");
                w.Line("float m = -DSL_INF;");
                w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) m = z[j] > m ? z[j] : m;");
                BlockReduce(w, "reduce", "m", "{0} > {1} ? {0} : {1}");
                w.Line("float sum = 0.0f;");
                w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) sum += DSL_EXPF(z[j] - m);");
                BlockReduce(w, "reduce", "sum", "{0} + {1}");
                w.Line("const float scale = 1.0f / (float)args.rows;");
                w.Line($"for (int j = DSL_TID; j < {Int(classes)}; j += DSL_BDIM) d[j] = DSL_EXPF(z[j] - m) / sum * scale - (j == label ? scale : 0.0f);");
                w.Line($"if (DSL_TID == 0) arena[{Int(_slot)} + r] = DSL_LOGF(sum) + m - zLabel;");
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(name, "softmax cross-entropy, value and gradient", "Rows", classes, RowBlock));
        }

        private void MeanSquaredError(CodeWriter w, List<CudaLaunchSpec> launches, PlanStep s)
        {
            int width = s.In;
            string name = _kernelPrefix + "loss_mean_squared_error";
            _cooperative.Add(name);
            w.Line($"/* loss = mean (p − t)² over rows × {Int(width)}, fused with ∂p = 2(p − t)/n. One block per row;");
            w.Line($"   p at {Int(s.X)}, ∂p at {Int(s.DX)}, targets in the targets buffer, Σ_row (p − t)² at {Int(_slot)} + row. */");
            using (w.Block($"DSL_KERNEL({name})"))
            {
                w.Line($"__shared__ float reduce[{Int(RowBlock)}];");
                w.Line("const int r = DSL_BID;");
                w.Line("if (r >= args.rows) return;");
                w.Line($"const float coefficient = 2.0f / (float)(args.rows * {Int(width)});");
                w.Line("float sum = 0.0f;");
                using (w.Block($"for (int j = DSL_TID; j < {Int(width)}; j += DSL_BDIM)"))
                {
                    w.Line($"const int i = r * {Int(width)} + j;");
                    w.Line($"const float diff = arena[{Int(s.X)} + i] - {Target("i")};");
                    w.Line("sum += diff * diff;");
                    w.Line($"arena[{Int(s.DX)} + i] = coefficient * diff;");
                }

                BlockReduce(w, "reduce", "sum", "{0} + {1}");
                w.Line($"if (DSL_TID == 0) arena[{Int(_slot)} + r] = sum;");
            }

            w.Line();
            launches.Add(new CudaLaunchSpec(name, "mean squared error, value and gradient", "Rows", width, RowBlock));
        }

        // ---------- optimizers ----------

        private void Optimizers(CodeWriter w, List<CudaLaunchSpec> norm, List<CudaLaunchSpec> sgd, List<CudaLaunchSpec> adamW)
        {
            int region = _plan.ParameterRegion, g = _plan.GradientOffset, state = _plan.StateOffset;
            var matrices = _plan.Parameters.Where(p => p.IsMatrix).ToList();
            w.Line("/* Weight decay applies to matrices (or to every tensor with decayAll). */");
            using (w.Block("static __device__ inline int dsl_decays(int i, const DslArgs* args)"))
            {
                string ranges = matrices.Count == 0 ? "0" : string.Join(" || ", matrices.Select(p => $"(i >= {Int(p.Offset)} && i < {Int(p.Offset + (p.Rows * p.Columns))})"));
                w.Line($"return args->decayAll || {ranges};");
            }

            w.Line();
            w.Line("/* Only the tensors: the alignment padding between them is never touched, as on the CPU. */");
            using (w.Block("static __device__ inline int dsl_in_tensor(int i)"))
            {
                string ranges = _plan.Parameters.Count == 0 ? "0" : string.Join(" || ", _plan.Parameters.Select(p => $"(i >= {Int(p.Offset)} && i < {Int(p.Offset + (p.Rows * p.Columns))})"));
                w.Line($"return {ranges};");
            }

            w.Line();
            w.Line($"/* ‖g‖₂ over the gradient region ({Int(region)} values at {Int(g)}), summed in double; left at {Int(_normOffset)}. */");
            using (w.Block("DSL_KERNEL(optimizer_gradient_norm)"))
            {
                w.Line($"__shared__ double reduce[{Int(ReduceBlock)}];");
                w.Line("double sum = 0.0;");
                w.Line($"for (int i = DSL_TID; i < {Int(region)}; i += DSL_BDIM) {{ const double v = arena[{Int(g)} + i]; sum += v * v; }}");
                BlockReduce(w, "reduce", "sum", "{0} + {1}");
                w.Line($"if (DSL_TID == 0) arena[{Int(_normOffset)}] = (float)DSL_SQRT(sum);");
            }

            w.Line();
            norm.Add(new CudaLaunchSpec("optimizer_gradient_norm", "global gradient norm", "Single", region, ReduceBlock));
            w.Line("/* Clipping: scale = maxNorm/(‖g‖ + 1e-6) when that is below 1 and the norm is finite. */");
            using (w.Block("static __device__ inline float dsl_gradient_scale(const float* arena, const DslArgs* args)"))
            {
                w.Line($"const float norm = arena[{Int(_normOffset)}];");
                w.Line("if (!(args->maxGradientNorm > 0.0f) || !(norm - norm == 0.0f)) return 1.0f;");
                w.Line("const float factor = args->maxGradientNorm / (norm + 1e-6f);");
                w.Line("return factor < 1.0f ? factor : 1.0f;");
            }

            w.Line();
            Elementwise(w, sgd, "optimizer_sgd", $"SGD with momentum: v = μv + s·g, θ = θ·decay − lr·v (velocity at {Int(state)})", region, true,
                "if (!dsl_in_tensor(i)) continue;",
                "const float scale = dsl_gradient_scale(arena, &args);",
                $"const float v = args.beta1 * arena[{Int(state)} + i] + arena[{Int(g)} + i] * scale;",
                $"arena[{Int(state)} + i] = v;",
                "float p = arena[i];",
                "if (dsl_decays(i, &args)) p *= args.decay;",
                "arena[i] = p - args.learningRate * v;");
            Elementwise(w, adamW, "optimizer_adamw", $"AdamW: m, v moments (at {Int(state)} and {Int(state + region)}), θ = θ·decay − lr/(1 − β₁ᵗ) · m/(√v/√(1 − β₂ᵗ) + ε)", region, true,
                "if (!dsl_in_tensor(i)) continue;",
                "const float scale = dsl_gradient_scale(arena, &args);",
                $"const float g = arena[{Int(g)} + i] * scale;",
                $"const float m = args.beta1 * arena[{Int(state)} + i] + args.oneMinusBeta1 * g;",
                $"const float v = args.beta2 * arena[{Int(state + region)} + i] + args.oneMinusBeta2 * (g * g);",
                $"arena[{Int(state)} + i] = m;",
                $"arena[{Int(state + region)} + i] = v;",
                "float p = arena[i];",
                "if (dsl_decays(i, &args)) p *= args.decay;",
                "arena[i] = p - args.stepSize * (m / (DSL_SQRTF(v) / args.sqrtBiasCorrection2 + args.epsilon));");
        }

        /// <summary>Under DSL_EMULATE, one exported launcher per kernel (the header's DSL_EMULATE_EXPORT),
        /// flagged cooperative when the kernel synchronises its block.</summary>
        private void Exports(CodeWriter w, List<PlanStep> forward, List<CudaLaunchSpec> loss, List<CudaLaunchSpec> norm, List<CudaLaunchSpec> sgd, List<CudaLaunchSpec> adamW)
        {
            var all = forward.SelectMany(s => _launches[s]).Concat(_plan.Backward.SelectMany(s => _launches[s])).Concat(loss).Concat(norm).Concat(sgd).Concat(adamW)
                .Where(l => l.Gemm is null).Select(l => l.Name).Distinct().ToList();
            w.Line("#if defined(DSL_EMULATE)");
            foreach (var name in all)
            {
                bool cooperative = _cooperative.Contains(name);
                w.Line($"DSL_EMULATE_EXPORT({name}, {(cooperative ? "1" : "0")})");
            }

            w.Line("#endif");
        }

        // ---------- activations ----------

        private static string Forward(ActivationKind kind, string x, double parameter) => kind switch
        {
            ActivationKind.Relu => $"dsl_relu({x})",
            ActivationKind.GeluTanh => $"dsl_gelu({x})",
            ActivationKind.GeluErf => $"dsl_gelu_erf({x})",
            ActivationKind.Silu => $"dsl_silu({x})",
            ActivationKind.Softplus => $"dsl_softplus({x})",
            ActivationKind.SquarePlus => $"dsl_squareplus({x}, {Float(parameter)})",
            ActivationKind.Tanh => $"dsl_tanh({x})",
            ActivationKind.Sigmoid => $"dsl_sigmoid({x})",
            _ => x,
        };

        private static string Derivative(ActivationKind kind, string x, string y, double parameter) => kind switch
        {
            ActivationKind.Relu => $"dsl_relu_d({x}, {y})",
            ActivationKind.GeluTanh => $"dsl_gelu_d({x}, {y})",
            ActivationKind.GeluErf => $"dsl_gelu_erf_d({x}, {y})",
            ActivationKind.Silu => $"dsl_silu_d({x}, {y})",
            ActivationKind.Softplus => $"dsl_softplus_d({x}, {y})",
            ActivationKind.SquarePlus => $"dsl_squareplus_d({x}, {y}, {Float(parameter)})",
            ActivationKind.Tanh => $"dsl_tanh_d({x}, {y})",
            ActivationKind.Sigmoid => $"dsl_sigmoid_d({x}, {y})",
            _ => "1.0f",
        };

        private static string ActivationName(ActivationKind kind) => kind switch
        {
            ActivationKind.Relu => "relu",
            ActivationKind.GeluTanh => "gelu",
            ActivationKind.GeluErf => "gelu_erf",
            ActivationKind.Silu => "silu",
            ActivationKind.Softplus => "softplus",
            ActivationKind.SquarePlus => "squareplus",
            ActivationKind.Tanh => "tanh",
            ActivationKind.Sigmoid => "sigmoid",
            _ => "id",
        };
    }
}
