import Foundation
import Testing

@testable import App

@Suite("Dates on pages: arithmetic that writes what DateFormatter wrote")
struct FormatsTests {
    static let zones = [
        "UTC", "GMT", "Europe/Berlin", "Europe/London", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns",
        "Pacific/Chatham", "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Pago_Pago",
    ]

    /// Instants over eleven years, a few seconds either side of each zone's offset changes too,
    /// with fractions of a second (the formatters truncate), in every zone above.
    @Test(arguments: zones) func eachFormatWritesWhatTheFormatterWrote(zone name: String) throws {
        let zone = try #require(TimeZone(identifier: name))
        var instants: [Date] = []
        var generator = SystemRandomNumberGenerator()
        let start = Date(timeIntervalSince1970: 1_546_300_800)  // 2019-01-01
        for _ in 0..<3000 { instants.append(start.addingTimeInterval(Double.random(in: 0..<(11 * 365 * 86400), using: &generator))) }
        var transition = zone.nextDaylightSavingTimeTransition(after: start)
        while let at = transition, at.timeIntervalSince1970 < 1_893_456_000 {
            for delta in [-3601.5, -61.0, -1.0, -0.25, 0, 0.75, 1.0, 59.9, 3600.0] { instants.append(at.addingTimeInterval(delta)) }
            transition = zone.nextDaylightSavingTimeTransition(after: at)
        }
        // ICU counts milliseconds: 0.9995 s into a second is shown as the next second, 0.99949 not.
        for fraction in [0.0, 0.0004, 0.49, 0.5, 0.99949, 0.9995, 0.9999] { instants.append(Date(timeIntervalSince1970: 1_764_547_199 + fraction)) }
        instants.append(Date(timeIntervalSince1970: 0))
        Formats.$timeZone.withValue(zone) {
            for instant in instants {
                #expect(Formats.date(instant) == Formats.formatterDate(instant), "\(name) \(instant.timeIntervalSince1970)")
                #expect(Formats.dateTime(instant) == Formats.formatterDateTime(instant), "\(name) \(instant.timeIntervalSince1970)")
                #expect(Formats.asOf(instant) == Formats.formatterAsOf(instant), "\(name) \(instant.timeIntervalSince1970)")
            }
        }
    }
}
