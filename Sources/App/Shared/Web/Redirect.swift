import Hummingbird

/// Kassa's cookies: always HttpOnly, SameSite=Lax, path /, Secure behind https.
enum Cookies {
    static func make(_ name: String, _ value: String, maxAge: Int?, secure: Bool) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }
}

extension Response {
    /// 303 to a local path, optionally with a one-shot message for the next page.
    static func redirect(to path: String, flash: Flash? = nil, secureCookies: Bool) -> Response {
        var response = Response(status: .seeOther, headers: [.location: path])
        if let flash {
            response.setCookie(Cookies.make(SessionMiddleware.flashCookie, flash.rawValue, maxAge: 60, secure: secureCookies))
        }
        return response
    }
}
