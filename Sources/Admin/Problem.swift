import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answered as RFC 9457 problem details (`application/problem+json`), naming the
/// field that is wrong when there is one.
public struct Problem: Error, HTTPResponseError, Codable, Sendable {
    public var type = "about:blank"
    public var title: String
    public var code: Int
    public var detail: String?
    /// The request field the problem is with.
    public var field: String?

    enum CodingKeys: String, CodingKey {
        case type, title, code = "status", detail, field
    }

    public init(_ status: HTTPResponse.Status, _ detail: String? = nil, field: String? = nil) {
        self.title = status.reasonPhrase
        self.code = status.code
        self.detail = detail
        self.field = field
    }

    public var status: HTTPResponse.Status { .init(code: code) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let body = try encoder.encode(self)
        return Response(status: status, headers: [.contentType: "application/problem+json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static let unauthorized = Problem(.unauthorized, "log in, or send an API token")
    static let forbidden = Problem(.forbidden, "administrators only")
}
