namespace Dsl.Generators;

/// <summary>Names of the generator's pipeline steps, for incremental-caching tests.</summary>
internal static class TrackingNames
{
    public const string Models = "Models";
    public const string Plans = "Plans";
    public const string Modules = "Modules";
    public const string ModelDiagnostics = "ModelDiagnostics";
    public const string ModuleDiagnostics = "ModuleDiagnostics";
}
