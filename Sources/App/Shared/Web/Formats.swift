import Foundation
import Hummingbird
import PaymentCore
import Synchronization

/// Dates as Kassa shows them: unambiguous, the zone always named. UTC unless a merchant's page is
/// being rendered (`TimeZoneMiddleware` sets the account's zone for the request); exports, the
/// API and payers' pages stay in UTC.
enum Formats {
    /// The zone of the page being rendered.
    @TaskLocal static var timeZone: TimeZone = TimeZone(identifier: "UTC")!

    static func date(_ date: Date) -> String { zoned { $0.date }.string(from: date) }
    static func dateTime(_ date: Date) -> String { zoned { $0.dateTime }.string(from: date) }
    /// To the second, for "as of" on derived numbers.
    static func asOf(_ date: Date) -> String { zoned { $0.asOf }.string(from: date) }

    /// The three formatters of one zone, made once per zone.
    private struct Zoned {
        let date: DateFormatter
        let dateTime: DateFormatter
        let asOf: DateFormatter
    }

    private static let zones = Mutex<[String: Zoned]>([:])

    private static func zoned(_ pick: (Zoned) -> DateFormatter) -> DateFormatter {
        let zone = timeZone
        if zone.identifier == "UTC" || zone.identifier == "GMT" {
            return pick(Zoned(date: dateFormatter, dateTime: dateTimeFormatter, asOf: asOfFormatter))
        }
        let made = zones.withLock { known -> Zoned in
            if let found = known[zone.identifier] { return found }
            func make(_ format: String) -> DateFormatter {
                let formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.timeZone = zone
                formatter.dateFormat = format
                return formatter
            }
            // The zone's short name where it has one everyone reads ("CET"), else its offset.
            let made = Zoned(date: make("d MMM yyyy"), dateTime: make("d MMM yyyy, HH:mm zzz"), asOf: make("d MMM yyyy, HH:mm:ss zzz"))
            known[zone.identifier] = made
            return made
        }
        return pick(made)
    }

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

/// Merchant pages show times in the account's zone (`Formats.timeZone` for the request).
struct TimeZoneMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let name = context.session?.timeZone, name != "UTC", let zone = TimeZone(identifier: name) else {
            return try await next(request, context)
        }
        return try await Formats.$timeZone.withValue(zone) { try await next(request, context) }
    }
}
