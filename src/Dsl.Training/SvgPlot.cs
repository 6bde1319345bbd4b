using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace Dsl.Training;

/// <summary>One named curve of a <see cref="SvgPlot"/>: points (x, y) in drawing order.</summary>
/// <param name="Name">Legend text.</param>
/// <param name="Points">The points; non-finite y values are left out of the line.</param>
/// <param name="Color">Stroke colour (any SVG colour).</param>
public sealed record PlotSeries(string Name, IReadOnlyList<(double X, double Y)> Points, string Color);

/// <summary>
/// A small line-chart writer for the run folder's loss.svg: axes with round ticks, a grid, one
/// polyline per series and a legend, as plain SVG 1.1 text that any browser or image viewer shows.
/// </summary>
/// <remarks>
/// Written here rather than taken from ScottPlot, which draws well but renders through SkiaSharp: a
/// consumer app then carries 57 MB of native Skia builds for 15 platforms (measured in a fresh console
/// project), needs fontconfig and installed fonts at run time, and its SVG positions every glyph
/// with the metrics of the machine's fonts. This writer has no dependency, draws text as SVG text
/// in a generic font family, and its output is a fixed function of the data (testable byte for byte).
/// </remarks>
public static class SvgPlot
{
    private const double Width = 800, Height = 480, Left = 70, Right = 20, Top = 40, Bottom = 50;

    /// <summary>The SVG document for <paramref name="series"/>.</summary>
    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<PlotSeries> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        double xMin = double.PositiveInfinity, xMax = double.NegativeInfinity, yMin = double.PositiveInfinity, yMax = double.NegativeInfinity;
        foreach (var s in series)
        {
            foreach (var (x, y) in s.Points)
            {
                if (!double.IsFinite(x) || !double.IsFinite(y)) continue;
                xMin = Math.Min(xMin, x);
                xMax = Math.Max(xMax, x);
                yMin = Math.Min(yMin, y);
                yMax = Math.Max(yMax, y);
            }
        }

        bool empty = !double.IsFinite(xMin);
        if (empty)
        {
            (xMin, xMax, yMin, yMax) = (0, 1, 0, 1);
        }

        (double xLow, double xHigh, double xStep) = Ticks(xMin, xMax);
        (double yLow, double yHigh, double yStep) = Ticks(yMin, yMax);
        double plotWidth = Width - Left - Right, plotHeight = Height - Top - Bottom;
        double X(double x) => Left + ((x - xLow) / (xHigh - xLow) * plotWidth);
        double Y(double y) => Top + plotHeight - ((y - yLow) / (yHigh - yLow) * plotHeight);

        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Invariant($"<title>{Escape(title)}</title>\n"));
        svg.Append(Invariant($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n"));
        svg.Append(Invariant($"<text x=\"{Width / 2}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n"));
        svg.Append("<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
        for (double t = xLow; t <= xHigh + (xStep / 2); t += xStep)
            svg.Append(Invariant($"<line x1=\"{R(X(t))}\" y1=\"{R(Top)}\" x2=\"{R(X(t))}\" y2=\"{R(Top + plotHeight)}\"/>\n"));
        for (double t = yLow; t <= yHigh + (yStep / 2); t += yStep)
            svg.Append(Invariant($"<line x1=\"{R(Left)}\" y1=\"{R(Y(t))}\" x2=\"{R(Left + plotWidth)}\" y2=\"{R(Y(t))}\"/>\n"));
        svg.Append("</g>\n");
        svg.Append(Invariant($"<rect x=\"{R(Left)}\" y=\"{R(Top)}\" width=\"{R(plotWidth)}\" height=\"{R(plotHeight)}\" fill=\"none\" stroke=\"#404040\"/>\n"));
        svg.Append("<g fill=\"#404040\">\n");
        for (double t = xLow; t <= xHigh + (xStep / 2); t += xStep)
            svg.Append(Invariant($"<text x=\"{R(X(t))}\" y=\"{R(Top + plotHeight + 16)}\" text-anchor=\"middle\">{Tick(t, xStep)}</text>\n"));
        for (double t = yLow; t <= yHigh + (yStep / 2); t += yStep)
            svg.Append(Invariant($"<text x=\"{R(Left - 6)}\" y=\"{R(Y(t) + 4)}\" text-anchor=\"end\">{Tick(t, yStep)}</text>\n"));
        svg.Append(Invariant($"<text x=\"{R(Left + (plotWidth / 2))}\" y=\"{R(Height - 12)}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n"));
        svg.Append(Invariant($"<text transform=\"translate(18 {R(Top + (plotHeight / 2))}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n"));
        svg.Append("</g>\n");
        if (empty)
            svg.Append(Invariant($"<text x=\"{R(Left + (plotWidth / 2))}\" y=\"{R(Top + (plotHeight / 2))}\" text-anchor=\"middle\" fill=\"#808080\">no data</text>\n"));

        foreach (var s in series)
        {
            var points = new StringBuilder();
            int count = 0;
            foreach (var (x, y) in s.Points)
            {
                if (!double.IsFinite(x) || !double.IsFinite(y)) continue;
                points.Append(Invariant($"{R(X(x))},{R(Y(y))} "));
                count++;
            }

            if (count == 0) continue;
            string color = Escape(s.Color);
            svg.Append(Invariant($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"{points.ToString().TrimEnd()}\"><title>{Escape(s.Name)}</title></polyline>\n"));
            if (count <= 60)
            {
                // Few points (evaluations): mark each so a single one is visible too.
                foreach (var (x, y) in s.Points)
                {
                    if (double.IsFinite(x) && double.IsFinite(y))
                        svg.Append(Invariant($"<circle cx=\"{R(X(x))}\" cy=\"{R(Y(y))}\" r=\"2.5\" fill=\"{color}\"/>\n"));
                }
            }
        }

        double legendY = Top + 14;
        foreach (var s in series)
        {
            double legendX = Left + plotWidth - 150;
            svg.Append(Invariant($"<line x1=\"{R(legendX)}\" y1=\"{R(legendY - 4)}\" x2=\"{R(legendX + 24)}\" y2=\"{R(legendY - 4)}\" stroke=\"{Escape(s.Color)}\" stroke-width=\"2\"/>\n"));
            svg.Append(Invariant($"<text x=\"{R(legendX + 30)}\" y=\"{R(legendY)}\">{Escape(s.Name)}</text>\n"));
            legendY += 16;
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Writes <see cref="Render"/> to <paramref name="path"/> through a temporary file and a rename.</summary>
    public static void Write(string path, string title, string xLabel, string yLabel, IReadOnlyList<PlotSeries> series)
    {
        string text = Render(title, xLabel, yLabel, series);
        string temp = path + ".tmp";
        File.WriteAllText(temp, text, new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Round axis limits around [min, max] and a tick step of 1, 2 or 5 × 10ᵏ giving 4–10 ticks.</summary>
    internal static (double Low, double High, double Step) Ticks(double min, double max)
    {
        if (max - min < 1e-12 * Math.Max(1, Math.Abs(max)))
        {
            double pad = Math.Abs(max) > 0 ? Math.Abs(max) * 0.1 : 1;
            min -= pad;
            max += pad;
        }

        double raw = (max - min) / 6;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = magnitude * (raw / magnitude < 1.5 ? 1 : raw / magnitude < 3.5 ? 2 : raw / magnitude < 7.5 ? 5 : 10);
        return (Math.Floor(min / step) * step, Math.Ceiling(max / step) * step, step);
    }

    private static string Tick(double value, double step)
    {
        int decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(step) + 1e-9));
        if (Math.Abs(value) < step / 1e6) value = 0;
        return value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    private static string R(double value) => Math.Round(value, 1).ToString("0.#", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal);
}
