/// Where a listener binds: `HOST:PORT`, with IPv6 literals in brackets (`[::1]:143`).
/// Port 0 asks the system for a free port (tests use it).
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case missingPort(String)
        case invalidPort(String)
        case invalidHost(String)

        public var description: String {
            switch self {
            case .missingPort(let text): "\"\(text)\" has no port: write HOST:PORT, for example 0.0.0.0:25 or [::]:25"
            case .invalidPort(let text): "\"\(text)\" is not a port number from 0 to 65535"
            case .invalidHost(let text): "\"\(text)\" is not an IP address or host name"
            }
        }
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws(ParseError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .invalidHost(text) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .missingPort(text) }
            portText = rest.dropFirst()
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }), host.contains(":") else {
                throw .invalidHost(String(host))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .missingPort(text) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.isEmpty, !host.contains(":"), host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else {
                throw .invalidHost(String(host))
            }
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), let port = Int(portText), (0...65535).contains(port) else {
            throw .invalidPort(String(portText))
        }
        self.host = String(host)
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
