// Header names the API uses that HTTPTypes does not predefine, and lookup by name.
import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    // Literal, valid token names: the initialiser cannot fail for them.
    static let xRobotsTag = HTTPField.Name("X-Robots-Tag")!
}

extension HTTPFields {
    /// The first value of the header called `name` (case-insensitive).
    func value(of name: String) -> String? {
        first { $0.name.canonicalName == name.lowercased() }?.value
    }
}
