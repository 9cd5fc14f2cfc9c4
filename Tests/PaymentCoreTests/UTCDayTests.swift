import Foundation
import PaymentCore
import Testing

@Suite("UTC days by arithmetic")
struct UTCDayTests {
    /// The same as Foundation's Gregorian calendar in UTC, across leap years, centuries and the epoch.
    @Test(arguments: [-86400.0 * 365 * 70, -1, 0, 951_782_400, 951_868_799, 1_709_164_800, 4_107_542_399, 1_796_083_200])
    func componentsAreWhatFoundationSays(seconds: Double) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for offset in stride(from: 0.0, to: 86400 * 800, by: 86400 * 7 + 3601) {
            let date = Date(timeIntervalSince1970: seconds + offset)
            let expected = calendar.dateComponents([.year, .month, .day], from: date)
            let (year, month, day) = UTCDay.components(date)
            #expect([year, month, day] == [expected.year, expected.month, expected.day], "\(date)")
        }
        #expect(UTCDay.iso(Date(timeIntervalSince1970: 1_796_083_200)) == "2026-12-01")
    }
}
