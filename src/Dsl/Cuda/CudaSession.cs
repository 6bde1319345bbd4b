using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using Dsl.Cuda.Interop;

namespace Dsl.Cuda;

/// <summary>
/// Runs a <see cref="CudaProgram"/> on a GPU: one device allocation for the arena (plus a small one for
/// the batch's token ids, labels and targets), the source compiled once by NVRTC for the device's
/// architecture (the PTX cached on disk by a hash of source and architecture), kernels launched through
/// the driver API and matrix products through cuBLAS. A product whose <see cref="CudaGemm.Epilogue"/> cuBLASLt
/// can fuse (a Dense's bias, GELU-tanh) runs through cublasLtMatmul with the epilogue, and the kernel that
/// would otherwise apply it (<see cref="CudaLaunch.UnlessFused"/>) is skipped; without cuBLASLt (library
/// missing, or <c>useCublasLt: false</c>) every product is a cublasSgemm followed by that kernel, and
/// <see cref="MatmulPath"/> says which path runs. Opening fails with a
/// <see cref="CudaUnavailableException"/> that names what is missing (driver, device, NVRTC, cuBLAS);
/// nothing falls back to the CPU unless the caller chooses to.
/// </summary>
/// <remarks>
/// Not yet run on a GPU in CI (no device there): the kernels are checked by the PTX compile and the CPU
/// emulation (docs/cuda.md), this host code only by the no-driver path. One session at a time per
/// thread; launches are synchronous with respect to <see cref="Download"/>.
/// </remarks>
public sealed unsafe class CudaSession : IDisposable
{
    private const int ComputeCapabilityMajor = 75;
    private const int ComputeCapabilityMinor = 76;

    private readonly CudaProgram _program;
    private readonly Dictionary<string, IntPtr> _functions = new(StringComparer.Ordinal);
    private readonly int _device;
    private readonly IntPtr _context;
    private readonly IntPtr _module;
    private readonly IntPtr _cublas;
    private readonly ulong _arena;
    private readonly ulong _staging;

    // cuBLASLt: the handle (zero on the cublasSgemm path), its workspace, and the fused products prepared so far,
    // by product and row count (null: no algorithm for that shape, so cublasSgemm and the epilogue kernel run).
    private const ulong LtWorkspaceBytes = 32UL << 20;
    private IntPtr _lt;
    private ulong _ltWorkspace;
    private readonly Dictionary<(CudaGemm Gemm, int Rows), CublasLtPlan?> _ltPlans = new();
    private readonly List<string> _unfused = new();

    // Per-row losses brought back after each pass: one buffer for the session, so a step allocates nothing.
    private float[]? _losses;
    private bool _disposed;

    // Multi-task: the host weighting state, and the staging layout (labels of every labels target, then the tensor targets).
    private readonly CudaTaskWeights? _taskWeights;
    private readonly float[] _taskHost = Array.Empty<float>();
    private readonly int _labelsLength;

    private CudaSession(CudaProgram program, int device, IntPtr context, IntPtr module, IntPtr cublas, ulong arena, ulong staging)
    {
        _program = program;
        _labelsLength = program.MaxRows;
        if (program.MultiTask is { } multi)
        {
            _taskWeights = new CudaTaskWeights(multi);
            // s_i (Uncertainty), ∂L/∂s_i and the factors, one task count each.
            _taskHost = new float[3 * multi.Tasks.Count];
            _labelsLength = Math.Max(_labelsLength, multi.StagingLengths(program.MaxRows).Labels);
        }

        _device = device;
        _context = context;
        _module = module;
        _cublas = cublas;
        _arena = arena;
        _staging = staging;
        foreach (string name in program.KernelNames())
        {
            Driver.Check(Driver.cuModuleGetFunction(out IntPtr function, module, name), $"cuModuleGetFunction({name})");
            _functions[name] = function;
        }
    }

    /// <summary>The program this session runs.</summary>
    public CudaProgram Program => _program;

    /// <summary>Whether fusable products (<see cref="CudaGemm.Epilogue"/>) run through cuBLASLt with their epilogue, or
    /// every product through cublasSgemm followed by the separate bias/activation kernel. The two give the same
    /// values up to float rounding.</summary>
    public CudaMatmulPath MatmulPath => _lt != IntPtr.Zero ? CudaMatmulPath.CublasLt : CudaMatmulPath.Cublas;

    /// <summary>Why <see cref="MatmulPath"/> is <see cref="CudaMatmulPath.Cublas"/> (the caller asked for it, or cuBLASLt
    /// could not be loaded: the files tried); null on the cuBLASLt path.</summary>
    public string? MatmulPathReason { get; private set; }

    /// <summary>Fused products that still run through cublasSgemm and their epilogue kernel because cuBLASLt offered no
    /// algorithm for them ("label (rows): reason"); empty when every one is fused.</summary>
    public IReadOnlyList<string> UnfusedProducts => _unfused;

    /// <summary>The device arena's address (same layout as the CPU engine's arena), for NCCL's reductions.</summary>
    internal ulong ArenaPointer => _arena;

    /// <summary>Checks that a GPU can run programs: the driver loads, a device exists, NVRTC and cuBLAS load.</summary>
    /// <exception cref="CudaUnavailableException">Something is missing; the message says what.</exception>
    public static void RequireAvailable(int deviceOrdinal = 0)
    {
        CudaLibraries.Require(CudaLibraries.Driver);
        int init = Driver.cuInit(0);
        if (init != 0)
            throw new CudaUnavailableException($"the CUDA driver loaded but cuInit failed with error {init}: no usable NVIDIA GPU or driver (is the device visible to this process?)");
        Driver.Check(Driver.cuDeviceGetCount(out int count), "cuDeviceGetCount");
        if (count == 0) throw new CudaUnavailableException("the CUDA driver reports no CUDA device.");
        if (deviceOrdinal < 0 || deviceOrdinal >= count)
            throw new CudaUnavailableException($"device ordinal {deviceOrdinal} does not exist: the driver reports {count} device(s).");
        CudaLibraries.Require(CudaLibraries.Nvrtc);
        CudaLibraries.Require(CudaLibraries.Cublas);
    }

    /// <summary>Compiles (or takes from the cache) and loads <paramref name="program"/>, allocates the device
    /// arena and uploads <paramref name="arena"/> (the CPU engine's arena: parameters, state, tables). With
    /// <paramref name="useCublasLt"/> (the default) and cuBLASLt loadable, the fused products are prepared for
    /// <see cref="CudaProgram.MaxRows"/> rows here (descriptors, layouts, algorithm); another row count (a last,
    /// partial batch) is prepared once, the first time it runs.</summary>
    /// <exception cref="CudaUnavailableException">No driver, device, NVRTC or cuBLAS.</exception>
    /// <exception cref="NotSupportedException">The program has steps the CUDA emitter does not emit yet.</exception>
    /// <exception cref="ArgumentException"><paramref name="arena"/> is longer than the device arena.</exception>
    public static CudaSession Open(CudaProgram program, ReadOnlySpan<float> arena, int deviceOrdinal = 0, bool useCublasLt = true)
    {
        ArgumentNullException.ThrowIfNull(program);
        if (program.Unsupported.Count > 0)
            throw new NotSupportedException($"{program.Model} cannot run on a GPU yet: the CUDA emitter does not emit {string.Join(", ", program.Unsupported)}.");
        if (arena.Length > program.ArenaLength)
            throw new ArgumentException($"arena has {arena.Length} values but {program.Model}'s device arena holds {program.ArenaLength}.", nameof(arena));
        RequireAvailable(deviceOrdinal);
        Driver.Check(Driver.cuDeviceGet(out int device, deviceOrdinal), "cuDeviceGet");
        Driver.Check(Driver.cuDevicePrimaryCtxRetain(out IntPtr context, device), "cuDevicePrimaryCtxRetain");
        Driver.Check(Driver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
        Driver.Check(Driver.cuDeviceGetAttribute(out int major, ComputeCapabilityMajor, device), "cuDeviceGetAttribute(major)");
        Driver.Check(Driver.cuDeviceGetAttribute(out int minor, ComputeCapabilityMinor, device), "cuDeviceGetAttribute(minor)");
        byte[] ptx = Ptx(program, $"compute_{major}{minor}");
        IntPtr module;
        fixed (byte* image = ptx) Driver.Check(Driver.cuModuleLoadData(out module, image), "cuModuleLoadData");
        Cublas.Check(Cublas.cublasCreate(out IntPtr cublas), "cublasCreate");
        // Explicitly the default math mode: FP32 products stay FP32 (no TF32), whatever a caller set before.
        // The environment variable NVIDIA_TF32_OVERRIDE=1 can still force TF32; see docs/cuda.md.
        Cublas.Check(Cublas.cublasSetMathMode(cublas, Cublas.DefaultMath), "cublasSetMathMode");
        Driver.Check(Driver.cuMemAlloc(out ulong deviceArena, (nuint)program.ArenaLength * sizeof(float)), $"cuMemAlloc({program.ArenaLength} floats)");
        int stagingLength = StagingLength(program);
        Driver.Check(Driver.cuMemAlloc(out ulong staging, (nuint)stagingLength * 4), "cuMemAlloc(staging)");
        var session = new CudaSession(program, device, context, module, cublas, deviceArena, staging);
        try
        {
            float[] zeros = new float[program.ArenaLength];
            arena.CopyTo(zeros);
            session.Upload(zeros, 0);
            session.OpenCublasLt(useCublasLt);
        }
        catch
        {
            session.Dispose();
            throw;
        }

        return session;
    }

    /// <summary>Creates the cuBLASLt handle and workspace and prepares the fused products for a full batch, or records
    /// why the session stays on cublasSgemm.</summary>
    private void OpenCublasLt(bool wanted)
    {
        if (!wanted)
        {
            MatmulPathReason = "cuBLASLt was turned off (useCublasLt: false)";
            return;
        }

        if (!CudaLibraries.TryRequire(CudaLibraries.CublasLt, out string? reason))
        {
            MatmulPathReason = reason;
            return;
        }

        CublasLt.Check(CublasLt.cublasLtCreate(out IntPtr lt), "cublasLtCreate");
        _lt = lt;
        Driver.Check(Driver.cuMemAlloc(out _ltWorkspace, (nuint)LtWorkspaceBytes), "cuMemAlloc(cuBLASLt workspace)");
        foreach (var list in new[] { _program.Forward, _program.Loss, _program.Backward, _program.AdversarialPerturb, _program.AdversarialRestore })
        {
            foreach (var launch in list)
            {
                if (launch.Gemm is { Epilogue: not CudaEpilogue.None } gemm && !launch.PerExample) _ = LtPlan(launch, gemm, _program.MaxRows);
            }
        }
    }

    /// <summary>The prepared cuBLASLt product for <paramref name="rows"/> rows (prepared now if this row count is new), or
    /// null when cuBLASLt has no algorithm for it.</summary>
    private CublasLtPlan? LtPlan(CudaLaunch launch, CudaGemm gemm, int rows)
    {
        if (_ltPlans.TryGetValue((gemm, rows), out var plan)) return plan;
        plan = CublasLtPlan.Create(_lt, gemm.ToCublasLt(rows), _arena, LtWorkspaceBytes, out string? reason);
        if (plan is null) _unfused.Add($"{launch.Name} ({rows} rows): {reason}");
        _ltPlans[(gemm, rows)] = plan;
        return plan;
    }

    /// <summary>Copies <paramref name="values"/> to the device arena at <paramref name="offset"/>.</summary>
    public void Upload(ReadOnlySpan<float> values, int offset)
    {
        CheckRange(offset, values.Length);
        fixed (float* p = values) Driver.Check(Driver.cuMemcpyHtoD(_arena + ((ulong)offset * 4), p, (nuint)values.Length * 4), "cuMemcpyHtoD");
    }

    /// <summary>Copies the device arena at <paramref name="offset"/> into <paramref name="destination"/>.</summary>
    public void Download(Span<float> destination, int offset)
    {
        CheckRange(offset, destination.Length);
        fixed (float* p = destination) Driver.Check(Driver.cuMemcpyDtoH(p, _arena + ((ulong)offset * 4), (nuint)destination.Length * 4), "cuMemcpyDtoH");
    }

    /// <summary>Ids, labels and targets, in ints/floats: the labels buffer holds every labels target of a multi-task program.</summary>
    private static int StagingLength(CudaProgram program)
    {
        int labels = program.MaxRows, targets = program.MaxRows * program.OutputWidth;
        if (program.MultiTask is { } multi)
        {
            var (l, t) = multi.StagingLengths(program.MaxRows);
            labels = Math.Max(labels, l);
            targets = Math.Max(targets, t);
        }

        return program.MaxRows + labels + targets;
    }

    /// <summary>Stages the batch's token ids, labels and targets (any may be empty).</summary>
    public void Stage(ReadOnlySpan<int> ids, ReadOnlySpan<int> labels, ReadOnlySpan<float> targets)
    {
        int maxTargets = StagingLength(_program) - _program.MaxRows - _labelsLength;
        if (ids.Length > _program.MaxRows || labels.Length > _labelsLength || targets.Length > maxTargets)
            throw new ArgumentException($"a batch holds at most {_program.MaxRows} rows of ids, {_labelsLength} labels and {maxTargets} targets; got {ids.Length}, {labels.Length} and {targets.Length}.");
        fixed (int* i = ids) if (ids.Length > 0) Driver.Check(Driver.cuMemcpyHtoD(IdsPointer, i, (nuint)ids.Length * 4), "cuMemcpyHtoD(ids)");
        fixed (int* l = labels) if (labels.Length > 0) Driver.Check(Driver.cuMemcpyHtoD(LabelsPointer, l, (nuint)labels.Length * 4), "cuMemcpyHtoD(labels)");
        fixed (float* t = targets) if (targets.Length > 0) Driver.Check(Driver.cuMemcpyHtoD(TargetsPointer, t, (nuint)targets.Length * 4), "cuMemcpyHtoD(targets)");
    }

    private ulong IdsPointer => _staging;

    private ulong LabelsPointer => _staging + ((ulong)_program.MaxRows * 4);

    private ulong TargetsPointer => _staging + ((ulong)(_program.MaxRows + _labelsLength) * 4);

    /// <summary>Stages the batch's token ids (empty for real-valued inputs) and the targets of a multi-task program.</summary>
    public void Stage(ReadOnlySpan<int> ids, CudaTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (!ReferenceEquals(targets.Spec, _program.MultiTask))
            throw new ArgumentException($"these targets were created for another program than {_program.Model}'s.", nameof(targets));
        Stage(ids, targets.Labels, targets.Tensors);
    }

    /// <summary>Each task's own loss L_i from the last pass of a multi-task program (empty otherwise), in Ops.MultiTask's order.</summary>
    public ReadOnlySpan<double> TaskLosses => _taskWeights is null ? default : _taskWeights.TaskLosses;

    /// <summary>Each task's factor ∂L/∂L_i in the last pass (empty for a single loss).</summary>
    public ReadOnlySpan<double> TaskWeights => _taskWeights is null ? default : _taskWeights.TaskWeights;

    /// <summary>L_i⁰ of TaskWeighting.InitialLoss (0 until the first training pass records it; set them to resume a run).
    /// Empty for a single loss.</summary>
    public Span<double> InitialTaskLosses => _taskWeights is null ? default : _taskWeights.InitialTaskLosses;

    /// <summary>Runs <paramref name="launches"/> in order with <paramref name="args"/>.</summary>
    public void Run(IReadOnlyList<CudaLaunch> launches, CudaArgs args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(launches);
        ulong arena = _arena, ids = IdsPointer, labels = LabelsPointer, targets = TargetsPointer;
        void** parameters = stackalloc void*[5];
        parameters[0] = &arena;
        parameters[1] = &ids;
        parameters[2] = &labels;
        parameters[3] = &targets;
        var bound = args;
        parameters[4] = &bound;
        float one = 1f;
        bool fused = false;
        foreach (var launch in launches)
        {
            bound = launch.Bind(args);
            // The bias/activation kernel after a product whose epilogue cuBLASLt already applied.
            if (launch.UnlessFused && fused)
            {
                fused = false;
                continue;
            }

            fused = false;
            if (launch.Gemm is { } gemm)
            {
                var c = gemm.ToCublas(bound.Rows);
                if (c.M == 0 || c.N == 0) continue;
                if (gemm.Epilogue != CudaEpilogue.None && _lt != IntPtr.Zero && LtPlan(launch, gemm, bound.Rows) is { } plan)
                {
                    plan.Run(_lt, arena, _ltWorkspace, LtWorkspaceBytes, launch.Name);
                    fused = true;
                    continue;
                }

                float beta = c.Beta;
                Cublas.Check(Cublas.cublasSgemm(_cublas, c.TransA ? 1 : 0, c.TransB ? 1 : 0, c.M, c.N, c.K, &one,
                    arena + ((ulong)c.A * 4), c.Lda, arena + ((ulong)c.B * 4), c.Ldb, &beta, arena + ((ulong)c.C * 4), c.Ldc), $"cublasSgemm({launch.Name})");
                continue;
            }

            Driver.Check(Driver.cuLaunchKernel(_functions[launch.Name], (uint)launch.GridSize(bound.Rows, bound.Batch), 1, 1, (uint)launch.Block, 1, 1, 0, IntPtr.Zero, parameters, null),
                $"cuLaunchKernel({launch.Name})");
        }
    }

    /// <summary>Forward (training), loss and backward on the staged batch; returns the mean loss (for a multi-task program
    /// the combined loss, each task's in <see cref="TaskLosses"/>: the tasks' losses are read back, weighed on the host and
    /// each head's gradient scaled by its factor before the backward).</summary>
    public double TrainingPass(int rows, int batch, ulong seed, ulong dropoutStep)
    {
        var args = CudaArgs.ForPass(rows, batch, training: true, seed, dropoutStep);
        Run(_program.Forward, args);
        Run(_program.Loss, args);
        if (_taskWeights is not null)
        {
            double combined = WeighTasks(rows, batch, training: true, args);
            Run(_program.Backward, args);
            return combined;
        }

        Run(_program.Backward, args);
        int lossRows = _program.LossRows(rows, batch);
        if (_losses is null || _losses.Length < lossRows) _losses = new float[Math.Max(lossRows, _program.MaxRows)];
        Span<float> losses = _losses.AsSpan(0, lossRows);
        Download(losses, _program.LossOffset);
        double total = 0;
        foreach (float loss in losses) total += loss;
        return lossRows == 0 ? 0 : total / ((double)lossRows * _program.LossDivisor);
    }

    /// <summary>The combined loss of a multi-task program on the staged batch, without dropout or an update (each task's
    /// loss in <see cref="TaskLosses"/>). The loss launches overwrite the heads' outputs' gradients, nothing else.</summary>
    /// <exception cref="InvalidOperationException">The program has a single loss.</exception>
    public double EvaluatePass(int rows, int batch)
    {
        if (_taskWeights is null) throw new InvalidOperationException($"{_program.Model} has a single loss: EvaluatePass is for multi-task programs.");
        var args = CudaArgs.ForPass(rows, batch, training: false, 0, 0);
        Run(_program.Forward, args);
        Run(_program.Loss, args);
        return WeighTasks(rows, batch, training: false, args);
    }

    /// <summary>Reads the tasks' row losses back, weighs them on the host and, in training, writes the factors (and
    /// ∂L/∂s_i) to the device and scales each head's gradient.</summary>
    private double WeighTasks(int rows, int batch, bool training, CudaArgs args)
    {
        var multi = _program.MultiTask!;
        int count = multi.Tasks.Count;
        int lossRows = _program.LossRows(rows, batch);
        int span = _taskWeights!.SlotSpan(lossRows);
        if (_losses is null || _losses.Length < span) _losses = new float[span];
        Span<float> slots = _losses.AsSpan(0, span);
        Download(slots, multi.Tasks[0].LossOffset);
        Span<float> logVariance = _taskHost.AsSpan(0, count), gradient = _taskHost.AsSpan(count, count), factors = _taskHost.AsSpan(2 * count, count);
        bool uncertain = multi.Weighting == TaskWeighting.Uncertainty;
        if (uncertain) Download(logVariance, multi.LogVarianceOffset);
        double combined = _taskWeights.Combine(slots, lossRows, logVariance, gradient, factors, training);
        if (!training) return combined;
        Upload(factors, multi.FactorOffset);
        if (uncertain) Upload(gradient, multi.LogVarianceGradientOffset);
        Run(multi.Scale, args);
        return combined;
    }

    /// <summary>
    /// FGM ([Adversarial]) on the staged batch, as the CPU engine's <c>AdversarialPass</c>: a clean pass, then
    /// <see cref="CudaProgram.AdversarialPerturb"/>, a second pass with the same seed and dropout step, and
    /// <see cref="CudaProgram.AdversarialRestore"/>. The gradient region then holds the sum of both passes' gradients and
    /// the table is restored bit for bit. Returns the clean mean loss.
    /// </summary>
    /// <exception cref="InvalidOperationException">The program has no [Adversarial] layer.</exception>
    public double AdversarialPass(int rows, int batch, ulong seed, ulong dropoutStep)
    {
        if (!_program.Adversarial) throw new InvalidOperationException($"{_program.Model} has no [Adversarial] layer: use TrainingPass.");
        double loss = TrainingPass(rows, batch, seed, dropoutStep);
        var args = CudaArgs.ForPass(rows, batch, training: true, seed, dropoutStep);
        Run(_program.AdversarialPerturb, args);
        TrainingPass(rows, batch, seed, dropoutStep);
        Run(_program.AdversarialRestore, args);
        return loss;
    }

    /// <summary>Releases the device memory, the module, cuBLAS, cuBLASLt's descriptors and handle, and the context reference.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var plan in _ltPlans.Values) plan?.Dispose();
        _ltPlans.Clear();
        if (_lt != IntPtr.Zero) _ = CublasLt.cublasLtDestroy(_lt);
        if (_ltWorkspace != 0) _ = Driver.cuMemFree(_ltWorkspace);
        _ = Driver.cuMemFree(_staging);
        _ = Driver.cuMemFree(_arena);
        _ = Cublas.cublasDestroy(_cublas);
        _ = Driver.cuModuleUnload(_module);
        _ = Driver.cuDevicePrimaryCtxRelease(_device);
        _ = _context;
    }

    private void CheckRange(int offset, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset < 0 || length < 0 || (long)offset + length > _program.ArenaLength)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset} + {length}) is outside the device arena of {_program.ArenaLength} values.");
    }

    /// <summary>The PTX of <paramref name="program"/> for <paramref name="architecture"/>, compiled once by NVRTC and cached
    /// under the user's cache folder by a hash of the source and the architecture.</summary>
    private static byte[] Ptx(CudaProgram program, string architecture)
    {
        string hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(architecture + "\n" + program.Source)));
        string folder = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "dsl", "cuda");
        string path = Path.Combine(folder, hash + ".ptx");
        if (File.Exists(path)) return File.ReadAllBytes(path);
        byte[] ptx = Compile(program, architecture);
        Directory.CreateDirectory(folder);
        string partial = path + "." + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        File.WriteAllBytes(partial, ptx);
        File.Move(partial, path, overwrite: true);
        return ptx;
    }

    private static byte[] Compile(CudaProgram program, string architecture)
    {
        Nvrtc.nvrtcCreateProgram(out IntPtr handle, program.Source, program.Model + ".cu", 0, IntPtr.Zero, IntPtr.Zero);
        try
        {
            byte[][] options = { Encoding.UTF8.GetBytes($"--gpu-architecture={architecture}\0"), Encoding.UTF8.GetBytes("--std=c++17\0") };
            int result;
            fixed (byte* o0 = options[0])
            fixed (byte* o1 = options[1])
            {
                IntPtr* pointers = stackalloc IntPtr[2];
                pointers[0] = (IntPtr)o0;
                pointers[1] = (IntPtr)o1;
                result = Nvrtc.nvrtcCompileProgram(handle, 2, pointers);
            }

            if (result != 0)
            {
                Nvrtc.nvrtcGetProgramLogSize(handle, out nuint logSize);
                byte[] log = new byte[(int)logSize];
                fixed (byte* l = log) Nvrtc.nvrtcGetProgramLog(handle, l);
                throw new CudaException($"NVRTC could not compile {program.Model}'s CUDA source for {architecture} (error {result}):\n{Encoding.UTF8.GetString(log).TrimEnd('\0')}");
            }

            Nvrtc.nvrtcGetPTXSize(handle, out nuint size);
            byte[] ptx = new byte[(int)size];
            fixed (byte* p = ptx) Nvrtc.nvrtcGetPTX(handle, p);
            return ptx;
        }
        finally
        {
            Nvrtc.nvrtcDestroyProgram(ref handle);
        }
    }
}
