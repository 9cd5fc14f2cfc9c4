import Hummingbird
import Mustache
import PaymentCore

/// `/payment-methods`: which card issuers the merchant accepts, and in which currencies.
struct PaymentMethodsController: Sendable {
    let payments: Payments
    let renderer: Renderer
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/payment-methods", use: self.list)
        router.post("/payment-methods", use: self.create)
        router.post("/payment-methods/network", use: self.createNetwork)
        router.post("/payment-methods/:id", use: self.update)
        router.post("/payment-methods/:id/delete", use: self.delete)
    }

    // MARK: view models

    struct CurrencyOption: Sendable {
        let code: String
        let name: String
        let checked: Bool
        let inputID: String
    }

    struct MethodRow: Sendable {
        let id: String
        let issuerName: String
        let isTest: Bool
        let network: String
        let networkLabel: String
        let currencyCodes: String
        let currencies: [CurrencyOption]
        let error: String?
        let blocking: [LinkRef]
        let hasBlocking: Bool
        /// Open links only this method pays, shown before a change: unticking their currency is refused.
        let dependents: [LinkRef]
        let hasDependents: Bool
        let open: Bool
    }

    /// The issuers not yet accepted, by network (the add form's option groups).
    struct IssuerGroup: Sendable {
        let networkLabel: String
        let issuers: [IssuerOption]
    }

    /// "Accept every Visa issuer": a network with issuers not yet accepted, one currency choice.
    struct NetworkOption: Sendable {
        let network: String
        let networkLabel: String
        /// "Kassa Test Visa, Liberty National Bank and 3 more".
        let issuerNames: String
        let count: Int
        let includesTest: Bool
        let currencies: [CurrencyOption]
        let error: String?
        let open: Bool
    }

    /// The accepted methods of one network.
    struct MethodGroup: Sendable {
        let network: String
        let networkLabel: String
        let methods: [MethodRow]
    }

    struct IssuerOption: Sendable {
        let id: String
        let name: String
        let isTest: Bool
        let networkLabel: String
        let selected: Bool
        let currencies: [CurrencyOption]
        let fieldName: String
        let hidden: Bool
    }

    struct PageView: Sendable {
        let groups: [MethodGroup]
        let hasMethods: Bool
        let networks: [NetworkOption]
        /// A refused network that is not (or no longer) offered: said above the list.
        let networkProblem: String?
        let issuerGroups: [IssuerGroup]
        let issuers: [IssuerOption]
        let canAdd: Bool
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
    }

    /// What went wrong with one method's edit or removal, shown on its row.
    struct RowProblem {
        let methodID: String
        let message: String
        let checked: [String]?
        /// The open links in the way, named (the first ten).
        var links: [LinkRef] = []
    }

    struct LinkRef: Sendable {
        let id: String
        let description: String
        var currency: String = ""
        /// Where it is: `/links/` or `/forms/`.
        var path: String = "/links/"
    }

    // MARK: handlers

    func list(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        return try await render(accountID: session.accountID, add: FormState(), row: nil, context: context, status: .ok)
    }

    func create(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let issuerID = context.form["issuer"] ?? ""
        let codes = context.form.all("currencies_" + issuerID)
        var state = FormState(values: ["issuer": issuerID])
        // The method's rules are the core's (PaymentMethods.validate, the API's too); here, their words.
        do {
            let method = try await payments.methods.add(accountID: session.accountID, issuerID: issuerID, currencies: codes)
            context.logger.info("payment method added", metadata: ["payment_method_id": .string(method.id.rawValue), "issuer": .string(issuerID)])
            return .redirect(to: "/payment-methods", flash: .methodAdded, secureCookies: secureCookies)
        } catch PaymentError.issuerNotFound {
            state.errors["issuer"] = issuerID.isEmpty ? "Choose the card issuer to accept." : "Choose a card issuer from the list."
        } catch PaymentError.methodExists {
            state.errors["issuer"] = "You already accept this issuer. Change its currencies in the list above."
        } catch PaymentError.unsupportedCurrencies(let unsupported) {
            state.errors["currencies"] =
                unsupported.isEmpty ? "Choose at least one currency." : "This issuer does not settle in \(unsupported.joined(separator: ", "))."
        }
        state.values["currencies"] = codes.joined(separator: ",")
        return try await render(accountID: session.accountID, add: state, row: nil, context: context, status: .unprocessableContent)
    }

    /// Every issuer of a network at once, in the currencies chosen for it.
    func createNetwork(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let name = context.form["network"] ?? ""
        let codes = context.form.all("network_currencies")
        let problem: String
        if let network = CardNetwork(rawValue: name) {
            do {
                let added = try await payments.methods.addNetwork(accountID: session.accountID, network: network, currencies: codes)
                context.logger.info("payment methods added", metadata: ["network": .string(name), "count": .stringConvertible(added.count)])
                return .redirect(to: "/payment-methods", flash: .methodAdded, secureCookies: secureCookies)
            } catch PaymentError.methodExists {
                problem = "You already accept every \(network.displayName) issuer."
            } catch PaymentError.unsupportedCurrencies(let unsupported) {
                problem =
                    unsupported.isEmpty
                    ? "Choose at least one currency." : "No \(network.displayName) issuer settles in \(unsupported.joined(separator: ", "))."
            }
        } else {
            problem = "Choose a card network from the list."
        }
        return try await render(
            accountID: session.accountID, add: FormState(), row: nil, network: (name, problem, codes), context: context,
            status: .unprocessableContent)
    }

    func update(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: MethodID.self)
        let codes = context.form.all("currencies")
        guard let current = try await payments.methods.find(accountID: session.accountID, id: id) else { throw HTTPError(.notFound) }
        let problem: String
        var status = HTTPResponse.Status.unprocessableContent
        var blocking: [LinkRef] = []
        do {
            _ = try await payments.methods.update(accountID: session.accountID, id: id, currencies: codes)
            return .redirect(to: "/payment-methods", flash: .methodUpdated, secureCookies: secureCookies)
        } catch PaymentError.unsupportedCurrencies(let unsupported) {
            problem =
                unsupported.isEmpty
                ? "Keep at least one currency, or remove the payment method."
                : "This issuer does not settle in \(unsupported.joined(separator: ", "))."
        } catch PaymentError.methodInUse(let links) {
            problem = Self.inUseMessage(links: links, action: "drop these currencies")
            status = .conflict
            let kept = Set(codes.map { $0.uppercased() })
            blocking = try await payments.methods.linksNeeding(
                accountID: session.accountID, methodID: id, removing: current.currencies.filter { !kept.contains($0.code) }
            ).map { LinkRef(id: $0.id.rawValue, description: $0.description) }
        }
        return try await render(
            accountID: session.accountID, add: FormState(),
            row: RowProblem(methodID: id.rawValue, message: problem, checked: codes, links: blocking),
            context: context,
            status: status
        )
    }

    func delete(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: MethodID.self)
        do {
            try await payments.methods.remove(accountID: session.accountID, id: id)
            context.logger.info("payment method removed", metadata: ["payment_method_id": .string(id.rawValue)])
            return .redirect(to: "/payment-methods", flash: .methodRemoved, secureCookies: secureCookies)
        } catch PaymentError.notFound {
            throw HTTPError(.notFound)
        } catch PaymentError.methodInUse(let links) {
            let blocking = try await payments.methods.linksNeeding(accountID: session.accountID, methodID: id)
            return try await render(
                accountID: session.accountID, add: FormState(),
                row: RowProblem(
                    methodID: id.rawValue, message: Self.inUseMessage(links: links, action: "remove it"), checked: nil,
                    links: blocking.map { LinkRef(id: $0.id.rawValue, description: $0.description) }),
                context: context, status: .conflict
            )
        }
    }

    static func inUseMessage(links: Int, action: String) -> String {
        let count = links == 1 ? "An open payment link takes" : "\(links) open payment links take"
        return
            "\(count) payments through this method. Revoke \(links == 1 ? "it" : "them") or accept the currency through another issuer before you \(action)."
    }

    // MARK: rendering

    private func render(
        accountID: AccountID, add: FormState, row: RowProblem?, network failed: (name: String, problem: String, codes: [String])? = nil,
        context: MerchantContext, status: HTTPResponse.Status
    ) async throws -> Response {
        let methods = try await payments.methods.list(accountID: accountID)
        let catalog = try await payments.catalog()
        var dependents: [MethodID: [LinkRef]] = [:]
        for method in methods {
            dependents[method.id] =
                try await payments.methods.linksNeeding(accountID: accountID, methodID: method.id, removing: method.currencies)
                .map { LinkRef(id: $0.id.rawValue, description: $0.description, currency: $0.currency) }
                + payments.methods.formsNeeding(accountID: accountID, methodID: method.id, currencies: method.currencies)
                .map { LinkRef(id: $0.id.rawValue, description: $0.title, currency: $0.currency, path: "/forms/") }
        }
        let rows: [MethodRow] = methods.compactMap { method in
            guard let issuer = catalog.issuer(id: method.issuerID) else { return nil }
            let problem = row?.methodID == method.id.rawValue ? row : nil
            let checked = problem?.checked.map { Set($0.map { $0.uppercased() }) } ?? Set(method.currencies.map(\.code))
            return MethodRow(
                id: method.id.rawValue, issuerName: issuer.name, isTest: issuer.isTestIssuer, network: issuer.network.rawValue,
                networkLabel: issuer.network.displayName,
                currencyCodes: method.currencies.map(\.code).joined(separator: ", "),
                currencies: issuer.currencies.map {
                    CurrencyOption(code: $0.code, name: $0.name, checked: checked.contains($0.code), inputID: "\(method.id)-\($0.code)")
                },
                error: problem?.message, blocking: problem?.links ?? [], hasBlocking: !(problem?.links ?? []).isEmpty,
                dependents: dependents[method.id] ?? [], hasDependents: !(dependents[method.id] ?? []).isEmpty,
                open: problem != nil
            )
        }
        let accepted = Set(methods.map(\.issuerID))
        let available = catalog.issuers.filter { !accepted.contains($0.id) }
        let chosen = add.values["issuer"] ?? ""
        let chosenCodes = Set((add.values["currencies"] ?? "").split(separator: ",").map { $0.uppercased() })
        let issuers = available.map { issuer in
            IssuerOption(
                id: issuer.id, name: issuer.name, isTest: issuer.isTestIssuer, networkLabel: issuer.network.displayName,
                selected: issuer.id == chosen,
                currencies: issuer.currencies.map {
                    CurrencyOption(
                        code: $0.code, name: $0.name, checked: issuer.id == chosen && chosenCodes.contains($0.code),
                        inputID: "\(issuer.id)-\($0.code)"
                    )
                },
                fieldName: "currencies_" + issuer.id,
                hidden: !chosen.isEmpty && issuer.id != chosen
            )
        }
        let byNetwork = Dictionary(grouping: catalog.issuers, by: \.network)
        let groups = CardNetwork.allCases.compactMap { network -> MethodGroup? in
            let ofNetwork = rows.filter { $0.network == network.rawValue }
            return ofNetwork.isEmpty ? nil : MethodGroup(network: network.rawValue, networkLabel: network.displayName, methods: ofNetwork)
        }
        let networks = CardNetwork.allCases.compactMap { network -> NetworkOption? in
            let remaining = (byNetwork[network] ?? []).filter { !accepted.contains($0.id) }
            guard !remaining.isEmpty else { return nil }
            let problem = failed?.name == network.rawValue ? failed : nil
            let checked = Set((problem?.codes ?? []).map { $0.uppercased() })
            let names = remaining.map(\.name)
            let currencies = Array(Set(remaining.flatMap(\.currencies))).sorted()
            return NetworkOption(
                network: network.rawValue, networkLabel: network.displayName,
                issuerNames: names.count <= 3 ? Self.listed(names) : "\(names.prefix(2).joined(separator: ", ")) and \(names.count - 2) more",
                count: remaining.count, includesTest: remaining.contains(where: \.isTestIssuer),
                currencies: currencies.map {
                    CurrencyOption(
                        code: $0.code, name: $0.name, checked: checked.contains($0.code), inputID: "network-\(network.rawValue)-\($0.code)")
                },
                error: problem?.problem, open: problem != nil
            )
        }
        let issuerGroups = CardNetwork.allCases.compactMap { network -> IssuerGroup? in
            let ofNetwork = issuers.filter { $0.networkLabel == network.displayName }
            return ofNetwork.isEmpty ? nil : IssuerGroup(networkLabel: network.displayName, issuers: ofNetwork)
        }
        return renderer.page(
            "payment_methods/index",
            title: "Payment methods",
            PageView(
                groups: groups, hasMethods: !rows.isEmpty, networks: networks,
                networkProblem: failed.flatMap { failed in networks.contains { $0.network == failed.name } ? nil : failed.problem },
                issuerGroups: issuerGroups, issuers: issuers,
                canAdd: !issuers.isEmpty,
                form: add.values, errors: add.errors, summary: add.summary(order: ["issuer", "currencies"])
            ),
            context: context,
            status: status
        )
    }

    /// "A, B and C".
    static func listed(_ names: [String]) -> String {
        names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names[names.count - 1]
    }
}

// Views rendered by name, not through Mirror (see `ViewParity`): the page lists every issuer's currencies.
extension PaymentMethodsController.CurrencyOption: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "code": self.code
        case "name": self.name
        case "checked": self.checked
        case "inputID": self.inputID
        default: nil
        }
    }
}

extension PaymentMethodsController.MethodRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "issuerName": self.issuerName
        case "isTest": self.isTest
        case "network": self.network
        case "networkLabel": self.networkLabel
        case "currencyCodes": self.currencyCodes
        case "currencies": self.currencies
        case "error": self.error
        case "blocking": self.blocking
        case "hasBlocking": self.hasBlocking
        case "dependents": self.dependents
        case "hasDependents": self.hasDependents
        case "open": self.open
        default: nil
        }
    }
}

extension PaymentMethodsController.IssuerGroup: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "networkLabel": self.networkLabel
        case "issuers": self.issuers
        default: nil
        }
    }
}

extension PaymentMethodsController.NetworkOption: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "network": self.network
        case "networkLabel": self.networkLabel
        case "issuerNames": self.issuerNames
        case "count": self.count
        case "includesTest": self.includesTest
        case "currencies": self.currencies
        case "error": self.error
        case "open": self.open
        default: nil
        }
    }
}

extension PaymentMethodsController.MethodGroup: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "network": self.network
        case "networkLabel": self.networkLabel
        case "methods": self.methods
        default: nil
        }
    }
}

extension PaymentMethodsController.IssuerOption: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "name": self.name
        case "isTest": self.isTest
        case "networkLabel": self.networkLabel
        case "selected": self.selected
        case "currencies": self.currencies
        case "fieldName": self.fieldName
        case "hidden": self.hidden
        default: nil
        }
    }
}

extension PaymentMethodsController.PageView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "groups": self.groups
        case "hasMethods": self.hasMethods
        case "networks": self.networks
        case "networkProblem": self.networkProblem
        case "issuerGroups": self.issuerGroups
        case "issuers": self.issuers
        case "canAdd": self.canAdd
        case "form": self.form
        case "errors": self.errors
        case "summary": self.summary
        default: nil
        }
    }
}

extension PaymentMethodsController.LinkRef: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "description": self.description
        case "currency": self.currency
        case "path": self.path
        default: nil
        }
    }
}
