import Hummingbird

/// The merchant's home page.
struct DashboardController: Sendable {
    let renderer: Renderer

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("/", use: self.home)
        router.get("/dashboard", use: self.show)
    }

    struct DashboardView: Sendable {
        let accountName: String
        let firstName: String
    }

    func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        Response(status: .seeOther, headers: [.location: context.session == nil ? "/login" : "/dashboard"])
    }

    func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try context.requireSession(returnTo: "/dashboard")
        return renderer.page(
            "dashboard/index",
            title: "Dashboard",
            DashboardView(
                accountName: session.accountName,
                firstName: session.userName.split(separator: " ").first.map(String.init) ?? session.userName
            ),
            context: context
        )
    }
}
