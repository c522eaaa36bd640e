/// The head of one HTTP/1.1 request to the local container-credentials endpoint, read from
/// bytes as they arrive: request line and headers only (the SDKs send no body), bounded, and
/// strict where a lax reading could let two parties read one request differently. The server
/// that feeds it closes the connection after each answer.
package struct EndpointRequest: Equatable {
    package var method: String
    package var target: String
    /// `Authorization`, when sent exactly once.
    package var authorization: String?
    /// The TCP ports of the connection it came on (set by the server, not parsed).
    package var peer: Peer?

    package struct Peer: Equatable, Sendable {
        package var clientPort: UInt16
        package var serverPort: UInt16
    }

    package init(method: String, target: String, authorization: String?) {
        self.method = method
        self.target = target
        self.authorization = authorization
    }

    /// A request head may not be larger than this (the SDKs send a few hundred bytes).
    package static let maximumHeadSize = 8192

    package enum Parse: Equatable {
        /// More bytes are needed (no blank line yet, and under the size limit).
        case incomplete
        case request(EndpointRequest)
        /// Not a request this endpoint answers; the status to close with.
        case invalid(status: Int, reason: String)
    }

    /// Parses `bytes` received so far on one connection.
    package static func parse(_ bytes: [UInt8]) -> Parse {
        guard let end = headEnd(bytes) else {
            return bytes.count > maximumHeadSize ? .invalid(status: 431, reason: "request head too large") : .incomplete
        }
        guard end <= maximumHeadSize else { return .invalid(status: 431, reason: "request head too large") }
        // CRLF line ends only; a bare CR or LF inside a line is refused below.
        var lines = split(bytes[..<end])
        guard !lines.isEmpty else { return .invalid(status: 400, reason: "empty request") }
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(isVisible) }),
              parts[2].elementsEqual("HTTP/1.1".utf8) || parts[2].elementsEqual("HTTP/1.0".utf8)
        else { return .invalid(status: 400, reason: "malformed request line") }
        var request = EndpointRequest(method: String(decoding: parts[0], as: UTF8.self),
                                      target: String(decoding: parts[1], as: UTF8.self), authorization: nil)
        var authorizations = 0
        for line in lines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[..<colon].allSatisfy(isTokenByte)
            else { return .invalid(status: 400, reason: "malformed header line") }
            let value = trimmed(line[line.index(after: colon)...])
            guard value.allSatisfy({ isVisible($0) || $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 >= 0x80 })
            else { return .invalid(status: 400, reason: "control character in a header") }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            switch name {
            case "authorization":
                authorizations += 1
                request.authorization = String(decoding: value, as: UTF8.self)
            case "content-length" where !value.elementsEqual("0".utf8), "transfer-encoding":
                return .invalid(status: 400, reason: "a request body is not accepted")
            default:
                continue
            }
        }
        // Two Authorization headers: which one a proxy or a client library would use is anyone's guess.
        if authorizations > 1 { return .invalid(status: 400, reason: "more than one Authorization header") }
        return .request(request)
    }

    /// The index just past the blank line (CRLF CRLF) ending the head; nil when not yet there.
    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count where bytes[index] == 10 && bytes[index - 1] == 13
            && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
            return index + 1
        }
        return nil
    }

    /// Lines of the head without their CRLF (the final empty ones dropped); a bare CR or LF
    /// stays in its line, where the checks refuse it.
    private static func split(_ head: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        var index = head.startIndex
        while index + 1 < head.endIndex {
            if head[index] == 13 && head[index + 1] == 10 {
                lines.append(head[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        return lines.filter { !$0.isEmpty }
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 32 || first == 9 { slice = slice.dropFirst() }
        while let last = slice.last, last == 32 || last == 9 { slice = slice.dropLast() }
        return slice
    }

    private static func isVisible(_ byte: UInt8) -> Bool { byte > 32 && byte < 127 }

    /// RFC 9110 `token` characters (header names).
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
