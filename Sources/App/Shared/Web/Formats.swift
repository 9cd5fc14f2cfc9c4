import Foundation
import PaymentCore

/// Dates as Kassa shows them: UTC, unambiguous, the same everywhere.
enum Formats {
    static func date(_ date: Date) -> String { dateFormatter.string(from: date) }
    static func dateTime(_ date: Date) -> String { dateTimeFormatter.string(from: date) }
    /// To the second, for "as of" on derived numbers.
    static func asOf(_ date: Date) -> String { asOfFormatter.string(from: date) }

    /// `2 Nov`, for chart axes and day rows (by arithmetic: a DateFormatter per label was slow).
    static func dayMonth(_ date: Date) -> String {
        let (_, month, day) = UTCDay.components(date)
        return "\(day) \(monthAbbreviations[month - 1])"
    }

    private static let monthAbbreviations = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private static let dateFormatter: DateFormatter = make("d MMM yyyy")
    private static let asOfFormatter: DateFormatter = make("d MMM yyyy, HH:mm:ss 'UTC'")
    private static let dateTimeFormatter: DateFormatter = make("d MMM yyyy, HH:mm 'UTC'")

    private static func make(_ format: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = format
        return formatter
    }
}

extension Formats {
    /// `2026-12-01T20:37:05Z`. A format style is a value, made once (a formatter per call cost a
    /// CSV export of a large history one allocation and setup per row).
    private static let iso8601Style = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!)

    static func iso8601(_ date: Date) -> String { iso8601Style.format(date) }

    static func isoDay(_ date: Date) -> String { String(iso8601(date).prefix(10)) }
}
