import Foundation

/// Which IP addresses a webhook may be sent to: public unicast only. Everything a request from
/// Kassa's own network position could reach and a stranger on the internet could not (loopback,
/// RFC 1918, CGNAT, link-local where cloud metadata lives, unique-local IPv6), every range whose
/// meaning depends on a translator or relay in between (IPv4-mapped and -compatible IPv6, NAT64,
/// 6to4, Teredo), multicast, and the ranges reserved for documentation, benchmarks and protocol
/// assignments are refused.
enum PublicAddress {
    /// Whether `text` (dotted IPv4 or any IPv6 form) is a public unicast address.
    static func isPublic(_ text: String) -> Bool {
        if let v4 = ipv4(text) { return isPublicV4(v4) }
        if let v6 = ipv6(text) { return isPublicV6(v6) }
        return false
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        // A zone (fe80::1%eth0) is link-local by definition; refuse it before parsing.
        guard !text.contains("%"), inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// IPv4 ranges that are not the public internet (RFC 6890's special-purpose registry, plus
    /// multicast and the reserved top).
    static let blockedV4: [(prefix: [UInt8], bits: Int)] = [
        ([0, 0, 0, 0], 8),  // "this network"
        ([10, 0, 0, 0], 8),  // private
        ([100, 64, 0, 0], 10),  // carrier-grade NAT
        ([127, 0, 0, 0], 8),  // loopback
        ([169, 254, 0, 0], 16),  // link-local (cloud metadata)
        ([172, 16, 0, 0], 12),  // private
        ([192, 0, 0, 0], 24),  // IETF protocol assignments
        ([192, 0, 2, 0], 24),  // documentation (TEST-NET-1)
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),  // benchmarking
        ([198, 51, 100, 0], 24),  // documentation (TEST-NET-2)
        ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
        ([224, 0, 0, 0], 4),  // multicast
        ([240, 0, 0, 0], 4),  // reserved, and 255.255.255.255
    ]

    /// IPv6 ranges refused although they fall in 2000::/3, and the translated or relayed forms
    /// that would lead to an IPv4 address behind Kassa's back.
    static let blockedV6: [(prefix: [UInt8], bits: Int)] = [
        ([0x20, 0x01, 0x00, 0x00], 23),  // IETF protocol assignments, Teredo (2001::/32) among them
        ([0x20, 0x01, 0x0d, 0xb8], 32),  // documentation
        ([0x20, 0x02], 16),  // 6to4
        ([0x3f, 0xff], 20),  // documentation (RFC 9637)
    ]

    static func isPublicV4(_ bytes: [UInt8]) -> Bool {
        !blockedV4.contains { matches(bytes, $0.prefix, bits: $0.bits) }
    }

    static func isPublicV6(_ bytes: [UInt8]) -> Bool {
        // Only global unicast (2000::/3) is public. That alone refuses ::, ::1, IPv4-compatible and
        // IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96 and 64:ff9b:1::/48), discard (100::/64),
        // unique-local (fc00::/7), link-local (fe80::/10), site-local (fec0::/10) and multicast (ff00::/8).
        guard bytes[0] & 0xE0 == 0x20 else { return false }
        return !blockedV6.contains { matches(bytes, $0.prefix, bits: $0.bits) }
    }

    static func matches(_ bytes: [UInt8], _ prefix: [UInt8], bits: Int) -> Bool {
        var remaining = bits
        for (index, byte) in prefix.enumerated() where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if bytes[index] & mask != byte & mask { return false }
            remaining -= take
        }
        return true
    }

    /// Loopback in either family: what a developer's own receiver listens on.
    static func isLoopback(_ text: String) -> Bool {
        if let v4 = ipv4(text) { return v4[0] == 127 }
        if let v6 = ipv6(text) { return v6 == [UInt8](repeating: 0, count: 15) + [1] }
        return false
    }
}
