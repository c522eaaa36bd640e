import Foundation
import Testing

@testable import AWSConfig

/// Parses `text` as a file at a fixed fake path.
func parse(_ text: String, path: String = "/fake/config") throws -> INIDocument {
    try INIDocument.parse(Array(text.utf8), path: path)
}
