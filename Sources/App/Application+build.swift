import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import PaymentCore
import PostgresNIO
import Prometheus
import RedisClient
import ServiceLifecycle

/// The one place Kassa's objects are made and wired. The binary and the tests both call it.
public func buildApplication(
    configuration: AppConfiguration, logger: Logger, readiness: Readiness = Readiness()
) async throws -> some ApplicationProtocol {
    let (router, services) = try await buildRouter(configuration: configuration, logger: logger, readiness: readiness)
    var app = Application(
        router: router,
        server: .guardedHTTP1(headerTimeout: configuration.headerReadTimeout, idleTimeout: configuration.idleTimeout),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Kassa"),
        logger: logger
    )
    app.addServices(services.map(readiness.watched))
    return app
}

/// The routes and the services behind them (the spec test reads the routes from here).
func buildRouter(
    configuration: AppConfiguration, logger: Logger, readiness: Readiness = Readiness()
) async throws -> (Router<AppRequestContext>, [any Service]) {
    let database = PostgresClient(configuration: configuration.database.clientConfiguration, backgroundLogger: logger)
    let redis = RedisClient(configuration: configuration.redis, logger: logger)
    let renderer = try await Renderer(
        directory: configuration.templatesDirectory, compare: configuration.compareRendering ? renderingDifference(logger: logger) : nil)
    let policy = try PasswordPolicy.bundled()
    let registry = PrometheusCollectorRegistry()
    let secretKey = SymmetricKey(data: configuration.secretKey)

    let sessions = SessionStore(
        redis: redis, prefix: configuration.redisKeyPrefix, idleTimeoutSeconds: configuration.sessionIdleTimeoutSeconds
    )
    let limiter = RateLimiter(redis: redis, prefix: configuration.redisKeyPrefix)
    let accounts = AccountStore(database: database, logger: logger)
    let stats = OpsStats()
    let metrics = KassaMetrics(registry: registry, stats: stats, memoryBudgetBytes: Double(configuration.memoryBudgetMegabytes) * 1024 * 1024)
    metrics.prepare()
    let suspensions = Suspensions(database: database, logger: logger)
    let accountLimits = AccountRateLimits(database: database, logger: logger)
    let replica = configuration.replica.map { PostgresClient(configuration: $0.clientConfiguration, backgroundLogger: logger) }
    let reads = ReplicaReads(
        primary: database, replica: replica,
        marks: replica == nil ? nil : RedisWriteMarks(redis: redis, prefix: configuration.redisKeyPrefix),
        settings: .init(
            maximumWait: .milliseconds(configuration.replicaWaitMilliseconds), maximumLag: .seconds(configuration.replicaMaximumLagSeconds)),
        logger: logger, counted: metrics.read
    )
    let payments = Payments.make(configuration: configuration, database: database, reads: reads, observer: metrics.payments, logger: logger)

    let router = Router(context: AppRequestContext.self)
    router.add(middleware: EventLoopExecutorMiddleware())
    router.add(middleware: ClientAddressMiddleware(trustForwardedFor: configuration.trustForwardedFor))
    let exporter = configuration.otlpEndpoint.map { OTLPExporter(endpoint: $0, logger: logger) }
    router.add(middleware: RequestLogMiddleware(metrics: RequestMetrics(registry: registry, stats: stats), spans: exporter, readiness: readiness))
    router.add(middleware: SecurityHeadersMiddleware(strictTransport: configuration.isSecure))
    let errorPages = ErrorPageMiddleware(renderer: renderer)
    router.add(middleware: errorPages)
    // Inside the error pages: it serves a file when the router finds no route (a thrown 404).
    router.add(
        middleware: FileMiddleware(
            configuration.publicDirectory, cacheControl: .init([(MediaType(type: .any), [.public, .maxAge(3600)])]), searchForIndexHtml: false,
            logger: logger))

    // operations: no session, no CSRF
    OperationsController(
        database: database, redis: redis, registry: registry, metrics: metrics, circuits: { payments.issuerCircuits },
        readiness: readiness, timeout: configuration.readinessTimeout, metricsToken: configuration.metricsToken,
        openMetrics: configuration.servesOpenMetrics
    ).addRoutes(to: router)

    // payer pages: signed links instead of sessions
    let signer = LinkSigner(keys: configuration.linkKeys.map { LinkSigner.Key(id: $0.id, secret: $0.secret) })
    let receiptsByEmail = configuration.smtp != nil
    let payerLimits = PayerLimits(
        limiter: limiter, perIP: configuration.rateLimits.payerPerIP, perSubject: configuration.rateLimits.payerPerSubject,
        perCard: configuration.rateLimits.payerPerCard, fingerprintKey: Payments.fingerprintKey(secret: configuration.secretKey))
    CheckoutController(
        payments: payments, signer: signer, renderer: renderer, limits: payerLimits, clock: { Date() }, suspensions: suspensions,
        receiptsByEmail: receiptsByEmail
    )
    .addRoutes(to: router)
    EmbedController(
        payments: payments, signer: signer, renderer: renderer, limits: payerLimits, suspensions: suspensions, receiptsByEmail: receiptsByEmail
    )
    .addRoutes(to: router)
    let feed = LiveFeed(database: database, caps: configuration.liveStreams, logger: logger)
    let live = LiveController(database: database, payments: payments, signer: signer, feed: feed)
    live.addPayerRoutes(to: router)

    // merchant pages
    let notifications = Notifications(database: database, logger: logger)
    let web = router.group()
        .add(middleware: SessionMiddleware(sessions: sessions, secretKey: secretKey, secureCookies: configuration.isSecure))
        .add(middleware: WriteMarkMiddleware(reads: reads))
        .add(middleware: NotificationBadgeMiddleware(notifications: notifications))
        .add(middleware: SuspensionNoticeMiddleware(suspensions: suspensions))
        .add(middleware: TimeZoneMiddleware())
        .add(middleware: SignedInErrorPageMiddleware(pages: errorPages))
    // Pages of a signed-in merchant: their context's session is not optional (MerchantContext).
    let merchant = web.group(context: MerchantContext.self).add(middleware: RoleMiddleware())
    // Sign-up and log-in: one service for the pages and the seed API.
    let accountService = AccountService(
        accounts: accounts, hasher: PasswordHasher(), policy: policy, limiter: limiter, rateLimits: configuration.rateLimits
    )
    let team = Team(database: database, logger: logger)
    let audit = AuditLog(database: database, logger: logger)
    let twoFactor = TwoFactor(
        database: database, redis: redis, sealingKey: TwoFactor.sealingKey(secret: configuration.secretKey), prefix: configuration.redisKeyPrefix,
        logger: logger)
    SecurityController(twoFactor: twoFactor, service: accountService, renderer: renderer, audit: audit, secureCookies: configuration.isSecure)
        .addRoutes(to: merchant)
    let accountsController = AccountsController(
        service: accountService, sessions: sessions, renderer: renderer, secureCookies: configuration.isSecure, twoFactor: twoFactor, audit: audit,
        emailEnabled: configuration.smtp != nil, forgetBusinessName: { payments.cache.forget(nameOf: $0) }
    )
    accountsController.addRoutes(to: web)
    PasswordResetController(
        resets: PasswordResets(database: database, logger: logger), service: accountService, sessions: sessions, renderer: renderer,
        smtp: configuration.smtp.map { SMTPClient(configuration: $0) }, baseURL: configuration.baseURL, secureCookies: configuration.isSecure
    ).addRoutes(to: web)
    accountsController.addMerchantRoutes(to: merchant)
    let teamController = TeamController(
        team: team, audit: audit, service: accountService, sessions: sessions, renderer: renderer,
        smtp: configuration.smtp.map { SMTPClient(configuration: $0) },
        baseURL: configuration.baseURL, secureCookies: configuration.isSecure)
    teamController.addMerchantRoutes(to: merchant)
    teamController.addRoutes(to: web)
    let dashboard = DashboardController(renderer: renderer, payments: payments)
    dashboard.addRoutes(to: web)
    dashboard.addMerchantRoutes(to: merchant)
    PaymentMethodsController(payments: payments, renderer: renderer, secureCookies: configuration.isSecure).addRoutes(to: merchant)
    LinksController(payments: payments, signer: signer, renderer: renderer, baseURL: configuration.baseURL, secureCookies: configuration.isSecure)
        .addRoutes(to: merchant)
    PaymentsController(
        payments: payments, notifications: notifications, renderer: renderer, audit: audit, secureCookies: configuration.isSecure,
        authorizationDays: configuration.authorizationDays
    ).addRoutes(to: merchant)
    let settlements = Settlements(database: database, reads: reads, logger: logger)
    SettlementsController(settlements: settlements, renderer: renderer, secureCookies: configuration.isSecure).addRoutes(to: merchant)
    FormsController(payments: payments, renderer: renderer, baseURL: configuration.baseURL, secureCookies: configuration.isSecure)
        .addRoutes(to: merchant)
    let apiKeys = APIKeys(database: database, redis: redis, prefix: configuration.redisKeyPrefix, logger: logger)
    DevelopersController(keys: apiKeys, renderer: renderer, audit: audit, secureCookies: configuration.isSecure).addRoutes(to: merchant)

    // the JSON API: keys instead of sessions, JSON errors, idempotency, rate limits
    let methodsAPI = MethodsAPI(payments: payments)
    let v1 = router.group("v1").add(middleware: APIErrorMiddleware())
    methodsAPI.addPublicRoutes(to: v1)
    SeedAPIController(
        service: accountService, payments: payments, tokens: await SeedAPIController.keyCollection(secret: configuration.secretKey),
        twoFactor: twoFactor, audit: audit, suspensions: suspensions
    ).addRoutes(to: v1)
    let authenticated = v1.group()
        .add(
            middleware: APIAuthMiddleware(
                keys: apiKeys, limiter: limiter, perKey: configuration.rateLimits.apiPerKey, perAccount: configuration.rateLimits.apiPerAccount,
                accountLimits: accountLimits, suspensions: suspensions, stats: stats
            )
        )
        .add(middleware: WriteMarkMiddleware(reads: reads))
    let apiRoutes = APIRoutes(
        group: authenticated, idempotency: IdempotencyMiddleware(database: database, sealing: configuration.secretKey, logger: logger))
    // One controller per resource.
    methodsAPI.addRoutes(to: apiRoutes)
    LinksAPI(payments: payments, signer: signer, baseURL: configuration.baseURL, keys: apiKeys).addRoutes(to: apiRoutes)
    PaymentsAPI(payments: payments, audit: audit).addRoutes(to: apiRoutes)
    CheckoutSessionsAPI(payments: payments, signer: signer, baseURL: configuration.baseURL, keys: apiKeys).addRoutes(to: apiRoutes)
    // In the web group: signed in, the reference is in the merchant layout and its curl lines use their key.
    OpenAPIController(renderer: renderer, baseURL: configuration.baseURL, keys: apiKeys).addRoutes(to: web)

    // notifications and webhooks
    let endpoints = WebhookEndpoints(
        database: database, sealingKey: WebhookEndpoints.sealingKey(secret: configuration.secretKey),
        allowPrivateAddresses: configuration.webhooksAllowPrivate, logger: logger
    )
    let consumers = EventConsumers(
        database: database, log: payments.log, endpoints: endpoints, logger: logger, emailsPayers: configuration.smtp != nil, metrics: metrics,
        spans: exporter)
    live.addMerchantRoutes(to: merchant)
    NotificationsController(notifications: notifications, renderer: renderer, secureCookies: configuration.isSecure).addRoutes(to: merchant)
    WebhooksController(endpoints: endpoints, consumers: consumers, renderer: renderer, secureCookies: configuration.isSecure)
        .addRoutes(to: merchant)
    WebhookAPIController(endpoints: endpoints).addRoutes(to: apiRoutes)
    SettlementsAPI(settlements: settlements).addRoutes(to: apiRoutes)
    let riskController = RiskController(risk: payments.risk, renderer: renderer, audit: audit, secureCookies: configuration.isSecure)
    riskController.addMerchantRoutes(to: merchant)
    riskController.addAPIRoutes(to: apiRoutes)
    OpsController(
        store: OpsStore(database: database, logger: logger), payments: payments, stats: stats, suspensions: suspensions,
        accountLimits: accountLimits,
        defaultAPIPerMinute: configuration.rateLimits.apiPerAccount.limit * 60
            / max(configuration.rateLimits.apiPerAccount.windowSeconds, 1),
        twoFactor: twoFactor, renderer: renderer, secureCookies: configuration.isSecure
    ).addRoutes(to: web)

    var services: [any Service] = [
        database, RedisService(client: redis), feed,
        // Every process follows the operators' suspensions within two seconds.
        PeriodicWorker(name: "suspensions", interval: .seconds(2), logger: logger) { try await suspensions.refresh() },
    ]
    if let exporter { services.append(exporter) }
    if let replica { services += [replica, ReplicaMonitor(reads: reads, registry: registry)] }
    if configuration.consumerPollMilliseconds > 0 {
        let poll = Duration.milliseconds(configuration.consumerPollMilliseconds)
        let history = payments.history
        let ledger = payments.ledger
        services += [
            // The consumers of the transaction log: each pass reads up to its limit; a full pass is
            // followed at once by the next, an idle one by a pause of `poll`.
            ConsumerWorker(name: "ledger", limit: 2000, idle: poll, logger: logger) { try await ledger.consume(limit: $0) },
            ConsumerWorker(name: "totals", limit: 2000, idle: poll, logger: logger) { try await history.consumeTotals(limit: $0) },
            ConsumerWorker(name: "notifications", limit: 1000, idle: poll, logger: logger) { try await consumers.notifyPass(limit: $0) },
            ConsumerWorker(name: "webhooks", limit: 1000, idle: poll, logger: logger) { try await consumers.fanOutPass(limit: $0) },
            PeriodicWorker(name: "webhook delivery", interval: poll, logger: logger) { try await consumers.deliverBatch() },
            ConsumerLagGauge(log: payments.log, registry: registry, logger: logger),
        ]
        if let smtp = configuration.smtp {
            let email = EmailWorker(
                database: database, smtp: SMTPClient(configuration: smtp), renderer: renderer, baseURL: configuration.baseURL, logger: logger)
            let payerEmails = PayerEmailWorker(
                database: database, smtp: SMTPClient(configuration: smtp), renderer: renderer, signer: signer, baseURL: configuration.baseURL,
                logger: logger)
            services.append(PeriodicWorker(name: "email", interval: poll, logger: logger) { try await email.sendBatch() })
            services.append(PeriodicWorker(name: "payer email", interval: poll, logger: logger) { try await payerEmails.sendBatch() })
        }
    }
    if configuration.payments.recoveryIntervalSeconds > 0 {
        let interval = Duration.seconds(configuration.payments.recoveryIntervalSeconds)
        services += [
            PeriodicWorker(name: "recovery", interval: interval, logger: logger) { try await payments.recoverStuckPayments() },
            PeriodicWorker(name: "expiry", interval: interval, logger: logger) { try await payments.links.expireDue() },
            PeriodicWorker(name: "authorization voids", interval: interval, logger: logger) {
                try await payments.voidExpiredAuthorizations(days: configuration.authorizationDays)
            },
            // Next months' partitions of the log and the transfers, three months ahead.
            PeriodicWorker(name: "partitions", interval: .seconds(3600), logger: logger) {
                try await payments.log.ensurePartitions(monthsAhead: 3)
            },
            // Closes each UTC day once the ledger holds all of it, then pays it out (simulated).
            PeriodicWorker(name: "settlements", interval: .seconds(60), logger: logger) { try await settlements.pass() },
            PeriodicWorker(name: "idempotency sweep", interval: .seconds(300), logger: logger) {
                try await IdempotencyMiddleware.sweep(database: database, logger: logger)
            },
        ]
    }
    return (router, services)
}

/// Closes the Redis pool when the service group shuts down.
struct RedisService: Service {
    let client: RedisClient

    func run() async throws {
        try? await gracefulShutdown()
        await client.shutdown()
    }
}

/// Logs where a page rendered by `PageTemplates` parts from swift-mustache's rendering (tests).
private func renderingDifference(logger: Logger) -> @Sendable (String, Int, String, String) -> Void {
    { template, offset, ours, theirs in
        func window(_ text: String) -> String {
            String(decoding: Array(text.utf8).dropFirst(max(0, offset - 80)).prefix(160), as: UTF8.self)
        }
        logger.critical(
            "rendering differs from swift-mustache",
            metadata: ["template": "\(template)", "offset": "\(offset)", "ours": "\(window(ours))", "theirs": "\(window(theirs))"]
        )
    }
}
