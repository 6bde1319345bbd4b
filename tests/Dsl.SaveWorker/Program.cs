using System;
using System.Collections;
using System.Collections.Generic;
using System.Threading;
using Dsl.IO;

// Usage: Dsl.SaveWorker PATH. Saves a safetensors file to PATH and, while the data is being written
// (after the first tensor, before the rename), prints "inside" and waits to be killed.
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: Dsl.SaveWorker PATH");
    return 2;
}

var tensors = new HaltingList(new[]
{
    new SafeTensor("a", new[] { 1024, 256 }, new float[1024 * 256]),
    new SafeTensor("b", new[] { 1024, 256 }, new float[1024 * 256]),
});
SafeTensors.Write(args[0], tensors);
Console.WriteLine("finished without being killed");
return 1;

/// <summary>The tensors to save; the second enumeration (the writer's data loop, after the header's)
/// stops after the first tensor, so the process dies with a partly written temporary file.</summary>
internal sealed class HaltingList : IReadOnlyList<SafeTensor>
{
    private readonly SafeTensor[] _items;
    private int _enumerations;

    public HaltingList(SafeTensor[] items) => _items = items;

    public SafeTensor this[int index] => _items[index];

    public int Count => _items.Length;

    public IEnumerator<SafeTensor> GetEnumerator()
    {
        bool halt = ++_enumerations == 2;
        for (int i = 0; i < _items.Length; i++)
        {
            if (halt && i == 1)
            {
                Console.WriteLine("inside");
                Console.Out.Flush();
                Thread.Sleep(Timeout.Infinite);
            }

            yield return _items[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
