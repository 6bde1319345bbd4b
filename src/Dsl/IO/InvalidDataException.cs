namespace Dsl.IO;

/// <summary>A data or checkpoint file is malformed; the message names the file and the problem.</summary>
public sealed class InvalidDataException : System.IO.IOException
{
    /// <summary>Creates the exception.</summary>
    public InvalidDataException(string path, string problem, System.Exception? inner = null)
        : base($"{path}: {problem}", inner) { Path = path; Problem = problem; }
    /// <summary>The file.</summary>
    public string Path { get; }
    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
