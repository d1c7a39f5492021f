// ProgressBar (the line it draws, terminal and log modes) and History (its
// CSV, its SVG plot, and the atomic writes of both).

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_helpers.hpp"
#include "xgrad/nn/history.hpp"
#include "xgrad/nn/progress.hpp"
#include "xgrad/tensor/file_io.hpp"

namespace {

using xgrad::nn::format_metric;
using xgrad::nn::History;
using xgrad::nn::progress_line;
using xgrad::nn::ProgressBar;
using xgrad::nn::SvgPlotOptions;
using xgrad::test::slurp;
using xgrad::test::throws_with;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size()))
    ++n;
  return n;
}

// ---------------------------------------------------------------- ProgressBar

TEST(ProgressLine, RunningLineHasTheKerasLayout) {
  // 12 of 40 batches: 30 * 12 / 40 = 9 cells, the 9th the '>' head.
  EXPECT_EQ(progress_line(12, 40, 0.1234, {}, 5321.4, 1.2, 2.8),
            "12/40 [========>.....................] - loss: 0.1234 - 5321 samples/s"
            " - elapsed 1.2s - ETA 2.8s");
}

TEST(ProgressLine, FinalLineHasFullBarMetricsAndNoEta) {
  EXPECT_EQ(progress_line(40, 40, 0.1234, {{"val_loss", 0.0456}}, 100.0, 3.94, -1.0),
            "40/40 [==============================] - loss: 0.1234 - val_loss: 0.0456"
            " - 100 samples/s - elapsed 3.9s");
}

TEST(ProgressLine, CountIsRightAlignedAndBarStartsEmpty) {
  EXPECT_EQ(progress_line(0, 120, 1.0, {}, 0.0, 0.0, 0.0).substr(0, 10), "  0/120 [.");
  EXPECT_EQ(progress_line(3, 120, 1.0, {}, 0.0, 0.0, 0.0).substr(0, 10), "  3/120 [.");
}

TEST(ProgressLine, FiguresAreWrittenAsKerasWritesThem) {
  EXPECT_EQ(format_metric(0.1234), "0.1234");
  EXPECT_EQ(format_metric(12.5), "12.5000");
  EXPECT_EQ(format_metric(0.0), "0.0000");
  EXPECT_EQ(format_metric(1.5e-4), "1.5000e-04");
  EXPECT_EQ(format_metric(-2.5e-5), "-2.5000e-05");
}

TEST(ProgressBar, NotATerminalWritesOnlyTheFinalLine) {
  std::ostringstream log;
  ProgressBar bar(4, log);  // a string stream is never a terminal
  EXPECT_FALSE(bar.interactive());
  for (std::size_t i = 1; i <= 4; ++i) bar.update(i, 32 * i, 0.5);
  EXPECT_EQ(log.str(), "") << "updates must not write to a log";
  const std::string line = bar.finish(0.5, {{"val_loss", 0.25}});
  EXPECT_EQ(log.str(), line + "\n");
  EXPECT_EQ(log.str().find('\r'), std::string::npos);
  // "4/4 [==...==] - loss: 0.5000 - val_loss: 0.2500 - <n> samples/s - elapsed <x.y>s"
  const std::string fixed_part =
      "4/4 [" + std::string(30, '=') + "] - loss: 0.5000 - val_loss: 0.2500 - ";
  ASSERT_EQ(line.substr(0, fixed_part.size()), fixed_part) << line;
  const std::string rest = line.substr(fixed_part.size());
  const auto digits_end = rest.find_first_not_of("0123456789");
  ASSERT_GT(digits_end, 0u) << line;
  ASSERT_NE(digits_end, std::string::npos) << line;
  const std::string tail = rest.substr(digits_end);
  EXPECT_EQ(tail.substr(0, 20), " samples/s - elapsed") << line;
  EXPECT_EQ(tail.substr(tail.size() - 3, 1), ".") << line;  // one decimal, then "s"
  EXPECT_EQ(tail.back(), 's') << line;
}

TEST(ProgressBar, TerminalRedrawsInPlaceAndEndsTheLine) {
  std::ostringstream screen;
  ProgressBar bar(3, screen, true);
  bar.update(1, 10, 2.0);  // the first update always draws
  const std::string first = screen.str();
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first[0], '\r');
  EXPECT_EQ(first.find('\n'), std::string::npos);
  EXPECT_NE(first.find("1/3 [=========>"), std::string::npos) << first;
  EXPECT_NE(first.find(" - ETA "), std::string::npos) << first;
  bar.update(3, 30, 1.0);  // the last batch always draws
  const std::string line = bar.finish(1.0);
  const std::string all = screen.str();
  ASSERT_EQ(all.back(), '\n');
  EXPECT_EQ(count(all, "\n"), 1u);
  // What the terminal shows last: the final line, padded to blank the old one.
  const std::string last = all.substr(all.rfind('\r') + 1);
  EXPECT_EQ(last.substr(0, line.size()), line);
  EXPECT_EQ(last.find_first_not_of(' ', line.size()), last.size() - 1);
  EXPECT_EQ(line.find("ETA"), std::string::npos);
}

TEST(ProgressBar, FinishIsFinal) {
  std::ostringstream log;
  ProgressBar bar(2, log);
  bar.update(2, 8, 0.5);
  const std::string line = bar.finish(0.5);
  bar.update(1, 4, 9.0);
  EXPECT_EQ(bar.finish(9.0), line);
  EXPECT_EQ(log.str(), line + "\n");
}

TEST(ProgressBar, ZeroBatchesThrows) {
  std::ostringstream log;
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { ProgressBar bar(0, log); },
                                                 {"ProgressBar", "total_batches"}));
}

// -------------------------------------------------------------------- History

class HistoryFiles : public xgrad::test::ScratchDirTest {
 protected:
  HistoryFiles() : ScratchDirTest("xgrad_history_") {}
};

History two_epochs() {
  History history;
  history.add(1, {{"loss", 0.5}, {"val_loss", 0.25}});
  history.add(2, {{"loss", 0.125}, {"val_loss", 0.1}});
  return history;
}

TEST(History, RecordsEpochsAndMetricsInOrder) {
  const History history = two_epochs();
  EXPECT_EQ(history.size(), 2u);
  EXPECT_EQ(history.epochs(), (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(history.metric_names(), (std::vector<std::string>{"loss", "val_loss"}));
  EXPECT_EQ(history.values("val_loss"), (std::vector<double>{0.25, 0.1}));
  EXPECT_THROW(history.values("accuracy"), std::out_of_range);
}

TEST(History, CsvHasKerasHeaderAndOneRowPerEpoch) {
  EXPECT_EQ(two_epochs().csv(), "epoch,loss,val_loss\n1,0.5,0.25\n2,0.125,0.1\n");
}

TEST(History, CsvValuesReadBackExactly) {
  History history;
  const double loss = static_cast<double>(0.1f);  // 0.100000001490116..., not 0.1
  history.add(1, {{"loss", loss}, {"val_loss", 1.0 / 3.0}});
  const std::string csv = history.csv();
  const std::string row = csv.substr(csv.find('\n') + 1);
  const auto comma1 = row.find(','), comma2 = row.find(',', comma1 + 1);
  EXPECT_EQ(std::strtod(row.substr(comma1 + 1, comma2 - comma1 - 1).c_str(), nullptr), loss);
  EXPECT_EQ(std::strtod(row.substr(comma2 + 1).c_str(), nullptr), 1.0 / 3.0);
}

TEST(History, MissingAndNonFiniteValuesAreNan) {
  History history;
  history.add(0, {{"loss", 1.0}});
  history.add(1, {{"loss", std::nan("")}, {"val_loss", 0.5}});
  history.add(2, {{"val_loss", HUGE_VAL}});
  EXPECT_EQ(history.csv(), "epoch,loss,val_loss\n0,1,nan\n1,nan,0.5\n2,nan,inf\n");
}

TEST(History, EpochsMustIncreaseAndNamesBeCsvSafe) {
  History history = two_epochs();
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { history.add(2, {{"loss", 1.0}}); },
                                                 {"History::add", "2"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { history.add(3, {{"a,b", 1.0}}); },
                                                 {"History::add", "a,b"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { history.add(3, {{"", 1.0}}); },
                                                 {"History::add"}));
  EXPECT_EQ(history.size(), 2u) << "a rejected add changes nothing";
}

// Well-formed enough for a browser: one root, balanced groups and texts.
void expect_plausible_svg(const std::string& svg, std::size_t lines) {
  EXPECT_EQ(svg.rfind("<svg", 0), 0u) << svg.substr(0, 80);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(count(svg, "<svg"), 1u);
  EXPECT_EQ(count(svg, "<polyline"), lines);
  EXPECT_EQ(count(svg, "<g"), count(svg, "</g>"));
  EXPECT_EQ(count(svg, "<text"), count(svg, "</text>"));
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(History, SvgHasOnePolylinePerMetricAndALegend) {
  History history = two_epochs();
  expect_plausible_svg(history.svg(), 2);
  expect_plausible_svg(history.svg(SvgPlotOptions().log_y(true).title("t").y_label("MSE")), 2);
  EXPECT_NE(history.svg().find(">val_loss</text>"), std::string::npos);
  history.add(3, {{"loss", 0.1}, {"val_loss", 0.2}, {"lr", 1e-3}});
  expect_plausible_svg(history.svg(), 3);
}

TEST(History, SvgCopesWithEmptySingleAndNonFiniteData) {
  expect_plausible_svg(History().svg(), 0);
  History one;
  one.add(1, {{"loss", 0.0}});
  expect_plausible_svg(one.svg(), 1);
  expect_plausible_svg(one.svg(SvgPlotOptions().log_y(true)), 1);  // 0 is left out on a log axis
  History bad;
  bad.add(1, {{"loss", std::nan("")}});
  bad.add(2, {{"loss", HUGE_VAL}});
  bad.add(3, {{"loss", 2.0}});
  expect_plausible_svg(bad.svg(), 1);
}

TEST(History, SvgEscapesText) {
  const std::string svg = two_epochs().svg(SvgPlotOptions().title("a <b> & \"c\""));
  EXPECT_NE(svg.find("a &lt;b&gt; &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
}

TEST_F(HistoryFiles, WritesBothFilesAtomicallyLeavingNoTemporary) {
  const History history = two_epochs();
  history.write_csv(path("loss.csv"));
  history.write_svg(path("loss.svg"), SvgPlotOptions().log_y(true));
  EXPECT_EQ(listing(), (std::vector<std::string>{"loss.csv", "loss.svg"}));
  EXPECT_EQ(slurp(path("loss.csv")), history.csv());
  EXPECT_EQ(slurp(path("loss.svg")), history.svg(SvgPlotOptions().log_y(true)));

  // Rewriting replaces the file whole.
  History longer = two_epochs();
  longer.add(3, {{"loss", 0.0625}, {"val_loss", 0.05}});
  longer.write_csv(path("loss.csv"));
  EXPECT_EQ(slurp(path("loss.csv")), longer.csv());
  EXPECT_EQ(listing(), (std::vector<std::string>{"loss.csv", "loss.svg"}));
}

TEST_F(HistoryFiles, UnwritablePathThrowsNamingItAndLeavesNothing) {
  const std::string missing = path("no_such_dir/loss.csv");
  EXPECT_TRUE(throws_with<xgrad::IoError>([&] { two_epochs().write_csv(missing); },
                                          {"History::write_csv", missing}));
  EXPECT_TRUE(throws_with<xgrad::IoError>(
      [&] { two_epochs().write_svg(path("no_such_dir/l.svg")); }, {"History::write_svg", "l.svg"}));
  EXPECT_TRUE(listing().empty());
}

}  // namespace
