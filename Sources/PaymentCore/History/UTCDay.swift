import Foundation

/// Calendar days in UTC by arithmetic: the checkout asks for today's month on every card, and
/// Foundation's Calendar and TimeZone cost more than the rest of the card checks together on Linux.
public enum UTCDay {
    /// The proleptic Gregorian (year, month, day) of `date` in UTC.
    public static func components(_ date: Date) -> (year: Int, month: Int, day: Int) {
        civil(fromDays: Int((date.timeIntervalSince1970 / 86400).rounded(.down)))
    }

    /// `2026-12-01` for any time of that UTC day.
    public static func iso(_ date: Date) -> String {
        let (year, month, day) = components(date)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day))"
    }

    /// Midnight UTC of `date`'s day.
    public static func start(of date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 86400).rounded(.down) * 86400)
    }

    /// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
