#include "svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "vq/error.h"

namespace vq::cli {
namespace {

// Canvas and plot area, in SVG user units (pixels at 100 % zoom).
constexpr double kWidth = 800, kHeight = 420;
constexpr double kLeft = 80, kRight = 20, kTop = 44, kBottom = 56;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
// Colours of series 0, 1, ... (repeated past the end).
constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string number(double v, const char* format = "%.17g") {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// A tick step of 1, 2 or 5 × 10^k giving about `target` intervals over span.
double nice_step(double span, int target) {
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

struct Range {
  double lo, hi;
  double y(double v) const {  // value -> SVG y; non-finite values sit at the top edge
    if (!std::isfinite(v)) return v < 0 ? kTop + kPlotH : kTop;
    return kTop + kPlotH * (1 - (v - lo) / (hi - lo));
  }
};

// The y range: from 0 (or the lowest value below 0) to the highest finite value, widened to
// whole ticks so the top tick labels the top edge.
Range y_range(const Chart& chart, double& step) {
  double lo = 0, hi = 0;
  bool any = false;
  for (const ChartSeries& s : chart.series)
    for (double v : s.values)
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        any = true;
      }
  if (!any || hi == lo) hi = lo + 1;
  step = nice_step(hi - lo, 5);
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step};
}

std::string text(double x, double y, const std::string& s, const char* extra = "") {
  return "<text x=\"" + number(x, "%.1f") + "\" y=\"" + number(y, "%.1f") + "\"" + extra + ">" + xml_escape(s) +
         "</text>\n";
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  return out;
}

std::string render_svg(const Chart& chart) {
  VQ_CHECK(!chart.series.empty(), "chart '", chart.title, "': no series");
  const size_t n = chart.series[0].values.size();
  VQ_CHECK(n > 0, "chart '", chart.title, "': no values");
  for (const ChartSeries& s : chart.series)
    VQ_CHECK(s.values.size() == n, "chart '", chart.title, "': series '", s.name, "' has ", s.values.size(),
             " values, the first ", n);
  VQ_CHECK(chart.categories.empty() || chart.categories.size() == n, "chart '", chart.title, "': ",
           chart.categories.size(), " labels for ", n, " values");
  const bool bars = chart.style == Chart::Style::kBars;
  double step = 1;
  const Range r = y_range(chart, step);
  // x of position i: bars and category labels sit in the middle of n equal slots; a numbered
  // line runs edge to edge.
  const bool slots = bars || !chart.categories.empty();
  const auto x_of = [&](double i) {
    if (slots) return kLeft + kPlotW * (i + 0.5) / double(n);
    return kLeft + (n == 1 ? kPlotW / 2 : kPlotW * i / double(n - 1));
  };
  const auto label_of = [&](size_t i) { return chart.categories.empty() ? std::to_string(i) : chart.categories[i]; };

  std::string svg;
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + number(kWidth) + "\" height=\"" + number(kHeight) +
         "\" viewBox=\"0 0 " + number(kWidth) + " " + number(kHeight) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + number(kWidth) + "\" height=\"" + number(kHeight) + "\" fill=\"white\"/>\n";
  svg += text(kWidth / 2, 24, chart.title, " text-anchor=\"middle\" font-size=\"15\"");
  // Axes, y ticks with grid lines, axis labels.
  svg += "<g stroke=\"#888\" stroke-width=\"1\">\n";
  for (double v = r.lo; v <= r.hi + step * 1e-9; v += step) {
    const double y = r.y(v);
    svg += "<line x1=\"" + number(kLeft - 4) + "\" y1=\"" + number(y, "%.1f") + "\" x2=\"" + number(kLeft + kPlotW) +
           "\" y2=\"" + number(y, "%.1f") + "\" stroke=\"#e4e4e4\"/>\n";
  }
  svg += "<line x1=\"" + number(kLeft) + "\" y1=\"" + number(kTop) + "\" x2=\"" + number(kLeft) + "\" y2=\"" +
         number(kTop + kPlotH) + "\"/>\n";
  svg += "<line x1=\"" + number(kLeft) + "\" y1=\"" + number(kTop + kPlotH) + "\" x2=\"" + number(kLeft + kPlotW) +
         "\" y2=\"" + number(kTop + kPlotH) + "\"/>\n</g>\n";
  for (double v = r.lo; v <= r.hi + step * 1e-9; v += step)
    svg += text(kLeft - 8, r.y(v) + 4, number(std::abs(v) < step * 1e-9 ? 0.0 : v, "%g"), " text-anchor=\"end\"");
  // x ticks: every label up to 20 positions (longer labels would overlap), otherwise about 10
  // at round positions.
  const size_t x_step = n <= 20 ? 1 : size_t(std::max(1.0, nice_step(double(n - 1), 10)));
  for (size_t i = 0; i < n; i += x_step)
    svg += text(x_of(double(i)), kTop + kPlotH + 16, label_of(i), " text-anchor=\"middle\"");
  svg += text(kLeft + kPlotW / 2, kHeight - 14, chart.x_label, " text-anchor=\"middle\"");
  svg += text(18, kTop + kPlotH / 2, chart.y_label,
              (" text-anchor=\"middle\" transform=\"rotate(-90 18 " + number(kTop + kPlotH / 2, "%.1f") + ")\"").c_str());

  // The data: one element with class="point" per value (header comment).
  const size_t k = chart.series.size();
  const double slot = kPlotW / double(n), bar_w = slot * 0.8 / double(k);
  for (size_t s = 0; s < k; ++s) {
    const ChartSeries& series = chart.series[s];
    const std::string colour = kColours[s % std::size(kColours)];
    svg += "<g class=\"series\" data-series=\"" + std::to_string(s) + "\" data-name=\"" + xml_escape(series.name) +
           "\" fill=\"" + colour + "\">\n";
    if (!bars) {
      svg += "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"1.5\" points=\"";
      for (size_t i = 0; i < n; ++i) {
        if (i) svg += ' ';
        svg += number(x_of(double(i)), "%.2f") + "," + number(r.y(series.values[i]), "%.2f");
      }
      svg += "\"/>\n";
    }
    for (size_t i = 0; i < n; ++i) {
      const double v = series.values[i];
      const std::string data = " class=\"point\" data-series=\"" + std::to_string(s) + "\" data-index=\"" +
                               std::to_string(i) + "\" data-value=\"" + number(v) + "\"";
      const std::string tip = "<title>" + xml_escape((series.name.empty() ? "" : series.name + ": ") + label_of(i) +
                                                     " = " + number(v, "%.6g")) +
                              "</title>";
      if (bars) {
        const double x = kLeft + slot * double(i) + slot * 0.1 + bar_w * double(s);
        const double y0 = r.y(std::clamp(0.0, r.lo, r.hi)), y1 = r.y(v);
        svg += "<rect" + data + " x=\"" + number(x, "%.2f") + "\" y=\"" + number(std::min(y0, y1), "%.2f") +
               "\" width=\"" + number(bar_w, "%.2f") + "\" height=\"" + number(std::abs(y1 - y0), "%.2f") + "\">" + tip +
               "</rect>\n";
      } else {
        svg += "<circle" + data + " cx=\"" + number(x_of(double(i)), "%.2f") + "\" cy=\"" + number(r.y(v), "%.2f") +
               "\" r=\"" + (n > 200 ? "1" : "2.5") + "\">" + tip + "</circle>\n";
      }
    }
    svg += "</g>\n";
  }
  // Legend, top right, when there is more than one series or the one has a name.
  if (k > 1 || !chart.series[0].name.empty())
    for (size_t s = 0; s < k; ++s) {
      const double y = kTop + 6 + 16 * double(s);
      svg += "<rect x=\"" + number(kLeft + kPlotW - 150) + "\" y=\"" + number(y, "%.1f") +
             "\" width=\"10\" height=\"10\" fill=\"" + kColours[s % std::size(kColours)] + "\"/>\n";
      svg += text(kLeft + kPlotW - 134, y + 9, chart.series[s].name);
    }
  svg += "</svg>\n";
  return svg;
}

void write_svg(const std::string& file, const Chart& chart, const std::string& shown) {
  const std::string svg = render_svg(chart);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  VQ_CHECK(out, "cannot write '", shown, "': cannot create ", file);
  out.write(svg.data(), std::streamsize(svg.size()));
  out.close();
  VQ_CHECK(!out.fail(), "cannot write '", shown, "': the write failed (disk full?)");
}

}  // namespace vq::cli
