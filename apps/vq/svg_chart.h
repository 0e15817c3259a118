// (private to the vq CLI) One small chart writer for `vq eval --plot`: a title, two labelled
// axes with a few ticks, and one or more series drawn as a polyline with a marker per point or
// as bars. SVG because it needs no font or image library and opens in any browser.
//
// Every data point is one element with class="point" (a <circle> on a line, a <rect> for a bar)
// carrying its numbers as attributes and a tooltip:
//   <circle class="point" data-series="0" data-index="3" data-value="0.0123..." ...>
//     <title>series: label = value</title></circle>
// data-value is printed with 17 significant digits ("%.17g"), so a reader gets the double back
// exactly; a non-finite value (the PSNR of identical views) is written "inf", "-inf" or "nan"
// and drawn at the top edge of the plot. Tests read the values back from these attributes.
#pragma once

#include <string>
#include <vector>

namespace vq::cli {

struct ChartSeries {
  std::string name;            // legend text; a chart with one series may leave it empty
  std::vector<double> values;  // one per x position (every series of a chart has the same count)
};

struct Chart {
  enum class Style { kLine, kBars };
  std::string title, x_label, y_label;
  Style style = Style::kLine;
  // Labels of the x positions ("R", "G", "B"; "view 0", ...). Empty: positions are numbered
  // from 0 and the axis shows a few numbered ticks.
  std::vector<std::string> categories;
  std::vector<ChartSeries> series;
};

// text with &, <, >, " and ' replaced by their XML entities.
std::string xml_escape(const std::string& text);
// The whole SVG document. Throws vq::Error when the chart has no series, a series has no values
// or the series' counts differ.
std::string render_svg(const Chart& chart);
// Writes render_svg(chart) to file; throws vq::Error naming `shown` (the name the user gave)
// when the write fails. vq eval hands it a staged temporary (output_files.h) for the user's
// name, so that name appears only complete and an existing file survives a failure.
void write_svg(const std::string& file, const Chart& chart, const std::string& shown);

}  // namespace vq::cli
