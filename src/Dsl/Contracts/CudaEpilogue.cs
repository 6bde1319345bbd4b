// A contract shared by the runtime and the generator: this file is compiled into both (the generator and the
// analyzers link it and define DSL_GENERATOR), so the epilogue the plan chooses is the one cuBLASLt runs.
#if DSL_GENERATOR
namespace Dsl.Contracts;
#else
namespace Dsl.Cuda;
#endif

/// <summary>What cuBLASLt may fuse into a product's output (a Dense forward: z = x·Wᵀ (+ b), y = z or GELU(z)).</summary>
#if DSL_GENERATOR
internal
#else
public
#endif
enum CudaEpilogue
{
    /// <summary>A plain product (cublasSgemm).</summary>
    None,

    /// <summary>y = x·Wᵀ + b (CUBLASLT_EPILOGUE_BIAS).</summary>
    Bias,

    /// <summary>y = GELU-tanh(x·Wᵀ) (CUBLASLT_EPILOGUE_GELU, or GELU_AUX when the plan keeps z).</summary>
    Gelu,

    /// <summary>y = GELU-tanh(x·Wᵀ + b) (CUBLASLT_EPILOGUE_GELU_BIAS, or GELU_AUX_BIAS when the plan keeps z).</summary>
    GeluBias,
}
