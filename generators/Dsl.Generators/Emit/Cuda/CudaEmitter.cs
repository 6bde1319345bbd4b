using System.Collections.Generic;
using System.Linq;
using Dsl.Contracts;
using Dsl.Generators.Model;
using Dsl.Generators.Ops;
using Dsl.Generators.Planning;
using static Dsl.Generators.Emit.CudaLiterals;

namespace Dsl.Generators.Emit.Cuda;

/// <summary>One launch of the CUDA schedule, as the emitter decided it (printed into the C# as a
/// <c>Dsl.Cuda.CudaLaunch</c>).</summary>
/// <c>UnlessFused</c>: a Dense's bias/activation kernel that runs only when cuBLASLt did not fuse it into the product before it.
internal sealed record CudaLaunchSpec(string Name, string Comment, string Grid, int Width, int Block, CudaGemmSpec? Gemm = null, bool PerExample = false, bool UnlessFused = false);

/// <summary>A row-major C (+)= op(A)·op(B) over arena offsets (see <c>Dsl.Cuda.CudaGemm</c>); <paramref name="Epilogue"/>
/// is what cuBLASLt may fuse (the runtime's own enum, shared through Dsl.Contracts), with the bias
/// and the kept GELU input (aux) at <paramref name="Bias"/> and <paramref name="Aux"/> (−1 when absent).</summary>
internal sealed record CudaGemmSpec(bool TransposeA, bool TransposeB, int A, int Lda, int B, int Ldb, int C, int Ldc, int M, int N, int K, bool RowsAreM, bool Accumulate,
    CudaEpilogue Epilogue = CudaEpilogue.None, int Bias = -1, int Aux = -1);

/// <summary>The CUDA form of a plan: the source and its launch lists.</summary>
internal sealed record CudaModule(
    string Source, int ArenaLength, int NormOffset, int LossOffset, int LossDivisor,
    List<CudaLaunchSpec> Forward, List<CudaLaunchSpec> Loss, List<CudaLaunchSpec> Backward,
    List<CudaLaunchSpec> GradientNorm, List<CudaLaunchSpec> Sgd, List<CudaLaunchSpec> AdamW, List<string> Unsupported, bool Pooled, List<CudaLaunchSpec> Lion,
    List<CudaLaunchSpec> AdversarialPerturb, List<CudaLaunchSpec> AdversarialRestore, CudaMultiTaskSpec? MultiTask, bool PairTargets);

/// <summary>A target parameter of a multi-task loss and its first value in the labels or targets staging buffer.</summary>
internal sealed record CudaTaskTargetSpec(string Name, bool IsLabels, int Width, int Offset);

/// <summary>One task: its title, target, per-row loss slots, divisor, fixed weight and gradient-scale launch.</summary>
internal sealed record CudaTaskSpec(string Title, int Target, int LossOffset, int LossDivisor, double Weight, int ScaleIndex);

/// <summary>The multi-task part of a CUDA module (printed as a <c>Dsl.Cuda.CudaMultiTask</c>).</summary>
internal sealed record CudaMultiTaskSpec(string Weighting, List<CudaTaskTargetSpec> Targets, List<CudaTaskSpec> Tasks, List<CudaLaunchSpec> Scales,
    int FactorOffset, int LogVarianceOffset, int LogVarianceGradientOffset);

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
internal static class CudaEmitter
{
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

    private sealed class Emission
    {
        private const int ElementBlock = CudaWriter.ElementBlock;
        private const int ReduceBlock = CudaWriter.ReduceBlock;
        private readonly ModelPlan _plan;
        // Keyed by identity: two steps of a plan may be equal as records.
        private readonly Dictionary<PlanStep, CodeWriter> _text = new(ByReference.Instance);
        private readonly Dictionary<PlanStep, List<CudaLaunchSpec>> _launches = new(ByReference.Instance);
        private readonly List<string> _unsupported = new();
        private readonly HashSet<string> _cooperative = new() { "loss_softmax_cross_entropy", "loss_mean_squared_error", "optimizer_gradient_norm" };
        private readonly int _normOffset;
        private readonly int _lossOffset;
        private readonly int _arenaLength;
        private readonly int _factorOffset = -1;
        private readonly CudaWriter _writer;

        public Emission(ModelPlan plan)
        {
            _plan = plan;
            // The scratch tail after the CPU arena: ‖g‖ at +0, the per-row losses from +16.
            _normOffset = plan.ArenaLength;
            _lossOffset = plan.ArenaLength + 16;
            int tasks = plan.Model.MultiTask?.Tasks.Count ?? 0;
            _arenaLength = Align(_lossOffset + (plan.Rows * System.Math.Max(1, tasks)), 16);
            if (tasks > 0)
            {
                // A multi-task loss: each task's per-row losses (plan.Rows apart), then the factors ∂L/∂L_i the host writes.
                _factorOffset = _arenaLength;
                _arenaLength = Align(_arenaLength + tasks, 16);
            }

            // Talking heads' backward scratch (P′ and λ·∂Ĵ per query and key, the mix-gradient partials per query).
            int talkingOffset = _arenaLength;
            int talking = plan.Forward.OfType<AttentionOp.ForwardStep>().Where(s => s.Attention.Options.TalkingHeads)
                .Select(s => AttentionOp.TalkingScratch(s.Attention.Options, plan.Rows, plan.Model.Sequence)).DefaultIfEmpty(0).Max();
            _arenaLength = Align(_arenaLength + talking, 16);
            _writer = new CudaWriter(plan, _lossOffset, talkingOffset, _cooperative, _unsupported);
        }

        private static int Align(int value, int to) => (value + to - 1) / to * to;

        public CudaModule Run()
        {
            // Plan-level extras the CUDA path does not carry yet: refused by name rather than run without them.
            var extras = _unsupported.ToList();
            var forward = _plan.Forward.Where(s => s is not LossStep).ToList();
            var lossStep = (LossStep?)_plan.Forward.FirstOrDefault(s => s is LossStep);
            for (int i = 0; i < forward.Count; i++) Step(forward[i], $"f{Int(i)}");
            for (int i = 0; i < _plan.Backward.Count; i++) Step(_plan.Backward[i], $"b{Int(i)}");
            var loss = new CodeWriter();
            var lossLaunches = new List<CudaLaunchSpec>();
            int lossDivisor = 1;
            CudaMultiTaskSpec? multiTask = null;
            _writer.Begin("", loss, lossLaunches);
            if (_plan.Model.MultiTask is { } multi) multiTask = MultiTask.CudaLoss(_writer, multi, _factorOffset);
            else if (lossStep is not null) lossDivisor = MultiTask.CudaTaskLoss(_writer, lossStep, _plan.Model.Loss!);

            // After a MeanPool a pass has one row per example: the forward launches after the pool, the loss and
            // the backward launches before the pool's backward run with rows = batch.
            bool pooled = _plan.Model.Pooled;
            if (pooled)
            {
                int poolForward = forward.FindIndex(s => s is MeanPool.ForwardStep);
                int poolBackward = _plan.Backward.ToList().FindIndex(s => s is MeanPool.BackwardStep);
                for (int i = poolForward + 1; i < forward.Count; i++) PerExample(_launches[forward[i]]);
                for (int i = 0; i < poolBackward; i++) PerExample(_launches[_plan.Backward[i]]);
                PerExample(lossLaunches);
                if (multiTask is not null) PerExample(multiTask.Scales);
            }

            // Spectral normalisation: before the forward schedule (power iteration, σ, W̄) and after the backward one (the σ term).
            var spectral = new CodeWriter();
            var spectralForward = new List<CudaLaunchSpec>();
            var spectralBackward = new List<CudaLaunchSpec>();
            SpectralNorm.Cuda(_writer, spectral, spectralForward, spectralBackward);
            var adversarial = new CodeWriter();
            var perturb = new List<CudaLaunchSpec>();
            var restore = new List<CudaLaunchSpec>();
            Adversarial.Cuda(_writer, adversarial, perturb, restore);

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
                norm, sgd, adamW, _unsupported, pooled, lion, perturb, restore, multiTask,
                _plan.Model.MultiTask is null && _plan.Model.Targets == TargetKind.Scores);
        }

        private void Step(PlanStep s, string prefix)
        {
            _writer.Begin(prefix);
            _text[s] = _writer.W;
            _launches[s] = _writer.Launches;
            s.Cuda(_writer);
        }

        private static void PerExample(List<CudaLaunchSpec> launches)
        {
            for (int i = 0; i < launches.Count; i++) launches[i] = launches[i] with { PerExample = true };
        }

        private static void Append(CodeWriter w, CodeWriter part) => w.Lines(part.ToString().TrimEnd('\n')).Line();

        private static void Elementwise(CodeWriter w, List<CudaLaunchSpec> launches, string name, string comment, int width, bool fixedCount, params string[] body) =>
            CudaWriter.Elementwise(w, launches, name, comment, width, fixedCount, body);

        private static void BlockReduce(CodeWriter w, string buffer, string variable, string combine) => CudaWriter.BlockReduce(w, buffer, variable, combine);

        private void Header(CodeWriter w)
        {
            w.Line("// <auto-generated/> CUDA C generated by the Dsl source generator from the model's plan.");
            ModelEmitter.Description(w, _plan);
            w.Line($"//     [{Int(_normOffset),9}] CUDA scratch: gradient norm (1), per-row losses from {Int(_lossOffset)} ({Int(_plan.Rows)})");
            w.Line($"//   Device arena: {Int(_arenaLength)} floats, one allocation.");
            w.Line("// Every kernel: (arena, token ids, labels, targets, args) at the offsets above; matrix products are");
            w.Line("// cuBLAS (or cuBLASLt, with a fused bias/GELU) calls listed in the C# launch list, not kernels.");
            w.Lines(CudaSources.Prelude());
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

        /// <summary>Lion: c = β₁m + (1 − β₁)g, θ = θ·decay − lr·sign(c), m = β₂m + (1 − β₂)g (m at the state offset).</summary>
        private void Lion(CodeWriter w, List<CudaLaunchSpec> lion)
        {
            int region = _plan.ParameterRegion, g = _plan.GradientOffset, state = _plan.StateOffset;
            Elementwise(w, lion, "optimizer_lion", $"Lion: c = β₁m + (1 − β₁)g, θ = θ·decay − lr·sign(c), m = β₂m + (1 − β₂)g (m at {Int(state)})", region, true,
                "if (!dsl_in_tensor(i)) continue;",
                "const float scale = dsl_gradient_scale(arena, &args);",
                $"const float gi = arena[{Int(g)} + i] * scale;",
                $"const float m = arena[{Int(state)} + i];",
                "const float c = args.beta1 * m + args.oneMinusBeta1 * gi;",
                "const float sign = c != c ? c : c > 0.0f ? 1.0f : c < 0.0f ? -1.0f : 0.0f;",
                "float p = arena[i];",
                "if (dsl_decays(i, &args)) p *= args.decay;",
                "arena[i] = p - args.learningRate * sign;",
                $"arena[{Int(state)} + i] = args.beta2 * m + args.oneMinusBeta2 * gi;");
        }
    }
}
