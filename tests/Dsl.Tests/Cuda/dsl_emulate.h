/* CPU emulation of the generated CUDA C, for the parity check without a GPU.
 *
 * Compiled with: clang++-14 -x c++ -std=c++17 -O1 -shared -fPIC -pthread -DDSL_EMULATE -include dsl_emulate.h model.cu
 *
 * A launch runs blocks one after another. A kernel that synchronises its block ("cooperative") runs
 * blockDim OS threads that meet at a real barrier on __syncthreads(); other kernels run their threads
 * in a plain loop. __shared__ becomes a function-level static, shared by the threads of the running
 * block. threadIdx/blockIdx are thread_local.
 *
 * What this cannot catch: races between blocks (they never overlap here), a missing __syncthreads
 * whose race the OS scheduler happens not to expose, warp-level semantics (the kernels use none: no
 * shuffles, no warp-synchronous code), device math accuracy (libm runs here, not CUDA's expf/erff),
 * memory coalescing, occupancy, shared-memory limits and launch-bound errors.
 */
#pragma once
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __shared__ static

static thread_local int dsl_emu_tid;
static thread_local int dsl_emu_bid;
static int dsl_emu_bdim;
static int dsl_emu_gdim;

#define DSL_TID dsl_emu_tid
#define DSL_BID dsl_emu_bid
#define DSL_BDIM dsl_emu_bdim
#define DSL_GDIM dsl_emu_gdim
#define DSL_EXPF(x) std::exp((float)(x))
#define DSL_LOGF(x) std::log((float)(x))
#define DSL_LOG1PF(x) std::log1p((float)(x))
#define DSL_SQRTF(x) std::sqrt((float)(x))
#define DSL_TANHF(x) std::tanh((float)(x))
#define DSL_ERFF(x) std::erf((float)(x))
#define DSL_SQRT(x) std::sqrt((double)(x))
#define DSL_NAN __builtin_nanf("")
#define DSL_INF __builtin_huge_valf()

/* A reusable barrier for the threads of one block. */
class DslEmuBarrier
{
public:
    explicit DslEmuBarrier(int count) : _count(count) {}

    void Wait()
    {
        std::unique_lock<std::mutex> lock(_mutex);
        unsigned long long generation = _generation;
        if (++_arrived == _count)
        {
            _arrived = 0;
            _generation++;
            _changed.notify_all();
            return;
        }

        _changed.wait(lock, [&] { return generation != _generation; });
    }

private:
    std::mutex _mutex;
    std::condition_variable _changed;
    int _count;
    int _arrived = 0;
    unsigned long long _generation = 0;
};

static DslEmuBarrier* dsl_emu_barrier;

static inline void __syncthreads()
{
    if (dsl_emu_barrier != nullptr) dsl_emu_barrier->Wait();
}

template <class Kernel>
static void dsl_emulate_launch(int grid, int block, bool cooperative, Kernel kernel)
{
    dsl_emu_gdim = grid;
    dsl_emu_bdim = block;
    if (!cooperative)
    {
        dsl_emu_barrier = nullptr;
        for (int b = 0; b < grid; b++)
        {
            for (int t = 0; t < block; t++)
            {
                dsl_emu_bid = b;
                dsl_emu_tid = t;
                kernel();
            }
        }

        return;
    }

    DslEmuBarrier barrier(block);
    dsl_emu_barrier = &barrier;
    std::vector<std::thread> threads;
    threads.reserve(block);
    for (int t = 0; t < block; t++)
    {
        threads.emplace_back([=, &barrier] {
            dsl_emu_tid = t;
            for (int b = 0; b < grid; b++)
            {
                dsl_emu_bid = b;
                kernel();
                barrier.Wait(); /* the next block reuses the shared memory */
            }
        });
    }

    for (auto& thread : threads) thread.join();
    dsl_emu_barrier = nullptr;
}

/* One exported launcher per kernel: emulate_<name>(grid, block, arena, ids, labels, targets, &args). */
#define DSL_EMULATE_EXPORT(name, cooperative)                                                                  \
    extern "C" __attribute__((visibility("default"))) void emulate_##name(int grid, int block, float* arena,  \
        const int* ids, const int* labels, const float* targets, const DslArgs* args)                         \
    {                                                                                                          \
        DslArgs copy = *args;                                                                                  \
        dsl_emulate_launch(grid, block, (cooperative) != 0, [=] { name(arena, ids, labels, targets, copy); }); \
    }
