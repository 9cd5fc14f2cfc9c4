import Mustache
import PaymentCore
import Synchronization

/// A row of a list whose rendered bytes may be kept (`KeptRows`): `key` is everything its view is
/// made from, so two rows with one key render the same bytes in the same place of a template.
protocol KeptRow: Sendable {
    associatedtype Key: Hashable & Sendable
    associatedtype View: MustacheParent
    var key: Key { get }
    /// What the template reads, made only when the row is rendered (not when its bytes are kept).
    var view: View { get }
}

/// A list section's rows, each rendered once per key and place and copied from then on: the
/// history's and the dashboard's payments, whose rows were a third of a history view's CPU in Kassa
/// (decoding, formatting and rendering 25 rows; perf, issue 16) while most views show rows seen
/// before. A row's bytes are kept under its key, the section's instructions and the indentation it
/// is rendered at, so the same row in another template or place is rendered there anew.
///
/// A kept row must render the same whatever surrounds it: every name its section reads is the
/// row's own (a name the row leaves out is looked up in the frames below, which a kept copy would
/// not follow). `AppConfiguration.compareRendering` renders every page of the tests with
/// swift-mustache as well, which iterates the rows' views (`MustacheSequence`), and
/// `KeptRowsTests` renders pages with and without kept rows.
struct KeptRows<Row: KeptRow>: Sendable, KeptRowList, MustacheSequence {
    let rows: [Row]
    let cache: RowCache<Row.Key>?

    init(_ rows: [Row], cache: RowCache<Row.Key>?) {
        self.rows = rows
        self.cache = cache
    }

    func makeIterator() -> IndexingIterator<[Row.View]> { rows.map(\.view).makeIterator() }

    func render(_ body: Range<Int>, into rendering: inout PageTemplates.Rendering, indentation: [UInt8], overrides: [String: Range<Int>]?) {
        for row in rows {
            guard let cache else {
                rendering.renderRow(row.view, body, indentation: indentation, overrides: overrides)
                continue
            }
            let key = RowCache<Row.Key>.Place(row: row.key, body: body.lowerBound, indentation: indentation)
            if let bytes = cache.get(key) {
                rendering.out.append(contentsOf: bytes)
                continue
            }
            let start = rendering.out.count
            rendering.renderRow(row.view, body, indentation: indentation, overrides: overrides)
            cache.put(key, Array(rendering.out[start...]))
        }
    }
}

/// What the renderer asks of a `KeptRows` whatever its row type.
protocol KeptRowList: Sendable {
    func render(_ body: Range<Int>, into rendering: inout PageTemplates.Rendering, indentation: [UInt8], overrides: [String: Range<Int>]?)
}

/// Rendered rows by key and place, at most `capacity` of them (then all are dropped and kept anew):
/// a key holds everything the row shows, so a kept row is never stale, only unused.
final class RowCache<Key: Hashable & Sendable>: Sendable {
    struct Place: Hashable, Sendable {
        let row: Key
        let body: Int
        let indentation: [UInt8]
    }

    let capacity: Int
    private let kept = Mutex<[Place: [UInt8]]>([:])

    init(capacity: Int) { self.capacity = capacity }

    func get(_ place: Place) -> [UInt8]? { kept.withLock { $0[place] } }

    func put(_ place: Place, _ bytes: [UInt8]) {
        kept.withLock { kept in
            if kept.count >= capacity { kept.removeAll(keepingCapacity: true) }
            kept[place] = bytes
        }
    }

    var count: Int { kept.withLock { $0.count } }
}

/// A payment of the history or the dashboard as its row shows it, in the page's time zone.
struct ListedRow: KeptRow {
    struct Key: Hashable, Sendable {
        let payment: ListedPayment
        let zone: String
    }

    let payment: ListedPayment
    let key: Key

    init(_ payment: ListedPayment) {
        self.payment = payment
        self.key = Key(payment: payment, zone: Formats.timeZone.identifier)
    }

    var view: PaymentsController.PaymentRow { PaymentsController.row(payment) }
}
