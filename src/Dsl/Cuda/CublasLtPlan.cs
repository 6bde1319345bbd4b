using System;
using Dsl.Cuda.Interop;

namespace Dsl.Cuda;

/// <summary>Which library runs a session's fusable matrix products (see <see cref="CudaSession.MatmulPath"/>).</summary>
public enum CudaMatmulPath
{
    /// <summary>Every product through cublasSgemm; a Dense's bias and activation in a separate kernel.</summary>
    Cublas,

    /// <summary>Products with a <see cref="CudaGemm.Epilogue"/> through cublasLtMatmul with the bias/GELU fused;
    /// the rest through cublasSgemm.</summary>
    CublasLt,
}

/// <summary>
/// One fused product prepared for cuBLASLt: the operation descriptor (transposes, epilogue, bias and aux
/// pointers), the matrix layouts and the algorithm the heuristic chose, created once for a launch and a row
/// count and reused by every step after (a step creates nothing).
/// </summary>
internal sealed unsafe class CublasLtPlan : IDisposable
{
    private readonly IntPtr _desc;
    private readonly IntPtr _a;
    private readonly IntPtr _b;
    private readonly IntPtr _c;
    private readonly CublasLtCall _call;
    private CublasLt.HeuristicResult _result;
    private bool _disposed;

    private CublasLtPlan(CublasLtCall call, IntPtr desc, IntPtr a, IntPtr b, IntPtr c)
    {
        _call = call;
        _desc = desc;
        _a = a;
        _b = b;
        _c = c;
    }

    /// <summary>Prepares <paramref name="call"/> over the arena at <paramref name="arena"/>; null with the reason when
    /// cuBLASLt offers no algorithm for it (the caller then runs cublasSgemm and the epilogue kernel).</summary>
    public static CublasLtPlan? Create(IntPtr handle, CublasLtCall call, ulong arena, ulong workspaceBytes, out string? reason)
    {
        var p = call.Product;
        if (call.Aux >= 0 && (call.AuxLd % 8 != 0 || call.AuxLd < p.M))
        {
            reason = $"the GELU input's leading dimension {call.AuxLd} is not a multiple of 8 of at least {p.M} rows, as cuBLASLt requires";
            return null;
        }

        CublasLt.Check(CublasLt.cublasLtMatmulDescCreate(out IntPtr desc, CublasLt.Compute32F, CublasLt.R32F), "cublasLtMatmulDescCreate");
        IntPtr a = IntPtr.Zero, b = IntPtr.Zero, c = IntPtr.Zero;
        var plan = (CublasLtPlan?)null;
        try
        {
            int transA = p.TransA ? CublasLt.OpT : CublasLt.OpN, transB = p.TransB ? CublasLt.OpT : CublasLt.OpN;
            uint epilogue = (uint)call.Epilogue;
            SetDesc(desc, CublasLt.DescTransA, &transA, sizeof(int), "TRANSA");
            SetDesc(desc, CublasLt.DescTransB, &transB, sizeof(int), "TRANSB");
            SetDesc(desc, CublasLt.DescEpilogue, &epilogue, sizeof(uint), "EPILOGUE");
            if (call.Bias >= 0)
            {
                ulong bias = arena + ((ulong)call.Bias * 4);
                SetDesc(desc, CublasLt.DescBiasPointer, &bias, sizeof(ulong), "BIAS_POINTER");
            }

            if (call.Aux >= 0)
            {
                ulong aux = arena + ((ulong)call.Aux * 4);
                long auxLd = call.AuxLd;
                SetDesc(desc, CublasLt.DescEpilogueAuxPointer, &aux, sizeof(ulong), "EPILOGUE_AUX_POINTER");
                SetDesc(desc, CublasLt.DescEpilogueAuxLd, &auxLd, sizeof(long), "EPILOGUE_AUX_LD");
            }

            // Column-major layouts as stored: op(A) is m × k, so A is k × m when transposed; op(B) is k × n.
            a = Layout(p.TransA ? p.K : p.M, p.TransA ? p.M : p.K, p.Lda);
            b = Layout(p.TransB ? p.N : p.K, p.TransB ? p.K : p.N, p.Ldb);
            c = Layout(p.M, p.N, p.Ldc);
            plan = new CublasLtPlan(call, desc, a, b, c);

            CublasLt.Check(CublasLt.cublasLtMatmulPreferenceCreate(out IntPtr preference), "cublasLtMatmulPreferenceCreate");
            try
            {
                SetPreference(preference, CublasLt.PrefMaxWorkspaceBytes, workspaceBytes);
                // The arena is one allocation (256-byte aligned); its slices are aligned only as their offsets allow,
                // so the heuristic must not pick an algorithm that assumes more.
                SetPreference(preference, CublasLt.PrefMinAlignmentABytes, Alignment(p.A));
                SetPreference(preference, CublasLt.PrefMinAlignmentBBytes, Alignment(p.B));
                SetPreference(preference, CublasLt.PrefMinAlignmentCBytes, Alignment(p.C));
                SetPreference(preference, CublasLt.PrefMinAlignmentDBytes, Alignment(p.C));
                int status;
                int returned;
                fixed (CublasLt.HeuristicResult* result = &plan._result)
                    status = CublasLt.cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, c, c, preference, 1, result, out returned);
                if (status != 0 || returned == 0 || plan._result.State != 0)
                {
                    reason = $"cublasLtMatmulAlgoGetHeuristic found no algorithm (status {status}, {returned} returned, state {plan._result.State})";
                    plan.Dispose();
                    return null;
                }
            }
            finally
            {
                _ = CublasLt.cublasLtMatmulPreferenceDestroy(preference);
            }

            reason = null;
            return plan;
        }
        catch
        {
            if (plan is not null) plan.Dispose();
            else
            {
                if (a != IntPtr.Zero) _ = CublasLt.cublasLtMatrixLayoutDestroy(a);
                if (b != IntPtr.Zero) _ = CublasLt.cublasLtMatrixLayoutDestroy(b);
                if (c != IntPtr.Zero) _ = CublasLt.cublasLtMatrixLayoutDestroy(c);
                _ = CublasLt.cublasLtMatmulDescDestroy(desc);
            }

            throw;
        }
    }

    /// <summary>Largest power of two (at most 256, cudaMalloc's alignment) dividing the byte offset of an arena slice.</summary>
    internal static uint Alignment(int offset)
    {
        long bytes = (long)offset * 4;
        if (bytes == 0) return 256;
        return (uint)Math.Min(256, bytes & -bytes);
    }

    /// <summary>D = C = epilogue(op(A)·op(B)) over the arena at <paramref name="arena"/>.</summary>
    public void Run(IntPtr handle, ulong arena, ulong workspace, ulong workspaceBytes, string label)
    {
        var p = _call.Product;
        float one = 1f, zero = 0f;
        ulong c = arena + ((ulong)p.C * 4);
        int status;
        fixed (ulong* algo = _result.Algo)
        {
            status = CublasLt.cublasLtMatmul(handle, _desc, &one, arena + ((ulong)p.A * 4), _a, arena + ((ulong)p.B * 4), _b, &zero,
                c, _c, c, _c, algo, workspace, (nuint)workspaceBytes, IntPtr.Zero);
        }

        CublasLt.Check(status, $"cublasLtMatmul({label})");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _ = CublasLt.cublasLtMatrixLayoutDestroy(_a);
        _ = CublasLt.cublasLtMatrixLayoutDestroy(_b);
        _ = CublasLt.cublasLtMatrixLayoutDestroy(_c);
        _ = CublasLt.cublasLtMatmulDescDestroy(_desc);
    }

    private static void SetDesc(IntPtr desc, int attribute, void* value, int size, string name) =>
        CublasLt.Check(CublasLt.cublasLtMatmulDescSetAttribute(desc, attribute, value, (nuint)size), $"cublasLtMatmulDescSetAttribute({name})");

    private static void SetPreference(IntPtr preference, int attribute, ulong value) =>
        CublasLt.Check(CublasLt.cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof(ulong)), $"cublasLtMatmulPreferenceSetAttribute({attribute})");

    private static void SetPreference(IntPtr preference, int attribute, uint value) =>
        CublasLt.Check(CublasLt.cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof(uint)), $"cublasLtMatmulPreferenceSetAttribute({attribute})");

    private static IntPtr Layout(int rows, int cols, int ld)
    {
        CublasLt.Check(CublasLt.cublasLtMatrixLayoutCreate(out IntPtr layout, CublasLt.R32F, (ulong)rows, (ulong)cols, ld), "cublasLtMatrixLayoutCreate");
        return layout;
    }
}
