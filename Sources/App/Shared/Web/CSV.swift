/// RFC 4180 CSV that spreadsheets cannot be tricked into running.
enum CSV {
    /// One CRLF-terminated record.
    static func line(_ fields: [String]) -> String {
        fields.map(cell).joined(separator: ",") + "\r\n"
    }

    /// Quotes when needed (comma, quote, CR, LF, surrounding spaces), doubling quotes; a cell a
    /// spreadsheet would read as a formula (= + - @, tab, CR first) gets a leading apostrophe.
    static func cell(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) {
            text = "'" + text
        }
        let special = Set(",\"\n\r".unicodeScalars)
        let needsQuotes = text.unicodeScalars.contains(where: special.contains) || text.hasPrefix(" ") || text.hasSuffix(" ")
        guard needsQuotes else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
