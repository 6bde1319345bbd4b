using System;

namespace Dsl.Distributed;

/// <summary>MPI cannot be used here: the library is missing or is not Open MPI. The message says what to install.</summary>
public sealed class MpiUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MpiUnavailableException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public MpiUnavailableException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Creates the exception with a default message.</summary>
    public MpiUnavailableException() : base("MPI is not available.")
    {
    }
}

/// <summary>A collective call failed; the message names the call, the rank and the library's error text.</summary>
public class CommunicatorException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CommunicatorException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public CommunicatorException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Creates the exception with a default message.</summary>
    public CommunicatorException() : base("A collective operation failed.")
    {
    }
}

/// <summary>A collective did not complete within <see cref="ICommunicator.Timeout"/>: another rank has stopped,
/// stalled, or is not making the same calls. The message names the operation, this rank and the wait.</summary>
public sealed class CommunicatorTimeoutException : CommunicatorException
{
    /// <summary>Creates the exception.</summary>
    public CommunicatorTimeoutException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public CommunicatorTimeoutException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Creates the exception with a default message.</summary>
    public CommunicatorTimeoutException() : base("A collective operation timed out.")
    {
    }
}
