internal import CQrencode

/// QR codes drawn as SVG on the server (libqrencode), so a payment link can be printed or
/// shown on a phone without any script.
enum QRCode {
    /// An SVG of `text` (error correction M), or nil when it does not fit in a QR code.
    static func svg(_ text: String, moduleSize: Int = 4, quietZone: Int = 4) -> String? {
        guard let code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let data = code.pointee.data!
        var path = ""
        path.reserveCapacity(width * width * 8)
        for y in 0..<width {
            for x in 0..<width where data[y * width + x] & 1 == 1 {
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
