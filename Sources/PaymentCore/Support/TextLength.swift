extension StringProtocol {
    /// The length every limit in Kassa is written in: Unicode code points, as PostgreSQL's
    /// `length()` (the tables' CHECKs) and JSON Schema's `maxLength` (the spec) count it. `count`
    /// counts grapheme clusters, fewer when marks combine: a value within a limit by `count` could
    /// still break the table's CHECK and turn a clear error into a 500.
    public var length: Int { unicodeScalars.count }
}
