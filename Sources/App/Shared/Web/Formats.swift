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

    /// `2 Dec 2026`, `2 Dec 2026, 16:05 UTC` and (for "as of" on derived numbers) `2 Dec 2026,
    /// 16:05:09 CET`: by arithmetic on the zone's offset at that instant, byte for byte what the
    /// formatters below write (`FormatsTests` compares them over years of instants and zones). A
    /// history page formats 25 times; through a shared `DateFormatter` that was 3% of its CPU.
    static func date(_ date: Date) -> String { fields(date).day }
    static func dateTime(_ date: Date) -> String {
        let (day, time, zone) = fields(date)
        return day + ", " + time.prefix(5) + " " + zone
    }
    static func asOf(_ date: Date) -> String {
        let (day, time, zone) = fields(date)
        return day + ", " + time + " " + zone
    }

    /// The day (`2 Dec 2026`), the time to the second (`16:05:09`) and the zone's name (`UTC`,
    /// `CET`, `GMT+5:30`) of `date` in the page's zone.
    private static func fields(_ date: Date) -> (day: String, time: String, zone: String) {
        let zone = timeZone
        let utc = isUTC(zone)
        let offset = utc ? 0 : zone.secondsFromGMT(for: date)
        // To the millisecond first, as ICU counts (an instant 0.9996 s into a second is the next one).
        let seconds = Int(((date.timeIntervalSince1970 * 1000).rounded() / 1000).rounded(.down)) + offset
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let inDay = seconds - days * 86400
        let (year, month, day) = UTCDay.components(Date(timeIntervalSince1970: Double(days) * 86400))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let yyyy = year >= 1000 ? "\(year)" : String(repeating: "0", count: 4 - "\(year)".count) + "\(year)"
        return (
            "\(day) \(monthAbbreviations[month - 1]) \(yyyy)", "\(two(inDay / 3600)):\(two(inDay % 3600 / 60)):\(two(inDay % 60))",
            utc ? "UTC" : zoneName(zone, offset: offset, at: date)
        )
    }

    /// What `zzz` writes for a zone at one of its offsets ("CET", "CEST", "GMT+5:30"), asked of a
    /// formatter once per zone and offset.
    private static func zoneName(_ zone: TimeZone, offset: Int, at date: Date) -> String {
        let key = "\(zone.identifier) \(offset)"
        if let known = zoneNames.withLock({ $0[key] }) { return known }
        let name = zoned { $0.zoneName }.string(from: date)
        zoneNames.withLock { $0[key] = name }
        return name
    }

    private static let zoneNames = Mutex<[String: String]>([:])

    /// Through DateFormatter, as every page was formatted before: what `FormatsTests` holds the
    /// arithmetic to.
    static func formatterDate(_ date: Date) -> String { zoned { $0.date }.string(from: date) }
    static func formatterDateTime(_ date: Date) -> String { zoned { $0.dateTime }.string(from: date) }
    static func formatterAsOf(_ date: Date) -> String { zoned { $0.asOf }.string(from: date) }

    /// UTC's own formatters write `UTC` where a zone's write its name.
    private static func isUTC(_ zone: TimeZone) -> Bool { zone.identifier == "UTC" || zone.identifier == "GMT" }

    /// The formatters of one zone, made once per zone.
    private struct Zoned {
        let date: DateFormatter
        let dateTime: DateFormatter
        let asOf: DateFormatter
        let zoneName: DateFormatter
    }

    private static let zones = Mutex<[String: Zoned]>([:])

    private static func zoned(_ pick: (Zoned) -> DateFormatter) -> DateFormatter {
        let zone = timeZone
        if isUTC(zone) {
            return pick(Zoned(date: dateFormatter, dateTime: dateTimeFormatter, asOf: asOfFormatter, zoneName: utcNameFormatter))
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
            let made = Zoned(
                date: make("d MMM yyyy"), dateTime: make("d MMM yyyy, HH:mm zzz"), asOf: make("d MMM yyyy, HH:mm:ss zzz"), zoneName: make("zzz"))
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
    private static let utcNameFormatter: DateFormatter = make("'UTC'")

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
