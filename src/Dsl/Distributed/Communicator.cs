using System;

namespace Dsl.Distributed;

/// <summary>Chooses the communicator a program runs with.</summary>
public static class Communicator
{
    /// <summary>Whether this process was started by an MPI launcher: Open MPI's mpirun sets
    /// <c>OMPI_COMM_WORLD_SIZE</c>, PMIx launchers (srun, prterun) set <c>PMIX_RANK</c>.</summary>
    public static bool LaunchedByMpi =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    /// <summary>
    /// <see cref="MpiCommunicator.World"/> when the process was started by mpirun (or <paramref name="requireMpi"/>,
    /// a program's <c>--ddp</c>), else <see cref="LocalCommunicator.Instance"/>.
    /// </summary>
    /// <exception cref="MpiUnavailableException">MPI is wanted but Open MPI is not installed.</exception>
    public static ICommunicator FromEnvironment(bool requireMpi = false) =>
        requireMpi || LaunchedByMpi ? MpiCommunicator.World : LocalCommunicator.Instance;
}
