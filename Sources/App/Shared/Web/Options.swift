import Mustache

/// One choice of a `<select>` (a filter, a role, a sort order): what it sends, what it says, and
/// whether it is the current one. Pages name it after their use (`StatusOption`, `SortOption`…).
struct SelectOption: Sendable, Equatable {
    let value: String
    let label: String
    let selected: Bool
}

/// One checkbox of a group (scopes, email events): what it sends, what it says, whether it is ticked.
struct CheckOption: Sendable, Equatable {
    let value: String
    let label: String
    let checked: Bool
}

// Rendered by name, not through Mirror (see `ViewParity`).
extension SelectOption: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "value": self.value
        case "label": self.label
        case "selected": self.selected
        default: nil
        }
    }
}

extension CheckOption: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "value": self.value
        case "label": self.label
        case "checked": self.checked
        default: nil
        }
    }
}
