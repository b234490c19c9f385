import Commands
import Delivery
import Foundation
import Hummingbird
import Projections


/// RFC 8058 one-click unsubscribe, for the links in mailing list posts: a POST with
/// `List-Unsubscribe=One-Click` takes the address the link was signed for off the list; a GET
/// (a person following the link, or a scanner) changes nothing and shows a button that posts.
extension AdminAPI {
    func addListUnsubscribe(to router: Router<AdminRequestContext>) {
        guard let key = environment.listUnsubscribeKey else { return }
        let environment = environment
        @Sendable func link(_ request: Request) throws -> (list: String, address: String) {
            let query = request.uri.queryParameters
            guard let list = query["list"].map(String.init), let address = query["address"].map(String.init),
                  let signature = query["sig"].map(String.init),
                  ListUnsubscribeLink.verify(list: list, address: address, signature: signature, key: key) else {
                throw Problem(.forbidden, "this unsubscribe link is not valid")
            }
            return (list.lowercased(), address.lowercased())
        }
        router.get(RouterPath(ListUnsubscribeLink.path)) { request, _ -> Response in
            let (list, address) = try link(request)
            let action = AdminCharts.escape(request.uri.description)
            let page = """
                <!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head><body>
                <p>Take <strong>\(AdminCharts.escape(address))</strong> off the list <strong>\(AdminCharts.escape(list))</strong>?</p>
                <form method="post" action="\(action)"><input type="hidden" name="List-Unsubscribe" value="One-Click">
                <button type="submit">Unsubscribe</button></form></body></html>
                """
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: page)))
        }
        router.post(RouterPath(ListUnsubscribeLink.path)) { request, _ -> Response in
            let (list, address) = try link(request)
            let body = String(buffer: try await request.body.collect(upTo: 4_096))
            guard body.split(separator: "&").contains(where: { $0 == "List-Unsubscribe=One-Click" }) else {
                throw Problem(.badRequest, "the body must be List-Unsubscribe=One-Click (RFC 8058)")
            }
            let directory = Directory(engine: environment.engine, actor: "one-click:\(address)")
            let snapshot = try await directory.snapshot()
            var result = "\(address) is not a member of \(list)."
            if let member = ListMembership.storedMember(address, of: list, snapshot: snapshot) {
                try await directory.removeListMember(list, address: member)
                result = "\(address) has left \(list)."
            }
            environment.logger.info("one-click unsubscribe", metadata: ["list": "\(list)", "address": "\(address)"])
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: result + "\n")))
        }
    }
}
