using Microsoft.CodeAnalysis;

namespace Dsl.Generators.Diagnostics;

/// <summary>
/// Every diagnostic the DSL reports, in one place. Ids: DSL1xx declarations, DSL2xx shapes,
/// DSL3xx numeric scaling, loss and optimizer rules, DSL9xx generator-internal. Each id has a page at
/// docs/diagnostics/&lt;ID&gt;.md and an entry in AnalyzerReleases.*.md (a test checks both).
/// </summary>
internal static class DiagnosticCatalog
{
    public const string DeclarationCategory = "Dsl.Declaration";
    public const string ShapeCategory = "Dsl.Shape";
    public const string ScalingCategory = "Dsl.Scaling";
    public const string MemoryCategory = "Dsl.Memory";
    public const string InternalCategory = "Dsl.Internal";
    // Relative to the repository root: the project has no public site yet.
    public const string HelpBase = "docs/diagnostics/";

    // Ids as constants so code fixes and tests refer to them by name.
    public const string ModelNotPartialId = "DSL101";
    public const string UnsupportedConstructId = "DSL102";
    public const string LayerSignatureId = "DSL103";
    public const string ModelShapeArgumentsId = "DSL104";
    public const string MissingForwardId = "DSL105";
    public const string LayerArgumentId = "DSL106";
    public const string LossFormId = "DSL107";
    public const string NestedModuleId = "DSL108";
    public const string UnsupportedDeclarationId = "DSL110";
    public const string DenseInMismatchId = "DSL201";
    public const string AddShapeMismatchId = "DSL202";
    public const string SharedLayerWidthId = "DSL203";
    public const string HeadsWidthId = "DSL204";
    public const string RotaryDimId = "DSL205";
    public const string TiedShapeId = "DSL206";
    public const string RepeatShapeId = "DSL207";
    public const string StepBatchId = "DSL208";
    public const string PriorCountId = "DSL209";
    public const string SizeLimitId = "DSL210";
    public const string SquarePlusBId = "DSL301";
    public const string AttentionScaleDimensionId = "DSL302";
    public const string AttentionLogitsLargeId = "DSL303";
    public const string DeepNormConstantsId = "DSL304";
    public const string InitVarianceId = "DSL305";
    public const string EmbeddingDimensionId = "DSL306";
    public const string KeySizeBottleneckId = "DSL307";
    public const string UnargmaxableClassesId = "DSL308";
    public const string WindowBeyondSequenceId = "DSL309";
    public const string DeepNormPreNormId = "DSL310";
    public const string RopeBaseId = "DSL311";
    public const string ResidualBranchScaleId = "DSL312";
    public const string LossArgumentId = "DSL313";
    public const string FloodAboveInitialLossId = "DSL314";
    public const string TaiLrAccuracyId = "DSL318";
    public const string TaskWeightId = "DSL319";
    public const string UnscaledTasksId = "DSL320";
    public const string RecomputeSavesNothingId = "DSL321";
    public const string RecomputeSegmentTooSmallId = "DSL322";
    public const string InternalErrorId = "DSL901";

    public static readonly DiagnosticDescriptor ModelNotPartial = Error(ModelNotPartialId, DeclarationCategory,
        "Model or module type must be partial",
        "'{0}' is marked [{1}] but is not declared partial; the generator cannot add its implementation");

    public static readonly DiagnosticDescriptor UnsupportedConstruct = Error(UnsupportedConstructId, DeclarationCategory,
        "Unsupported construct in a forward pass",
        "{0} is not supported in a forward pass; use calls of layer members and Ops, '+' of tensors, '*' by a constant, locals and return");

    public static readonly DiagnosticDescriptor LayerSignature = Error(LayerSignatureId, DeclarationCategory,
        "Layer member has the wrong signature",
        "Layer member '{0}' must be a partial method taking one Tensor and returning Tensor: {1}");

    public static readonly DiagnosticDescriptor ModelShapeArguments = Error(ModelShapeArgumentsId, DeclarationCategory,
        "Model shape argument out of range",
        "[Model] on '{0}': {1} must be {2}, but it is {3}");

    public static readonly DiagnosticDescriptor MissingForward = Error(MissingForwardId, DeclarationCategory,
        "Model or module has no Forward method",
        "'{0}' has no method 'Forward(Tensor)' describing its forward pass");

    public static readonly DiagnosticDescriptor LayerArgument = Error(LayerArgumentId, DeclarationCategory,
        "Layer argument out of range",
        "Layer '{0}': {1} must be {2}, but it is {3}");

    public static readonly DiagnosticDescriptor LossForm = Error(LossFormId, DeclarationCategory,
        "Loss method has an unsupported form",
        "Loss method '{0}' must return a loss op of Ops (SoftmaxCrossEntropy, MeanSquaredError, FocalLoss, LogitAdjustedCrossEntropy, TaiLr, CoSent, CosineMse; optionally inside Flood) of Forward and its own target parameter, or Ops.MultiTask of several: {1}");

    public static readonly DiagnosticDescriptor NestedModule = Error(NestedModuleId, DeclarationCategory,
        "Module members must be layers",
        "Member '{0}' of module '{1}' is a module; modules may contain layers only (nest them in the model instead)");

    /// <summary>A [Model]/[Module] type or a module property declared in a form the generator cannot implement.</summary>
    public static readonly DiagnosticDescriptor UnsupportedDeclaration = Error(UnsupportedDeclarationId, DeclarationCategory,
        "Declaration the generator cannot implement",
        "{0} cannot be implemented by the generator: {1}");

    public static readonly DiagnosticDescriptor DenseInMismatch = Error(DenseInMismatchId, ShapeCategory,
        "Dense input width does not match its input",
        "Dense layer '{0}' declares In = {1}, but its input has {2} features");

    public static readonly DiagnosticDescriptor AddShapeMismatch = Error(AddShapeMismatchId, ShapeCategory,
        "Added tensors have different widths",
        "Cannot add a tensor of {0} features to one of {1} features");

    public static readonly DiagnosticDescriptor SharedLayerWidth = Error(SharedLayerWidthId, ShapeCategory,
        "Layer used with inputs of different widths",
        "Layer '{0}' is called with {1} input features here but with {2} features earlier; a layer's weights have one shape");

    public static readonly DiagnosticDescriptor HeadsWidth = Error(HeadsWidthId, ShapeCategory,
        "Attention heads do not divide the width",
        "Attention '{0}' has {1} heads, which do not divide its input width {2}; change Heads or set ValueSize (and KeySize) explicitly");

    public static readonly DiagnosticDescriptor RotaryDim = Error(RotaryDimId, ShapeCategory,
        "RoPE rotary dimension must be even and at most the key size",
        "Attention '{0}' rotates {1} dimensions per head; RoPE needs an even number no larger than the key size {2}");

    public static readonly DiagnosticDescriptor TiedShape = Error(TiedShapeId, ShapeCategory,
        "Tied weights have different shapes",
        "Layer '{0}' is tied to embedding '{1}': its {2} is {3}, but the embedding table's is {4}");

    public static readonly DiagnosticDescriptor RepeatShape = Error(RepeatShapeId, ShapeCategory,
        "A repeated block changes the width",
        "Block '{0}' of a [Repeat] stack maps {1} features to {2}; every block of a stack must keep its input's shape");

    /// <summary>Logit-adjusted cross-entropy declares a different number of class priors than the logits have columns.</summary>
    public static readonly DiagnosticDescriptor PriorCount = Error(PriorCountId, ShapeCategory,
        "Class priors do not match the number of classes",
        "Ops.LogitAdjustedCrossEntropy declares {0} class priors, but the logits have {1} classes; give one prior per class (or none, and set them from the training labels at run time)");

    /// <summary>A size or count above the DSL's limit (FrontEnd/Rules/Limits.cs): an attribute argument, a
    /// product of them, the unrolled forward pass or the whole arena.</summary>
    public static readonly DiagnosticDescriptor SizeLimit = Error(SizeLimitId, ShapeCategory,
        "Size or count above the DSL's limit",
        "{0}: {1} is {2}, but the DSL's limit is {3}; {4}");

    /// <summary>Reported by the TrainStep analyzer when a call's input is an array of a constant size that
    /// is not a whole number of examples or holds more than the model's Batch.</summary>
    public static readonly DiagnosticDescriptor StepBatch = Error(StepBatchId, ShapeCategory,
        "TrainStep input does not fit the model's batch",
        "'{0}.TrainStep' gets {1} input values, {2}; '{0}' takes up to Batch = {3} examples of {4} values per step");

    public static readonly DiagnosticDescriptor SquarePlusB = Error(SquarePlusBId, ScalingCategory,
        "SquarePlus b must be positive",
        "SquarePlus '{0}' has b = {1}; b must be > 0 (b = 0 is ReLU and loses smoothness, b < 0 gives NaN for small |x|)");

    // ---- scaling rules (SEEDS.md §2; logic in FrontEnd/Rules/ScalingRules.cs) ------------------------
    // Severities follow SEEDS' scheme: Error only for a mathematically invalid model (those block
    // generation), Warning for a departure from a sourced recommendation, Info for a heuristic.

    public static readonly DiagnosticDescriptor AttentionScaleDimension = Warning(AttentionScaleDimensionId, ScalingCategory,
        "Attention scale built from the wrong dimension",
        "Attention '{0}' scales logits by {1} = 1/√{2} ({3}); its key size per head is {4}, so 1/√{4} = {5}");

    public static readonly DiagnosticDescriptor AttentionLogitsLarge = Warning(AttentionLogitsLargeId, ScalingCategory,
        "Attention logits start too large",
        "Attention '{0}' scales logits by {1}: with key size {2} and initial query/key entries of std {3}, its initial logits have std λ·√d·s_q·s_k ≈ {4} > 1, so the softmax starts close to one-hot; 1/√{2} = {5}");

    public static readonly DiagnosticDescriptor DeepNormConstants = Warning(DeepNormConstantsId, ScalingCategory,
        "DeepNorm constants do not match the depth",
        "DeepNorm '{0}' uses α = {1} and β = {2}, but for N = {3} stacked blocks DeepNet gives α = (2N)^¼ = {4} and β = (8N)^−¼ = {5}");

    public static readonly DiagnosticDescriptor InitVariance = Warning(InitVarianceId, ScalingCategory,
        "Initialisation variance does not suit the activation",
        "Dense '{0}' is initialised with variance InitStd² = {1} = {2}/fan_in (fan_in = {3}) and feeds {4}, which needs {5}/fan_in = {6} (std {7})");

    public static readonly DiagnosticDescriptor EmbeddingDimension = Info(EmbeddingDimensionId, ScalingCategory,
        "Embedding dimension below the vocabulary's capacity floor",
        "Embedding '{0}' has Dim = {1} for a vocabulary of {2}; the word-vector estimate asks for Dim > 8.31·ln {2} = {3}");

    public static readonly DiagnosticDescriptor KeySizeBottleneck = Info(KeySizeBottleneckId, ScalingCategory,
        "Attention key size narrows the low-rank bottleneck",
        "Attention '{0}' has key size {1}, below its value size {2} and the {3} keys a query attends: each head's logits QKᵀ have rank ≤ {1}; raising KeySize (towards {3}) costs only the query and key projections");

    public static readonly DiagnosticDescriptor UnargmaxableClasses = Info(UnargmaxableClassesId, ScalingCategory,
        "Output classes may be unargmaxable",
        "Dense '{0}' scores {1} classes from {2} features (more than {2} + 1): a class whose weight vector lies inside the convex hull of the others can never be the argmax{3}");

    public static readonly DiagnosticDescriptor WindowBeyondSequence = Warning(WindowBeyondSequenceId, ScalingCategory,
        "Local attention window larger than the training length",
        "Attention '{0}' has Window = {1}, larger than the training length Sequence = {2}, so it restricts nothing; the local-attention baseline uses Window = {2}");

    public static readonly DiagnosticDescriptor DeepNormPreNorm = Warning(DeepNormPreNormId, ScalingCategory,
        "DeepNorm skip weight in a Pre-LN arrangement",
        "DeepNorm '{0}' weights the skip by α = {1}, but the sum it feeds is used without a LayerNorm after it (Pre-LN), so α compounds along the residual stream; DeepNorm's α belongs to Post-LN x = LN(α·x + F(x)), and Pre-LN uses α = 1");

    public static readonly DiagnosticDescriptor RopeBase = Info(RopeBaseId, ScalingCategory,
        "RoPE base differs from 10000",
        "Attention '{0}' uses RoPE base {1}, not RoFormer's 10000 (θ_i = 10000^(−2i/d)); a checkpoint trained with one base does not transfer to the other");

    public static readonly DiagnosticDescriptor ResidualBranchScale = Warning(ResidualBranchScaleId, ScalingCategory,
        "Residual branches without normalisation need a 1/√N scale",
        "This residual add gives its branch weight ε = {0} in a stack of {1} residual adds with no normalisation: each multiplies the stream's second moment by about 1 + ε², about {2} over the stack; without a norm the branches need ε ≤ 1/√{1} = {3}");

    // ---- loss rules (SEEDS.md §2 "Losses", "Regularizers"; logic in FrontEnd/Rules/LossRules.cs) --------

    public static readonly DiagnosticDescriptor LossArgument = Error(LossArgumentId, ScalingCategory,
        "Loss hyper-parameter out of range",
        "{0}: {1} = {2}, but it must be {3}: {4}");

    public static readonly DiagnosticDescriptor FloodAboveInitialLoss = Warning(FloodAboveInitialLossId, ScalingCategory,
        "Flood level at or above the initial loss",
        "Ops.Flood level b = {0} is at or above the loss at a uniform initial output, {1} = {2} for {3} classes: the flooded gradient sign(L − b)·∇L is ascent while L < b, so training never descends; choose b on validation data, small relative to ln K");

    public static readonly DiagnosticDescriptor TaiLrAccuracy = Info(TaiLrAccuracyId, ScalingCategory,
        "TaiLr with γ = 1 is the slow −p loss",
        "Ops.TaiLr with γ = 1 weights each example by w = clamp(p, {0}, 1), so its gradient is {1}: the −p \"accuracy\" loss, whose gradient −p(1 − p)∇z vanishes as p → 0 and learns slowly from wrong predictions; γ < 1 keeps part of cross-entropy (the public examples use 0.8 or 1e-7)");

    // ---- multi-task weighting (SEEDS.md §2 NNS023; logic in FrontEnd/Rules/MultiTaskRules.cs) ----------

    public static readonly DiagnosticDescriptor TaskWeight = Error(TaskWeightId, ScalingCategory,
        "Multi-task weight out of range",
        "Ops.MultiTask gives task {0}, {2}, the weight α = {1}; task weights must be finite and ≥ 0: L = Σ α_i L_i with α_i < 0 rewards that task's loss for growing, so gradient descent pushes it up");

    public static readonly DiagnosticDescriptor UnscaledTasks = Info(UnscaledTasksId, ScalingCategory,
        "Classification and regression losses summed with equal weights",
        "Ops.MultiTask sums {0} and {1} with equal weights, but their losses live on different scales (cross-entropy starts near {2}, a squared error in the targets' squared units), so the larger one dominates the gradient; TaskWeighting.LogSum (Σ ln L_i, the real-time weights L_i/sg(L_i)) or TaskWeighting.InitialLoss puts them on one scale");

    // ---- memory and precision (SEEDS.md §1.7, §2 "Precision & memory"; logic in FrontEnd/Rules/MemoryRules.cs) ----

    public static readonly DiagnosticDescriptor RecomputeSavesNothing = Warning(RecomputeSavesNothingId, MemoryCategory,
        "[Recompute] that saves nothing",
        "[Recompute] {0} makes one segment, {1}: its forward runs twice, yet its activations still need their own {2} elements, so the arena is as large as without it (Su: decorating the whole model once saves nothing); recompute saves memory when several segments take turns in one place: put it on a [Repeat] stack, each block a segment, or on several module uses");

    public static readonly DiagnosticDescriptor RecomputeSegmentTooSmall = Warning(RecomputeSegmentTooSmallId, MemoryCategory,
        "[Recompute] segment with nothing worth saving",
        "[Recompute] on '{0}': each of its segments recomputes {1} elements of activations, {2} the {3} of the input it keeps anyway, so running its forward again costs more than the memory it gives back; remove [Recompute] from it (or recompute larger blocks)");

    public static readonly DiagnosticDescriptor InternalError = new(InternalErrorId,
        "Internal error in the DSL generator",
        "The DSL generator failed on '{0}': {1}. Please report this; the model was emitted as stubs.",
        InternalCategory, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpBase + InternalErrorId + ".md");

    /// <summary>Every descriptor the analyzers report (the generator reports only <see cref="InternalError"/>).</summary>
    public static readonly DiagnosticDescriptor[] AnalyzerDescriptors =
    {
        ModelNotPartial, UnsupportedConstruct, LayerSignature, ModelShapeArguments, MissingForward,
        LayerArgument, LossForm, NestedModule, UnsupportedDeclaration, DenseInMismatch, AddShapeMismatch, SharedLayerWidth,
        HeadsWidth, RotaryDim, TiedShape, RepeatShape, SquarePlusB, AttentionScaleDimension, AttentionLogitsLarge,
        DeepNormConstants, InitVariance, EmbeddingDimension, KeySizeBottleneck, UnargmaxableClasses, WindowBeyondSequence,
        DeepNormPreNorm, RopeBase, ResidualBranchScale, LossArgument, FloodAboveInitialLoss,
        TaiLrAccuracy, PriorCount, TaskWeight, UnscaledTasks, SizeLimit, RecomputeSavesNothing, RecomputeSegmentTooSmall,
    };

    /// <summary>
    /// Whether a diagnostic makes the model invalid, so the generator emits stubs: only rules that are
    /// errors by definition (an invalid or unbuildable model). Decided by the descriptor's default
    /// severity, never by the configured one: silencing an error in .editorconfig does not make the
    /// model buildable, and no Warning or Info rule (the scaling heuristics) ever blocks generation.
    /// </summary>
    public static bool BlocksGeneration(DiagnosticDescriptor descriptor) => descriptor.DefaultSeverity == DiagnosticSeverity.Error;

    private static DiagnosticDescriptor Error(string id, string category, string title, string message) =>
        new(id, title, message, category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpBase + id + ".md");

    private static DiagnosticDescriptor Warning(string id, string category, string title, string message) =>
        new(id, title, message, category, DiagnosticSeverity.Warning, isEnabledByDefault: true, helpLinkUri: HelpBase + id + ".md");

    private static DiagnosticDescriptor Info(string id, string category, string title, string message) =>
        new(id, title, message, category, DiagnosticSeverity.Info, isEnabledByDefault: true, helpLinkUri: HelpBase + id + ".md");

    // ---- rules outside the front end (own analyzers in analyzers/Dsl.Analyzers) ------------------

    public const string MissingLossId = "DSL109";

    /// <summary>Reported by the TrainStep analyzer on a call of <c>TrainStep</c> on a [Model] without a
    /// [Loss] method (the generator emits no <c>TrainStep</c> then, so the call is also CS1061).</summary>
    public static readonly DiagnosticDescriptor MissingLoss = Error(MissingLossId, DeclarationCategory,
        "TrainStep needs a [Loss] method",
        "'{0}' declares no [Loss] method, so the generator emits no TrainStep for it; add a method marked [Loss] that returns Ops.SoftmaxCrossEntropy(Forward(x), labels) or Ops.MeanSquaredError(Forward(x), targets)");

    public const string OptimizerCategory = "Dsl.Optimizer";
    public const string LionLearningRateId = "DSL315";
    public const string OptimizerArgumentId = "DSL316";
    public const string AdaptiveL2Id = "DSL317";

    /// <summary>Reported by the optimizer analyzer on a constant learning rate of <c>new Lion(...)</c>
    /// above AdamW's default 1e-3 divided by 3 (SEEDS NNS026, [K-9473]).</summary>
    public static readonly DiagnosticDescriptor LionLearningRate = Warning(LionLearningRateId, OptimizerCategory,
        "Lion learning rate sized like AdamW's",
        "Lion learning rate {0} is above AdamW's usual {1} / 3 = {2}: Lion's sign updates have the same size whatever the gradient's scale, so its learning rate should be 3–10× smaller than AdamW's (Su: more than 10×) and its weight decay (here {3}) 3–10× larger, keeping lr·λ; {0} / 10 = {4}");

    /// <summary>Reported by the optimizer analyzer on a constant argument of <c>new Lion(...)</c>,
    /// <c>new ChildTuningF(...)</c> or <c>new ChildTuningD(...)</c> that the constructor would reject
    /// at run time (SEEDS NNS026, NNS028).</summary>
    public static readonly DiagnosticDescriptor OptimizerArgument = Error(OptimizerArgumentId, OptimizerCategory,
        "Optimizer argument out of range",
        "{0}: {1} = {2}, but it must be {3}: {4}");

    /// <summary>Reported by the optimizer analyzer on a constant positive <c>l2</c> of <c>new AdamW(...)</c>
    /// (SEEDS NNS027, [K-7681]).</summary>
    public static readonly DiagnosticDescriptor AdaptiveL2 = Warning(AdaptiveL2Id, OptimizerCategory,
        "L2 penalty with an adaptive optimizer",
        "AdamW with l2 = {0} adds λ₂·θ to the gradient before Adam's moments, where it is divided by √v̂ like the gradient: it acts like a uniform −lr·λ₂·sign(θ) pull that weights with large gradients barely feel, which is not weight decay; use the decoupled weightDecay (here {1}) instead, unless you are reproducing a reference that used L2");

    // ---- the code-fix contract ---------------------------------------------------------------------
    //
    // A diagnostic whose fix is "give this attribute argument that value" carries the edit in
    // Diagnostic.Properties, so the fixer (analyzers/Dsl.CodeFixes, SetArgumentCodeFixProvider) needs no
    // re-analysis and no knowledge of the rule:
    //
    //   "Argument"   the argument to set, e.g. "In" (a named attribute argument, written Name = value;
    //                inserted when absent). When the diagnostic is on an argument of a call or on a
    //                positional attribute argument, that argument's expression is replaced instead.
    //   "Value"      the C# expression text to write, invariant culture, e.g. "20" or "0.3195".
    //   "Argument2"/"Value2", "Argument3"/"Value3", ...   further arguments set by the same fix
    //                (e.g. DeepNorm's Alpha and Beta together).
    //   "Remove"     an attribute argument the fix may delete instead (e.g. "In": 0/absent infers it);
    //                offered as a second code action.
    //   "Title"      optional: the code action's title (default "Set In = 20").
    //
    // To give a new rule this fix: list its id in SetArgumentFixableIds and add one line to the
    // analyzer's property table (FixProperties in Dsl.Analyzers) that builds the properties from the
    // diagnostic's message arguments.

    public const string ArgumentProperty = "Argument";
    public const string ValueProperty = "Value";
    public const string RemoveProperty = "Remove";
    public const string TitleProperty = "Title";

    /// <summary>The ids whose diagnostics may carry <see cref="ArgumentProperty"/>/<see cref="ValueProperty"/>
    /// or <see cref="RemoveProperty"/> (the fixer's FixableDiagnosticIds).</summary>
    public static readonly string[] SetArgumentFixableIds =
    {
        DenseInMismatchId, LayerArgumentId, SquarePlusBId, RotaryDimId, AttentionScaleDimensionId, AttentionLogitsLargeId,
        DeepNormConstantsId, WindowBeyondSequenceId, DeepNormPreNormId, LossArgumentId, LionLearningRateId,
    };
}
