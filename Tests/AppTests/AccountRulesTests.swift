import Foundation
import HTTPTypes
import Testing

@testable import App

/// Sign-up and log-in are one service (`AccountService`) behind the sign-up page and
/// `POST /v1/users`: each rule of a new account, broken through each, gives the same words on the
/// same field and creates nothing; a name left out of the API is the email's local part.
@Suite("Account rules: one service, both presenters")
struct AccountRulesTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let rule: String
        let name: String
        let email: String
        let password: String
        let field: String
        let message: String
        let status: HTTPResponse.Status
        var testDescription: String { rule }
    }

    static let good = "correct horse battery staple"

    static let cases: [Case] = [
        Case(
            rule: "a name", name: "   ", email: "{unique}", password: good, field: "name", message: "Enter your name or your business's name.",
            status: .badRequest),
        Case(
            rule: "a name of at most 100", name: String(repeating: "n", count: 101), email: "{unique}", password: good, field: "name",
            message: "at most 100 characters", status: .badRequest),
        Case(
            rule: "an email address", name: "Shop", email: "not-an-email", password: good, field: "email",
            message: "Enter an email address like name@example.com.", status: .unprocessableContent),
        Case(
            rule: "a password that is not common", name: "Shop", email: "{unique}", password: "password1234", field: "password",
            message: "common", status: .unprocessableContent),
    ]

    @Test(arguments: cases)
    func eachRuleSaysTheSameThroughTheFormAndTheAPI(_ rule: Case) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let email = rule.email == "{unique}" ? AccountsTests.uniqueEmail() : rule.email
            let page = try await Browser(client).signUp(name: rule.name, email: email, password: rule.password)
            #expect(page.status == .unprocessableContent)
            let shown = try #require(Browser.fieldError(in: page.body, field: rule.field), "no error next to \(rule.field)")
            #expect(shown.contains(Browser.escapeHTML(rule.message)), "\(shown)")

            let json = #"{"name":"\#(rule.name)","email":"\#(email)","password":"\#(rule.password)"}"#
            let answer = try await client.api(.post, "/v1/users", json: json)
            #expect(answer.status == rule.status)
            #expect(answer.param == rule.field)
            #expect(answer.message?.contains(rule.message) == true, "\(answer.message ?? "")")

            #expect(try await app.count("SELECT count(*) FROM users") == 0)
        }
    }

    @Test func bothLogInThroughTheSameCheck() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let email = AccountsTests.uniqueEmail()
            // Made through the API without a name: the name is the email's local part.
            let created = try await client.api(.post, "/v1/users", json: #"{"email":"\#(email)","password":"\#(Self.good)"}"#)
            #expect(created.status == .created)
            #expect(created.json["name"] as? String == String(email.prefix { $0 != "@" }))

            #expect(try await Browser(client).logIn(email: email, password: Self.good).status == .seeOther)
            #expect(try await Browser(client).logIn(email: email, password: "wrong horse battery staple").status == .unauthorized)
            let token = try await client.api(.post, "/v1/tokens", json: #"{"email":"\#(email)","password":"\#(Self.good)"}"#)
            #expect(token.status == .ok)
            let refused = try await client.api(.post, "/v1/tokens", json: #"{"email":"\#(email)","password":"wrong horse battery staple"}"#)
            #expect(refused.status == .unauthorized)
            // An unknown email is refused the same way.
            #expect(
                try await client.api(.post, "/v1/tokens", json: #"{"email":"nobody@example.com","password":"\#(Self.good)"}"#).code
                    == "credentials_invalid")
        }
    }
}
