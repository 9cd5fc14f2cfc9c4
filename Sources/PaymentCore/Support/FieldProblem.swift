/// One rule a draft breaks, on one field, in words for the person who filled it in.
///
/// The core checks a draft's rules once; the HTML form shows each problem next to its field and
/// the JSON API answers with the first one. `field` is the name both use: the form's input and the
/// API's parameter.
public struct FieldProblem: Sendable, Equatable {
    public let field: String
    public let message: String
    /// nil when the value is wrong on its own (the API's 400 `parameter_invalid`); otherwise the
    /// API's code for a value refused for what the account holds (422).
    public let code: String?

    public init(field: String, message: String, code: String? = nil) {
        self.field = field
        self.message = message
        self.code = code
    }
}

/// A draft that breaks rules, all of them listed. Nothing was written.
public struct FieldProblems: Error, Sendable, Equatable {
    public let problems: [FieldProblem]

    public init(_ problems: [FieldProblem]) {
        self.problems = problems
    }

    /// The problem on `field`, if any.
    public subscript(field: String) -> FieldProblem? { problems.first { $0.field == field } }
}
