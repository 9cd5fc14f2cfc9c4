internal import CQrencode

/// QR codes drawn as SVG on the server (libqrencode), so a payment link can be printed or
/// shown on a phone without any script.
enum QRCode {
    /// The dark modules of `text`'s code (error correction M), row by row, or nil when it does
    /// not fit in a QR code.
    static func modules(_ text: String) -> [[Bool]]? {
        guard let code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let data = code.pointee.data!
        return (0..<width).map { y in (0..<width).map { x in data[y * width + x] & 1 == 1 } }
    }

    /// An SVG of `text` (error correction M), or nil when it does not fit in a QR code.
    static func svg(_ text: String, moduleSize: Int = 4, quietZone: Int = 4) -> String? {
        guard let rows = modules(text) else { return nil }
        let width = rows.count
        var path = ""
        path.reserveCapacity(width * width * 8)
        for (y, row) in rows.enumerated() {
            for (x, dark) in row.enumerated() where dark {
                path += "M\(x + quietZone) \(y + quietZone)h1v1h-1z"
            }
        }
        let size = width + 2 * quietZone
        let pixels = size * moduleSize
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(size) \(size)" width="\(pixels)" height="\(pixels)" \
            shape-rendering="crispEdges" role="img" aria-label="QR code of the payment link">\
            <rect width="\(size)" height="\(size)" fill="#fff"/><path d="\(path)" fill="#000"/></svg>
            """
    }
}

extension QRCode {
    /// A PNG of `text`'s code: 8-bit grey, `moduleSize` pixels a module, with the quiet zone. The
    /// image data is zlib with stored (uncompressed) blocks, enough for a picture of a few hundred
    /// kilobytes at most and no compression library needed.
    static func png(_ text: String, moduleSize: Int = 8, quietZone: Int = 4) -> [UInt8]? {
        guard let rows = modules(text) else { return nil }
        let size = (rows.count + 2 * quietZone) * moduleSize
        // Each scanline: filter byte 0, then one byte per pixel (0 black, 255 white).
        var raw: [UInt8] = []
        raw.reserveCapacity((size + 1) * size)
        for py in 0..<size {
            raw.append(0)
            let y = py / moduleSize - quietZone
            for px in 0..<size {
                let x = px / moduleSize - quietZone
                let dark = y >= 0 && y < rows.count && x >= 0 && x < rows.count && rows[y][x]
                raw.append(dark ? 0 : 255)
            }
        }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ data: [UInt8]) {
            png += bigEndian(UInt32(data.count))
            let body = Array(type.utf8) + data
            png += body
            png += bigEndian(crc32(body))
        }
        chunk("IHDR", bigEndian(UInt32(size)) + bigEndian(UInt32(size)) + [8, 0, 0, 0, 0])
        chunk("IDAT", zlibStored(raw))
        chunk("IEND", [])
        return png
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// zlib: header, deflate stored blocks of at most 65,535 bytes, Adler-32.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65_535, data.count - offset)
            let last: UInt8 = offset + length == data.count ? 1 : 0
            out += [last, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8((~length >> 8) & 0xFF)]
            out += data[offset..<offset + length]
            offset += length
        } while offset < data.count
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        out += bigEndian(b << 16 | a)
        return out
    }
}
