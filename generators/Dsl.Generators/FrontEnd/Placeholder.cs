namespace Dsl.Generators; internal static class Placeholder { }
