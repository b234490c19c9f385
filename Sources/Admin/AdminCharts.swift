import Foundation

/// Small charts drawn on the server as inline SVG: nothing is fetched by the browser, and the
/// labels are escaped like any other text on the pages.
enum AdminCharts {
    struct Bar: Sendable {
        let label: String
        let values: [Double]
    }

    /// A bar chart, one group of bars per entry (one bar per series, in `colours` order), with
    /// the largest value written on the axis and every bar carrying its value as a tooltip.
    static func bars(_ bars: [Bar], series: [String], colours: [String] = ["#2f6db5", "#e08a1e", "#a4161a"],
                     width: Int = 720, height: Int = 180, title: String) -> String {
        let top = max(1, bars.flatMap(\.values).max() ?? 1)
        let plotTop = 16.0, plotBottom = Double(height) - 22, plotLeft = 36.0
        let slot = (Double(width) - plotLeft) / Double(max(bars.count, 1))
        let barWidth = max(1, slot * 0.8 / Double(max(series.count, 1)))
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" viewBox=\"0 0 \(width) \(height)\" "
            + "width=\"\(width)\" height=\"\(height)\"><title>\(escape(title))</title>"
        svg += "<line x1=\"\(plotLeft)\" y1=\"\(plotBottom)\" x2=\"\(width)\" y2=\"\(plotBottom)\" stroke=\"#9aa3ad\"/>"
        svg += "<text x=\"2\" y=\"\(plotTop + 4)\" font-size=\"10\">\(format(top))</text>"
        svg += "<text x=\"2\" y=\"\(plotBottom)\" font-size=\"10\">0</text>"
        for (index, bar) in bars.enumerated() {
            let x0 = plotLeft + Double(index) * slot + slot * 0.1
            for (seriesIndex, value) in bar.values.enumerated() {
                let barHeight = (plotBottom - plotTop) * value / top
                let x = x0 + Double(seriesIndex) * barWidth
                svg += "<rect x=\"\(round(x))\" y=\"\(round(plotBottom - barHeight))\" width=\"\(round(barWidth))\" "
                    + "height=\"\(round(barHeight))\" fill=\"\(colours[seriesIndex % colours.count])\">"
                    + "<title>\(escape(bar.label)) \(escape(series[min(seriesIndex, series.count - 1)])): \(format(value))</title></rect>"
            }
            let every = max(1, bars.count / 12)
            if index % every == 0 {
                svg += "<text x=\"\(round(x0))\" y=\"\(height - 6)\" font-size=\"10\">\(escape(bar.label))</text>"
            }
        }
        for (index, name) in series.enumerated() where series.count > 1 {
            let x = Double(width) - 110 * Double(series.count - index)
            svg += "<rect x=\"\(x)\" y=\"2\" width=\"10\" height=\"10\" fill=\"\(colours[index % colours.count])\"/>"
            svg += "<text x=\"\(x + 14)\" y=\"11\" font-size=\"11\">\(escape(name))</text>"
        }
        return svg + "</svg>"
    }

    /// Text for SVG and HTML: `&`, `<`, `>`, `"` and `'` escaped.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    private static func round(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(format: "%.1f", value)
    }
}
