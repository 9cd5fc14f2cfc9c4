/// A card issuer Kassa can route payments to (seeded data, see Migrations/0002_payments.sql).
public struct Issuer: Sendable, Hashable, Identifiable {
    public let id: String
    public let name: String
    public let network: CardNetwork
    /// Six-digit BIN ranges this issuer claims; empty for a network's test issuer.
    public let binRanges: [ClosedRange<Int>]
    /// Sorted currencies the issuer settles in.
    public let currencies: [Currency]
    /// ISO 3166 alpha-2: where its cards come from (the risk rules' card country).
    public let country: String

    public init(id: String, name: String, network: CardNetwork, binRanges: [ClosedRange<Int>], currencies: [Currency], country: String = "US") {
        self.country = country
        self.id = id
        self.name = name
        self.network = network
        self.binRanges = binRanges
        self.currencies = currencies.sorted()
    }

    /// The network's catch-all issuer for cards no other issuer claims.
    public var isTestIssuer: Bool { binRanges.isEmpty }

    public func supports(_ currency: Currency) -> Bool { currencies.contains(currency) }
}

/// All issuers, read once; answers which issuer a card belongs to.
public struct IssuerCatalog: Sendable {
    public let issuers: [Issuer]
    private let byID: [String: Issuer]

    public init(issuers: [Issuer]) {
        self.issuers = issuers.sorted {
            ($0.network.rawValue, $0.isTestIssuer ? 1 : 0, $0.name) < ($1.network.rawValue, $1.isTestIssuer ? 1 : 0, $1.name)
        }
        self.byID = Dictionary(uniqueKeysWithValues: issuers.map { ($0.id, $0) })
    }

    public func issuer(id: String) -> Issuer? { byID[id] }

    /// The issuer that claims the card's BIN, else its network's test issuer.
    public func route(_ card: CardDetails) -> Issuer? {
        guard let bin = Int(card.bin) else { return nil }
        let ofNetwork = issuers.filter { $0.network == card.network }
        if let claimed = ofNetwork.first(where: { issuer in issuer.binRanges.contains { $0.contains(bin) } }) {
            return claimed
        }
        return ofNetwork.first { $0.isTestIssuer }
    }
}
