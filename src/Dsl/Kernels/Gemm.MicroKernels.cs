using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Dsl.Kernels;

// The SIMD microkernels. Each computes one MR × NR tile of C from a packed A micro-panel (MR
// values per step of k) and a packed B micro-panel (NR values per step of k), keeping the whole
// tile in registers across k: per step it loads NR/lanes vectors of B, broadcasts each of the MR
// values of A and issues MR·NR/lanes FMAs, which is what lets it approach the FMA units' peak.
// The bodies are unrolled twice by hand because the JIT does not unroll loops.
public static partial class Gemm
{
    /// <summary>Float 6 × 16 tile: 12 ymm accumulators, two B loads and one A broadcast per step (15 of 16 registers).</summary>
    [SkipLocalsInit]
    private static unsafe void MicroAvx2Float(int kc, float* a, float* b, float* c, int ldc, bool accumulate)
    {
        Vector256<float> c00 = Vector256<float>.Zero; Vector256<float> c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero; Vector256<float> c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero; Vector256<float> c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero; Vector256<float> c31 = Vector256<float>.Zero;
        Vector256<float> c40 = Vector256<float>.Zero; Vector256<float> c41 = Vector256<float>.Zero;
        Vector256<float> c50 = Vector256<float>.Zero; Vector256<float> c51 = Vector256<float>.Zero;
        nint p = kc;
        for (; p >= 2; p -= 2)
        {
            {
                Vector256<float> b0 = Avx.LoadVector256(b + 0);
                Vector256<float> b1 = Avx.LoadVector256(b + 8);
                Vector256<float> a0 = Avx.BroadcastScalarToVector256(a + 0);
                c00 = Fma.MultiplyAdd(a0, b0, c00);
                c01 = Fma.MultiplyAdd(a0, b1, c01);
                Vector256<float> a1 = Avx.BroadcastScalarToVector256(a + 1);
                c10 = Fma.MultiplyAdd(a1, b0, c10);
                c11 = Fma.MultiplyAdd(a1, b1, c11);
                Vector256<float> a2 = Avx.BroadcastScalarToVector256(a + 2);
                c20 = Fma.MultiplyAdd(a2, b0, c20);
                c21 = Fma.MultiplyAdd(a2, b1, c21);
                Vector256<float> a3 = Avx.BroadcastScalarToVector256(a + 3);
                c30 = Fma.MultiplyAdd(a3, b0, c30);
                c31 = Fma.MultiplyAdd(a3, b1, c31);
                Vector256<float> a4 = Avx.BroadcastScalarToVector256(a + 4);
                c40 = Fma.MultiplyAdd(a4, b0, c40);
                c41 = Fma.MultiplyAdd(a4, b1, c41);
                Vector256<float> a5 = Avx.BroadcastScalarToVector256(a + 5);
                c50 = Fma.MultiplyAdd(a5, b0, c50);
                c51 = Fma.MultiplyAdd(a5, b1, c51);
            }

            {
                Vector256<float> b0 = Avx.LoadVector256(b + 16);
                Vector256<float> b1 = Avx.LoadVector256(b + 24);
                Vector256<float> a0 = Avx.BroadcastScalarToVector256(a + 6);
                c00 = Fma.MultiplyAdd(a0, b0, c00);
                c01 = Fma.MultiplyAdd(a0, b1, c01);
                Vector256<float> a1 = Avx.BroadcastScalarToVector256(a + 7);
                c10 = Fma.MultiplyAdd(a1, b0, c10);
                c11 = Fma.MultiplyAdd(a1, b1, c11);
                Vector256<float> a2 = Avx.BroadcastScalarToVector256(a + 8);
                c20 = Fma.MultiplyAdd(a2, b0, c20);
                c21 = Fma.MultiplyAdd(a2, b1, c21);
                Vector256<float> a3 = Avx.BroadcastScalarToVector256(a + 9);
                c30 = Fma.MultiplyAdd(a3, b0, c30);
                c31 = Fma.MultiplyAdd(a3, b1, c31);
                Vector256<float> a4 = Avx.BroadcastScalarToVector256(a + 10);
                c40 = Fma.MultiplyAdd(a4, b0, c40);
                c41 = Fma.MultiplyAdd(a4, b1, c41);
                Vector256<float> a5 = Avx.BroadcastScalarToVector256(a + 11);
                c50 = Fma.MultiplyAdd(a5, b0, c50);
                c51 = Fma.MultiplyAdd(a5, b1, c51);
            }
            a += 12;
            b += 32;
        }

        for (; p > 0; p--)
        {
            Vector256<float> b0 = Avx.LoadVector256(b + 0);
            Vector256<float> b1 = Avx.LoadVector256(b + 8);
            Vector256<float> a0 = Avx.BroadcastScalarToVector256(a + 0);
            c00 = Fma.MultiplyAdd(a0, b0, c00);
            c01 = Fma.MultiplyAdd(a0, b1, c01);
            Vector256<float> a1 = Avx.BroadcastScalarToVector256(a + 1);
            c10 = Fma.MultiplyAdd(a1, b0, c10);
            c11 = Fma.MultiplyAdd(a1, b1, c11);
            Vector256<float> a2 = Avx.BroadcastScalarToVector256(a + 2);
            c20 = Fma.MultiplyAdd(a2, b0, c20);
            c21 = Fma.MultiplyAdd(a2, b1, c21);
            Vector256<float> a3 = Avx.BroadcastScalarToVector256(a + 3);
            c30 = Fma.MultiplyAdd(a3, b0, c30);
            c31 = Fma.MultiplyAdd(a3, b1, c31);
            Vector256<float> a4 = Avx.BroadcastScalarToVector256(a + 4);
            c40 = Fma.MultiplyAdd(a4, b0, c40);
            c41 = Fma.MultiplyAdd(a4, b1, c41);
            Vector256<float> a5 = Avx.BroadcastScalarToVector256(a + 5);
            c50 = Fma.MultiplyAdd(a5, b0, c50);
            c51 = Fma.MultiplyAdd(a5, b1, c51);
            a += 6;
            b += 16;
        }

        if (accumulate)
        {
            float* row = c;
            c00 = Avx.Add(c00, Avx.LoadVector256(row + 0));
            c01 = Avx.Add(c01, Avx.LoadVector256(row + 8));
            row += ldc;
            c10 = Avx.Add(c10, Avx.LoadVector256(row + 0));
            c11 = Avx.Add(c11, Avx.LoadVector256(row + 8));
            row += ldc;
            c20 = Avx.Add(c20, Avx.LoadVector256(row + 0));
            c21 = Avx.Add(c21, Avx.LoadVector256(row + 8));
            row += ldc;
            c30 = Avx.Add(c30, Avx.LoadVector256(row + 0));
            c31 = Avx.Add(c31, Avx.LoadVector256(row + 8));
            row += ldc;
            c40 = Avx.Add(c40, Avx.LoadVector256(row + 0));
            c41 = Avx.Add(c41, Avx.LoadVector256(row + 8));
            row += ldc;
            c50 = Avx.Add(c50, Avx.LoadVector256(row + 0));
            c51 = Avx.Add(c51, Avx.LoadVector256(row + 8));
        }

        Avx.Store(c + 0, c00);
        Avx.Store(c + 8, c01);
        c += ldc;
        Avx.Store(c + 0, c10);
        Avx.Store(c + 8, c11);
        c += ldc;
        Avx.Store(c + 0, c20);
        Avx.Store(c + 8, c21);
        c += ldc;
        Avx.Store(c + 0, c30);
        Avx.Store(c + 8, c31);
        c += ldc;
        Avx.Store(c + 0, c40);
        Avx.Store(c + 8, c41);
        c += ldc;
        Avx.Store(c + 0, c50);
        Avx.Store(c + 8, c51);
    }

    /// <summary>Double 6 × 8 tile: the float kernel's shape with 4-lane vectors.</summary>
    [SkipLocalsInit]
    private static unsafe void MicroAvx2Double(int kc, double* a, double* b, double* c, int ldc, bool accumulate)
    {
        Vector256<double> c00 = Vector256<double>.Zero; Vector256<double> c01 = Vector256<double>.Zero;
        Vector256<double> c10 = Vector256<double>.Zero; Vector256<double> c11 = Vector256<double>.Zero;
        Vector256<double> c20 = Vector256<double>.Zero; Vector256<double> c21 = Vector256<double>.Zero;
        Vector256<double> c30 = Vector256<double>.Zero; Vector256<double> c31 = Vector256<double>.Zero;
        Vector256<double> c40 = Vector256<double>.Zero; Vector256<double> c41 = Vector256<double>.Zero;
        Vector256<double> c50 = Vector256<double>.Zero; Vector256<double> c51 = Vector256<double>.Zero;
        nint p = kc;
        for (; p >= 2; p -= 2)
        {
            {
                Vector256<double> b0 = Avx.LoadVector256(b + 0);
                Vector256<double> b1 = Avx.LoadVector256(b + 4);
                Vector256<double> a0 = Avx.BroadcastScalarToVector256(a + 0);
                c00 = Fma.MultiplyAdd(a0, b0, c00);
                c01 = Fma.MultiplyAdd(a0, b1, c01);
                Vector256<double> a1 = Avx.BroadcastScalarToVector256(a + 1);
                c10 = Fma.MultiplyAdd(a1, b0, c10);
                c11 = Fma.MultiplyAdd(a1, b1, c11);
                Vector256<double> a2 = Avx.BroadcastScalarToVector256(a + 2);
                c20 = Fma.MultiplyAdd(a2, b0, c20);
                c21 = Fma.MultiplyAdd(a2, b1, c21);
                Vector256<double> a3 = Avx.BroadcastScalarToVector256(a + 3);
                c30 = Fma.MultiplyAdd(a3, b0, c30);
                c31 = Fma.MultiplyAdd(a3, b1, c31);
                Vector256<double> a4 = Avx.BroadcastScalarToVector256(a + 4);
                c40 = Fma.MultiplyAdd(a4, b0, c40);
                c41 = Fma.MultiplyAdd(a4, b1, c41);
                Vector256<double> a5 = Avx.BroadcastScalarToVector256(a + 5);
                c50 = Fma.MultiplyAdd(a5, b0, c50);
                c51 = Fma.MultiplyAdd(a5, b1, c51);
            }

            {
                Vector256<double> b0 = Avx.LoadVector256(b + 8);
                Vector256<double> b1 = Avx.LoadVector256(b + 12);
                Vector256<double> a0 = Avx.BroadcastScalarToVector256(a + 6);
                c00 = Fma.MultiplyAdd(a0, b0, c00);
                c01 = Fma.MultiplyAdd(a0, b1, c01);
                Vector256<double> a1 = Avx.BroadcastScalarToVector256(a + 7);
                c10 = Fma.MultiplyAdd(a1, b0, c10);
                c11 = Fma.MultiplyAdd(a1, b1, c11);
                Vector256<double> a2 = Avx.BroadcastScalarToVector256(a + 8);
                c20 = Fma.MultiplyAdd(a2, b0, c20);
                c21 = Fma.MultiplyAdd(a2, b1, c21);
                Vector256<double> a3 = Avx.BroadcastScalarToVector256(a + 9);
                c30 = Fma.MultiplyAdd(a3, b0, c30);
                c31 = Fma.MultiplyAdd(a3, b1, c31);
                Vector256<double> a4 = Avx.BroadcastScalarToVector256(a + 10);
                c40 = Fma.MultiplyAdd(a4, b0, c40);
                c41 = Fma.MultiplyAdd(a4, b1, c41);
                Vector256<double> a5 = Avx.BroadcastScalarToVector256(a + 11);
                c50 = Fma.MultiplyAdd(a5, b0, c50);
                c51 = Fma.MultiplyAdd(a5, b1, c51);
            }
            a += 12;
            b += 16;
        }

        for (; p > 0; p--)
        {
            Vector256<double> b0 = Avx.LoadVector256(b + 0);
            Vector256<double> b1 = Avx.LoadVector256(b + 4);
            Vector256<double> a0 = Avx.BroadcastScalarToVector256(a + 0);
            c00 = Fma.MultiplyAdd(a0, b0, c00);
            c01 = Fma.MultiplyAdd(a0, b1, c01);
            Vector256<double> a1 = Avx.BroadcastScalarToVector256(a + 1);
            c10 = Fma.MultiplyAdd(a1, b0, c10);
            c11 = Fma.MultiplyAdd(a1, b1, c11);
            Vector256<double> a2 = Avx.BroadcastScalarToVector256(a + 2);
            c20 = Fma.MultiplyAdd(a2, b0, c20);
            c21 = Fma.MultiplyAdd(a2, b1, c21);
            Vector256<double> a3 = Avx.BroadcastScalarToVector256(a + 3);
            c30 = Fma.MultiplyAdd(a3, b0, c30);
            c31 = Fma.MultiplyAdd(a3, b1, c31);
            Vector256<double> a4 = Avx.BroadcastScalarToVector256(a + 4);
            c40 = Fma.MultiplyAdd(a4, b0, c40);
            c41 = Fma.MultiplyAdd(a4, b1, c41);
            Vector256<double> a5 = Avx.BroadcastScalarToVector256(a + 5);
            c50 = Fma.MultiplyAdd(a5, b0, c50);
            c51 = Fma.MultiplyAdd(a5, b1, c51);
            a += 6;
            b += 8;
        }

        if (accumulate)
        {
            double* row = c;
            c00 = Avx.Add(c00, Avx.LoadVector256(row + 0));
            c01 = Avx.Add(c01, Avx.LoadVector256(row + 4));
            row += ldc;
            c10 = Avx.Add(c10, Avx.LoadVector256(row + 0));
            c11 = Avx.Add(c11, Avx.LoadVector256(row + 4));
            row += ldc;
            c20 = Avx.Add(c20, Avx.LoadVector256(row + 0));
            c21 = Avx.Add(c21, Avx.LoadVector256(row + 4));
            row += ldc;
            c30 = Avx.Add(c30, Avx.LoadVector256(row + 0));
            c31 = Avx.Add(c31, Avx.LoadVector256(row + 4));
            row += ldc;
            c40 = Avx.Add(c40, Avx.LoadVector256(row + 0));
            c41 = Avx.Add(c41, Avx.LoadVector256(row + 4));
            row += ldc;
            c50 = Avx.Add(c50, Avx.LoadVector256(row + 0));
            c51 = Avx.Add(c51, Avx.LoadVector256(row + 4));
        }

        Avx.Store(c + 0, c00);
        Avx.Store(c + 4, c01);
        c += ldc;
        Avx.Store(c + 0, c10);
        Avx.Store(c + 4, c11);
        c += ldc;
        Avx.Store(c + 0, c20);
        Avx.Store(c + 4, c21);
        c += ldc;
        Avx.Store(c + 0, c30);
        Avx.Store(c + 4, c31);
        c += ldc;
        Avx.Store(c + 0, c40);
        Avx.Store(c + 4, c41);
        c += ldc;
        Avx.Store(c + 0, c50);
        Avx.Store(c + 4, c51);
    }

    /// <summary>Float 12 × 32 tile: 24 zmm accumulators, two B loads and one A broadcast per step (27 of 32 registers).</summary>
    [SkipLocalsInit]
    private static unsafe void MicroAvx512Float(int kc, float* a, float* b, float* c, int ldc, bool accumulate)
    {
        Vector512<float> c000 = Vector512<float>.Zero; Vector512<float> c001 = Vector512<float>.Zero;
        Vector512<float> c010 = Vector512<float>.Zero; Vector512<float> c011 = Vector512<float>.Zero;
        Vector512<float> c020 = Vector512<float>.Zero; Vector512<float> c021 = Vector512<float>.Zero;
        Vector512<float> c030 = Vector512<float>.Zero; Vector512<float> c031 = Vector512<float>.Zero;
        Vector512<float> c040 = Vector512<float>.Zero; Vector512<float> c041 = Vector512<float>.Zero;
        Vector512<float> c050 = Vector512<float>.Zero; Vector512<float> c051 = Vector512<float>.Zero;
        Vector512<float> c060 = Vector512<float>.Zero; Vector512<float> c061 = Vector512<float>.Zero;
        Vector512<float> c070 = Vector512<float>.Zero; Vector512<float> c071 = Vector512<float>.Zero;
        Vector512<float> c080 = Vector512<float>.Zero; Vector512<float> c081 = Vector512<float>.Zero;
        Vector512<float> c090 = Vector512<float>.Zero; Vector512<float> c091 = Vector512<float>.Zero;
        Vector512<float> c100 = Vector512<float>.Zero; Vector512<float> c101 = Vector512<float>.Zero;
        Vector512<float> c110 = Vector512<float>.Zero; Vector512<float> c111 = Vector512<float>.Zero;
        nint p = kc;
        for (; p >= 2; p -= 2)
        {
            {
                Vector512<float> b0 = Avx512F.LoadVector512(b + 0);
                Vector512<float> b1 = Avx512F.LoadVector512(b + 16);
                Vector512<float> a0 = Vector512.Create(a[0]);
                c000 = Avx512F.FusedMultiplyAdd(a0, b0, c000);
                c001 = Avx512F.FusedMultiplyAdd(a0, b1, c001);
                Vector512<float> a1 = Vector512.Create(a[1]);
                c010 = Avx512F.FusedMultiplyAdd(a1, b0, c010);
                c011 = Avx512F.FusedMultiplyAdd(a1, b1, c011);
                Vector512<float> a2 = Vector512.Create(a[2]);
                c020 = Avx512F.FusedMultiplyAdd(a2, b0, c020);
                c021 = Avx512F.FusedMultiplyAdd(a2, b1, c021);
                Vector512<float> a3 = Vector512.Create(a[3]);
                c030 = Avx512F.FusedMultiplyAdd(a3, b0, c030);
                c031 = Avx512F.FusedMultiplyAdd(a3, b1, c031);
                Vector512<float> a4 = Vector512.Create(a[4]);
                c040 = Avx512F.FusedMultiplyAdd(a4, b0, c040);
                c041 = Avx512F.FusedMultiplyAdd(a4, b1, c041);
                Vector512<float> a5 = Vector512.Create(a[5]);
                c050 = Avx512F.FusedMultiplyAdd(a5, b0, c050);
                c051 = Avx512F.FusedMultiplyAdd(a5, b1, c051);
                Vector512<float> a6 = Vector512.Create(a[6]);
                c060 = Avx512F.FusedMultiplyAdd(a6, b0, c060);
                c061 = Avx512F.FusedMultiplyAdd(a6, b1, c061);
                Vector512<float> a7 = Vector512.Create(a[7]);
                c070 = Avx512F.FusedMultiplyAdd(a7, b0, c070);
                c071 = Avx512F.FusedMultiplyAdd(a7, b1, c071);
                Vector512<float> a8 = Vector512.Create(a[8]);
                c080 = Avx512F.FusedMultiplyAdd(a8, b0, c080);
                c081 = Avx512F.FusedMultiplyAdd(a8, b1, c081);
                Vector512<float> a9 = Vector512.Create(a[9]);
                c090 = Avx512F.FusedMultiplyAdd(a9, b0, c090);
                c091 = Avx512F.FusedMultiplyAdd(a9, b1, c091);
                Vector512<float> a10 = Vector512.Create(a[10]);
                c100 = Avx512F.FusedMultiplyAdd(a10, b0, c100);
                c101 = Avx512F.FusedMultiplyAdd(a10, b1, c101);
                Vector512<float> a11 = Vector512.Create(a[11]);
                c110 = Avx512F.FusedMultiplyAdd(a11, b0, c110);
                c111 = Avx512F.FusedMultiplyAdd(a11, b1, c111);
            }

            {
                Vector512<float> b0 = Avx512F.LoadVector512(b + 32);
                Vector512<float> b1 = Avx512F.LoadVector512(b + 48);
                Vector512<float> a0 = Vector512.Create(a[12]);
                c000 = Avx512F.FusedMultiplyAdd(a0, b0, c000);
                c001 = Avx512F.FusedMultiplyAdd(a0, b1, c001);
                Vector512<float> a1 = Vector512.Create(a[13]);
                c010 = Avx512F.FusedMultiplyAdd(a1, b0, c010);
                c011 = Avx512F.FusedMultiplyAdd(a1, b1, c011);
                Vector512<float> a2 = Vector512.Create(a[14]);
                c020 = Avx512F.FusedMultiplyAdd(a2, b0, c020);
                c021 = Avx512F.FusedMultiplyAdd(a2, b1, c021);
                Vector512<float> a3 = Vector512.Create(a[15]);
                c030 = Avx512F.FusedMultiplyAdd(a3, b0, c030);
                c031 = Avx512F.FusedMultiplyAdd(a3, b1, c031);
                Vector512<float> a4 = Vector512.Create(a[16]);
                c040 = Avx512F.FusedMultiplyAdd(a4, b0, c040);
                c041 = Avx512F.FusedMultiplyAdd(a4, b1, c041);
                Vector512<float> a5 = Vector512.Create(a[17]);
                c050 = Avx512F.FusedMultiplyAdd(a5, b0, c050);
                c051 = Avx512F.FusedMultiplyAdd(a5, b1, c051);
                Vector512<float> a6 = Vector512.Create(a[18]);
                c060 = Avx512F.FusedMultiplyAdd(a6, b0, c060);
                c061 = Avx512F.FusedMultiplyAdd(a6, b1, c061);
                Vector512<float> a7 = Vector512.Create(a[19]);
                c070 = Avx512F.FusedMultiplyAdd(a7, b0, c070);
                c071 = Avx512F.FusedMultiplyAdd(a7, b1, c071);
                Vector512<float> a8 = Vector512.Create(a[20]);
                c080 = Avx512F.FusedMultiplyAdd(a8, b0, c080);
                c081 = Avx512F.FusedMultiplyAdd(a8, b1, c081);
                Vector512<float> a9 = Vector512.Create(a[21]);
                c090 = Avx512F.FusedMultiplyAdd(a9, b0, c090);
                c091 = Avx512F.FusedMultiplyAdd(a9, b1, c091);
                Vector512<float> a10 = Vector512.Create(a[22]);
                c100 = Avx512F.FusedMultiplyAdd(a10, b0, c100);
                c101 = Avx512F.FusedMultiplyAdd(a10, b1, c101);
                Vector512<float> a11 = Vector512.Create(a[23]);
                c110 = Avx512F.FusedMultiplyAdd(a11, b0, c110);
                c111 = Avx512F.FusedMultiplyAdd(a11, b1, c111);
            }
            a += 24;
            b += 64;
        }

        for (; p > 0; p--)
        {
            Vector512<float> b0 = Avx512F.LoadVector512(b + 0);
            Vector512<float> b1 = Avx512F.LoadVector512(b + 16);
            Vector512<float> a0 = Vector512.Create(a[0]);
            c000 = Avx512F.FusedMultiplyAdd(a0, b0, c000);
            c001 = Avx512F.FusedMultiplyAdd(a0, b1, c001);
            Vector512<float> a1 = Vector512.Create(a[1]);
            c010 = Avx512F.FusedMultiplyAdd(a1, b0, c010);
            c011 = Avx512F.FusedMultiplyAdd(a1, b1, c011);
            Vector512<float> a2 = Vector512.Create(a[2]);
            c020 = Avx512F.FusedMultiplyAdd(a2, b0, c020);
            c021 = Avx512F.FusedMultiplyAdd(a2, b1, c021);
            Vector512<float> a3 = Vector512.Create(a[3]);
            c030 = Avx512F.FusedMultiplyAdd(a3, b0, c030);
            c031 = Avx512F.FusedMultiplyAdd(a3, b1, c031);
            Vector512<float> a4 = Vector512.Create(a[4]);
            c040 = Avx512F.FusedMultiplyAdd(a4, b0, c040);
            c041 = Avx512F.FusedMultiplyAdd(a4, b1, c041);
            Vector512<float> a5 = Vector512.Create(a[5]);
            c050 = Avx512F.FusedMultiplyAdd(a5, b0, c050);
            c051 = Avx512F.FusedMultiplyAdd(a5, b1, c051);
            Vector512<float> a6 = Vector512.Create(a[6]);
            c060 = Avx512F.FusedMultiplyAdd(a6, b0, c060);
            c061 = Avx512F.FusedMultiplyAdd(a6, b1, c061);
            Vector512<float> a7 = Vector512.Create(a[7]);
            c070 = Avx512F.FusedMultiplyAdd(a7, b0, c070);
            c071 = Avx512F.FusedMultiplyAdd(a7, b1, c071);
            Vector512<float> a8 = Vector512.Create(a[8]);
            c080 = Avx512F.FusedMultiplyAdd(a8, b0, c080);
            c081 = Avx512F.FusedMultiplyAdd(a8, b1, c081);
            Vector512<float> a9 = Vector512.Create(a[9]);
            c090 = Avx512F.FusedMultiplyAdd(a9, b0, c090);
            c091 = Avx512F.FusedMultiplyAdd(a9, b1, c091);
            Vector512<float> a10 = Vector512.Create(a[10]);
            c100 = Avx512F.FusedMultiplyAdd(a10, b0, c100);
            c101 = Avx512F.FusedMultiplyAdd(a10, b1, c101);
            Vector512<float> a11 = Vector512.Create(a[11]);
            c110 = Avx512F.FusedMultiplyAdd(a11, b0, c110);
            c111 = Avx512F.FusedMultiplyAdd(a11, b1, c111);
            a += 12;
            b += 32;
        }

        if (accumulate)
        {
            float* row = c;
            c000 = Avx512F.Add(c000, Avx512F.LoadVector512(row + 0));
            c001 = Avx512F.Add(c001, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c010 = Avx512F.Add(c010, Avx512F.LoadVector512(row + 0));
            c011 = Avx512F.Add(c011, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c020 = Avx512F.Add(c020, Avx512F.LoadVector512(row + 0));
            c021 = Avx512F.Add(c021, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c030 = Avx512F.Add(c030, Avx512F.LoadVector512(row + 0));
            c031 = Avx512F.Add(c031, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c040 = Avx512F.Add(c040, Avx512F.LoadVector512(row + 0));
            c041 = Avx512F.Add(c041, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c050 = Avx512F.Add(c050, Avx512F.LoadVector512(row + 0));
            c051 = Avx512F.Add(c051, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c060 = Avx512F.Add(c060, Avx512F.LoadVector512(row + 0));
            c061 = Avx512F.Add(c061, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c070 = Avx512F.Add(c070, Avx512F.LoadVector512(row + 0));
            c071 = Avx512F.Add(c071, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c080 = Avx512F.Add(c080, Avx512F.LoadVector512(row + 0));
            c081 = Avx512F.Add(c081, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c090 = Avx512F.Add(c090, Avx512F.LoadVector512(row + 0));
            c091 = Avx512F.Add(c091, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c100 = Avx512F.Add(c100, Avx512F.LoadVector512(row + 0));
            c101 = Avx512F.Add(c101, Avx512F.LoadVector512(row + 16));
            row += ldc;
            c110 = Avx512F.Add(c110, Avx512F.LoadVector512(row + 0));
            c111 = Avx512F.Add(c111, Avx512F.LoadVector512(row + 16));
        }

        Avx512F.Store(c + 0, c000);
        Avx512F.Store(c + 16, c001);
        c += ldc;
        Avx512F.Store(c + 0, c010);
        Avx512F.Store(c + 16, c011);
        c += ldc;
        Avx512F.Store(c + 0, c020);
        Avx512F.Store(c + 16, c021);
        c += ldc;
        Avx512F.Store(c + 0, c030);
        Avx512F.Store(c + 16, c031);
        c += ldc;
        Avx512F.Store(c + 0, c040);
        Avx512F.Store(c + 16, c041);
        c += ldc;
        Avx512F.Store(c + 0, c050);
        Avx512F.Store(c + 16, c051);
        c += ldc;
        Avx512F.Store(c + 0, c060);
        Avx512F.Store(c + 16, c061);
        c += ldc;
        Avx512F.Store(c + 0, c070);
        Avx512F.Store(c + 16, c071);
        c += ldc;
        Avx512F.Store(c + 0, c080);
        Avx512F.Store(c + 16, c081);
        c += ldc;
        Avx512F.Store(c + 0, c090);
        Avx512F.Store(c + 16, c091);
        c += ldc;
        Avx512F.Store(c + 0, c100);
        Avx512F.Store(c + 16, c101);
        c += ldc;
        Avx512F.Store(c + 0, c110);
        Avx512F.Store(c + 16, c111);
    }
}
