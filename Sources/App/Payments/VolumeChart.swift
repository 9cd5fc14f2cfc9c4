import Foundation
import Mustache
import PaymentCore

/// The dashboard's picture of one currency's last days: gross volume per day as bars (the part
/// refunded since shaded inside each), and the share of attempts the issuers approved as a line.
/// Server-rendered SVG, drawn in a fixed coordinate space that stretches to the card's width
/// (`preserveAspectRatio="none"`); every word (axis, dates, amounts) is HTML beside the SVG, so it
/// stays readable on a phone. A screen reader gets each chart's title and description, and the
/// numbers as a table.
struct VolumeChart: Sendable {
    /// The SVG's coordinate space: one slot per day, `height` tall.
    static let slot = 10.0
    static let barWidth = 8.0
    static let height = 100.0

    struct Bar: Sendable {
        let x: String
        let y: String
        let width: String
        let height: String
        /// The refunded part, drawn inside the bar from its foot.
        let refundY: String
        let refundHeight: String
        let hasRefund: Bool
        /// For the tooltip and for tests: the day (`2026-11-02`) and its gross in minor units.
        let day: String
        let gross: Int64
        let label: String
    }

    struct Row: Sendable {
        let date: String
        let gross: String
        let payments: Int
        let refunded: String
        let successRate: String
    }

    let currency: String
    let currencyName: String
    /// Ids for `aria-labelledby`.
    let volumeTitleID: String
    let volumeDescID: String
    let rateTitleID: String
    let rateDescID: String
    let viewWidth: String
    let volumeTitle: String
    let volumeDescription: String
    let rateTitle: String
    let rateDescription: String
    let total: String
    let payments: Int
    /// `1 payment`, `443 payments`.
    let paymentsText: String
    /// Whether any of these days' payments were refunded since (the legend names the shade only then).
    let hasRefunds: Bool
    let successRate: String
    let refundRate: String
    let maximum: String
    let bars: [Bar]
    /// `x,y` pairs of the success-rate line (days with attempts only).
    let ratePoints: String
    let rateDots: [Dot]
    let hasRate: Bool
    let firstDay: String
    let middleDay: String
    let lastDay: String
    let rows: [Row]

    struct Dot: Sendable {
        let cx: String
        let cy: String
        let label: String
    }

    /// One chart per currency with payments in the `days` UTC days ending with `through`'s day,
    /// the currency that took the most first.
    static func charts(_ totals: [PaymentHistory.DayTotal], through: Date, days: Int = 30) -> [VolumeChart] {
        let last = UTCDay.start(of: through)
        let first = last.addingTimeInterval(-Double(days - 1) * 86_400)
        let byCurrency = Dictionary(grouping: totals.filter { $0.day >= first && $0.day <= last }, by: \.currency)
        return byCurrency.map { currency, totals in
            chart(currency: currency, totals: totals, first: first, days: days)
        }
        .sorted { ($0.grossMinor, $1.currency) > ($1.grossMinor, $0.currency) }
        .map(\.chart)
    }

    private static func chart(
        currency: Currency, totals: [PaymentHistory.DayTotal], first: Date, days: Int
    ) -> (chart: VolumeChart, grossMinor: Int64, currency: String) {
        var byDay: [Int: PaymentHistory.DayTotal] = [:]
        for total in totals { byDay[Int((total.day.timeIntervalSince(first) / 86_400).rounded())] = total }
        let gross = totals.reduce(Int64(0)) { $0 + $1.gross.minorUnits }
        let refunded = totals.reduce(Int64(0)) { $0 + $1.refunded.minorUnits }
        let captured = totals.reduce(0) { $0 + $1.captured }
        let failed = totals.reduce(0) { $0 + $1.failed }
        let peak = max(1, totals.map(\.gross.minorUnits).max() ?? 1)
        let money = { (minor: Int64) in Money(minorUnits: minor, currency: currency).formatted }
        let labels = (0..<days).map { Formats.dayMonth(first.addingTimeInterval(Double($0) * 86_400)) }
        let date = { (index: Int) in labels[index] }

        var bars: [Bar] = []
        var rows: [Row] = []
        var points: [String] = []
        var dots: [Dot] = []
        for index in 0..<days {
            guard let total = byDay[index] else { continue }
            let attempts = total.captured + total.failed
            let x = Double(index) * slot + (slot - barWidth) / 2
            if total.gross.minorUnits > 0 {
                // A day with any money shows at least a sliver, however small beside the peak.
                let barHeight = max(0.5, Double(total.gross.minorUnits) / Double(peak) * height)
                let refundHeight = min(barHeight, Double(total.refunded.minorUnits) / Double(peak) * height)
                bars.append(
                    Bar(
                        x: fixed(x), y: fixed(height - barHeight), width: fixed(barWidth), height: fixed(barHeight),
                        refundY: fixed(height - refundHeight), refundHeight: fixed(refundHeight), hasRefund: total.refunded.minorUnits > 0,
                        day: UTCDay.iso(total.day), gross: total.gross.minorUnits,
                        label: "\(date(index)): \(total.gross.formatted) in \(plural(total.captured, "payment"))"
                            + (total.refunded.minorUnits > 0 ? ", \(total.refunded.formatted) refunded" : "")
                    ))
            }
            if attempts > 0 {
                let rate = Double(total.captured) / Double(attempts)
                let cx = Double(index) * slot + slot / 2
                let cy = height - rate * height
                points.append("\(fixed(cx)),\(fixed(cy))")
                dots.append(Dot(cx: fixed(cx), cy: fixed(cy), label: "\(date(index)): \(percent(rate)) of \(plural(attempts, "attempt")) approved"))
            }
            rows.append(
                Row(
                    date: date(index), gross: total.gross.formatted, payments: total.captured, refunded: total.refunded.formatted,
                    successRate: attempts > 0 ? percent(Double(total.captured) / Double(attempts)) : "–"))
        }

        let busiest = byDay.max { ($0.value.gross.minorUnits, $1.key) < ($1.value.gross.minorUnits, $0.key) }
        let span = "from \(date(0)) to \(date(days - 1))"
        let successRate = captured + failed > 0 ? percent(Double(captured) / Double(captured + failed)) : "–"
        let refundRate = gross > 0 ? percent(Double(refunded) / Double(gross)) : "–"
        var description = "\(money(gross)) in \(plural(captured, "payment")) \(span)"
        if let busiest, busiest.value.gross.minorUnits > 0 {
            description += "; the busiest day was \(date(busiest.key)) with \(busiest.value.gross.formatted)"
        }
        description += ". \(refundRate) of it refunded since."
        let code = currency.code.lowercased()
        let chart = VolumeChart(
            currency: currency.code, currencyName: currency.name,
            volumeTitleID: "volume-\(code)-title", volumeDescID: "volume-\(code)-desc", rateTitleID: "rate-\(code)-title",
            rateDescID: "rate-\(code)-desc", viewWidth: fixed(Double(days) * slot),
            volumeTitle: "Gross volume in \(currency.code) per day, last \(days) days",
            volumeDescription: description,
            rateTitle: "Share of card attempts approved per day, \(currency.code)",
            rateDescription: "\(successRate) of \(plural(captured + failed, "attempt")) approved \(span).",
            total: money(gross), payments: captured, paymentsText: plural(captured, "payment"), hasRefunds: refunded > 0, successRate: successRate,
            refundRate: refundRate, maximum: money(peak),
            bars: bars, ratePoints: points.joined(separator: " "), rateDots: dots, hasRate: !dots.isEmpty,
            firstDay: date(0), middleDay: date(days / 2), lastDay: date(days - 1), rows: rows
        )
        return (chart, gross, currency.code)
    }

    /// Coordinates with at most two decimals, without trailing zeros: stable text for the same
    /// numbers (integer arithmetic; `String(format:)` and a regex were a tenth of the page).
    static func fixed(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let sign = hundredths < 0 ? "-" : ""
        let whole = abs(hundredths) / 100, fraction = abs(hundredths) % 100
        if fraction == 0 { return sign + String(whole) }
        return sign + String(whole) + "." + (fraction % 10 == 0 ? String(fraction / 10) : (fraction < 10 ? "0" : "") + String(fraction))
    }

    static func percent(_ share: Double) -> String {
        let tenths = Int((share * 1000).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)%" : "\(tenths / 10).\(tenths % 10)%"
    }

    static func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
}

// Looked up by name, without reflection: swift-mustache finds a plain struct's fields through
// `Mirror` on every tag, which made the dashboard several times slower (perf, `make bench`).
extension VolumeChart: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "currency": currency
        case "currencyName": currencyName
        case "volumeTitleID": volumeTitleID
        case "volumeDescID": volumeDescID
        case "rateTitleID": rateTitleID
        case "rateDescID": rateDescID
        case "viewWidth": viewWidth
        case "volumeTitle": volumeTitle
        case "volumeDescription": volumeDescription
        case "rateTitle": rateTitle
        case "rateDescription": rateDescription
        case "total": total
        case "payments": payments
        case "paymentsText": paymentsText
        case "hasRefunds": hasRefunds
        case "successRate": successRate
        case "refundRate": refundRate
        case "maximum": maximum
        case "bars": bars
        case "ratePoints": ratePoints
        case "rateDots": rateDots
        case "hasRate": hasRate
        case "firstDay": firstDay
        case "middleDay": middleDay
        case "lastDay": lastDay
        case "rows": rows
        default: nil
        }
    }
}

extension VolumeChart.Bar: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "x": x
        case "y": y
        case "width": width
        case "height": height
        case "refundY": refundY
        case "refundHeight": refundHeight
        case "hasRefund": hasRefund
        case "day": day
        case "gross": gross
        case "label": label
        default: nil
        }
    }
}

extension VolumeChart.Row: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "date": date
        case "gross": gross
        case "payments": payments
        case "refunded": refunded
        case "successRate": successRate
        default: nil
        }
    }
}

extension VolumeChart.Dot: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "cx": cx
        case "cy": cy
        case "label": label
        default: nil
        }
    }
}
