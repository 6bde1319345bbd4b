using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Dsl.Cuda.Interop;

/// <summary>
/// Resolves the native libraries the GPU path needs (the CUDA driver, NVRTC, cuBLAS; cuBLASLt when present)
/// from their usual file names, and turns a missing one into a <see cref="CudaUnavailableException"/> that
/// names the library, the file names tried and what to install.
/// </summary>
internal static class CudaLibraries
{
    /// <summary>Logical name of the CUDA driver API in the LibraryImport declarations.</summary>
    public const string Driver = "dsl-cuda-driver";

    /// <summary>Logical name of NVRTC.</summary>
    public const string Nvrtc = "dsl-cuda-nvrtc";

    /// <summary>Logical name of cuBLAS.</summary>
    public const string Cublas = "dsl-cuda-cublas";

    /// <summary>Logical name of cuBLASLt (optional: without it products run through cuBLAS and separate epilogue kernels).</summary>
    public const string CublasLt = "dsl-cuda-cublaslt";

    private static readonly Dictionary<string, (string What, string[] Files, string Install)> s_libraries = new(StringComparer.Ordinal)
    {
        [Driver] = ("the CUDA driver", new[] { "libcuda.so.1", "libcuda.so", "nvcuda.dll" }, "an NVIDIA GPU driver (it provides libcuda)"),
        [Nvrtc] = ("NVRTC, the CUDA runtime compiler", new[] { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll" }, "the CUDA toolkit's NVRTC (e.g. the cuda-nvrtc package, or pip nvidia-cuda-nvrtc-cu12 with its lib folder on LD_LIBRARY_PATH)"),
        [Cublas] = ("cuBLAS", new[] { "libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so", "cublas64_12.dll", "cublas64_11.dll" }, "the CUDA toolkit's cuBLAS (e.g. the libcublas package, or pip nvidia-cublas-cu12 with its lib folder on LD_LIBRARY_PATH)"),
        [CublasLt] = ("cuBLASLt", new[] { "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so", "cublasLt64_12.dll", "cublasLt64_11.dll" }, "the CUDA toolkit's cuBLASLt (shipped with cuBLAS: the libcublas package, or pip nvidia-cublas-cu12 with its lib folder on LD_LIBRARY_PATH)"),
    };

    private static readonly Dictionary<string, IntPtr> s_loaded = new(StringComparer.Ordinal);
    private static readonly object s_gate = new();
    private static bool s_registered;

    /// <summary>Installs the resolver (once) so the LibraryImport declarations find the libraries.</summary>
    public static void Register()
    {
        lock (s_gate)
        {
            if (s_registered) return;
            NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
            s_registered = true;
        }
    }

    /// <summary>Loads <paramref name="logicalName"/>, or throws naming what is missing.</summary>
    /// <exception cref="CudaUnavailableException">None of the library's file names could be loaded.</exception>
    public static IntPtr Require(string logicalName)
    {
        Register();
        lock (s_gate)
        {
            if (s_loaded.TryGetValue(logicalName, out var handle)) return handle;
            var (what, files, install) = s_libraries[logicalName];
            handle = Load(what, files, install);
            s_loaded[logicalName] = handle;
            return handle;
        }
    }

    /// <summary>Loads <paramref name="logicalName"/> if it can; otherwise false with the reason (what is missing, the files tried).</summary>
    public static bool TryRequire(string logicalName, out string? reason)
    {
        try
        {
            Require(logicalName);
            reason = null;
            return true;
        }
        catch (CudaUnavailableException e)
        {
            reason = e.Message;
            return false;
        }
    }

    /// <summary>The first of <paramref name="files"/> that loads, or a <see cref="CudaUnavailableException"/>
    /// naming <paramref name="what"/>, the files tried and <paramref name="install"/>.</summary>
    internal static IntPtr Load(string what, string[] files, string install)
    {
        foreach (string file in files)
        {
            if (NativeLibrary.TryLoad(file, out IntPtr handle)) return handle;
        }

        throw new CudaUnavailableException($"{what} could not be loaded (tried {string.Join(", ", files)}): install {install}. " +
            "The CPU engine runs without it; the CUDA path needs a GPU machine.");
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        s_libraries.ContainsKey(libraryName) ? Require(libraryName) : IntPtr.Zero;
}

/// <summary>The GPU path cannot run here: a library, a driver or a device is missing. The message says which.</summary>
public sealed class CudaUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CudaUnavailableException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public CudaUnavailableException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Creates the exception with a default message.</summary>
    public CudaUnavailableException() : base("CUDA is not available.")
    {
    }
}

/// <summary>A CUDA, NVRTC or cuBLAS call failed; the message names the call and the error.</summary>
public sealed class CudaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CudaException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public CudaException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Creates the exception with a default message.</summary>
    public CudaException() : base("A CUDA call failed.")
    {
    }
}
